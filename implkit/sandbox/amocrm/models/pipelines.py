"""Pipelines and statuses."""

from __future__ import annotations

import json
import time
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import (
    LOST_STATUS_ID, MAX_PIPELINES, MAX_STATUSES, MAX_STATUS_DESCRIPTIONS, STATUS_COLOURS, UNSORTED_TYPE,
    WON_STATUS_ID,
)
from implkit.sandbox.amocrm.models.accounts import allocate_enum_id, allocate_status_id, create_pipeline_rows
from implkit.sandbox.amocrm.models.base import AccountBase, Errors, _check_type, _loads, batch


class PipelinesMixin(AccountBase):
    def _pipeline_row(self, pipeline_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM pipelines WHERE account_id=? AND id=?", (self.account_id, pipeline_id))
        if not rows:
            raise exc.NotFound("Pipeline not found")
        return rows[0]

    def status_model(self, row: dict[str, Any], *, descriptions: bool = False) -> dict[str, Any]:
        model = {"id": row["id"], "name": row["name"], "sort": row["sort"], "is_editable": bool(row["is_editable"]),
                 "pipeline_id": row["pipeline_id"], "color": row["color"], "type": row["type"],
                 "account_id": self.account_id,
                 "_links": self.links(f"leads/pipelines/{row['pipeline_id']}/statuses/{row['id']}")}
        if descriptions:
            model["descriptions"] = _loads(row["descriptions"], [])
        return model

    def _statuses(self, pipeline_id: int) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM statuses WHERE account_id=? AND pipeline_id=? ORDER BY sort, id",
                         (self.account_id, pipeline_id))

    def pipeline_model(self, row: dict[str, Any], *, descriptions: bool = False) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "sort": row["sort"], "is_main": bool(row["is_main"]),
                "is_unsorted_on": bool(row["is_unsorted_on"]), "is_archive": bool(row["is_archive"]),
                "account_id": self.account_id, "_links": self.links(f"leads/pipelines/{row['id']}"),
                "_embedded": {"statuses": [self.status_model(s, descriptions=descriptions)
                                           for s in self._statuses(row["id"])]}}

    def list_pipelines(self) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM pipelines WHERE account_id=? ORDER BY sort, id", (self.account_id,))
        return [self.pipeline_model(r) for r in rows]

    def get_pipeline(self, pipeline_id: int) -> dict[str, Any]:
        return self.pipeline_model(self._pipeline_row(pipeline_id))

    def _check_colour(self, errors: Errors, rid: str, path: str, colour: Any) -> None:
        if colour is not None and (not isinstance(colour, str) or colour.lower() not in STATUS_COLOURS):
            errors.not_a_choice(rid, path)

    def _check_status_items(self, errors: Errors, rid: str, statuses: list, prefix: str | None) -> None:
        """Validate status items; paths are `{prefix}{i}.key` inside a pipeline, plain `key` for a batch item."""
        for i, status in enumerate(statuses):
            path = f"{prefix}{i}." if prefix is not None else ""
            if not isinstance(status, dict):
                errors.add(rid, path.rstrip("."), "InvalidType", "This value should be of type array.")
                continue
            if status.get("id") in (WON_STATUS_ID, LOST_STATUS_ID):
                _check_type(errors, rid, status, "name", str, required=True)
                continue
            for key, kind in (("name", str), ("sort", int)):
                local = Errors()
                _check_type(local, rid, status, key, kind, required=True)
                for error in local.items.get(rid, []):
                    errors.add(rid, path + error["path"], error["code"], error["detail"])
            self._check_colour(errors, rid, f"{path}color", status.get("color"))
            self._check_descriptions(errors, rid, f"{path}descriptions", status.get("descriptions"))

    def _check_descriptions(self, errors: Errors, rid: str, path: str, descriptions: Any) -> None:
        if descriptions is None:
            return
        if not isinstance(descriptions, list) or len(descriptions) > MAX_STATUS_DESCRIPTIONS:
            errors.add(rid, path, "InvalidType", f"At most {MAX_STATUS_DESCRIPTIONS} descriptions, one per level.")
            return
        for j, d in enumerate(descriptions):
            if not isinstance(d, dict) or d.get("level") not in ("newbie", "candidate", "master") or \
                    len(str(d.get("description", ""))) > 1000:
                errors.not_a_choice(rid, f"{path}.{j}")

    def add_pipelines(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            _check_type(errors, rid, item, "name", str, required=True)
            _check_type(errors, rid, item, "sort", int, required=True)
            _check_type(errors, rid, item, "is_main", bool, required=True)
            _check_type(errors, rid, item, "is_unsorted_on", bool, required=True)
            statuses = (item.get("_embedded") or {}).get("statuses") or []
            if not isinstance(statuses, list):
                errors.add(rid, "_embedded.statuses", "InvalidType", "This value should be of type array.")
                continue
            self._check_status_items(errors, rid, statuses, "_embedded.statuses.")
            if len([s for s in statuses if isinstance(s, dict) and s.get("id") not in (142, 143)]) + 3 > MAX_STATUSES:
                errors.add(rid, "_embedded.statuses", "TooMany", f"At most {MAX_STATUSES} statuses per pipeline.")
        errors.raise_if_any()
        count = self.store.query("SELECT count(*) FROM pipelines WHERE account_id=?", (self.account_id,))[0][0]
        if count + len(items) > MAX_PIPELINES:
            raise exc.Unprocessable(f"Limit {MAX_PIPELINES} pipelines per account")
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                statuses = (item.get("_embedded") or {}).get("statuses") or []
                names = {s["id"]: s["name"] for s in statuses if s.get("id") in (WON_STATUS_ID, LOST_STATUS_ID)}
                if item["is_main"]:
                    db.execute("UPDATE pipelines SET is_main=0 WHERE account_id=?", (self.account_id,))
                pipeline_id = create_pipeline_rows(
                    db, self.account_id, item["name"], sort=item["sort"], is_main=item["is_main"],
                    is_unsorted_on=item["is_unsorted_on"],
                    statuses=[s for s in statuses if s.get("id") not in (WON_STATUS_ID, LOST_STATUS_ID)],
                    won_name=names.get(WON_STATUS_ID), lost_name=names.get(LOST_STATUS_ID))
                for s in statuses:
                    if s.get("descriptions") and s.get("id") not in (WON_STATUS_ID, LOST_STATUS_ID):
                        self._write_descriptions(db, pipeline_id, s["name"], s["descriptions"])
                created.append((rid, pipeline_id))
        return [{**self.get_pipeline(pid), "request_id": rid} for rid, pid in created]

    def _write_descriptions(self, db, pipeline_id: int, status_name: str, descriptions: list) -> None:
        row = db.execute("SELECT id FROM statuses WHERE account_id=? AND pipeline_id=? AND name=? ORDER BY id DESC",
                         (self.account_id, pipeline_id, status_name)).fetchone()
        self._set_descriptions(db, pipeline_id, row[0], descriptions)

    def _set_descriptions(self, db, pipeline_id: int, status_id: int, changes: list) -> None:
        """id+level+description edits; id+level without description deletes; no id creates."""
        current = _loads(db.execute("SELECT descriptions FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?",
                                    (self.account_id, pipeline_id, status_id)).fetchone()[0], [])
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.at))
        for change in changes:
            existing = next((d for d in current if d["id"] == change.get("id")), None)
            if existing is None and "description" not in change:
                continue
            if existing is not None and "description" not in change:
                current.remove(existing)
            elif existing is not None:
                existing.update(level=change["level"], description=change["description"], updated_at=stamp,
                                updated_by=self.user_id)
            else:
                current = [d for d in current if d["level"] != change["level"]]
                current.append({"id": allocate_enum_id(db), "account_id": self.account_id, "created_at": stamp,
                                "updated_at": stamp, "created_by": self.user_id, "updated_by": self.user_id,
                                "pipeline_id": pipeline_id, "status_id": status_id, "level": change["level"],
                                "description": change.get("description", "")})
        db.execute("UPDATE statuses SET descriptions=? WHERE account_id=? AND pipeline_id=? AND id=?",
                   (json.dumps(current, ensure_ascii=False), self.account_id, pipeline_id, status_id))

    def update_pipeline(self, pipeline_id: int, body: Any) -> dict[str, Any]:
        self._pipeline_row(pipeline_id)
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        changes = {}
        for key, kind in (("name", str), ("sort", int), ("is_main", bool), ("is_unsorted_on", bool)):
            if key in body and _check_type(errors, "0", body, key, kind, required=kind is str):
                changes[key] = body[key]
        if not changes and not errors.items:
            errors.add("0", "", "NotBlank", "At least one of name, sort, is_main, is_unsorted_on is required.")
        errors.raise_if_any()
        with self.store.transaction() as db:
            if changes.get("is_main"):
                db.execute("UPDATE pipelines SET is_main=0 WHERE account_id=?", (self.account_id,))
            elif changes.get("is_main") is False and self._pipeline_row(pipeline_id)["is_main"]:
                changes.pop("is_main")   # there is always exactly one main pipeline
            sets = ", ".join(f"{k}=?" for k in changes)
            if sets:
                db.execute(f"UPDATE pipelines SET {sets} WHERE account_id=? AND id=?",
                           [int(v) if isinstance(v, bool) else v for v in changes.values()]
                           + [self.account_id, pipeline_id])
        return self.get_pipeline(pipeline_id)

    def delete_pipeline(self, pipeline_id: int) -> None:
        row = self._pipeline_row(pipeline_id)
        count = self.store.query("SELECT count(*) FROM pipelines WHERE account_id=?", (self.account_id,))[0][0]
        if count <= 1:
            raise exc.BadRequest("The last pipeline can not be deleted")
        if row["is_main"]:
            raise exc.BadRequest("The main pipeline can not be deleted")
        if self.store.query("SELECT 1 FROM leads WHERE account_id=? AND pipeline_id=? AND is_deleted=0 LIMIT 1",
                            (self.account_id, pipeline_id)):
            raise exc.BadRequest("A pipeline with leads can not be deleted")
        with self.store.transaction() as db:
            db.execute("DELETE FROM statuses WHERE account_id=? AND pipeline_id=?", (self.account_id, pipeline_id))
            db.execute("DELETE FROM pipelines WHERE account_id=? AND id=?", (self.account_id, pipeline_id))

    def list_statuses(self, pipeline_id: int, *, descriptions: bool) -> list[dict[str, Any]]:
        self._pipeline_row(pipeline_id)
        return [self.status_model(s, descriptions=descriptions) for s in self._statuses(pipeline_id)]

    def _status_row(self, pipeline_id: int, status_id: int) -> dict[str, Any]:
        self._pipeline_row(pipeline_id)
        rows = self.rows("SELECT * FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?",
                         (self.account_id, pipeline_id, status_id))
        if not rows:
            raise exc.NotFound("Status not found")
        return rows[0]

    def get_status(self, pipeline_id: int, status_id: int, *, descriptions: bool = True) -> dict[str, Any]:
        return self.status_model(self._status_row(pipeline_id, status_id), descriptions=descriptions)

    def add_statuses(self, pipeline_id: int, body: Any) -> list[dict[str, Any]]:
        self._pipeline_row(pipeline_id)
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            self._check_status_items(errors, rid, [item], None)
            if item.get("id") in (WON_STATUS_ID, LOST_STATUS_ID):
                errors.add(rid, "id", "NotSupportedChoice", "System statuses can not be created.")
        errors.raise_if_any()
        if len(self._statuses(pipeline_id)) + len(items) > MAX_STATUSES:
            raise exc.Unprocessable(f"Limit {MAX_STATUSES} statuses per pipeline")
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                status_id = allocate_status_id(db)
                db.execute("INSERT INTO statuses (account_id, pipeline_id, id, name, sort, is_editable, color, type) "
                           "VALUES (?, ?, ?, ?, ?, 1, ?, 0)", (self.account_id, pipeline_id, status_id, item["name"],
                                                              item["sort"], item.get("color") or STATUS_COLOURS[0]))
                if item.get("descriptions"):
                    self._set_descriptions(db, pipeline_id, status_id, item["descriptions"])
                created.append((rid, status_id))
        return [{**self.get_status(pipeline_id, sid), "request_id": rid} for rid, sid in created]

    def update_status(self, pipeline_id: int, status_id: int, body: Any) -> dict[str, Any]:
        row = self._status_row(pipeline_id, status_id)
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        if not row["is_editable"] and any(k in body for k in ("sort", "color")):
            errors.add("0", "sort" if "sort" in body else "color", "NotEditable", "System statuses can only be renamed.")
        if row["type"] == UNSORTED_TYPE and "name" in body:
            errors.add("0", "name", "NotEditable", "The unsorted status can not be renamed.")
        for key, kind in (("name", str), ("sort", int)):
            if key in body:
                _check_type(errors, "0", body, key, kind, required=True)
        self._check_colour(errors, "0", "color", body.get("color"))
        self._check_descriptions(errors, "0", "descriptions", body.get("descriptions"))
        errors.raise_if_any()
        with self.store.transaction() as db:
            for key in ("name", "sort", "color"):
                if key in body:
                    db.execute(f"UPDATE statuses SET {key}=? WHERE account_id=? AND pipeline_id=? AND id=?",
                               (body[key], self.account_id, pipeline_id, status_id))
            if body.get("descriptions"):
                self._set_descriptions(db, pipeline_id, status_id, body["descriptions"])
        return self.get_status(pipeline_id, status_id)

    def delete_status(self, pipeline_id: int, status_id: int) -> int:
        """Delete an ordinary status; its leads move to the pipeline's first stage. Returns leads moved."""
        row = self._status_row(pipeline_id, status_id)
        if not row["is_editable"]:
            raise exc.BadRequest("System statuses can not be deleted")
        first = next(s for s in self._statuses(pipeline_id) if s["is_editable"] and s["id"] != status_id) \
            if len([s for s in self._statuses(pipeline_id) if s["is_editable"]]) > 1 else None
        if first is None:
            raise exc.BadRequest("The last status of a pipeline can not be deleted")
        with self.store.transaction() as db:
            moved = db.execute("UPDATE leads SET status_id=?, updated_at=? WHERE account_id=? AND pipeline_id=? "
                               "AND status_id=?", (first["id"], self.at, self.account_id, pipeline_id,
                                                   status_id)).rowcount
            db.execute("DELETE FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?",
                       (self.account_id, pipeline_id, status_id))
        return moved
