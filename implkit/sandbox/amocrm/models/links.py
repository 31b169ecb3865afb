"""Links between leads, contacts and companies (`/{entity}/links`, `/{entity}/{id}/link`, `.../unlink`),
stored once whichever direction they were written in, and read in both."""

from __future__ import annotations

import json
from typing import Any

from implkit.sandbox.amocrm.models.base import _loads
from implkit.sandbox.amocrm.models.constants import RECORD_ENTITIES, SINGULAR


class LinksMixin:
    """Links of one account's records (the records' own methods are in `records.RecordsMixin`)."""

    def _links_of(self, entity: str, ids: list[int]) -> list[dict[str, Any]]:
        """Links in both stored directions, seen from `entity`."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.rows(f"SELECT entity_type, entity_id, to_entity_type, to_entity_id, is_main, metadata FROM "
                         f"entity_links WHERE account_id=? AND entity_type=? AND entity_id IN ({marks})",
                         [self.account_id, entity, *ids])
        rows += [{"entity_type": r["to_entity_type"], "entity_id": r["to_entity_id"],
                  "to_entity_type": r["entity_type"], "to_entity_id": r["entity_id"], "is_main": r["is_main"],
                  "metadata": r["metadata"]}
                 for r in self.rows(f"SELECT * FROM entity_links WHERE account_id=? AND to_entity_type=? AND "
                                    f"to_entity_id IN ({marks})", [self.account_id, entity, *ids])]
        return rows

    def _link(self, db, entity: str, entity_id: int, to_entity: str, to_id: int, metadata: dict | None) -> bool:
        """Store a link once, whichever direction it was stored in before. Returns True when new."""
        exists = db.execute("SELECT 1 FROM entity_links WHERE account_id=? AND ((entity_type=? AND entity_id=? AND "
                            "to_entity_type=? AND to_entity_id=?) OR (entity_type=? AND entity_id=? AND "
                            "to_entity_type=? AND to_entity_id=?))",
                            (self.account_id, entity, entity_id, to_entity, to_id, to_entity, to_id, entity,
                             entity_id)).fetchone()
        is_main = bool((metadata or {}).get("is_main") or (metadata or {}).get("main_contact"))
        if exists:
            if is_main:
                db.execute("UPDATE entity_links SET is_main=1 WHERE account_id=? AND entity_type=? AND entity_id=? "
                           "AND to_entity_type=? AND to_entity_id=?", (self.account_id, entity, entity_id, to_entity,
                                                                       to_id))
            return False
        if is_main:   # one main contact per lead
            db.execute("UPDATE entity_links SET is_main=0 WHERE account_id=? AND entity_type=? AND entity_id=? "
                       "AND to_entity_type='contacts'", (self.account_id, entity, entity_id))
        db.execute("INSERT INTO entity_links (account_id, entity_type, entity_id, to_entity_type, to_entity_id, "
                   "is_main, metadata) VALUES (?,?,?,?,?,?,?)",
                   (self.account_id, entity, entity_id, to_entity, to_id, int(is_main),
                    json.dumps(metadata) if metadata else None))
        self._event(db, "entity_linked", entity, entity_id,
                    [{"link": {"entity": {"type": SINGULAR.get(to_entity, to_entity), "id": to_id}}}])
        return True

    def link_model(self, link: dict[str, Any], *, with_entity: bool) -> dict[str, Any]:
        metadata = _loads(link["metadata"])
        if link["to_entity_type"] == "contacts" and link["entity_type"] == "leads" or \
                link["entity_type"] == "contacts" and link["to_entity_type"] == "leads":
            metadata = {"main_contact": bool(link["is_main"])}
        model = {"to_entity_id": link["to_entity_id"], "to_entity_type": link["to_entity_type"], "metadata": metadata}
        if with_entity:
            model = {"entity_id": link["entity_id"], "entity_type": link["entity_type"], **model}
        return model

    def list_links(self, entity: str, ids: list[int], to_types: list[str] | None, *, with_entity: bool) -> list:
        for record_id in ids if not with_entity else []:
            self._record_row(entity, record_id)
        links = self._links_of(entity, ids)
        if to_types:
            links = [l for l in links if l["to_entity_type"] in to_types]
        return [self.link_model(l, with_entity=with_entity) for l in links]

    def _link_items(self, entity: str, body: Any, record_id: int | None) -> list[tuple[str, dict]]:
        items, errors = self._items_on_records(entity, body, record_id)
        for rid, item in items:
            kind = item.get("to_entity_type")
            if kind not in RECORD_ENTITIES or kind == entity or not self.rows(
                    f"SELECT 1 FROM {kind} WHERE account_id=? AND id=?", (self.account_id, item.get("to_entity_id"))):
                errors.not_a_choice(rid, "to_entity_id")
        errors.raise_if_any()
        return items

    def link(self, entity: str, body: Any, record_id: int | None = None) -> tuple[list[dict], int]:
        items = self._link_items(entity, body, record_id)
        written = 0
        with self.store.transaction() as db:
            for _, item in items:
                written += self._link(db, entity, item["entity_id"], item["to_entity_type"], item["to_entity_id"],
                                      item.get("metadata"))
        answer = []
        for _, item in items:
            link = {"entity_type": entity, "entity_id": item["entity_id"], "to_entity_type": item["to_entity_type"],
                    "to_entity_id": item["to_entity_id"], "is_main": bool((item.get("metadata") or {}).get("is_main")),
                    "metadata": json.dumps(item.get("metadata")) if item.get("metadata") else None}
            answer.append(self.link_model(link, with_entity=True))
        return answer, written

    def unlink(self, entity: str, body: Any, record_id: int | None = None) -> int:
        items = self._link_items(entity, body, record_id)
        removed = 0
        with self.store.transaction() as db:
            for _, item in items:
                a = (entity, item["entity_id"], item["to_entity_type"], item["to_entity_id"])
                b = (item["to_entity_type"], item["to_entity_id"], entity, item["entity_id"])
                for key in (a, b):
                    removed += db.execute("DELETE FROM entity_links WHERE account_id=? AND entity_type=? AND "
                                          "entity_id=? AND to_entity_type=? AND to_entity_id=?",
                                          (self.account_id, *key)).rowcount
                self._event(db, "entity_unlinked", entity, item["entity_id"],
                            [], [{"link": {"entity": {"type": SINGULAR[item["to_entity_type"]],
                                                      "id": item["to_entity_id"]}}}])
        return removed
