"""User fields of CRM entities (crm.{lead,deal,contact,company}.userfield.*)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24.portal import next_ids
from implkit.sandbox.bitrix24.models.base import (ROW_COST, WRITE_COST, EntityType, USER_TYPES, LANGS, LABELS, UF_NAME,
                                                  php_int, positive_id)


class UserFieldsMixin:
    """User fields: add, get, update, delete, list; enumeration items."""

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
