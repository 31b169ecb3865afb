"""The plan as a value: what apply would do, what drifted, what is manual.

A `Plan` is frozen and computed once (by `implkit.plan.diff.plan`); the text
and JSON renderers and the exit code all read the same object, so the words
printed and the exit code can never disagree.

Plan JSON (`--json`, `plan -o FILE`) carries `schema_version`; a reader
refuses a version it does not know. A saved plan also carries the desired
blueprint it was computed from and a fingerprint of what was read (live
configuration + state ids), so `apply --plan` can refuse a stale plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from implkit.errors import EXIT_CHANGES, EXIT_OK
from implkit.lang import count_noun, current, say

PLAN_SCHEMA_VERSION = 1

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
REPLACE = "replace"  # delete + re-create (a field's type changed): always destructive
ACTIONS = (CREATE, UPDATE, DELETE, REPLACE)

# A state row `creating.<pipeline address>` is written before a pipeline is created and removed once
# its stages are written: while it is there, the stages the CRM gave the fresh pipeline by default
# are leftovers of an interrupted creation, which the next plan finishes (see diff.py).
CREATING_PREFIX = "creating."


_MESSAGES = {
    "no_drift": {"ru": "Расхождений нет: клиент совпадает с тем, что implkit применил последним.",
                 "en": "No drift. The tenant matches what implkit last applied."},
    "drifted": {"ru": "Изменено в обход implkit: {objects}", "en": "{objects} changed outside implkit"},
    "and_unmanaged": {"ru": ", нет в описании: {count}.", "en": ", {count} not described in the blueprint."},
    "all_of_them": {"ru": "их все", "en": "them"},
    "some_of_them": {"ru": "{count} из них", "en": "{count} of them"},
    "no_changes_unmanaged": {"ru": "Изменений нет. Нет в описании и оставлено как есть: {objects} "
                                   "(--prune удаляет {which}).",
                             "en": "No changes. {objects} not described in the blueprint are left alone "
                                   "(--prune deletes {which})."},
    "no_changes": {"ru": "Изменений нет: клиент совпадает с описанием.",
                   "en": "No changes. The tenant matches the blueprint."},
    "counts": {"ru": "создать: {create}, изменить: {update}, удалить: {delete}, вручную: {manual}",
               "en": "{create} to create, {update} to update, {delete} to delete, {manual} manual"},
}
_OBJECTS = (("объект", "объекта", "объектов"), ("object", "objects"))

#: each kind of object as a reader calls it, Russian forms for 1, 2-4, 5 and English for 1, many (the
#: address keeps the blueprint's word)
KIND_NOUNS = {
    "pipeline": (("воронка", "воронки", "воронок"), ("pipeline", "pipelines")),
    "stage": (("этап", "этапа", "этапов"), ("stage", "stages")),
    "field_group": (("группа полей", "группы полей", "групп полей"), ("field group", "field groups")),
    "field": (("поле", "поля", "полей"), ("field", "fields")),
    "role": (("роль", "роли", "ролей"), ("role", "roles")),
    "group": (("отдел", "отдела", "отделов"), ("group", "groups")),
    "loss_reason": (("причина отказа", "причины отказа", "причин отказа"), ("loss reason", "loss reasons")),
}


def kind_count(kind: str, count: int) -> str:
    """«2 воронки» / "2 pipelines"; an unknown kind keeps its code word."""
    ru, en = KIND_NOUNS.get(kind, ((kind, kind, kind), (kind, kind)))
    return count_noun(count, ru, en)


def kind_name(kind: str) -> str:
    """A kind in the user's language: «воронка»; in English the blueprint's own word ("field_group")."""
    if current() != "ru":
        return kind
    return kind_count(kind, 1).split(" ", 1)[1]


def creating_marker(address: str) -> str:
    return CREATING_PREFIX + address


def interrupted_creations(ids: Mapping[str, str]) -> set[str]:
    """Addresses of pipelines whose creation was started and not seen through (markers in state)."""
    return {a[len(CREATING_PREFIX):] for a in ids if a.startswith(CREATING_PREFIX)}


@dataclass(frozen=True)
class AttrDiff:
    attr: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    """One object apply will create, update, replace or delete."""

    action: str
    address: str
    kind: str
    name: str
    remote_id: str | None = None
    parent: str | None = None  # the owning object's address (a stage's pipeline)
    attrs: tuple[tuple[str, Any], ...] = ()  # desired attributes (create/update/replace), live ones (delete)
    diffs: tuple[AttrDiff, ...] = ()  # update/replace: each attribute that changes, old -> new
    # The two texts are in the language of the run that made the plan; they follow from the fields above, so
    # a plan saved in Russian and applied in English is the same plan (apply --plan compares changes).
    destructive: str | None = field(default=None, compare=False)  # why data would be lost: needs --allow-destroy
    adopted: bool = False  # matched by name to an object implkit had not recorded
    note: str | None = field(default=None, compare=False)  # why it is proposed when the blueprint does not say

    def attr(self, name: str, default: Any = None) -> Any:
        return dict(self.attrs).get(name, default)


@dataclass(frozen=True)
class DriftItem:
    """An object changed in the CRM by hand since the last apply (live differs from last applied)."""

    address: str
    kind: str
    name: str
    remote_id: str | None
    diffs: tuple[AttrDiff, ...] = ()  # before = last applied, after = live
    gone: bool = False  # deleted in the CRM


@dataclass(frozen=True)
class UnmanagedItem:
    """A live object inside a container the blueprint manages (a stage of a managed pipeline, a loss
    reason of a managed list) that the blueprint does not describe: left alone, deleted only by `--prune`."""

    address: str
    kind: str
    name: str
    remote_id: str | None
    parent: str | None = None  # the managed container's address (None: a top-level list)
    prunable: bool = True  # False: the CRM's API cannot delete it (removed by hand, or described)


@dataclass(frozen=True)
class Discrepancy:
    """One way the tenant differs from what implkit manages: the unit F02/U01 count, from a Plan."""

    address: str
    kind: str
    name: str
    what: str  # create | update | replace | delete | drift | gone | unmanaged


@dataclass(frozen=True)
class ManualRow:
    """Something the CRM's API cannot configure: the consultant does it by hand."""

    address: str
    title: str
    details: str | None = None
    feature: str | None = None


