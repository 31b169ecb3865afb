"""`implkit blueprint diff`: what changed between two blueprints, by address.

Both blueprints are compared in their canonical form (`Blueprint.to_dict`),
so formatting, comments and key order in the files never show up as a
change. An object (anything in a keyed list: a stage, a field, a role...)
that exists on one side only is one `added` / `removed` line; for objects on
both sides every attribute that differs is a `changed` line with old → new;
a keyed list whose common items changed order (stages!) is a `changed`
line with the old and the new order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from implkit.blueprint.addressing import is_keyed_list_path, item_key, semantic_address
from implkit.lang import say
from implkit.model import Blueprint

UNSET = "(unset)"  # a sentinel (compared by identity when shown): the value is absent on that side

_MESSAGES = {
    "unset": {"ru": "(не задано)", "en": "(unset)"},
    "order": {"ru": " (порядок)", "en": " (order)"},
    "no_changes": {"ru": "изменений нет", "en": "no changes"},
    "summary": {"ru": "добавлено: {added}, удалено: {removed}, изменено: {changed}",
                "en": "{added} added, {removed} removed, {changed} changed"},
}


@dataclass(frozen=True)
class Change:
    kind: str  # added | removed | changed
    address: str
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        if self.kind == "added":
            return f"+ {self.address}"
        if self.kind == "removed":
            return f"- {self.address}"
        return f"~ {self.address}: {_show(self.old)} → {_show(self.new)}"


def diff_blueprints(old: Blueprint, new: Blueprint) -> list[Change]:
    """The changes from `old` to `new`, objects in document order (old's, then new's additions)."""
    old_objects, old_leaves, old_orders = _flatten(old.to_dict())
    new_objects, new_leaves, new_orders = _flatten(new.to_dict())
    changes: list[Change] = []
    removed = [a for a in old_objects if a not in new_objects]
    added = [a for a in new_objects if a not in old_objects]
    gone = set(removed) | set(added)
    # An object inside an added or removed object (a stage of a new pipeline) is not listed again.
    changes += [Change("removed", a) for a in removed if old_objects[a] not in gone]
    changes += [Change("added", a) for a in added if new_objects[a] not in gone]
    for address in _union(old_leaves, new_leaves):
        if _owner(address, old_objects) in gone or _owner(address, new_objects) in gone:
            continue
        before, after = old_leaves.get(address, UNSET), new_leaves.get(address, UNSET)
        if before != after:
            changes.append(Change("changed", address, before, after))
    for address in _union(old_orders, new_orders):
        before, after = old_orders.get(address, []), new_orders.get(address, [])
        common = set(before) & set(after)
        if [k for k in before if k in common] != [k for k in after if k in common]:
            changes.append(Change("changed", address + say(_MESSAGES, "order"), ", ".join(before), ", ".join(after)))
    return changes


def render_changes(changes: list[Change]) -> str:
    if not changes:
        return say(_MESSAGES, "no_changes") + "\n"
    counts = {kind: sum(1 for c in changes if c.kind == kind) for kind in ("added", "removed", "changed")}
    return "\n".join(str(c) for c in changes) + "\n" + say(_MESSAGES, "summary", **counts) + "\n"


def _flatten(doc: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any], dict[str, list[str]]]:
    """(object address → owner address, leaf address → value, keyed list address → key order)."""
    objects: dict[str, str] = {}
    leaves: dict[str, Any] = {}
    orders: dict[str, list[str]] = {}

    def walk(value: Any, sem: tuple, owner: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, sem + (key,), owner)
        elif is_keyed_list_path(sem) and isinstance(value, list):
            list_name = str(sem[-1])
            keys = []
            for item in value:
                key = item_key(item, list_name) or "?"
                keys.append(key)
                address = semantic_address(sem + (key,))
                objects[address] = owner
                walk({k: v for k, v in item.items() if k != "key"}, sem + (key,), address)
            orders[semantic_address(sem)] = keys
        else:
            leaves[semantic_address(sem)] = value

    walk(doc, (), "")
    return objects, leaves, orders


def _owner(address: str, objects: dict[str, str]) -> str:
    """The innermost object an address belongs to (an object belongs to itself)."""
    if address in objects:
        return address
    best = ""
    for obj in objects:
        if address.startswith(obj + ".") and len(obj) > len(best):
            best = obj
    return best


def _union(a: dict, b: dict) -> list:
    return list(a) + [k for k in b if k not in a]


def _show(value: Any) -> str:
    if value is UNSET:
        return say(_MESSAGES, "unset")
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)
