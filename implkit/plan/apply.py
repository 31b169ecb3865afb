"""The apply executor: run a Plan against a provider, recording every id the moment the CRM confirms it.

Order: creates and updates by kind in dependency order (pipelines with their
stages in the same request, then the remaining stages, field groups, fields,
roles); a field whose type changes is deleted and re-created inside its kind's
step; deletes last, dependents first (fields before the stages they require,
stages before pipelines).

Safety, in the order it matters:

- Every created object's id is written to state as soon as its batch answers,
  so a run killed at any point is finished by running it again: the next plan
  finds what was created by its state id.
- A write whose outcome is unknown (5xx or a dropped connection after the
  request left) is never repeated blindly. `converge` re-reads the tenant and
  re-plans: an object the lost answer did create is found by name (adopted)
  and recorded, never created twice; a lost update shows up again only if it
  did not happen.
- Nothing is written when the plan is empty: re-applying an applied
  blueprint sends no write request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from implkit.errors import InputError, RuntimeFailure
from implkit.http import WriteOutcomeUnknown
from implkit.lang import count_noun, say
from implkit.model import Blueprint, ManualStep
from implkit.plan import diff
from implkit.plan.changes import (
    CREATE, DELETE, REPLACE, UPDATE, Change, Plan, StateView, creating_marker, interrupted_creations, kind_count,
)
from implkit.providers.base import KINDS, Operation, Provider
from implkit.terminal import Tick

Progress = Callable[[Tick | str], None]   # a kind's objects written so far (a bar on a terminal), or a note


class StateAccess(Protocol):
    """The part of a tenant's state the executor writes: address → remote id."""

    def ids(self) -> dict[str, str]: ...

    def record(self, address: str, remote_id: str) -> None: ...

    def forget(self, address: str) -> None: ...


@dataclass
class ApplyResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    reconciliations: int = 0  # re-reads after a write whose outcome was unknown
    requests: int = 0
    plans: list[Plan] = field(default_factory=list)

    def summary(self) -> str:
        text = say(_MESSAGES, "complete", created=self.created, updated=self.updated, deleted=self.deleted)
        if self.reconciliations:
            text += say(_MESSAGES, "reconciled", outcomes=count_noun(self.reconciliations, *_OUTCOMES))
        return text


_MESSAGES = {
    "complete": {"ru": "Применено: создано {created}, изменено {updated}, удалено {deleted}.",
                 "en": "Apply complete: {created} created, {updated} updated, {deleted} deleted."},
    "reconciled": {"ru": " (исход записи был неизвестен — {outcomes}; сверено повторным чтением клиента.)",
                   "en": " ({outcomes} reconciled by re-reading the tenant.)"},
    "destructive": {"ru": "в плане {changes}; ничего не записано. Чтобы применить их, запустите снова "
                          "с --allow-destroy:\n{lines}",
                    "en": "the plan has {changes}; nothing was written. Re-run with --allow-destroy to apply "
                          "them:\n{lines}"},
    "no_progress": {"ru": "apply не продвинулся за {rounds} попыток подряд, каждая закончилась записью с "
                          "неизвестным исходом; всё подтверждённое записано в состояние: запустите снова, когда "
                          "CRM будет отвечать надёжно",
                    "en": "apply made no progress in {rounds} attempts in a row that ended with an unknown write "
                          "outcome; everything confirmed is recorded: run it again when the CRM answers reliably"},
    "unknown": {"ru": "исход записи неизвестен ({what}); перечитываю клиента, чтобы сверить",
                "en": "the outcome of a write is unknown ({what}); re-reading the tenant to reconcile"},
    "replacing": {"ru": "заменяю (удаляю и создаю заново): {objects}",
                  "en": "replacing {objects} (delete, then create)"},
    "creating": {"ru": "создаю: {objects}", "en": "creating {objects}"},
    "updating": {"ru": "изменяю: {objects}", "en": "updating {objects}"},
    "deleting": {"ru": "удаляю: {objects}", "en": "deleting {objects}"},
}
_OUTCOMES = (("неизвестный исход", "неизвестных исхода", "неизвестных исходов"),
             ("unknown write outcome", "unknown write outcomes"))
_DESTRUCTIVE = (("изменение с потерей данных", "изменения с потерей данных", "изменений с потерей данных"),
                ("destructive change", "destructive changes"))


def refuse_destructive(plan: Plan, allow_destroy: bool) -> None:
    if plan.destructive and not allow_destroy:
        lines = "\n".join(f"  {c.address}: {c.destructive}" for c in plan.destructive)
        raise InputError(say(_MESSAGES, "destructive", changes=count_noun(len(plan.destructive), *_DESTRUCTIVE),
                             lines=lines))