@dataclass(frozen=True)
class StateView:
    """What the diff needs from a tenant's state: address -> remote id, and the last applied blueprint."""

    ids: Mapping[str, str] = field(default_factory=dict)
    last_applied: Any = None  # a model.Blueprint, or None before the first apply


@dataclass(frozen=True)
class Plan:
    tenant: str
    account_id: str
    blueprint_name: str
    blueprint_version: str
    prune: bool = False
    changes: tuple[Change, ...] = ()
    drift: tuple[DriftItem, ...] = ()
    manual: tuple[ManualRow, ...] = ()
    # every desired address matched to a live object: apply records these ids in state
    bindings: tuple[tuple[str, str], ...] = ()
    fingerprint: str = ""  # of the live configuration and state ids the plan was computed from
    mode: str = "normal"  # normal | drift (drift-only view: no changes proposed)
    unmanaged: tuple[UnmanagedItem, ...] = ()  # in managed containers, not in the blueprint, not deleted

    # --- counts and the exit code, from this one value --------------------------------
    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def to_create(self) -> int:
        return self.count(CREATE) + self.count(REPLACE)

    @property
    def to_update(self) -> int:
        return self.count(UPDATE)

    @property
    def to_delete(self) -> int:
        return self.count(DELETE) + self.count(REPLACE)

    @property
    def has_changes(self) -> bool:
        """What the exit code reports. plan: apply would write something (objects left alone without
        --prune are listed, not counted: exit 0 keeps meaning "apply sends no write"). drift: the
        tenant differs from what implkit manages, unmanaged objects in managed containers included."""
        if self.mode == "drift":
            return bool(self.drift or self.unmanaged)
        return bool(self.changes)

    def discrepancies(self) -> tuple[Discrepancy, ...]:
        """Every difference this plan shows, one row each: what the audit's F02 and U01 count."""
        rows = [Discrepancy(c.address, c.kind, c.name, c.action) for c in self.changes]
        rows += [Discrepancy(d.address, d.kind, d.name, "gone" if d.gone else "drift") for d in self.drift]
        rows += [Discrepancy(u.address, u.kind, u.name, "unmanaged") for u in self.unmanaged]
        return tuple(rows)

    @property
    def destructive(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.destructive)

    def exit_code(self) -> int:
        """0 = nothing to do, 2 = changes present (drift mode: drift present). Errors never reach here."""
        return EXIT_CHANGES if self.has_changes else EXIT_OK

    def summary(self) -> str:
        """The plan's last line, in the user's language."""
        if self.mode == "drift":
            if not self.drift and not self.unmanaged:
                return say(_MESSAGES, "no_drift")
            text = say(_MESSAGES, "drifted", objects=count_noun(len(self.drift), *_OBJECTS))
            return text + (say(_MESSAGES, "and_unmanaged", count=len(self.unmanaged)) if self.unmanaged else ".")
        if not self.changes:
            if self.unmanaged:
                prunable = sum(1 for u in self.unmanaged if u.prunable)
                which = (say(_MESSAGES, "all_of_them") if prunable == len(self.unmanaged)
                         else say(_MESSAGES, "some_of_them", count=prunable))
                return say(_MESSAGES, "no_changes_unmanaged", objects=count_noun(len(self.unmanaged), *_OBJECTS),
                           which=which)
            return say(_MESSAGES, "no_changes")
        return say(_MESSAGES, "counts", create=self.to_create, update=self.to_update, delete=self.to_delete,
                   manual=len(self.manual))

    # --- JSON ---------------------------------------------------------------------------
    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema_version": PLAN_SCHEMA_VERSION,
            "mode": self.mode,
            "tenant": self.tenant,
            "account_id": self.account_id,
            "blueprint": {"name": self.blueprint_name, "version": self.blueprint_version},
            "prune": self.prune,
            "fingerprint": self.fingerprint,
            "summary": {"create": self.to_create, "update": self.to_update, "delete": self.to_delete,
                        "manual": len(self.manual), "drift": len(self.drift), "unmanaged": len(self.unmanaged),
                        "has_changes": self.has_changes, "text": self.summary()},
            "changes": [_change_json(c) for c in self.changes],
            "drift": [_drift_json(d) for d in self.drift],
            "unmanaged": [{"address": u.address, "kind": u.kind, "name": u.name, "remote_id": u.remote_id,
                           "parent": u.parent, "prunable": u.prunable} for u in self.unmanaged],
            "manual": [{"address": m.address, "title": m.title, "details": m.details, "feature": m.feature}
                       for m in self.manual],
            "bindings": dict(self.bindings),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> "Plan":
        return cls(
            tenant=data["tenant"],
            account_id=data["account_id"],
            blueprint_name=data["blueprint"]["name"],
            blueprint_version=data["blueprint"]["version"],
            prune=bool(data["prune"]),
            mode=data.get("mode", "normal"),
            fingerprint=data["fingerprint"],
            changes=tuple(
                Change(action=c["action"], address=c["address"], kind=c["kind"], name=c["name"],
                       remote_id=c.get("remote_id"), parent=c.get("parent"),
                       attrs=tuple((k, _freeze(v)) for k, v in c.get("attrs", {}).items()),
                       diffs=tuple(AttrDiff(d["attr"], _freeze(d["before"]), _freeze(d["after"]))
                                   for d in c.get("diffs", ())),
                       destructive=c.get("destructive"), adopted=bool(c.get("adopted")), note=c.get("note"))
                for c in data["changes"]),
            drift=tuple(
                DriftItem(address=d["address"], kind=d["kind"], name=d["name"], remote_id=d.get("remote_id"),
                          diffs=tuple(AttrDiff(x["attr"], _freeze(x["before"]), _freeze(x["after"]))
                                      for x in d.get("diffs", ())),
                          gone=bool(d.get("gone")))
                for d in data["drift"]),
            manual=tuple(ManualRow(m["address"], m["title"], m.get("details"), m.get("feature"))
                         for m in data["manual"]),
            unmanaged=tuple(UnmanagedItem(u["address"], u["kind"], u["name"], u.get("remote_id"), u.get("parent"),
                                          bool(u.get("prunable", True))) for u in data.get("unmanaged", ())),
            bindings=tuple(sorted(data.get("bindings", {}).items())),
        )


def _change_json(c: Change) -> dict[str, Any]:
    return {"action": c.action, "address": c.address, "kind": c.kind, "name": c.name,
            "remote_id": c.remote_id, "parent": c.parent, "attrs": {k: _thaw(v) for k, v in c.attrs},
            "diffs": [{"attr": d.attr, "before": _thaw(d.before), "after": _thaw(d.after)} for d in c.diffs],
            "destructive": c.destructive, "adopted": c.adopted, "note": c.note}


def _drift_json(d: DriftItem) -> dict[str, Any]:
    return {"address": d.address, "kind": d.kind, "name": d.name, "remote_id": d.remote_id, "gone": d.gone,
            "diffs": [{"attr": x.attr, "before": _thaw(x.before), "after": _thaw(x.after)} for x in d.diffs]}


def _thaw(value: Any) -> Any:
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def canonical_json(value: Any) -> str:
    """Byte-stable JSON (sorted keys, no spaces) for fingerprints and saved plans."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_thaw)
