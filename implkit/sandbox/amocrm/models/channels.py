"""Sources, tags and webhooks."""

from __future__ import annotations

import json
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import MAX_SOURCES, MAX_WEBHOOKS, TAG_COLOURS
from implkit.sandbox.amocrm.models.base import AccountBase, Errors, _check_type, _in_filter, _is_int, _loads, batch


class ChannelsMixin(AccountBase):
    # sources
    def source_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "pipeline_id": row["pipeline_id"],
                "external_id": row["external_id"], "default": bool(row["is_default"]),
                "origin_code": row["origin_code"], "services": _loads(row["services"], []),
                "_links": self.links(f"sources/{row['id']}")}

    def list_sources(self) -> list[dict[str, Any]]:
        return [self.source_model(r) for r in self.rows(
            "SELECT * FROM sources WHERE account_id=? ORDER BY id LIMIT ?", (self.account_id, MAX_SOURCES))]

    def get_source(self, source_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM sources WHERE account_id=? AND id=?", (self.account_id, source_id))
        if not rows:
            raise exc.NotFound("Source not found")
        return self.source_model(rows[0])

    def _check_source(self, errors: Errors, rid: str, item: dict, *, creating: bool) -> None:
        _check_type(errors, rid, item, "name", str, required=creating)
        _check_type(errors, rid, item, "external_id", str, required=creating)
        if "pipeline_id" in item and not self.rows("SELECT 1 FROM pipelines WHERE account_id=? AND id=?",
                                                   (self.account_id, item["pipeline_id"])):
            errors.not_a_choice(rid, "pipeline_id")

    def add_sources(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body, limit=50)
        errors = Errors()
        existing = {r["external_id"] for r in self.rows("SELECT external_id FROM sources WHERE account_id=?",
                                                        (self.account_id,))}
        for rid, item in items:
            self._check_source(errors, rid, item, creating=True)
            if item.get("external_id") in existing:
                errors.add(rid, "external_id", "NotUnique", "A source with this external_id already exists.")
        errors.raise_if_any()
        if len(existing) + len(items) > MAX_SOURCES:
            raise exc.Unprocessable(f"Limit {MAX_SOURCES} sources per integration")
        main = self.rows("SELECT id FROM pipelines WHERE account_id=? AND is_main=1", (self.account_id,))
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                created.append((rid, db.execute(
                    "INSERT INTO sources (account_id, name, pipeline_id, external_id, services, is_default, origin_code)"
                    " VALUES (?,?,?,?,?,?,?)", (self.account_id, item["name"],
                                                item.get("pipeline_id") or (main[0]["id"] if main else None),
                                                item["external_id"], json.dumps(item.get("services") or []),
                                                int(bool(item.get("default"))), item.get("origin_code"))).lastrowid))
        return [{**self.get_source(sid), "request_id": rid} for rid, sid in created]

    def update_sources(self, body: Any, source_id: int | None = None) -> list[dict[str, Any]]:
        if source_id is not None:
            body = [{**body, "id": source_id}] if isinstance(body, dict) and body else body
        items = batch(body, limit=50)
        errors = Errors()
        for rid, item in items:
            if not self.rows("SELECT 1 FROM sources WHERE account_id=? AND id=?", (self.account_id, item.get("id"))):
                errors.add(rid, "id", "NotFound", "Source not found.")
            self._check_source(errors, rid, item, creating=False)
        errors.raise_if_any()
        with self.store.transaction() as db:
            for rid, item in items:
                for key, column in (("name", "name"), ("pipeline_id", "pipeline_id"), ("external_id", "external_id"),
                                    ("origin_code", "origin_code")):
                    if key in item:
                        db.execute(f"UPDATE sources SET {column}=? WHERE account_id=? AND id=?",
                                   (item[key], self.account_id, item["id"]))
                if "default" in item:
                    db.execute("UPDATE sources SET is_default=? WHERE account_id=? AND id=?",
                               (int(bool(item["default"])), self.account_id, item["id"]))
                if "services" in item:
                    db.execute("UPDATE sources SET services=? WHERE account_id=? AND id=?",
                               (json.dumps(item["services"]), self.account_id, item["id"]))
        return [{**self.get_source(item["id"]), "request_id": rid} for rid, item in items]

    def delete_sources(self, ids: list[int]) -> int:
        """Batch delete; unknown ids answer the documented 400 with `errors` (DELETE_sources.error_400_not_found)."""
        known = {r["id"] for r in self.rows("SELECT id FROM sources WHERE account_id=?", (self.account_id,))}
        missing = [(str(index), source_id) for index, source_id in enumerate(ids) if source_id not in known]
        if missing:
            raise exc.SourcesNotFound(missing)
        with self.store.transaction() as db:
            for source_id in ids:
                db.execute("DELETE FROM sources WHERE account_id=? AND id=?", (self.account_id, source_id))
        return len(ids)

    # tags
    def tag_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "color": row["color"]}

    def list_tags(self, entity: str, filters: dict, query: str | None, offset: int, count: int) -> list[dict]:
        where, params = ["account_id=?", "entity_type=?"], [self.account_id, entity]
        if isinstance(filters.get("name"), str):
            where.append("name=?")
            params.append(filters["name"])
        if "id" in filters:
            _in_filter(where, params, "id", filters["id"])
        if query:
            where.append("name LIKE ?")
            params.append(f"%{query}%")
        rows = self.rows(f"SELECT * FROM tags WHERE {' AND '.join(where)} ORDER BY id LIMIT ? OFFSET ?",
                         params + [count, offset])
        return [self.tag_model(r) for r in rows]

    def tag_ids(self, db, entity: str, tags: list[dict]) -> list[int]:
        """Resolve [{id}|{name}] to ids, creating tags by name (an existing name returns its id)."""
        ids = []
        for tag in tags:
            if _is_int(tag.get("id")):
                ids.append(tag["id"])
                continue
            row = db.execute("SELECT id FROM tags WHERE account_id=? AND entity_type=? AND name=?",
                             (self.account_id, entity, tag["name"])).fetchone()
            ids.append(row[0] if row else db.execute(
                "INSERT INTO tags (account_id, entity_type, name, color) VALUES (?, ?, ?, ?)",
                (self.account_id, entity, tag["name"], tag.get("color"))).lastrowid)
        return ids

    def add_tags(self, entity: str, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            _check_type(errors, rid, item, "name", str, required=True)
            if item.get("color") is not None and (entity != "leads" or item["color"] not in TAG_COLOURS):
                errors.not_a_choice(rid, "color")
        errors.raise_if_any()
        with self.store.transaction() as db:
            ids = [(rid, self.tag_ids(db, entity, [item])[0]) for rid, item in items]
        return [{**self.tag_model(self.rows("SELECT * FROM tags WHERE id=?", (tid,))[0]), "request_id": rid}
                for rid, tid in ids]

    # webhooks
    def webhook_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "destination": row["destination"], "created_at": row["created_at"],
                "updated_at": row["created_at"], "account_id": self.account_id, "created_by": row["created_by"],
                "sort": row["sort"], "disabled": bool(row["disabled"]), "settings": _loads(row["settings"], [])}

    def list_webhooks(self, destination: str | None) -> list[dict[str, Any]]:
        where, params = "account_id=?", [self.account_id]
        if destination:
            where += " AND destination=?"
            params.append(destination)
        return [self.webhook_model(r) for r in self.rows(f"SELECT * FROM webhooks WHERE {where} ORDER BY id", params)]

    def add_webhook(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        if _check_type(errors, "0", body, "destination", str, required=True) and \
                not body["destination"].startswith(("http://", "https://")):
            errors.add("0", "destination", "InvalidUrl", "This value is not a valid URL.")
        if _check_type(errors, "0", body, "settings", list, required=True) and not body["settings"]:
            errors.add("0", "settings", "NotBlank", "This value should not be blank.")
        _check_type(errors, "0", body, "sort", int)
        errors.raise_if_any()
        with self.store.transaction() as db:
            row = db.execute("SELECT id FROM webhooks WHERE account_id=? AND destination=?",
                             (self.account_id, body["destination"])).fetchone()
            if row:   # posting an existing destination updates it
                db.execute("UPDATE webhooks SET settings=?, sort=?, disabled=0 WHERE id=?",
                           (json.dumps(body["settings"]), body.get("sort", 1), row[0]))
                hook_id = row[0]
            else:
                count = db.execute("SELECT count(*) FROM webhooks WHERE account_id=?", (self.account_id,)).fetchone()[0]
                if count >= MAX_WEBHOOKS:
                    raise exc.Unprocessable(f"Limit {MAX_WEBHOOKS} webhooks per account")
                hook_id = db.execute("INSERT INTO webhooks (account_id, destination, settings, sort, created_at, "
                                     "created_by) VALUES (?,?,?,?,?,?)",
                                     (self.account_id, body["destination"], json.dumps(body["settings"]),
                                      body.get("sort", 1), self.at, self.user_id)).lastrowid
        return self.webhook_model(self.rows("SELECT * FROM webhooks WHERE id=?", (hook_id,))[0])

    def delete_webhook(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("destination"), str):
            raise exc.validation_error("0", "destination", "NotBlank", "This value should not be blank.")
        with self.store.transaction() as db:
            if not db.execute("DELETE FROM webhooks WHERE account_id=? AND destination=?",
                              (self.account_id, body["destination"])).rowcount:
                raise exc.NotFound("Webhook not found")
