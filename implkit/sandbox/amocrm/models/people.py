"""Users, roles (rights) and loss reasons."""

from __future__ import annotations

import json
import uuid
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import MAX_USERS_FOR_POST, MAX_USERS_PER_POST, RIGHT_VALUES
from implkit.sandbox.amocrm.models.base import AccountBase, Errors, _check_type, _is_int, _loads, batch


ENTITY_RIGHT_KEYS = ("view", "edit", "add", "delete", "export")
PASSWORD_RULE = "At least 6 characters with a digit, a lower-case and an upper-case letter."


def _check_rights(errors: Errors, rid: str, rights: Any, path: str = "rights") -> None:
    """Rights values are A/G/M/D; `add` and stage rights take only A or D."""
    if rights is None:
        return
    if not isinstance(rights, dict):
        errors.add(rid, path, "InvalidType", "This value should be of type array.")
        return
    for entity in ("leads", "contacts", "companies"):
        for key, value in (rights.get(entity) or {}).items():
            allowed = {"A", "D"} if key == "add" else RIGHT_VALUES
            if key not in ENTITY_RIGHT_KEYS or value not in allowed:
                errors.not_a_choice(rid, f"{path}.{entity}.{key}")
    for key, value in (rights.get("tasks") or {}).items():
        if key not in ("edit", "delete") or value not in RIGHT_VALUES:
            errors.not_a_choice(rid, f"{path}.tasks.{key}")
    for i, sr in enumerate(rights.get("status_rights") or []):
        if not isinstance(sr, dict) or any(v not in ("A", "D") for v in (sr.get("rights") or {}).values()):
            errors.not_a_choice(rid, f"{path}.status_rights.{i}")


def _full_rights(rights: dict | None) -> dict[str, Any]:
    rights = dict(rights or {})
    for entity in ("leads", "contacts", "companies"):
        rights[entity] = {**{k: "D" for k in ENTITY_RIGHT_KEYS}, **(rights.get(entity) or {})}
    rights["tasks"] = {**{"edit": "D", "delete": "D"}, **(rights.get("tasks") or {})}
    rights.setdefault("mail_access", False)
    rights.setdefault("catalog_access", False)
    rights.setdefault("status_rights", None)
    return rights


