"""Reverse-engineer a blueprint from a tenant's live configuration (Terraform's "generate config").

The promise: `plan` with the exported blueprint against the same account
shows no changes. So every attribute the diff compares is exported as the
tenant has it (names, stage order and colours, won/lost names, field types,
options, groups, required stages, role rights), and objects the blueprint
format cannot express (fields of CRM-specific types, archived pipelines)
are left out — the diff leaves unmanaged objects alone.

Keys are made from names (transliterated to latin, `_` for the rest) and
made unique within their scope; the first apply or plan matches everything
by name and records the ids.
"""

from __future__ import annotations

import re
from typing import Any

from implkit.model import ENTITIES, FIELD_TYPES, OPTION_FIELD_TYPES, Blueprint
from implkit.providers.base import STAGE_LOST, STAGE_NORMAL, STAGE_WON, LiveConfig

_TRANSLIT = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s", "t", "u",
     "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))
_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_RIGHT_ORDER = ("view", "edit", "add", "delete", "export")


def slug(name: str, fallback: str = "item", limit: int = 40) -> str:
    """A blueprint key from a display name: «Первичный контакт» → `pervichnyy_kontakt`."""
    text = "".join(_TRANSLIT.get(ch, ch) for ch in str(name).lower())
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")[:limit].strip("_")
    if not text or not text[0].isalpha():
        text = f"{fallback}_{text}" if text else fallback
    return text


class _Keys:
    """Unique keys within one scope: `source`, `source_2`, ..."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, name: str, fallback: str) -> str:
        base = slug(name, fallback)
        key, n = base, 1
        while key in self.used:
            n += 1
            key = f"{base}_{n}"
        self.used.add(key)
        return key


def export_blueprint(live: LiveConfig, *, name: str | None = None, version: str = "1.0.0",
                     palette: tuple[str, ...] = ()) -> Blueprint:
    """A blueprint describing `live`, such that planning it against the same tenant shows no changes.

    `palette`: the stage colours the CRM accepts on write (Capabilities.stage_palette); others are left out.
    """
    stage_address: dict[tuple[str, str], str] = {}
    pipelines: list[dict[str, Any]] = []
    pipeline_keys = _Keys()
    for p in sorted(live.pipelines, key=lambda p: (p.sort, int(p.id) if p.id.isdigit() else 0)):
        if p.is_archive:
            continue
        key = pipeline_keys.make(p.name, "pipeline")
        stage_keys = _Keys()
        stages = []
        for s in p.stages:
            if s.kind != STAGE_NORMAL:
                continue
            skey = stage_keys.make(s.name, "stage")
            stage_address[(p.id, s.id)] = f"pipeline.{key}.stage.{skey}"
            stage: dict[str, Any] = {"key": skey, "name": s.name}
            if s.color and s.color.lower() in palette:
                stage["color"] = s.color.lower()  # one outside the palette could not be written back: unmanaged
            if s.description:
                stage["description"] = s.description
            stages.append(stage)
        item: dict[str, Any] = {"key": key, "name": p.name}
        if p.is_main:
            item["is_main"] = True
        won = next((s.name for s in p.stages if s.kind == STAGE_WON), None)
        lost = next((s.name for s in p.stages if s.kind == STAGE_LOST), None)
        if won:
            item["won_name"] = won
        if lost:
            item["lost_name"] = lost
        item["stages"] = stages
        pipelines.append(item)

    group_names = {(g.entity, g.id): g.name for g in live.field_groups}
    fields: dict[str, list[dict[str, Any]]] = {}
    required: dict[str, list[str]] = {}
    for entity in ENTITIES:
        keys = _Keys()
        for f in sorted((f for f in live.fields if f.entity == entity), key=lambda f: (f.sort, _int(f.id))):
            if f.type not in FIELD_TYPES:
                continue  # a CRM-specific type the blueprint cannot express: left unmanaged
            fkey = keys.make(f.name, "field")
            item = {"key": fkey, "name": f.name, "type": f.type}
            if f.type in OPTION_FIELD_TYPES:
                item["options"] = [o.value for o in sorted(f.options, key=lambda o: (o.sort, _int(o.id)))]
            group = group_names.get((entity, f.group_id or ""))
            if group:
                item["group"] = group
            if f.code and _CODE.match(f.code):
                item["code"] = f.code
            fields.setdefault(entity, []).append(item)
            for pair in f.required_at:
                address = stage_address.get(pair)
                if address:
                    required.setdefault(address, []).append(f"field.{entity}.{fkey}")
    for p in pipelines:
        for s in p["stages"]:
            address = f"pipeline.{p['key']}.stage.{s['key']}"
            if address in required:
                s["required_fields"] = sorted(required[address])

    role_keys = _Keys()
    roles = []
    for r in live.roles:
        rights = {entity: {a: lvl for a, lvl in sorted(actions, key=lambda x: _rank(x[0]))}
                  for entity, actions in r.rights}
        roles.append({"key": role_keys.make(r.name, "role"), "name": r.name, "rights": rights})
    group_keys, reason_keys = _Keys(), _Keys()
    data: dict[str, Any] = {
        "apiVersion": "implkit/v1", "kind": "Blueprint",
        "metadata": {"name": slug(name or live.account.subdomain or live.account.name or "tenant", "tenant")
                     .replace("_", "-"), "version": version,
                     "company": live.account.name},
        "groups": [{"key": group_keys.make(g.name, "group"), "name": g.name} for g in live.groups],
        "roles": roles,
        "pipelines": pipelines,
        "fields": fields,
        "loss_reasons": [{"key": reason_keys.make(lr.name, "reason"), "name": lr.name}
                         for lr in sorted(live.loss_reasons, key=lambda lr: (lr.sort, _int(lr.id)))],
    }
    return Blueprint.from_dict({k: v for k, v in data.items() if v not in ([], {})})


def _rank(action: str) -> int:
    return _RIGHT_ORDER.index(action) if action in _RIGHT_ORDER else len(_RIGHT_ORDER)


def _int(value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
