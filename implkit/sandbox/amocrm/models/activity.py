"""Tasks, notes and events."""

from __future__ import annotations

import json
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import TASK_TYPES
from implkit.sandbox.amocrm.models.base import (
    Errors, _check_type, _in_filter, _is_int, _loads, _order_sql, _range_filter, batch,
)
from implkit.sandbox.amocrm.models.records import RECORD_ENTITIES, RecordsMixin, SINGULAR


TASK_ENTITIES = ("leads", "contacts", "companies", "customers")
NOTE_TYPES = {"common", "call_in", "call_out", "service_message", "extended_service_message", "message_cashier",
              "geolocation", "sms_in", "sms_out", "attachment", "invoice_paid", "attachment"}
NOTE_EVENTS = {"common": "common_note_added", "call_in": "incoming_call", "call_out": "outgoing_call",
               "sms_in": "incoming_sms", "sms_out": "outgoing_sms", "geolocation": "geo_note_added",
               "attachment": "attachment_note_added", "service_message": "service_note_added",
               "extended_service_message": "service_note_added", "message_cashier": "message_to_cashier_note_added"}
EVENT_FILTER_ENTITIES = {"lead", "contact", "company", "customer", "task"}
EVENT_TYPES = [  # (type, numeric type id, ru name) — a subset of GET /events/types
    ("lead_added", 1, "Новая сделка"), ("lead_deleted", 7, "Сделка удалена"),
    ("lead_restored", 3, "Сделка восстановлена"), ("lead_status_changed", 4, "Изменение этапа продажи"),
    ("lead_linked", 5, "Прикрепление сделки"), ("lead_unlinked", 6, "Открепление сделки"),
    ("contact_added", 7, "Новый контакт"), ("contact_deleted", 8, "Контакт удален"),
    ("company_added", 12, "Новая компания"), ("company_deleted", 13, "Компания удалена"),
    ("task_added", 22, "Новая задача"), ("task_completed", 24, "Завершение задачи"),
    ("task_deadline_changed", 27, "Изменение срока задачи"), ("incoming_call", 30, "Входящий звонок"),
    ("outgoing_call", 31, "Исходящий звонок"), ("entity_responsible_changed", 40, "Ответственный изменен"),
    ("entity_linked", 41, "Прикрепление"), ("entity_unlinked", 42, "Открепление"),
    ("common_note_added", 45, "Примечание добавлено"), ("custom_field_value_changed", 50, "Изменение поля"),
]


