"""Unsorted (incoming) leads."""

from __future__ import annotations

import json
import secrets
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import UNSORTED_TYPE, WON_STATUS_ID
from implkit.sandbox.amocrm.models.base import Errors, _check_type, _in_filter, _is_int, _loads, _range_filter, batch
from implkit.sandbox.amocrm.models.records import RECORD_ENTITIES
from implkit.sandbox.amocrm.models.activity import ActivityMixin


UNSORTED_CATEGORIES = ("sip", "mail", "forms", "chats")
UNSORTED_CREATABLE = ("sip", "forms")


class UnsortedMixin(ActivityMixin):
    def _unsorted_refs(self, lead_id: int | None) -> dict[str, list]:
        if lead_id is None:
            return {"contacts": [], "leads": [], "companies": []}
        links = self._links_of("leads", [lead_id])
        return {"contacts": [self._ref("contacts", l["to_entity_id"]) for l in links
                             if l["to_entity_type"] == "contacts"],
                "leads": [self._ref("leads", lead_id)],
                "companies": [self._ref("companies", l["to_entity_id"]) for l in links
                              if l["to_entity_type"] == "companies"]}

    @staticmethod
    def _metadata_as_read(category: str, metadata: dict[str, Any]) -> dict[str, Any]:
        """Metadata as the doc's GET examples print it: a call's `duration` and a form's `form_sent_at` come
        back as strings though the POST examples send numbers; a form without `visitor_uid` shows null."""
        shown = dict(metadata)
        for key in {"sip": ("duration",), "forms": ("form_sent_at",)}.get(category, ()):
            if isinstance(shown.get(key), int) and not isinstance(shown.get(key), bool):
                shown[key] = str(shown[key])
        if category == "forms":
            shown.setdefault("visitor_uid", None)
        return shown

    def unsorted_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"uid": row["uid"], "source_uid": row["source_uid"], "source_name": row["source_name"],
                "category": row["category"], "pipeline_id": row["pipeline_id"], "created_at": row["created_at"],
                "metadata": self._metadata_as_read(row["category"], _loads(row["metadata"], {})),
                "account_id": self.account_id,
                "_links": self.links(f"leads/unsorted/{row['uid']}"),
                "_embedded": self._unsorted_refs(row["lead_id"])}

    def list_unsorted(self, filters: dict, order: dict, offset: int, count: int) -> list[dict[str, Any]]:
        where, params = ["account_id=?"], [self.account_id]
        for key in ("uid", "category"):
            if key in filters:
                values = filters[key] if isinstance(filters[key], list) else [filters[key]]
                where.append(f"{key} IN ({','.join('?' * len(values))})")
                params.extend(str(v) for v in values)
        if "pipeline_id" in filters:
            _in_filter(where, params, "pipeline_id", filters["pipeline_id"])
        order_sql = "created_at ASC, uid ASC"
        for key, direction in (order or {}).items() if isinstance(order, dict) else []:
            if key in ("created_at", "updated_at") and str(direction).lower() in ("asc", "desc"):
                order_sql = f"created_at {direction.upper()}, uid {direction.upper()}"
        rows = self.rows(f"SELECT * FROM unsorted WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                         params + [count, offset])
        return [self.unsorted_model(r) for r in rows]

    def _unsorted_row(self, uid: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM unsorted WHERE account_id=? AND uid=?", (self.account_id, uid))
        if not rows:
            raise exc.NotFound("Unsorted not found")
        return rows[0]

    def get_unsorted(self, uid: str) -> dict[str, Any]:
        return self.unsorted_model(self._unsorted_row(uid))

    def add_unsorted(self, category: str, body: Any) -> list[dict[str, Any]]:
        """POST /leads/unsorted/{sip|forms}: a lead in the pipeline's unsorted stage, with its contact and company."""
        items = batch(body)
        errors = Errors()
        main, statuses = self._pipelines_index()
        for rid, item in items:
            _check_type(errors, rid, item, "source_name", str, required=True)
            _check_type(errors, rid, item, "source_uid", str, required=True)
            _check_type(errors, rid, item, "metadata", dict, required=True)
            _check_type(errors, rid, item, "created_at", int)
            pipeline_id = item.get("pipeline_id", main)
            if pipeline_id not in statuses or not any(s["type"] == UNSORTED_TYPE for s in statuses[pipeline_id]):
                errors.not_a_choice(rid, "pipeline_id")
            embedded = item.get("_embedded") or {}
            for kind in RECORD_ENTITIES:
                if not isinstance(embedded.get(kind, []), list) or len(embedded.get(kind, [])) > 1:
                    errors.add(rid, f"_embedded.{kind}", "InvalidType", "At most one item.")
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item in items:
                embedded = item.get("_embedded") or {}
                pipeline_id = item.get("pipeline_id", main)
                ids = {}
                for kind in RECORD_ENTITIES:
                    if embedded.get(kind):
                        record = {**embedded[kind][0], "request_id": rid}
                        if kind == "leads":
                            record["pipeline_id"] = pipeline_id
                        ids[kind] = self._nested_add(kind, record, f"_embedded.{kind}.0.")
                if "leads" not in ids:
                    ids["leads"] = self.add_records("leads", [{"pipeline_id": pipeline_id, "request_id": rid}])[0]["id"]
                for kind in ("contacts", "companies"):
                    if kind in ids:
                        self._link(db, "leads", ids["leads"], kind, ids[kind],
                                   {"is_main": True} if kind == "contacts" else None)
                uid = self._insert_unsorted(db, lead_id=ids["leads"], pipeline_id=pipeline_id, category=category,
                                            source_uid=item["source_uid"], source_name=item["source_name"],
                                            metadata=item["metadata"], created_at=item.get("created_at", self.at))
                answers.append({"uid": uid, "account_id": self.account_id, "request_id": rid,
                                "_links": self.links(f"leads/unsorted/{uid}"),
                                "_embedded": {kind: [self._ref(kind, ids[kind])] if kind in ids else []
                                              for kind in ("contacts", "leads", "companies")}})
        return answers

    def _nested_add(self, kind: str, record: dict, prefix: str) -> int:
        """Create one record inside a composite write; its errors point into the composite item.
        Called inside the caller's transaction, so a failure rolls the whole call back."""
        try:
            return self.add_records(kind, [record])[0]["id"]
        except exc.ValidationFailed as failed:
            raise exc.ValidationFailed({rid: [{**e, "path": f"{prefix}{e['path']}".rstrip(".")} for e in errs]
                                        for rid, errs in failed.errors.items()}) from None

    def _insert_unsorted(self, db, *, lead_id: int, pipeline_id: int, category: str, source_uid: str,
                         source_name: str, metadata: dict, created_at: int) -> str:
        """Put a lead in its pipeline's unsorted stage and register the unsorted item; returns its uid."""
        unsorted_status = next(s["id"] for s in self._statuses(pipeline_id) if s["type"] == UNSORTED_TYPE)
        db.execute("UPDATE leads SET status_id=?, created_by=0 WHERE id=?", (unsorted_status, lead_id))
        uid = secrets.token_hex(30)
        db.execute("INSERT INTO unsorted (account_id, uid, source_uid, source_name, category, pipeline_id, lead_id, "
                   "created_at, metadata) VALUES (?,?,?,?,?,?,?,?,?)",
                   (self.account_id, uid, source_uid, source_name, category, pipeline_id, lead_id, created_at,
                    json.dumps(metadata, ensure_ascii=False)))
        return uid

    def _decide(self, db, row: dict, outcome: str) -> None:
        db.execute("DELETE FROM unsorted WHERE account_id=? AND uid=?", (self.account_id, row["uid"]))
        db.execute("INSERT INTO unsorted_outcomes (account_id, uid, category, outcome, created_at, decided_at) "
                   "VALUES (?,?,?,?,?,?)", (self.account_id, row["uid"], row["category"], outcome, row["created_at"],
                                            self.at))

    def accept_unsorted(self, uid: str, body: Any) -> dict[str, Any]:
        """Move the lead to `status_id` (default: the pipeline's first ordinary stage), owned by `user_id`."""
        row = self._unsorted_row(uid)
        body = body if isinstance(body, dict) else {}
        errors = Errors()
        stages = self._statuses(row["pipeline_id"])
        status_id = body.get("status_id")
        if status_id is None:
            status_id = next((s["id"] for s in stages if s["type"] == 0 and s["is_editable"]), WON_STATUS_ID)
        elif not any(s["id"] == status_id and s["type"] != UNSORTED_TYPE for s in stages):
            errors.not_a_choice("0", "status_id")
        if "user_id" in body and not self.user_exists(body["user_id"]):
            errors.not_a_choice("0", "user_id")
        errors.raise_if_any()
        answer = {"uid": uid, "pipeline_id": row["pipeline_id"], "category": row["category"],
                  "created_at": row["created_at"], "_embedded": self._unsorted_refs(row["lead_id"])}
        with self.store.transaction() as db:
            if row["lead_id"] is not None:
                before = db.execute("SELECT status_id FROM leads WHERE id=?", (row["lead_id"],)).fetchone()[0]
                db.execute("UPDATE leads SET status_id=?, responsible_user_id=coalesce(?, responsible_user_id), "
                           "updated_at=? WHERE account_id=? AND id=?",
                           (status_id, body.get("user_id"), self.at, self.account_id, row["lead_id"]))
                self._event(db, "lead_status_changed", "leads", row["lead_id"],
                            [{"lead_status": {"id": status_id, "pipeline_id": row["pipeline_id"]}}],
                            [{"lead_status": {"id": before, "pipeline_id": row["pipeline_id"]}}])
            self._decide(db, row, "accepted")
        return answer

    def decline_unsorted(self, uid: str) -> dict[str, Any]:
        """Decline: the incoming lead is deleted."""
        row = self._unsorted_row(uid)
        refs = self._unsorted_refs(row["lead_id"])
        answer = {"uid": uid, "pipeline_id": row["pipeline_id"], "category": row["category"],
                  "created_at": row["created_at"], "_embedded": {"leads": refs["leads"], "contacts": refs["contacts"]}}
        with self.store.transaction() as db:
            if row["lead_id"] is not None:
                db.execute("UPDATE leads SET is_deleted=1, updated_at=? WHERE account_id=? AND id=?",
                           (self.at, self.account_id, row["lead_id"]))
                self._event(db, "lead_deleted", "leads", row["lead_id"])
            self._decide(db, row, "declined")
        return answer

    def link_unsorted(self, uid: str, body: Any) -> dict[str, Any]:
        """Attach the item to an existing lead: the incoming lead is dropped, its contacts move over."""
        row = self._unsorted_row(uid)
        target = (body or {}).get("link") if isinstance(body, dict) else None
        if not isinstance(target, dict) or target.get("entity_type") != "leads" or not _is_int(target.get("entity_id")):
            raise exc.validation_error("0", "link", "NotSupportedChoice", "The value you selected is not a valid choice.")
        self._record_row("leads", target["entity_id"])
        with self.store.transaction() as db:
            if row["lead_id"] is not None:
                for link in self._links_of("leads", [row["lead_id"]]):
                    self._link(db, "leads", target["entity_id"], link["to_entity_type"], link["to_entity_id"], None)
                db.execute("UPDATE leads SET is_deleted=1, updated_at=? WHERE account_id=? AND id=?",
                           (self.at, self.account_id, row["lead_id"]))
            self._decide(db, row, "linked")
        return {"uid": uid, "_embedded": {"leads": [self._ref("leads", target["entity_id"])]}}

    def unsorted_summary(self, filters: dict) -> dict[str, Any]:
        where, params = "account_id=?", [self.account_id]
        if "created_at" in filters:
            conds: list[str] = []
            _range_filter(conds, params, "created_at", filters["created_at"])
            where += "".join(f" AND {c}" for c in conds)
        pending = self.rows(f"SELECT category FROM unsorted WHERE {where}", params)
        decided = self.rows(f"SELECT category, outcome, created_at, decided_at FROM unsorted_outcomes WHERE {where}",
                            params)
        sort_times = [d["decided_at"] - d["created_at"] for d in decided]
        categories = {c: {"total": sum(1 for r in pending + decided if r["category"] == c)}
                      for c in UNSORTED_CATEGORIES}
        return {"total": len(pending) + len(decided),
                "accepted": sum(1 for d in decided if d["outcome"] == "accepted"),
                "declined": sum(1 for d in decided if d["outcome"] == "declined"),
                "average_sort_time": round(sum(sort_times) / len(sort_times)) if sort_times else 0,
                "categories": categories}
