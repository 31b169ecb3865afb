"""Bitrix24 ↔ the neutral model: pure functions, no I/O (reference/bitrix24-api.md §8, §9).

| neutral | Bitrix24 |
|---|---|
| pipeline (leads) | deal pipeline: `crm.category` with entityTypeId 2; the default pipeline is id 0 |
| stage | `crm.status` of `DEAL_STAGE` (pipeline 0) / `DEAL_STAGE_{id}`; SEMANTICS S → won, F → lost |
| field of leads / contacts / companies | `crm.{deal,contact,company}.userfield`, named `UF_CRM_<CODE>` |
| field options | the enumeration's `LIST` items (`{ID, VALUE, SORT}`, `{ID, DEL: "Y"}` removes one) |
| phone / e-mail of contacts, companies | the built-in multi-fields `PHONE` / `EMAIL` (predefined, never written) |
| field group | no REST method (card sections are UI): manual; the group a field belongs to is kept in the field's `XML_ID` so plans stay stable |
| group | department (`department.get`), read only |
| role and rights | no REST method at all (§9): manual |
| source | `crm.status` of `SOURCE` |

Leads in the neutral model are amoCRM's deals: Bitrix24 *deals* (Bitrix24's
own leads are a pre-deal entity outside the blueprint).
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from implkit.model import ENTITIES, OPTION_FIELD_TYPES, AccountInfo, User
from implkit.providers.base import (
    STAGE_LOST, STAGE_NORMAL, STAGE_WON, Capabilities, LiveField, LiveGroup, LiveOption, LivePipeline,
    LiveSource, LiveStage, Operation,
)

CRM = "bitrix24"
DEALS = 2  # entityTypeId of deals (§8.1)
ENTITY_METHODS = {"leads": "crm.deal", "contacts": "crm.contact", "companies": "crm.company"}
UF_PREFIX = "UF_CRM_"
UF_MAX = 50  # §8.5: FIELD_NAME ≤ 50 characters with the prefix
GROUP_TAG = "implkit.group:"  # XML_ID of a field that belongs to a blueprint field group
LABEL_LANGS = ("ru", "en")
READ_LANG = "ru"

# neutral type → (USER_TYPE_ID, MULTIPLE, SETTINGS)
TYPE_TO_NATIVE: dict[str, tuple[str, bool, dict[str, Any]]] = {
    "text": ("string", False, {}),
    "textarea": ("string", False, {"ROWS": 5}),
    "numeric": ("double", False, {}),
    "checkbox": ("boolean", False, {}),
    "select": ("enumeration", False, {"DISPLAY": "LIST"}),
    "multiselect": ("enumeration", True, {"DISPLAY": "LIST"}),
    "radiobutton": ("enumeration", False, {"DISPLAY": "CHECKBOX"}),
    "date": ("date", False, {}),
    "date_time": ("datetime", False, {}),
    "birthday": ("date", False, {}),
    "url": ("url", False, {}),
    "streetaddress": ("address", False, {}),
    "monetary": ("money", False, {}),
    "phone": ("string", False, {}),  # on deals; contacts and companies have the PHONE multi-field
    "email": ("string", False, {}),
}
MULTIFIELDS = {"phone": ("PHONE", "Телефон"), "email": ("EMAIL", "E-mail")}

# Stage colours: Bitrix24's defaults (crm.status.list examples), then amoCRM's palette, which Bitrix24 takes too.
STAGE_PALETTE = (
    "#39a8ef", "#2fc6f6", "#55d0e0", "#47e4c2", "#ffa900", "#7bd500", "#ff5752",
    "#fffeb2", "#fffd7f", "#fff000", "#ffeab2", "#ffdc7f", "#ffce5a", "#ffdbdb", "#ffc8c8", "#ff8f92",
    "#d6eaff", "#c1e0ff", "#98cbff", "#ebffb1", "#deff81", "#87f2c0", "#f9deff", "#f3beff", "#ccc8f9",
    "#eb93ff", "#f2f3f4", "#e6e8ea",
)

CAPABILITIES = Capabilities(
    crm=CRM,
    writable=frozenset({"pipeline", "stage", "field"}),
    deletable=frozenset({"pipeline", "stage", "field"}),
    # what Bitrix24 stores a neutral type as, when it has no type of its own for it
    stored_type={**{(e, "birthday"): "date" for e in ENTITIES},
                 ("leads", "phone"): "text", ("leads", "email"): "text"},
    type_codes={t: code for t, (code, _) in MULTIFIELDS.items()},
    stage_palette=STAGE_PALETTE,
    required_entities=frozenset(),  # no REST method makes a field required at a stage: manual steps
    first_stage_sort=10,
    stage_sort_step=10,
)


# --- reading ------------------------------------------------------------------------------------


def account_info(portal_url: str, title: str | None = None) -> AccountInfo:
    """The portal is the account: its host (and, on the sandbox, its path) is the id state is bound to."""
    from urllib.parse import urlsplit

    parts = urlsplit(portal_url)
    host = (parts.hostname or "").lower()
    ident = host + parts.path.rstrip("/")
    name = title or host.split(".")[0]
    return AccountInfo(id=ident, name=name, subdomain=name, extra={"crm": CRM})


def stage_entity(category_id: int | str) -> str:
    return "DEAL_STAGE" if str(category_id) in ("0", "") else f"DEAL_STAGE_{category_id}"


def category_of_entity(entity_id: str) -> str | None:
    if entity_id == "DEAL_STAGE":
        return "0"
    match = re.fullmatch(r"DEAL_STAGE_(\d+)", entity_id)
    return match.group(1) if match else None


def stage_kind(status: Mapping[str, Any]) -> str:
    semantics = str(status.get("SEMANTICS") or "").upper()
    return {"S": STAGE_WON, "F": STAGE_LOST}.get(semantics, STAGE_NORMAL)


def pipelines_from(categories: Sequence[Mapping[str, Any]],
                   statuses: Sequence[Mapping[str, Any]]) -> tuple[LivePipeline, ...]:
    by_category: dict[str, list[Mapping[str, Any]]] = {}
    for s in statuses:
        category = category_of_entity(str(s.get("ENTITY_ID") or ""))
        if category is not None:
            by_category.setdefault(category, []).append(s)
    out = []
    for c in categories:
        cid = str(c["id"])
        stages = tuple(
            LiveStage(id=str(s["ID"]), name=str(s.get("NAME") or ""), sort=int(s.get("SORT") or 0),
                      color=(str(s["COLOR"]).lower() if s.get("COLOR") else None), kind=stage_kind(s))
            for s in sorted(by_category.get(cid, ()), key=lambda s: (int(s.get("SORT") or 0), int(s["ID"]))))
        out.append(LivePipeline(id=cid, name=str(c.get("name") or ""), sort=int(c.get("sort") or 0),
                                is_main=str(c.get("isDefault")) == "Y" or cid == "0", stages=stages))
    return tuple(out)


def _label(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get(READ_LANG) or value.get("en") or next(iter(value.values()), "") or "")
    return str(value or "")


def field_name_of(data: Mapping[str, Any]) -> str:
    return (_label(data.get("EDIT_FORM_LABEL")) or _label(data.get("LIST_COLUMN_LABEL"))
            or str(data.get("FIELD_NAME") or ""))


def field_type_from(data: Mapping[str, Any]) -> str:
    native = str(data.get("USER_TYPE_ID") or "")
    multiple = str(data.get("MULTIPLE") or "N") == "Y"
    settings = data.get("SETTINGS") if isinstance(data.get("SETTINGS"), Mapping) else {}
    if native == "enumeration":
        if multiple:
            return "multiselect"
        return "radiobutton" if str(settings.get("DISPLAY") or "") == "CHECKBOX" else "select"
    if multiple:
        return f"other:{native}[]"
    if native == "string":
        try:
            rows = int(settings.get("ROWS") or 1)
        except (TypeError, ValueError):
            rows = 1
        return "textarea" if rows > 1 else "text"
    return {"double": "numeric", "integer": "numeric", "boolean": "checkbox", "date": "date",
            "datetime": "date_time", "url": "url", "address": "streetaddress", "money": "monetary"}.get(
        native, f"other:{native}")


def code_of(field_name: str) -> str:
    """`UF_CRM_SOURCE` → `SOURCE` (the part the blueprint names)."""
    return field_name[len(UF_PREFIX):] if field_name.startswith(UF_PREFIX) else field_name


def group_of(data: Mapping[str, Any]) -> str | None:
    xml_id = str(data.get("XML_ID") or "")
    return xml_id[len(GROUP_TAG):] or None if xml_id.startswith(GROUP_TAG) else None


def group_id(name: str) -> str:
    return f"xml:{name}"


def field_from(entity: str, data: Mapping[str, Any]) -> LiveField:
    items = data.get("LIST") or []
    group = group_of(data)
    return LiveField(
        entity=entity, id=str(data["ID"]), name=field_name_of(data), type=field_type_from(data),
        code=code_of(str(data.get("FIELD_NAME") or "")) or None, sort=int(data.get("SORT") or 0),
        options=tuple(LiveOption(str(i["ID"]), str(i.get("VALUE") or ""), int(i.get("SORT") or 0))
                      for i in items if isinstance(i, Mapping)),
        group_id=group_id(group) if group else None)


def multifields(entity: str) -> tuple[LiveField, ...]:
    """The built-in PHONE / EMAIL of contacts and companies, as predefined fields the diff adopts by code."""
    if entity not in ("contacts", "companies"):
        return ()
    return tuple(LiveField(entity=entity, id=f"{entity}:{code}", name=name, type=neutral, code=code, sort=0,
                           is_predefined=True, is_deletable=False)
                 for neutral, (code, name) in MULTIFIELDS.items())


def user_from(data: Mapping[str, Any]) -> User:
    name = " ".join(p for p in (str(data.get("NAME") or ""), str(data.get("LAST_NAME") or "")) if p).strip()
    departments = data.get("UF_DEPARTMENT") or []
    return User(id=str(data["ID"]), name=name or str(data.get("EMAIL") or data["ID"]), email=data.get("EMAIL") or None,
                is_active=data.get("ACTIVE") not in (False, "N", "0", 0),
                group_id=str(departments[0]) if isinstance(departments, list) and departments else None)


def group_from(data: Mapping[str, Any]) -> LiveGroup:
    return LiveGroup(id=str(data["ID"]), name=str(data.get("NAME") or ""))


def source_from(data: Mapping[str, Any]) -> LiveSource:
    return LiveSource(id=str(data.get("STATUS_ID") or data["ID"]), name=str(data.get("NAME") or ""))


# --- writing ------------------------------------------------------------------------------------


def uf_code(op: Operation) -> str:
    """FIELD_NAME for a new field: `UF_CRM_` + the blueprint's code, else its key, upper-cased (§8.5 rules)."""
    key = str(op.attr("code") or op.address.rsplit(".", 1)[-1])
    code = re.sub(r"[^A-Z0-9_]", "_", key.upper()).strip("_") or "FIELD"
    if code.startswith(UF_PREFIX):
        code = code[len(UF_PREFIX):]
    return (UF_PREFIX + code)[:UF_MAX]


