"""Custom fields and field groups."""

from __future__ import annotations

import json
import secrets
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import ENUM_FIELD_TYPES, FIELD_TYPES
from implkit.sandbox.amocrm.models.accounts import allocate_enum_id
from implkit.sandbox.amocrm.models.base import AccountBase, Errors, _check_type, _is_int, _loads, batch


class FieldsMixin(AccountBase):
    def field_model(self, row: dict[str, Any]) -> dict[str, Any]:
        entity = row["entity_type"]
        settings = _loads(row["settings"], {})
        model = {"id": row["id"], "name": row["name"], "type": row["type"], "account_id": self.account_id,
                 "code": row["code"], "sort": row["sort"], "is_api_only": bool(row["is_api_only"]),
                 "enums": _loads(row["enums"]), "group_id": row["group_id"],
                 "required_statuses": _loads(row["required_statuses"], []),
                 "is_deletable": bool(row["is_deletable"]), "is_predefined": bool(row["is_predefined"]),
                 "entity_type": entity, "remind": settings.get("remind"), "triggers": [],
                 "currency": settings.get("currency"), "hidden_statuses": settings.get("hidden_statuses", []),
                 "chained_lists": settings.get("chained_lists"), "settings": settings.get("settings")}
        if entity == "leads":
            model["is_computed"] = bool(settings.get("is_computed", False))
        model["_links"] = self.links(f"{entity}/custom_fields/{row['id']}")
        return model

    def _field_rows(self, entity: str, types: list[str] | None = None, order: dict | None = None) -> list[dict]:
        where, params = ["account_id=?", "entity_type=?"], [self.account_id, entity]
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        order_sql = "sort, id"
        if isinstance(order, dict):
            for key, direction in order.items():
                if key in ("sort", "id") and str(direction).lower() in ("asc", "desc"):
                    order_sql = f"{key} {direction}, id"
        return self.rows(f"SELECT * FROM custom_fields WHERE {' AND '.join(where)} ORDER BY {order_sql}", params)

    def count_fields(self, entity: str, types: list[str] | None) -> int:
        return len(self._field_rows(entity, types))

    def list_fields(self, entity: str, types: list[str] | None, order: dict | None, offset: int,
                    count: int) -> list[dict[str, Any]]:
        return [self.field_model(r) for r in self._field_rows(entity, types, order)[offset:offset + count]]

    def _field_row(self, entity: str, field_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM custom_fields WHERE account_id=? AND entity_type=? AND id=?",
                         (self.account_id, entity, field_id))
        if not rows:
            raise exc.NotFound("Custom field not found")
        return rows[0]

    def get_field(self, entity: str, field_id: int) -> dict[str, Any]:
        return self.field_model(self._field_row(entity, field_id))

    def _check_field(self, errors: Errors, rid: str, entity: str, item: dict, *, creating: bool,
                     field_type: str | None = None) -> None:
        if creating:
            if _check_type(errors, rid, item, "type", str, required=True) and item["type"] not in FIELD_TYPES[entity]:
                errors.not_a_choice(rid, "type")
            field_type = item.get("type")
        elif "type" in item and item["type"] != field_type:
            errors.add(rid, "type", "NotEditable", "The type of a field can not be changed.")
        _check_type(errors, rid, item, "name", str, required=creating)
        for key in ("sort",):
            _check_type(errors, rid, item, key, int)
        for key in ("code",):
            _check_type(errors, rid, item, key, str, nullable=True)
        _check_type(errors, rid, item, "is_api_only", bool)
        if "group_id" in item and item["group_id"] is not None:
            if not self.rows("SELECT 1 FROM custom_field_groups WHERE account_id=? AND entity_type=? AND id=?",
                             (self.account_id, entity, str(item["group_id"]))):
                errors.not_a_choice(rid, "group_id")
        if field_type in ENUM_FIELD_TYPES and field_type not in ("multitext", "smart_address"):
            if creating and not item.get("enums"):
                errors.add(rid, "enums", "NotBlank", "This value should not be blank.")
        if "enums" in item and item["enums"] is not None:
            if field_type not in ENUM_FIELD_TYPES:
                errors.add(rid, "enums", "NotSupportedChoice", "This field type has no enums.")
            elif not isinstance(item["enums"], list):
                errors.add(rid, "enums", "InvalidType", "This value should be of type array.")
            else:
                for i, enum in enumerate(item["enums"]):
                    if not isinstance(enum, dict) or not isinstance(enum.get("value"), str) or not enum["value"].strip():
                        errors.add(rid, f"enums.{i}.value", "NotBlank", "This value should not be blank.")
        if "required_statuses" in item and item["required_statuses"] is not None:
            if entity != "leads" and item["required_statuses"]:
                errors.add(rid, "required_statuses", "NotSupportedChoice", "Only lead fields have required statuses.")
            elif not isinstance(item["required_statuses"], list):
                errors.add(rid, "required_statuses", "InvalidType", "This value should be of type array.")
            else:
                for i, rs in enumerate(item["required_statuses"]):
                    if not isinstance(rs, dict) or not self.rows(
                            "SELECT 1 FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?",
                            (self.account_id, rs.get("pipeline_id"), rs.get("status_id"))):
                        errors.not_a_choice(rid, f"required_statuses.{i}")
        if "remind" in item and item["remind"] not in (None, "never", "day", "week", "month"):
            errors.not_a_choice(rid, "remind")

    def _merge_enums(self, db, current: list | None, new: list) -> list:
        """Options with a known id are kept (and edited); without an id, added; omitted ones are deleted."""
        by_id = {e["id"]: e for e in current or []}
        merged = []
        for i, enum in enumerate(new):
            kept = by_id.get(enum.get("id"))
            option = {"id": kept["id"] if kept else allocate_enum_id(db), "value": enum["value"],
                      "sort": enum.get("sort", (kept or {}).get("sort", (i + 1) * 10))}
            if enum.get("code") or (kept or {}).get("code"):
                option["code"] = enum.get("code") or kept.get("code")
            merged.append(option)
        return merged

    def add_fields(self, entity: str, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            self._check_field(errors, rid, entity, item, creating=True)
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                enums = self._merge_enums(db, None, item["enums"]) if item.get("enums") else None
                settings = {k: item[k] for k in ("remind", "currency", "hidden_statuses", "chained_lists")
                            if k in item}
                sort = item.get("sort")
                if sort is None:
                    sort = (db.execute("SELECT max(sort) FROM custom_fields WHERE account_id=? AND entity_type=?",
                                       (self.account_id, entity)).fetchone()[0] or 0) + 1
                field_id = db.execute(
                    "INSERT INTO custom_fields (account_id, entity_type, name, code, sort, type, group_id, "
                    "is_api_only, required_statuses, enums, settings) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (self.account_id, entity, item["name"], item.get("code"), sort, item["type"],
                     None if item.get("group_id") is None else str(item["group_id"]),
                     int(bool(item.get("is_api_only"))), json.dumps(item.get("required_statuses") or []),
                     json.dumps(enums, ensure_ascii=False) if enums else None, json.dumps(settings))).lastrowid
                created.append((rid, field_id))
        return [{**self.get_field(entity, fid), "request_id": rid} for rid, fid in created]

    def update_fields(self, entity: str, body: Any, field_id: int | None = None) -> list[dict[str, Any]]:
        if field_id is not None:
            if not isinstance(body, dict) or not body:
                raise exc.EmptyBody()
            body = [{**body, "id": field_id}]
        items = batch(body)
        errors = Errors()
        rows = {}
        for rid, item in items:
            if not _is_int(item.get("id")):
                errors.add(rid, "id", "NotBlank", "This value should not be blank.")
                continue
            found = self.rows("SELECT * FROM custom_fields WHERE account_id=? AND entity_type=? AND id=?",
                              (self.account_id, entity, item["id"]))
            if not found:
                if field_id is not None:
                    raise exc.NotFound("Custom field not found")
                errors.add(rid, "id", "NotFound", "Custom field not found.")
                continue
            rows[rid] = found[0]
            if found[0]["is_predefined"] and any(k in item for k in ("name", "enums", "code")):
                errors.add(rid, "name", "NotEditable", "Predefined fields can not be edited.")
            self._check_field(errors, rid, entity, item, creating=False, field_type=found[0]["type"])
        errors.raise_if_any()
        with self.store.transaction() as db:
            for rid, item in items:
                row = rows[rid]
                changes: dict[str, Any] = {}
                for key in ("name", "code", "sort"):
                    if key in item:
                        changes[key] = item[key]
                if "group_id" in item:
                    changes["group_id"] = None if item["group_id"] is None else str(item["group_id"])
                if "is_api_only" in item:
                    changes["is_api_only"] = int(bool(item["is_api_only"]))
                if "required_statuses" in item:
                    changes["required_statuses"] = json.dumps(item["required_statuses"] or [])
                if item.get("enums") is not None:
                    changes["enums"] = json.dumps(self._merge_enums(db, _loads(row["enums"]), item["enums"]),
                                                  ensure_ascii=False)
                settings = _loads(row["settings"], {})
                settings.update({k: item[k] for k in ("remind", "currency", "hidden_statuses", "chained_lists")
                                 if k in item})
                changes["settings"] = json.dumps(settings)
                db.execute(f"UPDATE custom_fields SET {', '.join(f'{k}=?' for k in changes)} "
                           "WHERE account_id=? AND id=?", [*changes.values(), self.account_id, row["id"]])
        return [{**self.get_field(entity, rows[rid]["id"]), "request_id": rid} for rid, _ in items]

    def delete_field(self, entity: str, field_id: int) -> int:
        """Delete a field and its values on every record; returns the records touched."""
        row = self._field_row(entity, field_id)
        if not row["is_deletable"] or row["is_predefined"]:
            raise exc.BadRequest("Predefined fields can not be deleted")
        touched = 0
        with self.store.transaction() as db:
            for record in db.execute(f"SELECT id, custom_fields_values FROM {entity} WHERE account_id=? AND "
                                     "custom_fields_values LIKE ?", (self.account_id, f'%{field_id}%')).fetchall():
                before = _loads(record[1], []) or []
                values = [v for v in before if v.get("field_id") != field_id]
                if len(values) != len(before):
                    db.execute(f"UPDATE {entity} SET custom_fields_values=? WHERE id=?",
                               (json.dumps(values, ensure_ascii=False) if values else None, record[0]))
                    touched += 1
            db.execute("DELETE FROM custom_fields WHERE account_id=? AND id=?", (self.account_id, field_id))
        return touched

    # groups
    def group_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "is_predefined": bool(row["is_predefined"]), "type": row["type"],
                "entity_type": row["entity_type"], "sort": row["sort"],
                "_links": self.links(f"{row['entity_type']}/custom_fields/groups/{row['id']}")}

    def list_groups(self, entity: str) -> list[dict[str, Any]]:
        return [self.group_model(r) for r in self.rows(
            "SELECT * FROM custom_field_groups WHERE account_id=? AND entity_type=? ORDER BY sort, id",
            (self.account_id, entity))]

    def _group_row(self, entity: str, group_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM custom_field_groups WHERE account_id=? AND entity_type=? AND id=?",
                         (self.account_id, entity, group_id))
        if not rows:
            raise exc.NotFound("Custom fields group not found")
        return rows[0]

    def get_group(self, entity: str, group_id: str) -> dict[str, Any]:
        return self.group_model(self._group_row(entity, group_id))

    def add_groups(self, entity: str, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            _check_type(errors, rid, item, "name", str, required=True)
            _check_type(errors, rid, item, "sort", int, required=True)
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                group_id = f"{entity}_{allocate_enum_id(db)}{secrets.randbelow(10**6):06d}"
                db.execute("INSERT INTO custom_field_groups (account_id, entity_type, id, name, sort) "
                           "VALUES (?, ?, ?, ?, ?)", (self.account_id, entity, group_id, item["name"], item["sort"]))
                created.append((rid, group_id))
        return [{**self.get_group(entity, gid), "request_id": rid} for rid, gid in created]

    def update_group(self, entity: str, group_id: str, body: Any) -> dict[str, Any]:
        row = self._group_row(entity, group_id)
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        for key, kind in (("name", str), ("sort", int), ("fields", list)):
            if key in body:
                _check_type(errors, "0", body, key, kind, required=key == "name")
        if row["is_predefined"] and "name" in body:
            errors.add("0", "name", "NotEditable", "Predefined groups can not be renamed.")
        fields = body.get("fields") or []
        for i, fid in enumerate(fields):
            if not _is_int(fid) or not self.rows("SELECT 1 FROM custom_fields WHERE account_id=? AND entity_type=? "
                                                 "AND id=?", (self.account_id, entity, fid)):
                errors.not_a_choice("0", f"fields.{i}")
        errors.raise_if_any()
        with self.store.transaction() as db:
            for key in ("name", "sort"):
                if key in body:
                    db.execute(f"UPDATE custom_field_groups SET {key}=? WHERE account_id=? AND entity_type=? AND id=?",
                               (body[key], self.account_id, entity, group_id))
            for fid in fields:
                db.execute("UPDATE custom_fields SET group_id=? WHERE account_id=? AND id=?",
                           (group_id, self.account_id, fid))
        members = self.rows("SELECT id FROM custom_fields WHERE account_id=? AND entity_type=? AND group_id=? "
                            "ORDER BY sort, id", (self.account_id, entity, group_id))
        return {**self.get_group(entity, group_id), "fields": [m["id"] for m in members]}

    def delete_group(self, entity: str, group_id: str) -> None:
        row = self._group_row(entity, group_id)
        if row["is_predefined"]:
            raise exc.BadRequest("Predefined groups can not be deleted")
        with self.store.transaction() as db:
            db.execute("UPDATE custom_fields SET group_id=NULL WHERE account_id=? AND entity_type=? AND group_id=?",
                       (self.account_id, entity, group_id))
            db.execute("DELETE FROM custom_field_groups WHERE account_id=? AND entity_type=? AND id=?",
                       (self.account_id, entity, group_id))
