"""The ground every Bitrix24 model module stands on: the cost model, the CRM entity types, the value
conversions between the legacy and crm.item dialects, parameter readers, and `PortalBase` (one portal for
one call: store, account, clock, user, cost) with the list helper the families share."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24 import listing
from implkit.sandbox.bitrix24.fieldspec import FIELDS
from implkit.sandbox.bitrix24.portal import iso
from implkit.sandbox.store import Store

# --- the cost model (documented in bitrix24/__init__.py) ------------------------------------------
BASE_COST = 0.002            # any call
ROW_COST = 0.0015            # each row read and serialised
COUNT_COST = 0.0000209       # each row counted for `total` (49.9 s / 2,387,743 rows, the docs' measurement)
WRITE_COST = 0.01            # each record written


@dataclass(frozen=True)
class EntityType:
    type_id: int
    name: str            # deal
    upper: str           # DEAL (crm.duplicate.findbycomm, stage history errors)
    uf_entity: str       # CRM_DEAL
    stage_field: str | None
    binding: str         # the prefix in crm bindings: D_12


ENTITIES = {
    1: EntityType(1, "lead", "LEAD", "CRM_LEAD", "STATUS_ID", "L"),
    2: EntityType(2, "deal", "DEAL", "CRM_DEAL", "STAGE_ID", "D"),
    3: EntityType(3, "contact", "CONTACT", "CRM_CONTACT", None, "C"),
    4: EntityType(4, "company", "COMPANY", "CRM_COMPANY", None, "CO"),
}
BY_NAME = {e.name: e for e in ENTITIES.values()}
SPEC = {tid: {row[0]: row for row in rows} for tid, rows in FIELDS.items()}
INT_TYPES = {"integer", "user", "crm_company", "crm_contact", "crm_lead", "crm_category", "crm_quote", "location"}
MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM", "LINK")
USER_TYPES = ("string", "integer", "double", "boolean", "datetime", "date", "money", "url", "address",
              "enumeration", "file", "employee", "crm_status", "iblock_section", "iblock_element", "crm")
LANGS = ("ar", "br", "de", "en", "fr", "hi", "id", "in", "it", "ja", "kz", "la", "ms", "pl", "ru", "sc", "tc",
         "th", "tr", "ua", "vn")
LABELS = ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL", "ERROR_MESSAGE", "HELP_MESSAGE")
UF_NAME = re.compile(r"^[A-Z0-9_]+$")
STAGE_CODE = re.compile(r"^[A-Za-z0-9_-]+$")
STAGE_DIRECTORY = re.compile(r"^(DEAL_STAGE|STATUS|DEAL_STAGE_\d+)$")


# What a new record holds where the caller set nothing, as the get examples print unset members: empty strings
# for dates and text (crm.lead.get.response: DATE_CLOSED, BIRTHDATE; crm.company.get.response: COMMENTS), N for
# flags, FACE_ID null; HAS_IMOL is N even beside an open-line IM (crm.lead.get.response) [inference: set by
# open-line chats, which are not emulated]
NEW_RECORD_DEFAULTS = {
    1: {"DATE_CLOSED": "", "BIRTHDATE": "", "IS_RETURN_CUSTOMER": "N", "HAS_IMOL": "N"},
    3: {"BIRTHDATE": "", "FACE_ID": None, "HAS_IMOL": "N"},
    4: {"COMMENTS": "", "BANKING_DETAILS": "", "IS_MY_COMPANY": "N", "HAS_IMOL": "N"},
}
GET_ONLY = {"HAS_IMOL", "FACE_ID"}        # printed by crm.*.get, not described by crm.*.fields


def legacy_value(value: Any, ftype: str) -> Any:
    """A value as the legacy API stores and prints it: strings for numbers, Y/N for flags."""
    if value is None:
        return None
    if isinstance(value, list):
        return [legacy_value(v, ftype) for v in value]
    if ftype in INT_TYPES:
        try:
            return str(int(float(value)))
        except (TypeError, ValueError):
            return None if value == "" else str(value)
    if ftype == "double":
        try:
            return f"{float(value):.2f}"
        except (TypeError, ValueError):
            return "0.00"
    if ftype == "char":
        return "Y" if value in (True, 1, "1", "Y", "y", "true") else "N"
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def typed_value(value: Any, ftype: str) -> Any:
    """A stored legacy value as crm.item prints it: real numbers."""
    if value is None:
        return None
    if isinstance(value, list):
        return [typed_value(v, ftype) for v in value]
    if ftype in INT_TYPES:
        try:
            return int(value)
        except (TypeError, ValueError):
            return value
    if ftype == "double":
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def param(params: dict[str, Any], name: str, default: Any = None, *, exact: bool = False) -> Any:
    """A top-level parameter; legacy methods take any case (`fields`/`FIELDS`, `id`/`ID`)."""
    if name in params:
        return params[name]
    if not exact:
        lowered = name.lower()
        for key, value in params.items():
            if str(key).lower() == lowered:
                return value
    return default


def as_dict(value: Any, name: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if not isinstance(value, dict):
        raise err.must_be_array(name)
    return value


def php_int(value: Any, default: int) -> int:
    """A number parameter read as PHP's (int) cast does: leading digits, else 0; absent → `default`."""
    if value is None or value == "":
        return default
    match = re.match(r"\s*([+-]?\d+)", str(value))
    return int(match.group(1)) if match else 0


