"""Bitrix24's behaviour over the store: one `Portal` per call, every query filtered on its account id.

Methods return plain Python values in the dialect of their method family and raise `B24Error`s
(errors.py); `methods.py` maps REST method names onto them and the gateway wraps the envelope.
Each call adds its modelled execution time to `Portal.cost` (see the cost model in
`bitrix24/__init__.py`).

Records of leads, deals, contacts and companies are kept as the legacy API shows them (UPPER_CASE
keys, numbers as strings) in `b24_crm.data`; `crm.item.*` converts them to camelCase with real
numbers on the way out and back on the way in.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24 import listing
from implkit.sandbox.bitrix24.fieldspec import FIELDS
from implkit.sandbox.bitrix24.naming import CAMEL_OVERRIDES, snake_to_camel  # noqa: F401  (old import path)
from implkit.sandbox.bitrix24.portal import iso, next_ids, stage_entity, stage_prefix, insert_stages, DEAL_STAGES
from implkit.sandbox.bitrix24.telephony import TelephonyMixin
from implkit.sandbox.bitrix24.timeline import TimelineMixin
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


class Portal(TimelineMixin, TelephonyMixin):
    """The backend of one portal for one call (or one batch sub-call); activities, comments and tasks are
    in `timeline.TimelineMixin`, calls in `telephony.TelephonyMixin`."""

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

    # --- user fields ----------------------------------------------------------------------------
    def _userfields(self, uf_entity: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT data FROM b24_userfields WHERE account_id=? AND entity_id=? ORDER BY id",
                               (self.account_id, uf_entity)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def _uf_types(self, entity: EntityType) -> dict[str, tuple[str, bool]]:
        """FIELD_NAME → (USER_TYPE_ID, multiple), read once per call (a list presents 50 records)."""
        if entity.type_id not in self._uf_cache:
            self._uf_cache[entity.type_id] = {f["FIELD_NAME"]: (f["USER_TYPE_ID"], f["MULTIPLE"] == "Y")
                                              for f in self._userfields(entity.uf_entity)}
        return self._uf_cache[entity.type_id]

    def userfield_add(self, entity: EntityType, fields: dict[str, Any]) -> int:
        self._uf_cache.clear()
        name = str(fields.get("FIELD_NAME") or "").strip()
        if not name:
            raise err.legacy("The 'FIELD_NAME' field is not found.")
        utype = str(fields.get("USER_TYPE_ID") or "").strip()
        if not utype:
            raise err.legacy("The 'USER_TYPE_ID' field is not found.")
        if utype not in USER_TYPES:
            raise err.core("Incorrect custom type specified.")
        full = normalise_uf_name(name)
        if any(f["FIELD_NAME"] == full for f in self._userfields(entity.uf_entity)):
            raise err.core(f"Field {full} already exists.")   # [unverified] text
        multiple = "N" if utype == "boolean" else _yn(fields.get("MULTIPLE"), "N")
        record = {
            "ENTITY_ID": entity.uf_entity, "FIELD_NAME": full, "USER_TYPE_ID": utype,
            "XML_ID": fields.get("XML_ID"), "SORT": str(php_int(fields.get("SORT"), 100)), "MULTIPLE": multiple,
            "MANDATORY": _yn(fields.get("MANDATORY"), "N"),
            "SHOW_FILTER": {"Y": "E", "N": "N"}.get(str(fields.get("SHOW_FILTER", "N")).upper(),
                                                    str(fields.get("SHOW_FILTER", "N")).upper()),
            "SHOW_IN_LIST": _yn(fields.get("SHOW_IN_LIST"), "Y"), "EDIT_IN_LIST": _yn(fields.get("EDIT_IN_LIST"), "Y"),
            "IS_SEARCHABLE": _yn(fields.get("IS_SEARCHABLE"), "N"),
            "SETTINGS": fields.get("SETTINGS") if isinstance(fields.get("SETTINGS"), dict) and fields.get("SETTINGS")
            else [],
        }
        label = fields.get("LABEL")
        for key in LABELS:
            value = fields.get(key, label if key in ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL")
                               else None)
            record[key] = _label_map(value)
        with self.store.transaction() as db:
            field_id = next_ids(db, self.account_id, "userfield")
            record = {"ID": str(field_id), **record}
            if utype == "enumeration":
                record["LIST"] = self._list_items(db, full, [], fields.get("LIST"))
            db.execute("INSERT INTO b24_userfields (account_id, id, entity_id, field_name, data) VALUES (?, ?, ?, ?, ?)",
                       (self.account_id, field_id, entity.uf_entity, full, json.dumps(record, ensure_ascii=False)))
        self.cost += WRITE_COST
        return field_id

    def _list_items(self, db, field_name: str, current: list[dict], changes: Any) -> list[dict]:
        """Apply LIST changes: {ID, DEL: Y} deletes, {ID, ...} edits, no ID adds; unmentioned items stay."""
        items = [dict(i) for i in current]
        changes = list(changes.values()) if isinstance(changes, dict) else list(changes or [])
        for change in changes:
            if not isinstance(change, dict):
                continue
            item_id = str(change.get("ID") or "")
            if item_id:
                match = next((i for i in items if i["ID"] == item_id), None)
                if match is None:
                    continue
                if str(change.get("DEL", "N")).upper() == "Y":
                    items.remove(match)
                    continue
                for key in ("VALUE", "SORT", "DEF", "XML_ID"):
                    if key in change:
                        match[key] = str(change[key]) if key != "DEF" else _yn(change[key], "N")
                continue
            value = str(change.get("VALUE") or "").strip()
            if not value:
                continue   # an empty VALUE is ignored (docs)
            xml_id = str(change.get("XML_ID") or hashlib.md5(f"{field_name}:{value}".encode()).hexdigest())
            if any(i["XML_ID"] == xml_id for i in items):
                raise err.core(f"List item with value XML_ID={xml_id} already exists.")
            items.append({"ID": str(next_ids(db, self.account_id, "enum")), "SORT": str(php_int(change.get("SORT"), 500)),
                          "VALUE": value, "DEF": _yn(change.get("DEF"), "N"), "XML_ID": xml_id})
        return items

    def _userfield_row(self, entity: EntityType, field_id: Any) -> dict[str, Any]:
        number = positive_id(field_id)
        if number is None:
            raise err.bad_id()
        rows = self.db.execute("SELECT data FROM b24_userfields WHERE account_id=? AND id=? AND entity_id=?",
                               (self.account_id, number, entity.uf_entity)).fetchall()
        if not rows:
            raise err.B24Error(f"The entity with ID '{number}' is not found.", code="ERROR_NOT_FOUND", status=400)
        return json.loads(rows[0][0])

    def userfield_get(self, entity: EntityType, field_id: Any) -> dict[str, Any]:
        self.cost += ROW_COST
        return self._userfield_row(entity, field_id)

    def userfield_update(self, entity: EntityType, field_id: Any, fields: dict[str, Any]) -> bool:
        self._uf_cache.clear()
        record = self._userfield_row(entity, field_id)
        for key in ("XML_ID", "SORT", "MANDATORY", "SHOW_FILTER", "SHOW_IN_LIST", "EDIT_IN_LIST", "IS_SEARCHABLE"):
            if key in fields:
                record[key] = str(fields[key]) if key in ("SORT", "XML_ID") else str(fields[key]).upper()
        if isinstance(fields.get("SETTINGS"), dict):
            record["SETTINGS"] = {**(record["SETTINGS"] or {}), **fields["SETTINGS"]}
        for key in LABELS:
            if key in fields:     # a label on update replaces the whole language map
                record[key] = _label_map(fields[key])
        with self.store.transaction() as db:
            if record["USER_TYPE_ID"] == "enumeration" and "LIST" in fields:
                record["LIST"] = self._list_items(db, record["FIELD_NAME"], record.get("LIST", []), fields["LIST"])
            db.execute("UPDATE b24_userfields SET data=? WHERE account_id=? AND id=?",
                       (json.dumps(record, ensure_ascii=False), self.account_id, int(record["ID"])))
        self.cost += WRITE_COST
        return True

    def userfield_delete(self, entity: EntityType, field_id: Any) -> bool:
        self._uf_cache.clear()
        record = self._userfield_row(entity, field_id)
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_userfields WHERE account_id=? AND id=?", (self.account_id, int(record["ID"])))
        self.cost += WRITE_COST
        return True

    def userfield_list(self, entity: EntityType, order: dict, filter_: dict) -> list[dict[str, Any]]:
        fields = self._userfields(entity.uf_entity)
        lang = filter_.get("LANG")
        for key, value in filter_.items():
            if key == "LANG":
                continue
            fields = [f for f in fields if str(f.get(key)) == str(value)]
        keys = [(k, str(v).upper() == "DESC") for k, v in order.items()] or [("SORT", False), ("ID", False)]
        for key, descending in reversed(keys):
            fields.sort(key=lambda f: _sort_key(f.get(key)), reverse=descending)
        if lang:
            fields = [{**f, **{k: (f.get(k) or {}).get(lang, "") for k in LABELS}} for f in fields]
        self.cost += ROW_COST * len(fields)
        return fields

    # --- statuses and pipelines ---------------------------------------------------------------------
    def stages(self, category_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT status_id, semantics, sort FROM b24_statuses WHERE account_id=? AND entity_id=? ORDER BY sort, id",
            (self.account_id, stage_entity(category_id)))]

    def lead_statuses(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT status_id, semantics, sort FROM b24_statuses WHERE account_id=? AND entity_id='STATUS' "
            "ORDER BY sort, id", (self.account_id,))]

    def _status_row(self, status_id: Any) -> dict[str, Any]:
        number = positive_id(status_id)
        if number is None:
            raise err.invalid_identifier()
        rows = self.db.execute("SELECT * FROM b24_statuses WHERE account_id=? AND id=?",
                               (self.account_id, number)).fetchall()
        if not rows:
            raise err.legacy("Status is not found.")
        return dict(rows[0])

    def _status_out(self, row: dict[str, Any], failure_ids: set[int]) -> dict[str, Any]:
        out = {"ID": str(row["id"]), "ENTITY_ID": row["entity_id"], "STATUS_ID": row["status_id"],
               "NAME": row["name"], "NAME_INIT": row["name_init"], "SORT": str(row["sort"]),
               "SYSTEM": "Y" if row["system"] else "N",
               "CATEGORY_ID": None if row["category_id"] is None else str(row["category_id"]),
               "COLOR": row["color"], "SEMANTICS": row["semantics"]}
        if STAGE_DIRECTORY.match(row["entity_id"]):
            semantics = {"S": "success", "F": "failure" if row["id"] in failure_ids else "apology"}
            out["EXTRA"] = {"SEMANTICS": semantics.get(row["semantics"] or "", "process"), "COLOR": row["color"]}
        return out

    def _first_failures(self) -> set[int]:
        return {r[0] for r in self.db.execute(
            "SELECT min(id) FROM b24_statuses WHERE account_id=? AND semantics='F' GROUP BY entity_id",
            (self.account_id,))}

    def status_list(self, order: dict, filter_: dict) -> list[dict[str, Any]]:
        columns = {"ID": ("id", "int"), "ENTITY_ID": ("entity_id", "text"), "STATUS_ID": ("status_id", "text"),
                   "NAME": ("name", "text"), "SORT": ("sort", "int"), "SYSTEM": ("CASE system WHEN 1 THEN 'Y' "
                                                                                 "ELSE 'N' END", "text"),
                   "CATEGORY_ID": ("category_id", "int"), "SEMANTICS": ("semantics", "text"),
                   "COLOR": ("color", "text")}
        where, args = listing.where_clause(filter_, lambda n: columns.get(n.upper()), strict=False)
        ordering = listing.order_clause(order, lambda n: columns.get(n.upper()), strict=False,
                                        default="sort ASC, id ASC")
        rows = self.db.execute(f"SELECT * FROM b24_statuses WHERE account_id=?{' AND (' + where + ')' if where else ''}"
                               f" ORDER BY {ordering}", (self.account_id, *args)).fetchall()
        failures = self._first_failures()
        self.cost += ROW_COST * len(rows)
        return [self._status_out(dict(r), failures) for r in rows]

    def status_get(self, status_id: Any) -> dict[str, Any]:
        self.cost += ROW_COST
        return self._status_out(self._status_row(status_id), self._first_failures())

    def _directories(self) -> set[str]:
        entities = {r[0] for r in self.db.execute("SELECT DISTINCT entity_id FROM b24_statuses WHERE account_id=?",
                                                  (self.account_id,))}
        entities |= {stage_entity(r[0]) for r in self.db.execute(
            "SELECT id FROM b24_categories WHERE account_id=? AND entity_type_id=2", (self.account_id,))}
        return entities | {"INDUSTRY", "EMPLOYEES", "HONORIFIC", "CALL_LIST"}

    def status_add(self, fields: dict[str, Any]) -> int:
        missing = [f"The field {k} is required." for k in ("ENTITY_ID", "STATUS_ID") if not fields.get(k)]
        if missing:
            raise err.legacy(", ".join(missing))
        entity_id = str(fields["ENTITY_ID"])
        if entity_id not in self._directories():
            raise err.legacy("Specified entity type is not supported.")
        if not str(fields.get("NAME") or "").strip():
            raise err.legacy("The field Title is required.")
        code = str(fields["STATUS_ID"])
        category_id = int(entity_id.rsplit("_", 1)[1]) if re.match(r"^DEAL_STAGE_\d+$", entity_id) else None
        if STAGE_DIRECTORY.match(entity_id):
            prefix = stage_prefix(category_id or 0)
            bare = code[len(prefix):] if prefix and code.startswith(prefix) else code
            limit = 21 if entity_id == "STATUS" else 22
            if not STAGE_CODE.match(bare) or len(prefix + bare) > limit:
                raise err.legacy("Error on creating status.")   # [unverified] which text the id rules give
            code = prefix + bare
        elif len(code) > 50:
            raise err.legacy("Error on creating status.")
        sort = php_int(fields.get("SORT"), 10)
        semantics = str(fields.get("SEMANTICS") or "").upper() or None
        if semantics not in (None, "F"):
            semantics = None      # one success stage per pipeline: another S is read as in-progress [inference]
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM b24_statuses WHERE account_id=? AND entity_id=? AND status_id=?",
                          (self.account_id, entity_id, code)).fetchone():
                raise err.core("The specified status ID already exists.")
            # the error table states this rule "for the DEAL_STAGE directory"; its own example adds SORT 70
            # to DEAL_STAGE_1, so other pipelines are not held to it [inference]
            if entity_id == "DEAL_STAGE" and semantics != "F":
                success = db.execute("SELECT sort FROM b24_statuses WHERE account_id=? AND entity_id=? AND "
                                     "semantics='S'", (self.account_id, entity_id)).fetchone()
                if success and sort > success[0]:
                    raise err.legacy("Cannot create more stages after the final stage because the final successful "
                                     "stage already exists. Try using sort order values less than that of the final "
                                     "stage.")
            new_id = next_ids(db, self.account_id, "status")
            db.execute("INSERT INTO b24_statuses (account_id, id, entity_id, status_id, name, name_init, sort, system, "
                       "category_id, color, semantics) VALUES (?, ?, ?, ?, ?, '', ?, 0, ?, ?, ?)",
                       (self.account_id, new_id, entity_id, code, str(fields["NAME"]), sort, category_id,
                        fields.get("COLOR"), semantics))
        self.cost += WRITE_COST
        return new_id

    def status_update(self, status_id: Any, fields: dict[str, Any]) -> bool:
        row = self._status_row(status_id)
        changes = {"name": fields.get("NAME", row["name"]), "sort": php_int(fields.get("SORT"), row["sort"]),
                   "color": fields.get("COLOR", row["color"])}
        # ENTITY_ID, STATUS_ID, CATEGORY_ID and SEMANTICS are immutable after creation: ignored
        with self.store.transaction() as db:
            db.execute("UPDATE b24_statuses SET name=?, sort=?, color=? WHERE account_id=? AND id=?",
                       (changes["name"], changes["sort"], changes["color"], self.account_id, row["id"]))
        self.cost += WRITE_COST
        return True

    def status_delete(self, status_id: Any, params: dict[str, Any]) -> bool:
        row = self._status_row(status_id)
        if row["system"] and str(params.get("FORCED", "N")).upper() != "Y":
            raise err.legacy('CRM System Status can be deleted only if parameter FORCED is specified and equal '
                             'to "Y".')
        if STAGE_DIRECTORY.match(row["entity_id"]):
            type_id, category = (1, None) if row["entity_id"] == "STATUS" else (2, row["category_id"] or 0)
            used = self.db.execute(
                "SELECT 1 FROM b24_crm WHERE account_id=? AND entity_type_id=? AND stage_id=?"
                + (" AND category_id=?" if category is not None else "") + " LIMIT 1",
                (self.account_id, type_id, row["status_id"], *([category] if category is not None else []))).fetchone()
            if used:
                raise err.legacy("There are active items in this status.")
            group = self.db.execute(
                "SELECT count(*) FROM b24_statuses WHERE account_id=? AND entity_id=? AND "
                "coalesce(semantics, '')=coalesce(?, '')", (self.account_id, row["entity_id"], row["semantics"])).fetchone()
            if group[0] <= 1:   # a pipeline keeps one stage per group (in progress, success, failure) [text: inference]
                raise err.legacy("Error on deleting status.")
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_statuses WHERE account_id=? AND id=?", (self.account_id, row["id"]))
        self.cost += WRITE_COST
        return True

    def status_entity_items(self, entity_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT name, sort, status_id FROM b24_statuses WHERE account_id=? AND entity_id=? "
                               "ORDER BY sort, id", (self.account_id, entity_id)).fetchall()
        self.cost += ROW_COST * len(rows)
        return [{"NAME": r["name"], "SORT": r["sort"], "STATUS_ID": r["status_id"]} for r in rows]   # SORT: a number

    DIRECTORY_NAMES = {"STATUS": "Стадии лидов", "SOURCE": "Источники", "CONTACT_TYPE": "Тип контакта",
                       "COMPANY_TYPE": "Тип компании", "EMPLOYEES": "Кол-во сотрудников", "INDUSTRY": "Сфера деятельности",
                       "DEAL_TYPE": "Тип сделки", "HONORIFIC": "Обращения", "CALL_LIST": "Статусы обзвона"}

    def status_entity_types(self) -> list[dict[str, Any]]:
        """The directories, with SEMANTIC_INFO for stage sets (crm.status.entity.types.response; its quirks
        kept: CATEGORY_ID is 0 for DEAL_STAGE and a string for DEAL_STAGE_<id>)."""
        def semantic_info(entity_id: str) -> dict[str, Any]:
            rows = self.db.execute("SELECT status_id, semantics FROM b24_statuses WHERE account_id=? AND entity_id=? "
                                   "ORDER BY sort, id", (self.account_id, entity_id)).fetchall()
            first = lambda semantics: next((r[0] for r in rows if r[1] == semantics), "")   # noqa: E731
            return {"START_FIELD": rows[0][0] if rows else "", "FINAL_SUCCESS_FIELD": first("S"),
                    "FINAL_UNSUCCESS_FIELD": first("F"), "FINAL_SORT": 0}
        out = [{"ID": "STATUS", "NAME": self.DIRECTORY_NAMES["STATUS"], "SEMANTIC_INFO": semantic_info("STATUS"),
                "ENTITY_TYPE_ID": 1}]
        out += [{"ID": key, "NAME": self.DIRECTORY_NAMES[key]} for key in ("SOURCE", "CONTACT_TYPE", "COMPANY_TYPE",
                                                                          "EMPLOYEES", "INDUSTRY", "DEAL_TYPE")]
        for row in self.db.execute("SELECT id, name FROM b24_categories WHERE account_id=? AND entity_type_id=2 "
                                   "ORDER BY id DESC", (self.account_id,)).fetchall():
            entity_id = stage_entity(row[0])
            if row[0] == 0:
                out.append({"ID": entity_id, "NAME": "Стадии сделки", "SEMANTIC_INFO": semantic_info(entity_id),
                            "FIELD_ATTRIBUTE_SCOPE": "", "ENTITY_TYPE_ID": 2, "CATEGORY_ID": 0})
            else:
                out.append({"ID": entity_id, "NAME": f"Стадии сделки ({row[1]})", "PARENT_ID": "DEAL_STAGE",
                            "SEMANTIC_INFO": semantic_info(entity_id), "PREFIX": f"C{row[0]}",
                            "FIELD_ATTRIBUTE_SCOPE": f"category_{row[0]}", "ENTITY_TYPE_ID": 2,
                            "CATEGORY_ID": str(row[0])})
        out += [{"ID": key, "NAME": self.DIRECTORY_NAMES[key]} for key in ("HONORIFIC", "CALL_LIST")]
        self.cost += ROW_COST * len(out)
        return out

    # --- categories (crm.category.*) -------------------------------------------------------------
    def _check_category_type(self, entity_type_id: Any) -> int:
        try:
            type_id = int(entity_type_id)
        except (TypeError, ValueError):
            raise err.B24Error("SPA not found", code="NOT_FOUND") from None
        if type_id == 1:
            raise err.entity_type_not_supported("LEAD")
        if type_id not in (2, 3, 4):
            raise err.B24Error("SPA not found", code="NOT_FOUND")
        return type_id

    @staticmethod
    def _category_out(row) -> dict[str, Any]:
        out = {"id": row["id"], "name": row["name"], "sort": row["sort"], "entityTypeId": row["entity_type_id"],
               "isDefault": "Y" if row["is_default"] else "N"}
        if not row["is_default"]:   # the doc example prints these two only on non-default pipelines
            out.update(originId="", originatorId="")
        return out

    def category_list(self, entity_type_id: Any) -> list[dict[str, Any]]:
        type_id = self._check_category_type(entity_type_id)
        rows = self.db.execute("SELECT * FROM b24_categories WHERE account_id=? AND entity_type_id=? "
                               "ORDER BY sort, id", (self.account_id, type_id)).fetchall()
        self.cost += ROW_COST * len(rows)
        return [self._category_out(r) for r in rows]

    def _category_row(self, type_id: int, category_id: Any):
        try:
            number = int(category_id)
        except (TypeError, ValueError):
            raise err.element_not_found() from None
        rows = self.db.execute("SELECT * FROM b24_categories WHERE account_id=? AND entity_type_id=? AND id=?",
                               (self.account_id, type_id, number)).fetchall()
        if not rows:
            raise err.element_not_found()
        return rows[0]

    def category_get(self, entity_type_id: Any, category_id: Any) -> dict[str, Any]:
        self.cost += ROW_COST
        return self._category_out(self._category_row(self._check_category_type(entity_type_id), category_id))

    def category_add(self, entity_type_id: Any, fields: dict[str, Any]) -> dict[str, Any]:
        type_id = self._check_category_type(entity_type_id)
        name = str(fields.get("name") or "").strip()
        if not name:
            raise err.B24Error("Field 'NAME' is required", code=0)
        sort = max(0, php_int(fields.get("sort"), 500))
        with self.store.transaction() as db:
            category_id = next_ids(db, self.account_id, "category")
            db.execute("INSERT INTO b24_categories (account_id, entity_type_id, id, name, sort, is_default) "
                       "VALUES (?, ?, ?, ?, ?, 0)", (self.account_id, type_id, category_id, name[:255], sort))
            if type_id == 2:   # a new deal pipeline gets the default stage set at once [unverified exact set]
                insert_stages(db, self.account_id, stage_entity(category_id), category_id, stage_prefix(category_id),
                              DEAL_STAGES)
        self.cost += WRITE_COST
        return self._category_out(self._category_row(type_id, category_id))

    def category_update(self, entity_type_id: Any, category_id: Any, fields: dict[str, Any]) -> dict[str, Any]:
        type_id = self._check_category_type(entity_type_id)
        row = self._category_row(type_id, category_id)
        name = str(fields.get("name", row["name"]) or "").strip()
        if not name:
            raise err.B24Error("Field 'NAME' is required", code=0)
        sort = max(0, php_int(fields.get("sort"), row["sort"]))
        with self.store.transaction() as db:   # isDefault of deal pipelines cannot change: ignored
            db.execute("UPDATE b24_categories SET name=?, sort=? WHERE account_id=? AND entity_type_id=? AND id=?",
                       (name[:255], sort, self.account_id, type_id, row["id"]))
        self.cost += WRITE_COST
        return self._category_out(self._category_row(type_id, row["id"]))

    def category_delete(self, entity_type_id: Any, category_id: Any) -> None:
        type_id = self._check_category_type(entity_type_id)
        row = self._category_row(type_id, category_id)
        if row["is_default"]:
            raise err.B24Error("Default deal category cannot be deleted", code=0)
        if self.db.execute("SELECT 1 FROM b24_crm WHERE account_id=? AND entity_type_id=? AND category_id=? LIMIT 1",
                           (self.account_id, type_id, row["id"])).fetchone():
            raise err.B24Error(f"Deals related to the funnel {row['name']} found", code=0)
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_categories WHERE account_id=? AND entity_type_id=? AND id=?",
                       (self.account_id, type_id, row["id"]))
            db.execute("DELETE FROM b24_statuses WHERE account_id=? AND entity_id=?",
                       (self.account_id, stage_entity(row["id"])))
        self.cost += WRITE_COST

    # --- CRM records ---------------------------------------------------------------------------------
    def _resolver(self, entity: EntityType, *, camel: bool):
        spec = SPEC[entity.type_id]
        ufs = self._uf_types(entity)
        camel_to_legacy = {snake_to_camel(n): n for n in list(spec) + list(ufs)} if camel else {}
        columns = {"ID": ("id", "int"), "CATEGORY_ID": ("category_id", "int"),
                   "ASSIGNED_BY_ID": ("assigned_by_id", "int"), "DATE_CREATE": ("date_create", "text"),
                   "DATE_MODIFY": ("date_modify", "text")}
        if entity.stage_field:
            columns[entity.stage_field] = ("stage_id", "text")

        def resolve(name: str):
            legacy = camel_to_legacy.get(name, name if not camel or name in ufs else
                                         name.upper() if name.upper() in spec else None)
            if legacy is None:
                return None
            if legacy in columns:
                return columns[legacy]
            if legacy in MULTIFIELDS and legacy in spec:
                return (f"(SELECT json_group_array(json_extract(m.value, '$.VALUE')) FROM "
                        f"json_each(b24_crm.data, '$.{legacy}') AS m)", "list")
            if legacy in spec:
                ftype = spec[legacy][1]
                kind = "int" if ftype in INT_TYPES else "real" if ftype == "double" else "text"
                if spec[legacy][5]:
                    kind = "list"
                return f"json_extract(b24_crm.data, '$.\"{legacy}\"')", kind
            if legacy in ufs:
                utype, multiple = ufs[legacy]
                kind = "list" if multiple else "int" if utype in ("integer", "enumeration", "employee") else \
                    "real" if utype == "double" else "text"
                return f"json_extract(b24_crm.data, '$.\"{legacy}\"')", kind
            return None
        return resolve, camel_to_legacy

    def crm_list(self, entity: EntityType, params: dict[str, Any], *, camel: bool) -> listing.Page:
        exact = camel
        filter_ = as_dict(param(params, "filter", {}, exact=exact), "filter")
        order = as_dict(param(params, "order", {}, exact=exact), "order")
        select = param(params, "select", [], exact=exact)
        select = list(select.values()) if isinstance(select, dict) else select if isinstance(select, list) else [select]
        start = listing.parse_start(param(params, "start", 0, exact=exact))
        resolve, _ = self._resolver(entity, camel=camel)
        try:
            where, args = listing.where_clause(filter_, resolve, strict=camel)
            ordering = listing.order_clause(order, resolve, strict=camel, default="id ASC")
        except listing.UnknownField as unknown:
            if unknown.where == "filter":
                raise err.invalid_arg(f"Invalid filter: field '{unknown.field}' is not allowed in filter") from None
            if unknown.where.startswith("direction:"):
                raise err.invalid_arg(f"Invalid order: allowed sort directions are ASC, DESC. But got "
                                      f"'{unknown.where.split(':', 1)[1]}' for field '{unknown.field}'") from None
            raise err.invalid_arg(f"Invalid order: field '{unknown.field}' is not allowed in order") from None
        except listing.BadValue as bad:
            if camel:
                raise err.invalid_arg(f"Invalid filter: field '{bad.field}' has invalid value") from None
            raise err.legacy("Failed to get list. General error.") from None
        result, counted = listing.page(self.db, "b24_crm", "account_id=? AND entity_type_id=?",
                                       [self.account_id, entity.type_id], where, args, ordering, start,
                                       columns="data")
        self.cost += COUNT_COST * counted + ROW_COST * len(result.rows)
        records = [json.loads(r[0]) for r in result.rows]
        result.rows = [self._present(entity, rec, select, camel=camel) for rec in records]
        return result

    def _present(self, entity: EntityType, record: dict[str, Any], select: list[Any], *, camel: bool,
                 single: bool = False) -> dict[str, Any]:
        """A record for output. Legacy get: every single-valued field, multi-fields that have values, user
        fields. Legacy list: `select` names, `*` (standard single-valued fields), `UF_*` (user fields);
        no select = `*` + `UF_*`. crm.item: camelCase, real numbers; `fm` (phones, e-mails) only with `*`."""
        spec = SPEC[entity.type_id]
        ufs = self._uf_types(entity)
        wanted = [str(s) for s in select if s not in (None, "")]
        if camel:
            legacy_names = {snake_to_camel(n): n for n in list(spec) + list(ufs)}
            wanted = [legacy_names.get(w, w.upper() if w.upper() in spec else w) for w in wanted]
        standard = [n for n, row in spec.items() if not row[5]]
        if single or not wanted:
            names = standard + list(ufs) + ([n for n in MULTIFIELDS if record.get(n)] if single and not camel else [])
            if single and not camel:
                names += [n for n in GET_ONLY if n in record]
        else:
            names = (standard if "*" in wanted else []) + (list(ufs) if "UF_*" in wanted or (camel and "*" in wanted)
                                                          else [])
            names += [w for w in wanted if w in spec or w in ufs]
        if camel and entity.type_id == 2 and (single or not wanted or "*" in wanted or "CONTACT_IDS" in wanted):
            names.append("CONTACT_IDS")
        if camel:
            names = [n for n in names if n not in MULTIFIELDS]
        out: dict[str, Any] = {"ID": record.get("ID")} if not camel else {"id": typed_value(record.get("ID"), "integer")}
        for name in dict.fromkeys(names):
            if name == "ID":
                continue
            value = record.get(name)
            if name == "CONTACT_IDS" and value is None:
                value = []
            if name in MULTIFIELDS:
                out[name] = value or []
                continue
            if camel:
                ftype = spec[name][1] if name in spec else ufs.get(name, ("string", False))[0]
                key = name if self.original_uf_names and name in ufs else snake_to_camel(name)
                out[key] = typed_value(value, "integer" if ftype in ("enumeration", "employee") else ftype)
            else:
                out[name] = value
        if camel and (single or "*" in wanted):
            out["fm"] = [{"id": int(v["ID"]), "valueType": v["VALUE_TYPE"], "value": v["VALUE"],
                          "typeId": v["TYPE_ID"]} for kind in MULTIFIELDS for v in record.get(kind) or []]
        return out

    def _record(self, entity: EntityType, record_id: Any) -> dict[str, Any] | None:
        number = positive_id(record_id)
        if number is None:
            return None
        row = self.db.execute("SELECT data FROM b24_crm WHERE account_id=? AND entity_type_id=? AND id=?",
                              (self.account_id, entity.type_id, number)).fetchone()
        return json.loads(row[0]) if row else None

    def crm_get(self, entity: EntityType, record_id: Any, *, camel: bool) -> dict[str, Any]:
        if not camel and positive_id(record_id) is None:
            raise err.bad_id()
        record = self._record(entity, record_id)
        if record is None:
            raise err.element_not_found() if camel else err.not_found_legacy()
        self.cost += ROW_COST
        return self._present(entity, record, ["*"] if camel else [], camel=camel, single=True)

    def _from_camel(self, entity: EntityType, fields: dict[str, Any]) -> dict[str, Any]:
        spec, ufs = SPEC[entity.type_id], self._uf_types(entity)
        legacy_names = {snake_to_camel(n): n for n in list(spec) + list(ufs)}
        out = {}
        for key, value in fields.items():
            name = legacy_names.get(key)
            if name is None and key.upper() in ufs:
                name = key.upper()
            if name is not None:
                out[name] = value
        if "fm" in fields and isinstance(fields["fm"], list):
            for item in fields["fm"]:
                if isinstance(item, dict) and item.get("typeId") in MULTIFIELDS:
                    out.setdefault(item["typeId"], []).append({"VALUE": item.get("value"),
                                                              "VALUE_TYPE": item.get("valueType", "WORK")})
        return out

    def _first_stage_flag(self, category_id: int, stage: str) -> str:
        stages = self.stages(category_id)
        return "Y" if stages and stages[0]["status_id"] == stage else "N"

    def _stage_for(self, category_id: int, wanted: Any, current: str | None = None) -> tuple[str, str]:
        """(STAGE_ID, STAGE_SEMANTIC_ID) for a deal: the wanted stage if the pipeline has it, else the first
        stage of the same semantics as the current one, else the pipeline's first stage."""
        stages = self.stages(category_id)
        by_code = {s["status_id"]: s for s in stages}
        if wanted in by_code:
            stage = by_code[wanted]
        else:
            semantics = None
            if current is not None:
                row = self.db.execute("SELECT semantics FROM b24_statuses WHERE account_id=? AND status_id=? AND "
                                      "entity_id LIKE 'DEAL_STAGE%'", (self.account_id, current)).fetchone()
                semantics = row[0] if row else None
            stage = next((s for s in stages if s["semantics"] == semantics), stages[0] if stages else
                         {"status_id": "NEW", "semantics": None})
        return stage["status_id"], stage["semantics"] or "P"

    def _apply_fields(self, entity: EntityType, record: dict[str, Any], fields: dict[str, Any], *,
                      creating: bool, allow_category: bool) -> None:
        spec, ufs = SPEC[entity.type_id], self._uf_types(entity)
        for name, value in fields.items():
            if name in MULTIFIELDS and name in spec:
                record[name] = self._multifield(name, record.get(name) or [], value)
                continue
            if name in ufs:
                utype, multiple = ufs[name]
                if multiple:
                    values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) \
                        else [value]
                    record[name] = [str(v) for v in values if v not in (None, "")]
                else:
                    record[name] = None if value in (None, "") else str(value)
                continue
            row = spec.get(name)
            if row is None or (row[3] and name not in ("CONTACT_ID",)):
                continue      # unknown and read-only fields are ignored, as the portal does
            if name == "CATEGORY_ID" and not creating and not allow_category:
                continue      # CATEGORY_ID is immutable through crm.deal.update (the docs move deals with crm.item)
            if name == "CONTACT_IDS":
                values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) \
                    else [value]
                record["CONTACT_IDS"] = [int(v) for v in values if positive_id(v)]
                record["CONTACT_ID"] = str(record["CONTACT_IDS"][0]) if record["CONTACT_IDS"] else None
                continue
            record[name] = legacy_value(value, row[1])
        if entity.type_id == 2 and "CONTACT_ID" in fields and "CONTACT_IDS" not in fields:
            record["CONTACT_IDS"] = [int(record["CONTACT_ID"])] if positive_id(record.get("CONTACT_ID")) else []
        for kind in ("PHONE", "EMAIL"):
            if kind in spec and "HAS_" + kind in spec:
                record["HAS_" + kind] = "Y" if record.get(kind) else "N"

    def _multifield(self, kind: str, current: list[dict], changes: Any) -> list[dict]:
        """ID + value replaces, ID + DELETE:Y (or an empty VALUE, or ID alone) deletes, no ID adds."""
        items = [dict(i) for i in current]
        changes = list(changes.values()) if isinstance(changes, dict) else changes if isinstance(changes, list) else []
        with self.store.transaction() as db:
            for change in changes:
                if not isinstance(change, dict):
                    continue
                value = change.get("VALUE")
                item_id = str(change.get("ID") or "")
                if item_id:
                    match = next((i for i in items if i["ID"] == item_id), None)
                    if match is None:
                        continue
                    if str(change.get("DELETE", "N")).upper() == "Y" or not value:
                        items.remove(match)
                    else:
                        match["VALUE"] = str(value)
                        match["VALUE_TYPE"] = str(change.get("VALUE_TYPE") or match["VALUE_TYPE"])
                    continue
                if not value:
                    continue
                items.append({"ID": str(next_ids(db, self.account_id, "fm")),
                              "VALUE_TYPE": str(change.get("VALUE_TYPE") or "WORK"), "VALUE": str(value),
                              "TYPE_ID": kind})
        return items

    def crm_add(self, entity: EntityType, fields: dict[str, Any], *, camel: bool) -> int:
        if camel:
            fields = self._from_camel(entity, fields)
        now = self.now_iso()
        user = str(self.user_id)
        record: dict[str, Any] = {"ASSIGNED_BY_ID": user, "CREATED_BY_ID": user, "MODIFY_BY_ID": user,
                                  "DATE_CREATE": now, "DATE_MODIFY": now, "OPENED": "Y"}
        if entity.type_id in (1, 2):
            record.update(OPPORTUNITY="0.00", CURRENCY_ID="RUB", IS_MANUAL_OPPORTUNITY="N", MOVED_TIME=now,
                          MOVED_BY_ID=user)
        record.update(NEW_RECORD_DEFAULTS.get(entity.type_id, {}))
        self._apply_fields(entity, record, fields, creating=True, allow_category=True)
        if entity.type_id == 2:
            category = int(record.get("CATEGORY_ID") or 0)
            if not self.db.execute("SELECT 1 FROM b24_categories WHERE account_id=? AND entity_type_id=2 AND id=?",
                                   (self.account_id, category)).fetchone():
                category = 0
            record["CATEGORY_ID"] = str(category)
            record["STAGE_ID"], record["STAGE_SEMANTIC_ID"] = self._stage_for(category, record.get("STAGE_ID"))
            record["CLOSED"] = "N" if record["STAGE_SEMANTIC_ID"] == "P" else "Y"
            record.setdefault("CONTACT_IDS", [])
            # read-only members the portal fills (crm.deal.get.response prints them): new while in the
            # pipeline's first stage [inference], the last activity is the creation itself
            record["IS_NEW"] = self._first_stage_flag(category, record["STAGE_ID"])
        spec = SPEC[entity.type_id]
        if "LAST_ACTIVITY_TIME" in spec:
            record.update(LAST_ACTIVITY_TIME=now, LAST_ACTIVITY_BY=user)
        if entity.type_id == 1:
            statuses = {s["status_id"]: s for s in self.lead_statuses()}
            status = statuses.get(record.get("STATUS_ID")) or next(iter(statuses.values()))
            record["STATUS_ID"], record["STATUS_SEMANTIC_ID"] = status["status_id"], status["semantics"] or "P"
        with self.store.transaction() as db:
            new_id = next_ids(db, self.account_id, f"crm{entity.type_id}")
            record["ID"] = str(new_id)
            self._write(db, entity, new_id, record)
            if entity.stage_field:
                self._history(db, entity, new_id, 1, record)
        self.cost += WRITE_COST
        return new_id

    def _write(self, db, entity: EntityType, record_id: int, record: dict[str, Any]) -> None:
        db.execute("INSERT OR REPLACE INTO b24_crm (account_id, entity_type_id, id, category_id, stage_id, "
                   "assigned_by_id, date_create, date_modify, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (self.account_id, entity.type_id, record_id,
                    int(record["CATEGORY_ID"]) if record.get("CATEGORY_ID") not in (None, "") else None,
                    record.get(entity.stage_field) if entity.stage_field else None,
                    positive_id(record.get("ASSIGNED_BY_ID")), record.get("DATE_CREATE"), record.get("DATE_MODIFY"),
                    json.dumps(record, ensure_ascii=False)))

    def _history(self, db, entity: EntityType, owner_id: int, type_id: int, record: dict[str, Any]) -> None:
        history_id = next_ids(db, self.account_id, "stagehistory")
        stage = record[entity.stage_field]
        semantic = record.get("STAGE_SEMANTIC_ID") or record.get("STATUS_SEMANTIC_ID") or "P"
        item = {"ID": history_id, "TYPE_ID": type_id, "OWNER_ID": owner_id, "CREATED_TIME": self.now_iso(),
                "CATEGORY_ID": int(record.get("CATEGORY_ID") or 0) if entity.type_id == 2 else None,
                "STAGE_SEMANTIC_ID": semantic, ("STAGE_ID" if entity.type_id == 2 else "STATUS_ID"): stage}
        if entity.type_id == 1:
            item.pop("CATEGORY_ID")
        db.execute("INSERT INTO b24_stage_history (account_id, entity_type_id, id, owner_id, created_time, data) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (self.account_id, entity.type_id, history_id, owner_id,
                                                 item["CREATED_TIME"], json.dumps(item)))

    def crm_update(self, entity: EntityType, record_id: Any, fields: dict[str, Any], *, camel: bool) -> dict | bool:
        if not camel and positive_id(record_id) is None:
            raise err.bad_id()
        record = self._record(entity, record_id)
        if record is None:
            raise err.element_not_found() if camel else err.not_found_legacy()
        if camel:
            fields = self._from_camel(entity, fields)
        before_stage = record.get(entity.stage_field) if entity.stage_field else None
        before_category = record.get("CATEGORY_ID")
        self._apply_fields(entity, record, fields, creating=False, allow_category=camel)
        record["DATE_MODIFY"], record["MODIFY_BY_ID"] = self.now_iso(), str(self.user_id)
        if entity.type_id == 2:
            category = int(record.get("CATEGORY_ID") or 0)
            wanted = record.get("STAGE_ID")
            stage, semantic = self._stage_for(category, wanted, current=before_stage)
            record["STAGE_ID"], record["STAGE_SEMANTIC_ID"] = stage, semantic
            record["CLOSED"] = "N" if semantic == "P" else "Y"
            record["IS_NEW"] = self._first_stage_flag(category, stage)
        if entity.type_id == 1 and record.get("STATUS_ID") != before_stage:
            statuses = {s["status_id"]: s for s in self.lead_statuses()}
            status = statuses.get(record.get("STATUS_ID")) or statuses.get(before_stage)
            record["STATUS_ID"], record["STATUS_SEMANTIC_ID"] = status["status_id"], status["semantics"] or "P"
        moved = entity.stage_field and (record.get(entity.stage_field) != before_stage
                                        or record.get("CATEGORY_ID") != before_category)
        if moved:
            record["MOVED_TIME"], record["MOVED_BY_ID"] = self.now_iso(), str(self.user_id)
        with self.store.transaction() as db:
            self._write(db, entity, int(record["ID"]), record)
            if moved:
                self._history(db, entity, int(record["ID"]), 2, record)
        self.cost += WRITE_COST
        if camel:
            return self._present(entity, record, ["*"], camel=True, single=True)
        return True

    def crm_delete(self, entity: EntityType, record_id: Any, *, camel: bool) -> bool:
        if not camel and positive_id(record_id) is None:
            raise err.bad_id()
        record = self._record(entity, record_id)
        if record is None:
            raise err.element_not_found() if camel else err.not_found_legacy()
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_crm WHERE account_id=? AND entity_type_id=? AND id=?",
                       (self.account_id, entity.type_id, int(record["ID"])))
        self.cost += WRITE_COST
        return True

    def crm_fields(self, entity: EntityType, *, camel: bool) -> dict[str, Any]:
        out = {}
        for name, ftype, required, read_only, immutable, multiple, status_type, title, extra in FIELDS[entity.type_id]:
            entry = {"type": ftype, "isRequired": required, "isReadOnly": read_only, "isImmutable": immutable,
                     "isMultiple": multiple, "isDynamic": False}
            if status_type:
                entry["statusType"] = status_type
            entry["title"] = title
            entry.update(extra)
            if camel:
                entry["upperName"] = name
            out[snake_to_camel(name) if camel else name] = entry
        for uf in self._userfields(entity.uf_entity):
            labels = {k: (uf.get(k) or {}).get("ru") or (uf.get(k) or {}).get("en") or uf["FIELD_NAME"]
                      for k in ("LIST_COLUMN_LABEL", "EDIT_FORM_LABEL", "LIST_FILTER_LABEL")}
            entry = {"type": uf["USER_TYPE_ID"], "isRequired": uf["MANDATORY"] == "Y", "isReadOnly": False,
                     "isImmutable": False, "isMultiple": uf["MULTIPLE"] == "Y", "isDynamic": True,
                     "title": uf["FIELD_NAME"], "listLabel": labels["LIST_COLUMN_LABEL"],
                     "formLabel": labels["EDIT_FORM_LABEL"], "filterLabel": labels["LIST_FILTER_LABEL"],
                     "settings": uf["SETTINGS"]}
            if uf["USER_TYPE_ID"] == "enumeration":
                entry["items"] = [{"ID": i["ID"], "VALUE": i["VALUE"]} for i in uf.get("LIST", [])]
            if camel:
                entry["upperName"] = uf["FIELD_NAME"]
            out[snake_to_camel(uf["FIELD_NAME"]) if camel else uf["FIELD_NAME"]] = entry
        self.cost += ROW_COST * len(out) / 10
        return out

    # --- activities, stage history, tasks --------------------------------------------------------------
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

    ACTIVITY_KINDS = {"TYPE_ID": "int", "PROVIDER_ID": "text", "PROVIDER_TYPE_ID": "text", "SUBJECT": "text",
                      "CREATED": "text", "LAST_UPDATED": "text", "END_TIME": "text", "STATUS": "int",
                      "PRIORITY": "int", "DIRECTION": "int", "AUTHOR_ID": "int", "EDITOR_ID": "int"}

    def activity_list(self, params: dict[str, Any]) -> listing.Page:
        columns = {"ID": ("id", "int"), "OWNER_TYPE_ID": ("owner_type_id", "int"), "OWNER_ID": ("owner_id", "int"),
                   "RESPONSIBLE_ID": ("responsible_id", "int"), "COMPLETED": ("completed", "text"),
                   "DEADLINE": ("deadline", "text"), "START_TIME": ("start_time", "text")}
        result = self._generic_list("b24_activities", params, columns, json_kinds=self.ACTIVITY_KINDS,
                                    default_order="start_time ASC, id ASC", strict=False, exact=False)
        select = param(params, "select", [])
        select = list(select.values()) if isinstance(select, dict) else select if isinstance(select, list) else []
        wanted = [str(s).upper() for s in select if s not in ("", None, "*")]
        everything = not select or "*" in select       # '*': every field but the two that must be named
        rows = []
        for record in result.rows:
            if everything:
                record = {k: v for k, v in record.items() if k not in ("COMMUNICATIONS", "FILES") or k in wanted}
            elif wanted:
                record = {k: v for k, v in record.items() if k in wanted or k == "ID"}
            rows.append(record)
        result.rows = rows
        return result

    def stagehistory_list(self, params: dict[str, Any]) -> listing.Page:
        type_id = param(params, "entityTypeId", None, exact=True)
        try:
            type_id = int(type_id)
        except (TypeError, ValueError):
            raise err.B24Error("Entity type is not supported", code="ENTITY_TYPE_NOT_SUPPORTED") from None
        if type_id not in (1, 2):
            name = ENTITIES[type_id].upper if type_id in ENTITIES else str(type_id)
            raise err.B24Error(f"{name} entity is not supported", code=0)
        stage_key = "STATUS_ID" if type_id == 1 else "STAGE_ID"
        kinds = {"TYPE_ID": "int", "CATEGORY_ID": "int", "STAGE_SEMANTIC_ID": "text", stage_key: "text"}
        columns = {"ID": ("id", "int"), "OWNER_ID": ("owner_id", "int"), "CREATED_TIME": ("created_time", "text")}
        result = self._generic_list("b24_stage_history", params, columns, json_kinds=kinds, default_order="id ASC",
                                    strict=True, exact=True, scope="account_id=? AND entity_type_id=?",
                                    scope_args=[self.account_id, type_id])
        select = param(params, "select", [], exact=True)
        wanted = [str(s).upper() for s in (select if isinstance(select, list) else []) if s not in ("", "*")]
        if wanted:
            result.rows = [{k: v for k, v in r.items() if k in wanted} for r in result.rows]
        return result

    TASK_KINDS = {"title": "text", "status": "int", "deadline": "text", "createdDate": "text",
                  "changedDate": "text", "closedDate": "text", "responsibleId": "int", "createdBy": "int",
                  "priority": "int", "groupId": "int", "ufCrmTask": "list", "realStatus": "int"}

    def task_list(self, params: dict[str, Any]) -> listing.Page:
        columns = {"ID": ("id", "int")}
        result = self._generic_list("b24_tasks", params, columns, json_kinds=self.TASK_KINDS,
                                    default_order="id DESC", strict=False, exact=False,
                                    key_of=lambda n: snake_to_camel(n) if n.isupper() else n)
        select = param(params, "select", [])
        select = list(select.values()) if isinstance(select, dict) else select if isinstance(select, list) else []
        extra = as_dict(param(params, "params", {}), "params")
        result.rows = [self.present_task(r, select, params=extra) for r in result.rows]
        return result

    # --- users, departments, duplicates -------------------------------------------------------------------
    USER_KINDS = {"NAME": "text", "LAST_NAME": "text", "EMAIL": "text", "USER_TYPE": "text",
                  "WORK_POSITION": "text", "UF_DEPARTMENT": "list", "IS_ONLINE": "text"}

    def user_get(self, params: dict[str, Any]) -> listing.Page:
        """All users, deactivated ones included unless the filter says ACTIVE (the docs: every user but bots,
        e-mail, open-line and replica users); filters in FILTER or at the top level (user.get.request)."""
        reserved = {"sort", "order", "start", "filter", "admin_mode", "auth"}
        filter_ = as_dict(param(params, "FILTER", {}), "filter")
        filter_ = {**{k: v for k, v in params.items() if str(k).lower() not in reserved}, **filter_}
        sort = param(params, "sort")
        direction = str(param(params, "order", "ASC") or "ASC")
        order = {str(sort): direction} if sort else {}
        return self._generic_list("b24_users", {"filter": filter_, "order": order, "start": param(params, "start", 0)},
                                  {"ID": ("id", "int"), "ACTIVE": ("active", "bool")}, json_kinds=self.USER_KINDS,
                                  default_order="id ASC", strict=False, exact=False)

    def user_current(self) -> dict[str, Any]:
        row = self.db.execute("SELECT data FROM b24_users WHERE account_id=? AND id=?",
                              (self.account_id, self.user_id)).fetchone()
        self.cost += ROW_COST
        if not row:
            return {}
        user = json.loads(row[0])
        # user.current.response prints the last activity as "2024-07-23 08:08:50" (portal time, no offset)
        user["LAST_ACTIVITY_DATE"] = str(user.get("LAST_LOGIN") or self.now_iso())[:19].replace("T", " ")
        user.pop("TIMESTAMP_X", None)
        return user

    def department_get(self, params: dict[str, Any]) -> listing.Page:
        columns = {"ID": ("id", "int"), "NAME": ("name", "text"), "SORT": ("sort", "int"),
                   "PARENT": ("parent", "int"), "UF_HEAD": ("uf_head", "int")}
        reserved = {"sort", "order", "start", "auth"}
        filter_ = {k: v for k, v in params.items() if str(k).lower() not in reserved and str(k).upper() in columns}
        sort = param(params, "sort")
        order = {str(sort): str(param(params, "order", "ASC") or "ASC")} if sort else {}
        where, args = listing.where_clause(filter_, lambda n: columns.get(n.upper()), strict=False)
        ordering = listing.order_clause(order, lambda n: columns.get(n.upper()), strict=False, default="id ASC")
        result, counted = listing.page(self.db, "b24_departments", "account_id=?", [self.account_id], where, args,
                                       ordering, listing.parse_start(param(params, "start", 0)))
        self.cost += COUNT_COST * counted + ROW_COST * len(result.rows)
        rows = []
        for r in result.rows:
            out = {"ID": str(r["id"]), "NAME": r["name"], "SORT": r["sort"]}
            if r["parent"] is not None:
                out["PARENT"] = str(r["parent"])
            if r["uf_head"] is not None:
                out["UF_HEAD"] = str(r["uf_head"])
            rows.append(out)
        result.rows = rows
        return result

    def duplicate_findbycomm(self, params: dict[str, Any]) -> dict[str, list[int]] | list:
        kind = str(param(params, "type", "") or "").upper()
        if not kind:
            raise err.B24Error("Parameter 'type' is required.", code="Communication type is not defined")
        if kind not in ("EMAIL", "PHONE"):
            raise err.B24Error(f"Communication type '{kind}' is not supported in current context",
                               code="Communication type is not defined")
        values = param(params, "values")
        values = list(values.values()) if isinstance(values, dict) else values if isinstance(values, list) else \
            [values] if values else []
        if not values:
            raise err.B24Error("Parameter 'values' is required.", code="Communication values is not defined")
        values = values[:20]
        keys = {_comm_key(kind, str(v)) for v in values} - {""}
        entity_type = str(param(params, "entity_type", "") or "").upper()
        types = [BY_NAME[entity_type.lower()]] if entity_type.lower() in BY_NAME and entity_type != "DEAL" else \
            [ENTITIES[1], ENTITIES[3], ENTITIES[4]]
        result: dict[str, list[int]] = {}
        for entity in types:
            rows = self.db.execute(
                f"SELECT b24_crm.id, json_extract(m.value, '$.VALUE') FROM b24_crm, json_each(b24_crm.data, '$.{kind}') "
                "AS m WHERE b24_crm.account_id=? AND b24_crm.entity_type_id=?", (self.account_id, entity.type_id))
            ids, scanned = [], 0
            for record_id, value in rows:
                scanned += 1
                if _comm_key(kind, str(value)) in keys:
                    ids.append(record_id)
            self.cost += COUNT_COST * scanned
            ids = sorted(set(ids))
            if ids:
                result[entity.upper] = ids
            if len(ids) >= 20:
                break   # later types are not returned once one type has 20 matches
        return result or []


