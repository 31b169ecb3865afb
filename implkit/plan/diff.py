"""desired (blueprint) × state (ids, last applied) × live (provider read) → Plan. Pure: no I/O.

Matching rule (how a blueprint object finds its live counterpart):

1. **State id first.** If state maps the address to a remote id and the live
   configuration has an object of that kind with that id (a stage: inside the
   matched pipeline), that is the object, whatever its name now is. So a
   rename in the blueprint (same key, new name) is an *update*, and a rename
   done by hand in the CRM is *drift* plus an update back.
2. **Then by name, for adoption.** An object state does not know is matched to
   an unclaimed live object of the same kind and scope (a stage within its
   pipeline, a field within its entity) whose name is equal after trimming
   and case-folding; fields first try their code (`PHONE`, `EMAIL`, or the
   blueprint's `code`). The first by (sort, id) wins. Adopted objects are
   recorded in state on the next apply, so the match is made once.
3. Otherwise it is created. A live object claimed by no desired object is left
   alone, unless `prune` asks to delete it (never a predefined field or group,
   nor a system stage).

Only attributes the blueprint sets are compared (an attribute set to None is
not managed): a stage without a colour keeps whatever colour it has. A
field's required stages are managed for the stages the blueprint describes;
a requirement at any other stage is kept (dropped only with `prune`).
Objects the plan cannot name by key get `#<remote id>` in their address
(`pipeline.sales.stage.#142857`), which a provider resolves as the id itself.

Why this file is long: the matching rule above is one algorithm applied to every kind of object the
blueprint manages (pipelines, stages, fields, groups, loss reasons, automations), and its three steps must
read the same for each kind; split by kind, the rule would be restated in every module and could drift.

Destructive changes (apply refuses them without `--allow-destroy`):
a field whose type changes (delete + re-create: its values are lost), a
select option removed (values holding it are lost), a field deleted (its
values are deleted with it), a stage deleted (its leads move to the
pipeline's first stage), a pipeline deleted.

Drift: for each object state knows and the last applied blueprint describes,
live attributes that differ from the last applied ones (or the object is
gone). It is reported in its own section and is not itself a change; the
update that restores the blueprint is.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from implkit.lang import current, say
from implkit.model import OPTION_FIELD_TYPES, Blueprint, ManualStep, name_identity
from implkit.plan.changes import (
    CREATE, DELETE, REPLACE, UPDATE, AttrDiff, Change, DriftItem, ManualRow, Plan, StateView, UnmanagedItem,
    canonical_json, interrupted_creations, kind_name,
)
from implkit.providers.base import (
    KINDS, STAGE_LOST, STAGE_NORMAL, STAGE_WON, Capabilities, LiveConfig, LivePipeline,
)

KIND_ORDER = {kind: i for i, kind in enumerate((*KINDS, "group", "loss_reason"))}

# What a plan row says about a change, in the language of the run that makes the plan (a saved plan keeps
# the words its author read).
_MESSAGES = {
    "create_by_hand": {"ru": "Создайте вручную: {kind} «{name}»", "en": "Create the {kind} “{name}” by hand"},
    "api_cannot": {"ru": "API {crm} не создаёт такой объект", "en": "the {crm} API cannot create it"},
    "type_changes": {"ru": "меняется тип поля: оно удаляется и создаётся заново, его значения теряются",
                     "en": "the field's type changes: it is deleted and re-created, and its values are lost"},
    "options_removed": {"ru": "варианты удаляются (значения с ними теряются): {options}",
                        "en": "options removed (values holding them are lost): {options}"},
    "leftover_reused": {"ru": "этап, который CRM дала воронке при прерванном создании: используется",
                        "en": "a default stage the CRM gave the pipeline when an interrupted apply created it: "
                              "reused"},
    "leftover_deleted": {"ru": "этап, который CRM дала воронке при прерванном создании: удаляется, чтобы "
                               "закончить создание",
                         "en": "a default stage the CRM gave the pipeline when an interrupted apply created it: "
                               "removed to finish that creation"},
    "field": {"ru": "значения поля удаляются вместе с ним", "en": "the field's values are deleted with it"},
    "stage": {"ru": "сделки этого этапа переходят на первый этап воронки",
              "en": "leads in this stage move to the pipeline's first stage"},
    "pipeline": {"ru": "воронка удаляется вместе с этапами", "en": "the pipeline and its stages are deleted"},
}


# --- the neutral resource both sides are flattened into ------------------------------


@dataclass
class Resource:
    address: str
    kind: str
    name: str
    attrs: dict[str, Any]
    parent: str | None = None
    remote_id: str | None = None
    match_codes: tuple[str, ...] = ()  # fields: codes to try before the name
    # live only
    deletable: bool = True
    locked: frozenset[str] = frozenset()  # attributes the CRM does not let anyone change (predefined fields)
    scope: str = ""  # the live scope for name matching: pipeline id, entity
    raw: Any = None


def _norm(name: str) -> str:
    return name_identity(name)


# --- desired ---------------------------------------------------------------------------


def field_group_address(entity: str, name: str) -> str:
    return f"field_group.{entity}.{name}"


def desired_resources(bp: Blueprint, caps: Capabilities) -> list[Resource]:
    """Flatten a blueprint into resources with neutral attributes (references as addresses)."""
    out: list[Resource] = []
    required_at: dict[str, list[str]] = {}
    for p in bp.pipelines:
        out.append(Resource(p.address, "pipeline", p.name, {
            "name": p.name, "is_main": True if p.is_main else None,
            "won_name": p.won_name, "lost_name": p.lost_name}))
        for s in p.stages:
            out.append(Resource(s.address(p.key), "stage", s.name, {
                "name": s.name, "color": s.color.lower() if s.color else None, "sort": None,
                "description": s.description if "stage.description" in caps.features else None},
                parent=p.address))
            for f in s.required_fields:
                required_at.setdefault(f, []).append(s.address(p.key))
    seen_groups: set[str] = set()
    for f in bp.fields:
        if f.group and field_group_address(f.entity, f.group) not in seen_groups:
            seen_groups.add(field_group_address(f.entity, f.group))
            out.append(Resource(field_group_address(f.entity, f.group), "field_group", f.group,
                                {"name": f.group}, scope=f.entity))
    for f in bp.fields:
        stored = caps.stored_type.get((f.entity, f.type), f.type)
        attrs: dict[str, Any] = {
            "name": f.name, "type": stored,
            "options": tuple(f.options) if stored in OPTION_FIELD_TYPES else None,
            "code": f.code,
            "group": field_group_address(f.entity, f.group) if f.group else None,
            "required_at": (tuple(sorted(required_at.get(f.address, ())))
                            if f.entity in caps.required_entities else None),
        }
        codes = tuple(c for c in (f.code, caps.type_codes.get(stored)) if c)
        out.append(Resource(f.address, "field", f.name, attrs, scope=f.entity, match_codes=codes))
    for r in bp.roles:
        attrs = {"name": r.name}
        for entity, actions in r.rights:
            for action, level in actions:
                attrs[f"rights.{entity}.{action}"] = level
        out.append(Resource(r.address, "role", r.name, attrs))
    for g in bp.groups:
        out.append(Resource(g.address, "group", g.name, {"name": g.name}))
    for lr in bp.loss_reasons:
        out.append(Resource(lr.address, "loss_reason", lr.name, {"name": lr.name}))
    return out


# --- live ------------------------------------------------------------------------------


def live_resources(live: LiveConfig) -> list[Resource]:
    """Flatten the live configuration; references stay remote ids until `_translate`."""
    out: list[Resource] = []
    for p in live.pipelines:
        won = next((s.name for s in p.stages if s.kind == STAGE_WON), None)
        lost = next((s.name for s in p.stages if s.kind == STAGE_LOST), None)
        out.append(Resource("", "pipeline", p.name, {"name": p.name, "is_main": p.is_main,
                                                     "won_name": won, "lost_name": lost},
                            remote_id=p.id, raw=p))
        for s in p.stages:
            if s.kind != STAGE_NORMAL:
                continue
            out.append(Resource("", "stage", s.name, {"name": s.name, "color": (s.color or "").lower() or None,
                                                      "sort": s.sort, "description": s.description},
                                remote_id=s.id, scope=p.id, raw=s))
    for g in live.field_groups:
        out.append(Resource("", "field_group", g.name, {"name": g.name}, remote_id=g.id, scope=g.entity,
                            deletable=not g.is_predefined, raw=g))
    for f in live.fields:
        out.append(Resource("", "field", f.name, {
            "name": f.name, "type": f.type,
            "options": tuple(o.value for o in sorted(f.options, key=lambda o: (o.sort, int_or(o.id))))
            if f.type in OPTION_FIELD_TYPES else None,
            "code": f.code, "group": f.group_id, "required_at": f.required_at,
        }, remote_id=f.id, scope=f.entity, deletable=f.is_deletable and not f.is_predefined, raw=f,
            locked=frozenset({"name", "code", "options"}) if f.is_predefined else frozenset()))
    for r in live.roles:
        attrs = {"name": r.name}
        for entity, actions in r.rights:
            for action, level in actions:
                attrs[f"rights.{entity}.{action}"] = level
        out.append(Resource("", "role", r.name, attrs, remote_id=r.id, raw=r))
    for g in live.groups:
        out.append(Resource("", "group", g.name, {"name": g.name}, remote_id=g.id, deletable=False, raw=g))
    for lr in live.loss_reasons:
        out.append(Resource("", "loss_reason", lr.name, {"name": lr.name}, remote_id=lr.id, deletable=False,
                            raw=lr))
    return out


def int_or(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def live_fingerprint(live: LiveConfig, state_ids: dict[str, str]) -> str:
    """A digest of the configuration read and the state ids: a saved plan is stale when it changes."""
    payload = {
        "account": live.account.id,
        "config": [asdict(x) for x in (*live.pipelines, *live.field_groups, *live.fields, *live.roles,
                                       *live.groups, *live.loss_reasons)],
        "state": dict(sorted(state_ids.items())),
    }
    return "sha256:" + hashlib.sha256(canonical_json(payload).encode()).hexdigest()


# --- matching ----------------------------------------------------------------------------


@dataclass
class _Matching:
    by_address: dict[str, Resource] = field(default_factory=dict)  # desired address -> live resource
    adopted: set[str] = field(default_factory=set)
    claimed: set[tuple[str, str]] = field(default_factory=set)  # (kind, remote id)
    reused: set[str] = field(default_factory=set)  # desired stages given a leftover default stage

    def claim(self, address: str, live: Resource, *, adopted: bool) -> None:
        self.by_address[address] = live
        self.claimed.add((live.kind, live.remote_id))
        live.address = address
        if adopted:
            self.adopted.add(address)


def _match(desired: list[Resource], live: list[Resource], ids: dict[str, str],
           reserved: frozenset[tuple[str, str]] = frozenset()) -> _Matching:
    """`reserved`: objects another tenant of a shared account manages; found by this tenant's own state
    id they are still its (both bound them), but never adopted by name."""
    m = _Matching()
    live_by_kind: dict[str, list[Resource]] = {}
    for r in live:
        live_by_kind.setdefault(r.kind, []).append(r)

    def scope_of(d: Resource) -> str | None:
        if d.kind == "stage":
            parent = m.by_address.get(d.parent or "")
            return parent.remote_id if parent else None  # a stage of a new pipeline matches nothing
        return d.scope

    # kinds in dependency order, so a stage's pipeline is matched before the stage
    for kind in sorted({d.kind for d in desired}, key=KIND_ORDER.__getitem__):
        wanted = [d for d in desired if d.kind == kind]
        pool = sorted(live_by_kind.get(kind, ()), key=lambda r: (r.attrs.get("sort") or 0, int_or(r.remote_id)))
        # 1. by state id
        for d in wanted:
            rid = ids.get(d.address)
            if rid is None:
                continue
            scope = scope_of(d)
            hit = next((r for r in pool if r.remote_id == rid and (kind, rid) not in m.claimed
                        and (kind != "stage" or r.scope == scope)), None)
            if hit is not None:
                m.claim(d.address, hit, adopted=False)
        # 2. by code (fields), then by name, within the scope
        for d in wanted:
            if d.address in m.by_address:
                continue
            scope = scope_of(d)
            if kind == "stage" and scope is None:
                continue
            free = [r for r in pool if (kind, r.remote_id) not in m.claimed and (kind, r.remote_id) not in reserved
                    and r.scope == (scope or "")]
            hit = next((r for code in d.match_codes for r in free if r.attrs.get("code") == code), None)
            if hit is None:
                hit = next((r for r in free if _norm(r.name) == _norm(d.name)), None)
            if hit is not None:
                m.claim(d.address, hit, adopted=True)
    return m


# --- translation of live references into addresses -------------------------------------


def _address_index(m: _Matching, live: list[Resource], ids: dict[str, str]) -> dict[tuple[str, str], str]:
    """(kind, remote id) -> address: this run's matches, then state's, then a synthetic `#id`."""
    index: dict[tuple[str, str], str] = {}
    for address, rid in ids.items():
        kind = kind_of(address)
        if kind:
            index.setdefault((kind, rid), address)
    for address, r in m.by_address.items():
        index[(r.kind, r.remote_id)] = address
    return index


def kind_of(address: str) -> str | None:
    """The kind an address names (`pipeline.sales.stage.new` → stage); None for anything else."""
    head = address.split(".", 1)[0]
    if head == "pipeline":
        return "stage" if ".stage." in address else "pipeline"
    return head if head in KIND_ORDER else None


def _translate(live: list[Resource], index: dict[tuple[str, str], str],
               pipeline_addr: dict[str, str]) -> None:
    """Rewrite live references (group ids, (pipeline, stage) pairs) into addresses; name unmatched objects."""
    for r in live:
        if r.kind == "field":
            gid = r.attrs["group"]
            r.attrs["group"] = (index.get(("field_group", gid), f"field_group.{r.scope}.#{gid}")
                                if gid is not None else None)
            r.attrs["required_at"] = tuple(sorted(
                index.get(("stage", sid), f"{pipeline_addr.get(pid, f'pipeline.#{pid}')}.stage.#{sid}")
                for pid, sid in r.attrs["required_at"]))
        if not r.address:
            r.address = index.get((r.kind, r.remote_id)) or _synthetic_address(r, pipeline_addr)


def _synthetic_address(r: Resource, pipeline_addr: dict[str, str]) -> str:
    if r.kind == "stage":
        return f"{pipeline_addr.get(r.scope, f'pipeline.#{r.scope}')}.stage.#{r.remote_id}"
    if r.kind in ("field", "field_group"):
        return f"{r.kind}.{r.scope}.#{r.remote_id}"
    return f"{r.kind}.#{r.remote_id}"


# --- stage order --------------------------------------------------------------------------


def stage_sorts(live_sorts: Sequence[int | None], caps: Capabilities, upper: int | None = None) -> list[int]:
    """Sort values for a pipeline's desired stages, in blueprint order.

    Keeps every live sort when the matched stages are already in blueprint
    order and the new ones fit between their neighbours; otherwise renumbers
    all of them canonically (first_stage_sort, + step, ...). Either way the
    managed stages end up in blueprint order, so a second plan is empty.
    """
    step = caps.stage_sort_step
    canonical = [caps.first_stage_sort + step * i for i in range(len(live_sorts))]
    known = [s for s in live_sorts if s is not None]
    if any(b <= a for a, b in zip(known, known[1:])):
        return canonical
    out: list[int] = []
    n, i = len(live_sorts), 0
    while i < n:
        current = live_sorts[i]
        if current is not None:
            out.append(current)
            i += 1
            continue
        j = i
        while j < n and live_sorts[j] is None:
            j += 1
        run = j - i
        lo = out[-1] if out else caps.first_stage_sort - step
        hi = live_sorts[j] if j < n else None
        if hi is None and (upper is None or lo + step * run < upper):
            out.extend(lo + step * (k + 1) for k in range(run))  # appended at the end: plain steps
        else:
            hi = upper if hi is None else hi
            if hi - lo <= run:
                return canonical  # no room between the neighbours: renumber everything
            out.extend(lo + (hi - lo) * (k + 1) // (run + 1) for k in range(run))
        i = j
    return out


# --- the plan ------------------------------------------------------------------------------


def plan(desired: Blueprint, state: StateView, live: LiveConfig, caps: Capabilities, *,
         tenant: str = "", prune: bool = False, manual: Iterable[ManualStep] = (),
         mode: str = "normal", protected: frozenset[tuple[str, str]] = frozenset()) -> Plan:
    """Compute the Plan. Pure: the same inputs always give an equal Plan.

    `protected`: (kind, remote id) of objects another tenant sharing the account manages: never
    deleted by prune, never listed as undescribed."""
    ids = dict(state.ids)
    want = desired_resources(desired, caps)
    have = live_resources(live)
    m = _match(want, have, ids, reserved=protected)
    m.claimed |= protected  # another tenant's (shared account): never pruned, never listed as undescribed
    leftovers = _finish_interrupted_creations(want, have, m, interrupted_creations(ids))
    pipeline_addr = {r.remote_id: a for a, r in m.by_address.items() if r.kind == "pipeline"}
    for address, rid in ids.items():
        if kind_of(address) == "pipeline":
            pipeline_addr.setdefault(rid, address)
    index = _address_index(m, have, ids)
    _translate(have, index, pipeline_addr)
    _assign_stage_sorts(want, m, live, caps)
    if not prune:
        _keep_unmanaged_requirements(want, m)

    manual = list(manual)  # every step the blueprint needs by hand: implkit.blueprint.manual.manual_steps
    covered = {_manual_address(s) for s in manual}
    changes: list[Change] = []
    manual_rows: list[ManualRow] = []
    satisfied: set[str] = set()  # manual objects the consultant already created (found live by name)
    for d in want:
        if d.kind not in caps.writable:
            if d.address in m.by_address:
                satisfied.add(d.address)
            elif d.address not in covered:
                manual_rows.append(ManualRow(d.address, say(_MESSAGES, "create_by_hand", kind=_kind_words(d.kind),
                                                            name=d.name), say(_MESSAGES, "api_cannot", crm=caps.crm)))
            continue
        hit = m.by_address.get(d.address)
        if hit is None:
            changes.append(Change(CREATE, d.address, d.kind, d.name, parent=d.parent,
                                  attrs=_frozen(d.attrs)))
            continue
        diffs = tuple(AttrDiff(k, hit.attrs.get(k), v) for k, v in d.attrs.items()
                      if v is not None and k not in hit.locked and hit.attrs.get(k) != v)
        if not diffs:
            continue
        action, why = UPDATE, None
        if d.kind == "field" and any(x.attr == "type" for x in diffs):
            action = REPLACE
            why = say(_MESSAGES, "type_changes")
        elif d.kind == "field" and any(x.attr == "options" for x in diffs):
            old = next(x.before for x in diffs if x.attr == "options") or ()
            removed = [o for o in old if o not in (d.attrs["options"] or ())]
            if removed:
                why = say(_MESSAGES, "options_removed", options=", ".join(removed))
        changes.append(Change(action, d.address, d.kind, d.name, remote_id=hit.remote_id, parent=d.parent,
                              attrs=_frozen(d.attrs), diffs=diffs, destructive=why,
                              adopted=d.address in m.adopted,
                              note=say(_MESSAGES, "leftover_reused") if d.address in m.reused else None))
    # adoption with nothing to change is still worth telling: no row, but a binding
    changes.extend(_leftover_deletions(leftovers, m))
    if prune:
        changes.extend(_deletions(have, m, caps))
    changes.sort(key=_change_order)
    deleted = {(c.kind, c.remote_id) for c in changes if c.action == DELETE}
    unmanaged = [u for u in _unmanaged(have, m, want, caps) if (u.kind, u.remote_id) not in deleted]

    manual_rows.extend(ManualRow(_manual_address(s), s.title, s.details, s.feature)
                       for s in manual if _manual_address(s) not in satisfied)
    return Plan(
        tenant=tenant, account_id=live.account.id, blueprint_name=desired.name,
        blueprint_version=desired.version, prune=prune, mode=mode,
        changes=tuple(changes) if mode == "normal" else (),
        drift=tuple(_drift(state, caps, m, have, ids)),
        manual=tuple(manual_rows),
        bindings=tuple(sorted((a, r.remote_id) for a, r in m.by_address.items())),
        fingerprint=live_fingerprint(live, ids),
        unmanaged=tuple(unmanaged),
    )


def _manual_address(step: ManualStep) -> str:
    """manual_steps() keys a step by the address of the object it is about; a bare key is `manual.<key>`."""
    return step.key if "." in step.key else step.address


def _frozen(attrs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(attrs.items()))


def _change_order(c: Change) -> tuple:
    # creates/updates in dependency order, blueprint order within a kind (the sort is stable);
    # deletes after them, dependents first
    if c.action == DELETE:
        return (1, -KIND_ORDER[c.kind], c.address)
    return (0, KIND_ORDER[c.kind])


def _keep_unmanaged_requirements(want: list[Resource], m: _Matching) -> None:
    """A managed field stays required at stages the blueprint does not describe (left alone without prune)."""
    managed = {d.address for d in want if d.kind == "stage"}
    for d in want:
        hit = m.by_address.get(d.address)
        if d.kind != "field" or hit is None or d.attrs.get("required_at") is None:
            continue
        keep = {a for a in hit.attrs.get("required_at") or () if a not in managed}
        if keep:
            d.attrs["required_at"] = tuple(sorted(set(d.attrs["required_at"]) | keep))


def _assign_stage_sorts(want: list[Resource], m: _Matching, live: LiveConfig, caps: Capabilities) -> None:
    live_pipelines = {p.id: p for p in live.pipelines}
    by_pipeline: dict[str, list[Resource]] = {}
    for d in want:
        if d.kind == "stage":
            by_pipeline.setdefault(d.parent or "", []).append(d)
    for paddr, stages in by_pipeline.items():
        hit = m.by_address.get(paddr)
        lp: LivePipeline | None = live_pipelines.get(hit.remote_id) if hit else None
        upper = next((s.sort for s in lp.stages if s.kind == STAGE_WON), None) if lp else None
        sorts = stage_sorts([m.by_address[s.address].attrs["sort"] if s.address in m.by_address else None
                             for s in stages], caps, upper)
        for s, value in zip(stages, sorts):
            s.attrs["sort"] = value


LEFTOVER_REUSED = _MESSAGES["leftover_reused"]["en"]  # the English notes, as tests and scripts read them
LEFTOVER_DELETED = _MESSAGES["leftover_deleted"]["en"]


def _finish_interrupted_creations(want: list[Resource], have: list[Resource], m: _Matching,
                                  pipelines: set[str]) -> list[Resource]:
    """Finish what an interrupted pipeline creation started; returns the leftover stages to delete.

    A CRM that gives a fresh pipeline default stages (Bitrix24's `crm.category.add`) leaves them
    behind when the answer to the creation is lost or the run dies before the stages are written.
    For a pipeline state marks as being created, its unclaimed ordinary stages are those defaults:
    they are reused, in order, for the blueprint's stages that found no live stage (as the
    uninterrupted creation does: same requests, same ids), and the rest are deleted without
    `--prune`, since implkit created them. Reuse rather than delete-all-then-create: fewer writes,
    and a deal that already landed in a default stage stays in a managed one.

    A main pipeline may have been taken over rather than created (Bitrix24's default pipeline 0,
    which cannot be replaced): its stages predate implkit, and are finished only when the provider
    says the pipeline holds no record, as the uninterrupted creation decides. Otherwise they stay,
    and the plan lists them as not described by the blueprint.
    """
    leftovers: list[Resource] = []
    for paddr in sorted(pipelines):
        pipeline = m.by_address.get(paddr)
        if pipeline is None:
            continue  # the creation never reached the CRM: the plan creates the pipeline afresh
        lp = pipeline.raw
        if lp.in_use or (lp.is_main and lp.in_use is None):
            continue
        spare = sorted((r for r in have if r.kind == "stage" and r.scope == pipeline.remote_id
                        and ("stage", r.remote_id) not in m.claimed),
                       key=lambda r: (r.attrs.get("sort") or 0, int_or(r.remote_id)))
        missing = [d for d in want if d.kind == "stage" and d.parent == paddr and d.address not in m.by_address]
        for d, r in zip(missing, spare):
            m.claim(d.address, r, adopted=True)
            m.reused.add(d.address)
        for r in spare[len(missing):]:
            m.claimed.add((r.kind, r.remote_id))  # deleted below, not again by prune
            leftovers.append(r)
    return leftovers


def _unmanaged(have: list[Resource], m: _Matching, want: list[Resource], caps: Capabilities) -> list[UnmanagedItem]:
    """Live objects inside a container the blueprint manages that no desired object claimed.

    Containers: a pipeline the blueprint's pipeline matched (its ordinary stages; the won/lost
    stages are the pipeline's own attributes), and the loss-reason list once the blueprint
    describes any loss reason. A select field's options are not here: the blueprint's list is
    the whole list, so an extra option is already an update that removes it.
    """
    pipelines = {r.remote_id: a for a, r in m.by_address.items() if r.kind == "pipeline"}
    managed_lists = {d.kind for d in want if d.kind == "loss_reason"}
    out = []
    for r in have:
        if (r.kind, r.remote_id) in m.claimed:
            continue
        prunable = r.deletable and r.kind in caps.deletable
        if r.kind == "stage" and r.scope in pipelines:
            out.append(UnmanagedItem(r.address, r.kind, r.name, r.remote_id, pipelines[r.scope], prunable))
        elif r.kind in managed_lists:
            out.append(UnmanagedItem(r.address, r.kind, r.name, r.remote_id, None, prunable))
    return out


def _leftover_deletions(leftovers: list[Resource], m: _Matching) -> list[Change]:
    out = []
    for r in leftovers:
        parent = next((a for a, x in m.by_address.items() if x.kind == "pipeline" and x.remote_id == r.scope), None)
        out.append(Change(DELETE, r.address, r.kind, r.name, remote_id=r.remote_id, parent=parent,
                          attrs=_frozen({k: v for k, v in r.attrs.items() if v is not None}),
                          note=say(_MESSAGES, "leftover_deleted")))
    return out


def _kind_words(kind: str) -> str:
    """A kind inside a sentence: «воронка»; English as it always read ("field group")."""
    return kind_name(kind) if current() == "ru" else kind.replace("_", " ")


def _deletions(have: list[Resource], m: _Matching, caps: Capabilities) -> list[Change]:
    claimed_pipelines = {r.remote_id for r in m.by_address.values() if r.kind == "pipeline"}
    out: list[Change] = []
    for r in have:
        if (r.kind, r.remote_id) in m.claimed or not r.deletable or r.kind not in caps.deletable:
            continue
        if r.kind == "stage" and r.scope not in claimed_pipelines:
            continue  # deleted with its pipeline
        why = say(_MESSAGES, r.kind) if r.kind in ("field", "stage", "pipeline") else None
        parent = None
        if r.kind == "stage":
            parent = next((a for a, x in m.by_address.items() if x.kind == "pipeline" and x.remote_id == r.scope),
                          None)
        out.append(Change(DELETE, r.address, r.kind, r.name, remote_id=r.remote_id, parent=parent,
                          attrs=_frozen({k: v for k, v in r.attrs.items() if v is not None}), destructive=why))
    return out


def _drift(state: StateView, caps: Capabilities, m: _Matching, have: list[Resource],
           ids: dict[str, str]) -> list[DriftItem]:
    if state.last_applied is None:
        return []
    by_id = {(r.kind, r.remote_id): r for r in have}
    out: list[DriftItem] = []
    applied = desired_resources(state.last_applied, caps)
    applied_stages = {d.address for d in applied if d.kind == "stage"}

    def live_value(r: Resource, attr: str) -> Any:
        value = r.attrs.get(attr)
        if attr == "required_at" and value is not None:  # requirements at stages never applied: not drift
            value = tuple(a for a in value if a in applied_stages)
        return value

    for d in applied:
        rid = ids.get(d.address)
        if rid is None or d.kind not in caps.writable:
            continue
        r = by_id.get((d.kind, rid))
        if r is None:
            out.append(DriftItem(d.address, d.kind, d.name, rid, gone=True))
            continue
        diffs = tuple(AttrDiff(k, v, live_value(r, k)) for k, v in d.attrs.items()
                      if k != "sort" and k not in r.locked and v is not None and live_value(r, k) != v)
        if diffs:
            out.append(DriftItem(d.address, d.kind, d.name, rid, diffs))
    return out