def positive_id(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class PortalBase:
    """The state of one portal for one call (or one batch sub-call): the store, the account, the clock,
    the calling user and the modelled cost; every family's mixin works on it."""

    ROW_COST, WRITE_COST, COUNT_COST = ROW_COST, WRITE_COST, COUNT_COST

    def __init__(self, store: Store, account_id: int, *, at: float, user_id: int):
        self.store, self.account_id, self.at, self.user_id = store, account_id, at, user_id
        self.cost = BASE_COST
        self._uf_cache: dict[int, dict[str, tuple[str, bool]]] = {}
        self.original_uf_names = False      # crm.item.* with useOriginalUfNames=Y: UF_CRM_… keys, not ufCrm…

    @property
    def db(self):
        return self.store.db

    def now_iso(self) -> str:
        return iso(self.at)

    def _generic_list(self, table: str, params: dict[str, Any], columns: dict[str, tuple[str, str]], *,
                      json_kinds: dict[str, str] | None, default_order: str, strict: bool, exact: bool,
                      key_of=lambda name: name, scope: str = "account_id=?", scope_args: list | None = None):
        filter_ = as_dict(param(params, "filter", {}, exact=exact), "filter")
        order = as_dict(param(params, "order", {}, exact=exact), "order")
        start = listing.parse_start(param(params, "start", 0, exact=exact))

        def resolve(name: str):
            if name.upper() in columns:
                return columns[name.upper()]
            key = key_of(name)
            if json_kinds is not None and key in json_kinds:
                return f"json_extract({table}.data, '$.\"{key}\"')", json_kinds[key]
            return None
        try:
            where, args = listing.where_clause(filter_, resolve, strict=strict)
            ordering = listing.order_clause(order, resolve, strict=strict, default=default_order)
        except listing.UnknownField as unknown:
            where_ = "filter" if unknown.where == "filter" else "order"
            raise err.invalid_arg(f"Invalid {where_}: field '{unknown.field}' is not allowed in {where_}") from None
        except listing.BadValue as bad:
            raise err.invalid_arg(f"Invalid filter: field '{bad.field}' has invalid value") from None
        result, counted = listing.page(self.db, table, scope, scope_args or [self.account_id], where, args,
                                       ordering, start, columns="data")
        self.cost += COUNT_COST * counted + ROW_COST * len(result.rows)
        result.rows = [json.loads(r[0]) for r in result.rows]
        return result