def labels(name: str) -> dict[str, Any]:
    label = {lang: name for lang in LABEL_LANGS}
    return {"EDIT_FORM_LABEL": label, "LIST_COLUMN_LABEL": label, "LIST_FILTER_LABEL": label}


def field_group_name(op: Operation) -> str | None:
    """The group of a field operation: its address is `field_group.<entity>.<name>` (plan.diff)."""
    address = op.attr("group")
    if not address:
        return None
    return str(address).split(".", 2)[2] if str(address).count(".") >= 2 else str(address)


def list_items(options: Sequence[str], live: Sequence[LiveOption] = ()) -> list[dict[str, Any]]:
    """LIST for add/update: options in blueprint order (SORT 10, 20…); live ones keep their ID; the rest DEL."""
    by_value = {o.value: o.id for o in live}
    out: list[dict[str, Any]] = []
    for i, value in enumerate(options):
        item: dict[str, Any] = {"VALUE": value, "SORT": (i + 1) * 10}
        if value in by_value:
            item["ID"] = by_value[value]
        out.append(item)
    out += [{"ID": o.id, "DEL": "Y"} for o in live if o.value not in set(options)]
    return out


def field_add_fields(op: Operation) -> dict[str, Any]:
    neutral = str(op.attr("type"))
    native, multiple, settings = TYPE_TO_NATIVE.get(neutral, ("string", False, {}))
    fields: dict[str, Any] = {"FIELD_NAME": uf_code(op), "USER_TYPE_ID": native, "MULTIPLE": "Y" if multiple else "N",
                              **labels(str(op.attr("name")))}
    if settings:
        fields["SETTINGS"] = dict(settings)
    if neutral in OPTION_FIELD_TYPES:
        fields["LIST"] = list_items(op.attr("options") or ())
    group = field_group_name(op)
    if group:
        fields["XML_ID"] = GROUP_TAG + group
    return fields


def field_update_fields(op: Operation, live: LiveField | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "name" in op.changed:
        fields.update(labels(str(op.attr("name"))))
    if "options" in op.changed:
        fields["LIST"] = list_items(op.attr("options") or (), live.options if live else ())
    if "group" in op.changed:
        group = field_group_name(op)
        fields["XML_ID"] = GROUP_TAG + group if group else ""
    return fields


def stage_code(op: Operation, taken: set[str]) -> str:
    """STATUS_ID for a new stage (§8.4: ≤ 22 characters with `C<id>:`, Latin letters, digits, `_`)."""
    key = re.sub(r"[^A-Z0-9_]", "_", op.address.rsplit(".", 1)[-1].upper()).strip("_") or "STAGE"
    base = key[:14]
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base[:12]}_{n}"
    taken.add(code)
    return code


def palette_colour(index: int) -> str:
    return STAGE_PALETTE[index % 5]  # the in-progress colours of a fresh pipeline