def _comm_key(kind: str, value: str) -> str:
    """Duplicate search compares exact communications: digits of a phone (extension dropped), a lower-cased
    e-mail [inference: the docs say extensions are ignored, nothing about formats]."""
    if kind == "PHONE":
        value = re.split(r"(?i)\s*(?:доб|ext|#)", value)[0]
        return re.sub(r"\D", "", value)
    return value.strip().lower()


def _yn(value: Any, default: str) -> str:
    if value is None or value == "":
        return default
    return "Y" if str(value).upper() in ("Y", "1", "TRUE") else "N"


def _label_map(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {lang: str(value.get(lang, "")) for lang in LANGS}
    text = "" if value is None else str(value)
    return {lang: text for lang in LANGS}


def _sort_key(value: Any) -> tuple:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def normalise_uf_name(name: str) -> str:
    """FIELD_NAME → UF_CRM_<CODE>: MANAGER_NOTE, UF_MANAGER_NOTE and UF_CRM_MANAGER_NOTE all give
    UF_CRM_MANAGER_NOTE; lower case is upper-cased; A-Z 0-9 _ only; at most 50 characters."""
    code = name.strip().upper()
    if code.startswith("UF_CRM_"):
        code = code[len("UF_CRM_"):]
    elif code.startswith("UF_"):
        code = code[len("UF_"):]
    full = "UF_CRM_" + code
    if not UF_NAME.match(code):
        raise err.core("Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _.")
    if len(full) > 50:
        raise err.core("Field name is too long (more than 50 characters).")
    return full