def converge(provider: Provider, desired: Blueprint, state: StateAccess, *, tenant: str = "", prune: bool = False,
             allow_destroy: bool = False, manual: Iterable[ManualStep] = (), first_plan: Plan | None = None,
             progress: Progress = lambda _m: None, max_rounds: int = 5,
             protected: frozenset[tuple[str, str]] = frozenset()) -> ApplyResult:
    """Apply `desired` (starting from `first_plan` if given), re-planning after each unknown write outcome."""
    manual = tuple(manual)
    result = ApplyResult()
    plan_ = first_plan
    start = provider.requests_sent()
    stalled = 0  # re-plans in a row that left as much to do as the plan before them
    remaining: int | None = None
    while True:
        if plan_ is None:
            live = provider.read_config()
            plan_ = diff.plan(desired, StateView(ids=state.ids()), live, provider.capabilities, tenant=tenant,
                              prune=prune, manual=manual, protected=protected)
            stalled = stalled + 1 if remaining is not None and len(plan_.changes) >= remaining else 0
            if stalled >= max_rounds:
                raise RuntimeFailure(say(_MESSAGES, "no_progress", rounds=max_rounds))
        remaining = len(plan_.changes)
        result.plans.append(plan_)
        refuse_destructive(plan_, allow_destroy)
        try:
            execute(plan_, provider, state, progress=progress, result=result)
        except WriteOutcomeUnknown as unknown:
            result.reconciliations += 1
            progress(say(_MESSAGES, "unknown", what=unknown))
            plan_ = None
            continue
        # the tenant now matches the plan, leftovers of interrupted creations included: nothing is pending
        for address in sorted(interrupted_creations(state.ids())):
            state.forget(creating_marker(address))
        result.requests = provider.requests_sent() - start
        return result


def execute(plan: Plan, provider: Provider, state: StateAccess, *, progress: Progress = lambda _m: None,
            result: ApplyResult | None = None) -> ApplyResult:
    """Run one plan. Raises WriteOutcomeUnknown (ids confirmed so far are already recorded)."""
    result = result or ApplyResult()
    known = state.ids()
    ids = dict(known)
    for address, rid in plan.bindings:  # adopted objects: remember them even if nothing else changes
        ids[address] = rid
        if known.get(address) != rid:
            state.record(address, rid)
    created_now: set[str] = set()
    # one count per kind of object for the progress bars: a pipeline, replaced, counts as written once
    kind_of = {c.address: c.kind for c in plan.changes}
    to_write = {kind: sum(1 for c in plan.changes if c.kind == kind) for kind in KINDS}
    written: dict[str, set[str]] = {kind: set() for kind in KINDS}

    def wrote(address: str) -> None:
        kind = kind_of.get(address)
        if kind is not None:
            written[kind].add(address)
            progress(Tick(kind, len(written[kind]), to_write[kind], text=f"{kind}: {address}"))

    def record_created(address: str, rid: str) -> None:
        ids[address] = rid
        created_now.add(address)
        state.record(address, rid)
        result.created += 1
        wrote(address)

    def record_updated(address: str, rid: str) -> None:
        result.updated += 1
        wrote(address)

    def record_deleted(address: str, rid: str) -> None:
        ids.pop(address, None)
        state.forget(address)
        result.deleted += 1
        wrote(address)

    resolve = ids.get
    by_kind: dict[tuple[str, str], list[Change]] = {}
    for c in plan.changes:
        by_kind.setdefault((c.kind, c.action), []).append(c)

    for kind in KINDS:
        replaced = by_kind.get((kind, REPLACE), [])
        if replaced:
            progress(say(_MESSAGES, "replacing", objects=kind_count(kind, len(replaced))))
            provider.delete(kind, [_op(c) for c in replaced], resolve, record_deleted)
            result.deleted -= len(replaced)  # counted as creates below
        creates = [c for c in by_kind.get((kind, CREATE), []) + replaced if c.address not in created_now]
        if creates:
            ops = [_op(c, children=_children(plan, c) if kind == "pipeline" else ()) for c in creates]
            # write-ahead: a pipeline may get default stages from the CRM before its own are written; if
            # this run is cut short, the marker tells the next plan those stages are ours to finish
            markers = [creating_marker(c.address) for c in creates if kind == "pipeline"]
            for marker in markers:
                state.record(marker, "pending")
            progress(say(_MESSAGES, "creating", objects=kind_count(kind, len(ops))))
            provider.create(kind, ops, resolve, record_created)
            for marker in markers:
                state.forget(marker)
        updates = by_kind.get((kind, UPDATE), [])
        if updates:
            progress(say(_MESSAGES, "updating", objects=kind_count(kind, len(updates))))
            provider.update(kind, [_op(c) for c in updates], resolve, record_updated)
    for kind in reversed(KINDS):
        deletes = by_kind.get((kind, DELETE), [])
        if deletes:
            progress(say(_MESSAGES, "deleting", objects=kind_count(kind, len(deletes))))
            provider.delete(kind, [_op(c) for c in deletes], resolve, record_deleted)
    return result


def _children(plan: Plan, pipeline: Change) -> tuple[Operation, ...]:
    return tuple(_op(c) for c in plan.changes
                 if c.kind == "stage" and c.action == CREATE and c.parent == pipeline.address)


def _op(c: Change, children: tuple[Operation, ...] = ()) -> Operation:
    return Operation(address=c.address, kind=c.kind, name=c.name, attrs=c.attrs, remote_id=c.remote_id,
                     parent=c.parent, changed=tuple(d.attr for d in c.diffs), children=children)