class ActivityMixin(RecordsMixin):
    # tasks ------------------------------------------------------------------------------------
    def task_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "created_by": row["created_by"], "updated_by": row["updated_by"],
                "created_at": row["created_at"], "updated_at": row["updated_at"],
                "responsible_user_id": row["responsible_user_id"], "group_id": row["group_id"],
                "entity_id": row["entity_id"], "entity_type": row["entity_type"], "duration": row["duration"],
                "is_completed": bool(row["is_completed"]), "task_type_id": row["task_type_id"], "text": row["text"],
                "result": _loads(row["result"], []) or [], "complete_till": row["complete_till"],
                "account_id": self.account_id, "_links": self.links(f"tasks/{row['id']}")}

    def list_tasks(self, filters: dict, order: dict, offset: int, count: int) -> list[dict[str, Any]]:
        where, params = ["account_id=?"], [self.account_id]
        for key, column in (("id", "id"), ("responsible_user_id", "responsible_user_id"),
                            ("task_type", "task_type_id"), ("entity_id", "entity_id")):
            if key in filters:
                _in_filter(where, params, column, filters[key])
        if "is_completed" in filters:
            _in_filter(where, params, "is_completed", filters["is_completed"])
        if "entity_type" in filters:
            kinds = filters["entity_type"] if isinstance(filters["entity_type"], list) else [filters["entity_type"]]
            where.append(f"entity_type IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        if "updated_at" in filters:
            value = filters["updated_at"]
            if isinstance(value, str) and value.isdigit():   # a single TS means "changed after"
                where.append("updated_at >= ?")
                params.append(int(value))
            else:
                _range_filter(where, params, "updated_at", value)
        order_sql = "id ASC"
        for key, direction in (order or {}).items() if isinstance(order, dict) else []:
            if key in ("created_at", "complete_till", "id") and str(direction).lower() in ("asc", "desc"):
                order_sql = _order_sql(key, direction)
        rows = self.rows(f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                         params + [count, offset])
        return [self.task_model(r) for r in rows]

    def get_task(self, task_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM tasks WHERE account_id=? AND id=?", (self.account_id, task_id))
        if not rows:
            raise exc.NotFound()
        return self.task_model(rows[0])

    def _check_task(self, errors: Errors, rid: str, item: dict, *, creating: bool) -> None:
        _check_type(errors, rid, item, "text", str, required=creating)
        _check_type(errors, rid, item, "complete_till", int, required=creating)
        for key in ("responsible_user_id", "task_type_id", "duration", "entity_id", "created_by", "created_at"):
            _check_type(errors, rid, item, key, int)
        _check_type(errors, rid, item, "is_completed", bool)
        if "responsible_user_id" in item and _is_int(item["responsible_user_id"]) and \
                not self.user_exists(item["responsible_user_id"]):
            errors.not_a_choice(rid, "responsible_user_id")
        if "task_type_id" in item and item["task_type_id"] not in {t["id"] for t in TASK_TYPES}:
            errors.not_a_choice(rid, "task_type_id")
        if "entity_id" in item or "entity_type" in item:
            kind = item.get("entity_type")
            if kind not in TASK_ENTITIES or kind == "customers" or not self.rows(
                    f"SELECT 1 FROM {kind} WHERE account_id=? AND id=?", (self.account_id, item.get("entity_id"))):
                errors.not_a_choice(rid, "entity_id")
        if "result" in item and item["result"] is not None and not isinstance(item["result"], dict):
            errors.add(rid, "result", "InvalidType", "This value should be of type array.")

    def _closest_task(self, db, entity: str | None, entity_id: int | None) -> None:
        if entity not in RECORD_ENTITIES or entity_id is None:
            return
        db.execute(f"UPDATE {entity} SET closest_task_at=(SELECT min(complete_till) FROM tasks WHERE account_id=? "
                   "AND entity_type=? AND entity_id=? AND is_completed=0) WHERE account_id=? AND id=?",
                   (self.account_id, entity, entity_id, self.account_id, entity_id))

    def add_tasks(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            self._check_task(errors, rid, item, creating=True)
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                task_id = db.execute(
                    "INSERT INTO tasks (account_id, created_by, updated_by, created_at, updated_at, responsible_user_id,"
                    " entity_id, entity_type, is_completed, task_type_id, text, duration, complete_till, result) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (self.account_id, item.get("created_by", self.user_id), item.get("updated_by", self.user_id),
                     item.get("created_at", self.at), item.get("updated_at", self.at),
                     item.get("responsible_user_id", self.user_id), item.get("entity_id"), item.get("entity_type"),
                     int(bool(item.get("is_completed"))), item.get("task_type_id", 1), item["text"],
                     item.get("duration", 0), item["complete_till"],
                     json.dumps(item["result"], ensure_ascii=False) if item.get("result") else None)).lastrowid
                self._event(db, "task_added", "tasks", task_id)
                self._closest_task(db, item.get("entity_type"), item.get("entity_id"))
                created.append((rid, task_id))
        return [{"id": task_id, "request_id": rid, "_links": self.links(f"tasks/{task_id}")}
                for rid, task_id in created]

    def update_tasks(self, body: Any, task_id: int | None = None) -> list[dict[str, Any]]:
        if task_id is not None:
            if not isinstance(body, dict) or not body:
                raise exc.EmptyBody()
            self.get_task(task_id)
            body = [{**body, "id": task_id}]
        items = batch(body)
        errors = Errors()
        current = {}
        for rid, item in items:
            rows = self.rows("SELECT * FROM tasks WHERE account_id=? AND id=?", (self.account_id, item.get("id")))
            if not rows:
                errors.add(rid, "id", "NotFound", "Task not found.")
                continue
            current[rid] = rows[0]
            self._check_task(errors, rid, item, creating=False)
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item in items:
                row = current[rid]
                changes = {k: item[k] for k in ("text", "complete_till", "responsible_user_id", "task_type_id",
                                                "duration", "entity_id", "entity_type") if k in item}
                if "is_completed" in item:
                    changes["is_completed"] = int(item["is_completed"])
                    if item["is_completed"] and not row["is_completed"]:
                        self._event(db, "task_completed", "tasks", row["id"])
                if "result" in item:
                    changes["result"] = json.dumps(item["result"], ensure_ascii=False) if item["result"] else None
                if "complete_till" in item and item["complete_till"] != row["complete_till"]:
                    self._event(db, "task_deadline_changed", "tasks", row["id"],
                                [{"task_deadline": {"timestamp": item["complete_till"]}}],
                                [{"task_deadline": {"timestamp": row["complete_till"]}}])
                changes["updated_at"] = item.get("updated_at", self.at)
                changes["updated_by"] = item.get("updated_by", self.user_id)
                db.execute(f"UPDATE tasks SET {', '.join(f'{k}=?' for k in changes)} WHERE account_id=? AND id=?",
                           [*changes.values(), self.account_id, row["id"]])
                self._closest_task(db, row["entity_type"], row["entity_id"])
                self._closest_task(db, changes.get("entity_type"), changes.get("entity_id"))
                answer = {"id": row["id"], "updated_at": changes["updated_at"]}
                if "request_id" in item:
                    answer["request_id"] = rid
                answers.append({**answer, "_links": self.links(f"tasks/{row['id']}")})
        return answers

    # notes ------------------------------------------------------------------------------------
    def note_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "entity_id": row["entity_id"], "created_by": row["created_by"],
                "updated_by": row["updated_by"], "created_at": row["created_at"], "updated_at": row["updated_at"],
                "responsible_user_id": row["responsible_user_id"], "group_id": row["group_id"],
                "note_type": row["note_type"], "params": _loads(row["params"], {}), "account_id": self.account_id,
                "_links": self.links(f"{row['entity_type']}/{row['entity_id']}/notes/{row['id']}")}

    def list_notes(self, entity: str, entity_id: int | None, filters: dict, order: dict, offset: int,
                   count: int) -> list[dict[str, Any]]:
        if entity_id is not None:
            self._record_row(entity, entity_id)
        where, params = ["account_id=?", "entity_type=?"], [self.account_id, entity]
        if entity_id is not None:
            where.append("entity_id=?")
            params.append(entity_id)
        for key in ("id", "entity_id"):
            if key in filters:
                _in_filter(where, params, key, filters[key])
        if "note_type" in filters:
            kinds = filters["note_type"] if isinstance(filters["note_type"], list) else [filters["note_type"]]
            where.append(f"note_type IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        if "updated_at" in filters:
            value = filters["updated_at"]
            if isinstance(value, str) and value.isdigit():
                where.append("updated_at >= ?")
                params.append(int(value))
            else:
                _range_filter(where, params, "updated_at", value)
        order_sql = "id ASC"
        for key, direction in (order or {}).items() if isinstance(order, dict) else []:
            if key in ("updated_at", "id") and str(direction).lower() in ("asc", "desc"):
                order_sql = _order_sql(key, direction)
        rows = self.rows(f"SELECT * FROM notes WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                         params + [count, offset])
        return [self.note_model(r) for r in rows]

    def get_note(self, entity: str, note_id: int, entity_id: int | None = None) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM notes WHERE account_id=? AND entity_type=? AND id=?",
                         (self.account_id, entity, note_id))
        if not rows or (entity_id is not None and rows[0]["entity_id"] != entity_id):
            raise exc.NotFound()
        return self.note_model(rows[0])

    def add_notes(self, entity: str, body: Any, entity_id: int | None = None) -> list[dict[str, Any]]:
        items, errors = self._items_on_records(entity, body, entity_id)
        for rid, item in items:
            if item.get("note_type") not in NOTE_TYPES:
                errors.not_a_choice(rid, "note_type")
            if not isinstance(item.get("params", {}), dict):
                errors.add(rid, "params", "InvalidType", "This value should be of type array.")
            elif item.get("note_type") in ("common", "sms_in", "sms_out") and not (item.get("params") or {}).get("text"):
                errors.add(rid, "params.text", "NotBlank", "This value should not be blank.")
            if "responsible_user_id" in item and not self.user_exists(item["responsible_user_id"]):
                errors.not_a_choice(rid, "responsible_user_id")
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                note_id = db.execute(
                    "INSERT INTO notes (account_id, entity_type, entity_id, note_type, params, responsible_user_id, "
                    "created_by, updated_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (self.account_id, entity, item["entity_id"], item["note_type"],
                     json.dumps(item.get("params") or {}, ensure_ascii=False),
                     item.get("responsible_user_id", self.user_id), item.get("created_by", self.user_id),
                     self.user_id, item.get("created_at", self.at), self.at)).lastrowid
                self._event(db, NOTE_EVENTS.get(item["note_type"], "common_note_added"), entity, item["entity_id"],
                            [{"note": {"id": note_id}}])
                created.append((rid, item["entity_id"], note_id))
        return [{"id": note_id, "entity_id": eid, "request_id": rid,
                 "_links": self.links(f"{entity}/{eid}/notes/{note_id}")} for rid, eid, note_id in created]

    def update_notes(self, entity: str, body: Any, note_id: int | None = None,
                     entity_id: int | None = None) -> list[dict[str, Any]]:
        if note_id is not None:
            if not isinstance(body, dict) or not body:
                raise exc.EmptyBody()
            self.get_note(entity, note_id, entity_id)
            body = [{**body, "id": note_id}]
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            if not self.rows("SELECT 1 FROM notes WHERE account_id=? AND entity_type=? AND id=?",
                             (self.account_id, entity, item.get("id"))):
                errors.add(rid, "id", "NotFound", "Note not found.")
            if "params" in item and not isinstance(item["params"], dict):
                errors.add(rid, "params", "InvalidType", "This value should be of type array.")
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item in items:
                if "params" in item:
                    db.execute("UPDATE notes SET params=? WHERE id=?", (json.dumps(item["params"], ensure_ascii=False),
                                                                        item["id"]))
                db.execute("UPDATE notes SET updated_at=?, updated_by=? WHERE id=?", (self.at, self.user_id, item["id"]))
                row = db.execute("SELECT entity_id FROM notes WHERE id=?", (item["id"],)).fetchone()
                answer = {"id": item["id"], "entity_id": row[0], "updated_at": self.at}
                if "request_id" in item:
                    answer["request_id"] = rid
                answers.append({**answer, "_links": self.links(f"{entity}/{row[0]}/notes/{item['id']}")})
        return answers

    # events -----------------------------------------------------------------------------------
    def event_model(self, row: dict[str, Any]) -> dict[str, Any]:
        plural = {v: k for k, v in SINGULAR.items()}.get(row["entity_type"], row["entity_type"])
        return {"id": row["id"], "type": row["type"], "entity_id": row["entity_id"], "entity_type": row["entity_type"],
                "created_by": row["created_by"], "created_at": row["created_at"],
                "value_after": _loads(row["value_after"], []), "value_before": _loads(row["value_before"], []),
                "account_id": self.account_id, "_links": self.links(f"events/{row['id']}"),
                "_embedded": {"entity": {"id": row["entity_id"],
                                         "_links": self.links(f"{plural}/{row['entity_id']}")}}}

    def list_events(self, filters: dict, offset: int, count: int) -> list[dict[str, Any]]:
        self._check_event_filters(filters)
        where, params = ["account_id=?"], [self.account_id]
        if "id" in filters:
            ids = filters["id"] if isinstance(filters["id"], list) else [filters["id"]]
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(str(i) for i in ids)
        if "created_at" in filters:
            value = filters["created_at"]
            if isinstance(value, str) and value.isdigit():
                where.append("created_at >= ?")
                params.append(int(value))
            else:
                _range_filter(where, params, "created_at", value)
        if "created_by" in filters:
            _in_filter(where, params, "created_by", filters["created_by"])
        for key, column in (("entity", "entity_type"), ("type", "type")):
            if key in filters:
                values = filters[key] if isinstance(filters[key], list) else str(filters[key]).split(",")
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if "entity_id" in filters:
            _in_filter(where, params, "entity_id", filters["entity_id"])
        value_after = filters.get("value_after") or {}
        if isinstance(value_after, dict) and "leads_statuses" in value_after:
            items = value_after["leads_statuses"]
            items = items if isinstance(items, list) else list(items.values())
            conds = []
            for item in items:
                if isinstance(item, dict) and str(item.get("status_id", "")).isdigit():
                    conds.append("(json_extract(value_after, '$[0].lead_status.id')=? AND "
                                 "json_extract(value_after, '$[0].lead_status.pipeline_id')=?)")
                    params.extend([int(item["status_id"]), int(item.get("pipeline_id") or 0)])
            where.append("(" + " OR ".join(conds) + ")" if conds else "0")
        rows = self.rows(f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY created_at DESC, seq DESC "
                         "LIMIT ? OFFSET ?", params + [count, offset])
        return [self.event_model(r) for r in rows]

    @staticmethod
    def _check_event_filters(filters: dict) -> None:
        """created_by[] and entity_id[] take at most 10 values; entity_id needs exactly one entity."""
        def values(key: str) -> list:
            value = filters.get(key)
            if value is None:
                return []
            return value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else \
                str(value).split(",")

        errors = Errors()
        for key in ("created_by", "entity_id"):
            if len(values(key)) > 10:
                errors.add("0", f"filter.{key}", "TooMany", "At most 10 values.")
        entities = values("entity")
        if values("entity_id") and len(entities) != 1:
            errors.add("0", "filter.entity_id", "NotSupportedChoice", "entity_id needs exactly one entity.")
        for entity in entities:
            if entity not in EVENT_FILTER_ENTITIES and not str(entity).startswith("catalog_"):
                errors.not_a_choice("0", "filter.entity")
        errors.raise_if_any()

    def get_event(self, event_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM events WHERE account_id=? AND id=?", (self.account_id, event_id))
        if not rows:
            raise exc.NotFound()
        return self.event_model(rows[0])

    def event_types(self, language: str = "ru") -> list[dict[str, Any]]:
        """`lang` is the name in the requested language (ru names are the doc's; others are the key, unverified)."""
        return [{"key": key, "type": number, "lang": name if language == "ru" else key.replace("_", " ").capitalize()}
                for key, number, name in EVENT_TYPES]