class PeopleMixin(AccountBase):
    def _rights_as_read(self, stored: dict | None) -> dict[str, Any]:
        """Rights as the API shows them. Without stage rights (`null` or `[]`) a user or role still lists the
        unsorted stage of every pipeline with everything denied: the reference's rule (users-api: "null ⇒
        unsorted stages with no access"; PATCH role: "unsorted stages stay, all denied"), and what the doc's
        POST /users answer shows for a request that sent none (one D/D/D stage per pipeline, no export)."""
        rights = _full_rights(stored)
        if not rights["status_rights"]:
            unsorted = self.rows("SELECT s.pipeline_id, s.id FROM statuses s JOIN pipelines p ON p.account_id="
                                 "s.account_id AND p.id=s.pipeline_id WHERE s.account_id=? AND s.type=1 "
                                 "ORDER BY p.sort, p.id", (self.account_id,))
            rights["status_rights"] = [{"entity_type": "leads", "pipeline_id": r["pipeline_id"], "status_id": r["id"],
                                        "rights": {"view": "D", "edit": "D", "delete": "D"}} for r in unsorted]
        return rights

    def user_model(self, row: dict[str, Any], with_: set[str] = frozenset()) -> dict[str, Any]:
        rights = self._rights_as_read(_loads(row["rights"], {}))
        rights.update(is_admin=bool(row["is_admin"]), is_free=bool(row["is_free"]), is_active=bool(row["is_active"]),
                      group_id=row["group_id"], role_id=row["role_id"])
        model = {"id": row["id"], "name": row["name"], "email": row["email"], "lang": row["lang"], "rights": rights,
                 "_links": self.links(f"users/{row['id']}")}
        embedded = {}
        if "role" in with_:
            roles = self.rows("SELECT id, name FROM roles WHERE account_id=? AND id=?", (self.account_id, row["role_id"]))
            embedded["roles"] = [{"id": r["id"], "name": r["name"], "_links": self.links(f"roles/{r['id']}")}
                                 for r in roles]
        if "group" in with_:
            groups = self.rows("SELECT id, name FROM user_groups WHERE account_id=? AND id=?",
                               (self.account_id, row["group_id"]))
            embedded["groups"] = [{"id": g["id"], "name": g["name"]} for g in groups]
        if "uuid" in with_:
            model["uuid"] = str(uuid.UUID(int=row["id"]))
        if "amojo_id" in with_:
            model["amojo_id"] = str(uuid.UUID(int=row["id"] + 2**64))
        if embedded:
            model["_embedded"] = embedded
        return model

    def count_users(self) -> int:
        return self.store.query("SELECT count(*) FROM users WHERE account_id=?", (self.account_id,))[0][0]

    def list_users(self, with_: set[str], offset: int, count: int) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM users WHERE account_id=? ORDER BY id LIMIT ? OFFSET ?",
                         (self.account_id, count, offset))
        return [self.user_model(r, with_) for r in rows]

    def get_user(self, user_id: int, with_: set[str] = frozenset()) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM users WHERE account_id=? AND id=?", (self.account_id, user_id))
        if not rows:
            raise exc.NotFound("User not found")
        return self.user_model(rows[0], with_)

    def user_exists(self, user_id: Any) -> bool:
        return _is_int(user_id) and bool(self.store.query("SELECT 1 FROM users WHERE account_id=? AND id=?",
                                                          (self.account_id, user_id)))

    def add_users(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body, limit=MAX_USERS_PER_POST)
        if self.count_users() > MAX_USERS_FOR_POST:
            raise exc.Forbidden(f"Adding users via API is unavailable for accounts with more than "
                                f"{MAX_USERS_FOR_POST} users")
        errors = Errors()
        emails = {r["email"].lower() for r in self.rows("SELECT email FROM users WHERE account_id=?",
                                                        (self.account_id,))}
        for rid, item in items:
            if _check_type(errors, rid, item, "name", str, required=True):
                name = item["name"]
                if len(name) > 50 or any(not (c.isalnum() or c in " .@-_") for c in name):
                    errors.add(rid, "name", "InvalidValue", "At most 50 characters; only . @ - _ as specials.")
            if _check_type(errors, rid, item, "email", str, required=True):
                if "@" not in item["email"]:
                    errors.add(rid, "email", "InvalidEmail", "This value is not a valid email address.")
                elif item["email"].lower() in emails:
                    errors.add(rid, "email", "NotUnique", "A user with this email already exists.")
            if _check_type(errors, rid, item, "password", str, required=True):
                p = item["password"]
                if len(p) < 6 or not any(c.isdigit() for c in p) or not any(c.islower() for c in p) \
                        or not any(c.isupper() for c in p):
                    errors.add(rid, "password", "InvalidPassword", PASSWORD_RULE)
            if item.get("lang", "ru") not in ("ru", "en", "es"):
                errors.not_a_choice(rid, "lang")
            rights = item.get("rights") or {}
            _check_rights(errors, rid, rights)
            if rights.get("role_id") is not None and not self.rows(
                    "SELECT 1 FROM roles WHERE account_id=? AND id=?", (self.account_id, rights["role_id"])):
                errors.not_a_choice(rid, "rights.role_id")
            if rights.get("group_id") not in (None, 0) and not self.rows(
                    "SELECT 1 FROM user_groups WHERE account_id=? AND id=?", (self.account_id, rights["group_id"])):
                errors.not_a_choice(rid, "rights.group_id")
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                rights = dict(item.get("rights") or {})
                flags = {k: rights.pop(k, None) for k in ("is_admin", "is_free", "is_active", "group_id", "role_id")}
                if flags["role_id"] is not None:   # a role overrides the entity rights
                    role_rights = _loads(db.execute("SELECT rights FROM roles WHERE id=?",
                                                    (flags["role_id"],)).fetchone()[0], {})
                    rights.update({k: v for k, v in role_rights.items()})
                if flags["is_free"]:
                    rights, flags["role_id"], flags["group_id"] = {}, None, None
                user_id = db.execute(
                    "INSERT INTO users (account_id, name, email, lang, is_active, is_admin, is_free, group_id, role_id, "
                    "rights) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (self.account_id, item["name"], item["email"], item.get("lang", "ru"),
                     int(flags["is_active"] is not False), int(bool(flags["is_admin"])), int(bool(flags["is_free"])),
                     flags["group_id"] or None, flags["role_id"], json.dumps(rights))).lastrowid
                created.append((rid, user_id))
        return [{**self.get_user(uid), "request_id": rid} for rid, uid in created]

    # roles
    def role_model(self, row: dict[str, Any], with_: set[str] = frozenset()) -> dict[str, Any]:
        rights = self._rights_as_read(_loads(row["rights"], {}))
        model = {"id": row["id"], "name": row["name"], "rights": rights, "_links": self.links(f"roles/{row['id']}")}
        if "users" in with_:
            users = self.rows("SELECT id FROM users WHERE account_id=? AND role_id=? ORDER BY id",
                              (self.account_id, row["id"]))
            model["_embedded"] = {"users": [u["id"] for u in users]}
        return model

    def count_roles(self) -> int:
        return self.store.query("SELECT count(*) FROM roles WHERE account_id=?", (self.account_id,))[0][0]

    def list_roles(self, with_: set[str], offset: int, count: int) -> list[dict[str, Any]]:
        return [self.role_model(r, with_) for r in self.rows(
            "SELECT * FROM roles WHERE account_id=? ORDER BY id LIMIT ? OFFSET ?", (self.account_id, count, offset))]

    def _role_row(self, role_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM roles WHERE account_id=? AND id=?", (self.account_id, role_id))
        if not rows:
            raise exc.NotFound("Role not found")
        return rows[0]

    def get_role(self, role_id: int, with_: set[str] = frozenset()) -> dict[str, Any]:
        return self.role_model(self._role_row(role_id), with_)

    def add_roles(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body, allow_object=True)
        errors = Errors()
        for rid, item in items:
            _check_type(errors, rid, item, "name", str, required=True)
            _check_type(errors, rid, item, "rights", dict, required=True)
            _check_rights(errors, rid, item.get("rights"))
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                created.append((rid, db.execute("INSERT INTO roles (account_id, name, rights) VALUES (?, ?, ?)",
                                                (self.account_id, item["name"], json.dumps(item["rights"]))).lastrowid))
        return [{**self.get_role(role_id), "request_id": rid} for rid, role_id in created]

    def update_role(self, role_id: int, body: Any) -> dict[str, Any]:
        row = self._role_row(role_id)
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        if "name" in body:
            _check_type(errors, "0", body, "name", str, required=True)
        _check_rights(errors, "0", body.get("rights"))
        errors.raise_if_any()
        rights = _loads(row["rights"], {})
        for key, value in (body.get("rights") or {}).items():
            rights[key] = ({**(rights.get(key) or {}), **value} if isinstance(value, dict) and key != "status_rights"
                           else value)
        if "rights" in body and "status_rights" in body["rights"] and not body["rights"]["status_rights"]:
            rights["status_rights"] = []
        with self.store.transaction() as db:
            db.execute("UPDATE roles SET name=?, rights=? WHERE account_id=? AND id=?",
                       (body.get("name", row["name"]), json.dumps(rights), self.account_id, role_id))
        return self.get_role(role_id)

    def delete_role(self, role_id: int) -> None:
        self._role_row(role_id)
        with self.store.transaction() as db:
            db.execute("UPDATE users SET role_id=NULL WHERE account_id=? AND role_id=?", (self.account_id, role_id))
            db.execute("DELETE FROM roles WHERE account_id=? AND id=?", (self.account_id, role_id))

    # loss reasons (read-only in the API)
    def loss_reason_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "sort": row["sort"], "created_at": row["created_at"],
                "updated_at": row["updated_at"], "_links": self.links(f"leads/loss_reasons/{row['id']}")}

    def list_loss_reasons(self, offset: int, count: int) -> list[dict[str, Any]]:
        return [self.loss_reason_model(r) for r in self.rows(
            "SELECT * FROM loss_reasons WHERE account_id=? ORDER BY sort, id LIMIT ? OFFSET ?",
            (self.account_id, count, offset))]

    def get_loss_reason(self, reason_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM loss_reasons WHERE account_id=? AND id=?", (self.account_id, reason_id))
        if not rows:
            raise exc.NotFound("Loss reason not found")
        return self.loss_reason_model(rows[0])
