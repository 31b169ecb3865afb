"""What a manager writes into the CRM besides the records: activities («дела») and timeline comments
(tasks are in `tasks.py`).

`TimelineMixin` is part of `models.Portal` (it uses the portal's store, account, clock, user and cost).
Shapes follow the docs' examples (reference fixtures `crm.activity.*`, `crm.timeline.comment.list`,
`tasks.task.*`) and the method pages of the official docs (apidocs.bitrix24.com, repository
bitrix24/b24restdocs): ``crm.activity.todo.add`` answers ``{"id": N}``; ``crm.timeline.comment.add`` and
``.update`` answer the comment's id; ``tasks.task.add``/``.get``/``.update`` answer ``{"task": {...}}``;
``tasks.task.result.list`` a list of results.

Activities keep the legacy dialect (UPPER_CASE keys, every value a string or null). Completion is
``COMPLETED`` Y/N with ``STATUS`` 2 (completed) or 1 (waiting); the outcome fields are the ``RESULT_*``
members of the records the docs print. Calls carry ``DIRECTION`` 1 (incoming) or 2 (outgoing).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24.models.base import positive_id as _positive   # one helper for every family
from implkit.sandbox.bitrix24.portal import TZ_SECONDS, iso, next_ids

PORTAL_TZ = timezone(timedelta(seconds=TZ_SECONDS))
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")

# TYPE_ID → (PROVIDER_ID, PROVIDER_TYPE_ID) for the classic types (crm.enum.activitytype: 1 meeting, 2 call,
# 3 task, 4 e-mail, 5 action, 6 custom/provider)
ACTIVITY_PROVIDERS = {1: ("CRM_MEETING", "MEETING"), 2: ("VOXIMPLANT_CALL", "CALL"), 3: ("CRM_TASKS_TASK", "TASK"),
                      4: ("CRM_EMAIL", "EMAIL"), 5: ("CRM_ACTION", "ACTION")}
NEEDS_COMMUNICATION = (2, 4)                 # a call or an e-mail is addressed to someone
ACTIVITY_WRITABLE = ("SUBJECT", "START_TIME", "END_TIME", "DEADLINE", "COMPLETED", "PRIORITY", "RESPONSIBLE_ID",
                     "DESCRIPTION", "DESCRIPTION_TYPE", "DIRECTION", "LOCATION", "NOTIFY_TYPE", "NOTIFY_VALUE",
                     "ORIGINATOR_ID", "ORIGIN_ID", "RESULT_MARK", "RESULT_VALUE", "RESULT_SUM", "RESULT_CURRENCY_ID",
                     "RESULT_STATUS", "RESULT_STREAM", "RESULT_SOURCE_ID", "AUTOCOMPLETE_RULE")
ACTIVITY_DATES = ("START_TIME", "END_TIME", "DEADLINE")
OWNER_TYPES = {"lead": 1, "deal": 2, "contact": 3, "company": 4}


def portal_time(value: Any) -> str | None:
    """A date the caller sent, as the portal prints it (ISO 8601 in portal time); a date without an
    offset is read in portal time. None when the value is not a date."""
    text = str(value or "").strip()
    if not text or not ISO.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PORTAL_TZ)
    return iso(moment.timestamp())


def empty_record(record_id: int, *, at: str, user: str) -> dict[str, Any]:
    """Every member of an activity as crm.activity.get prints it (crm.activity.get.response)."""
    return {"ID": str(record_id), "OWNER_ID": None, "OWNER_TYPE_ID": None, "TYPE_ID": None, "PROVIDER_ID": None,
            "PROVIDER_TYPE_ID": None, "PROVIDER_GROUP_ID": None, "ASSOCIATED_ENTITY_ID": "0", "SUBJECT": "",
            "CREATED": at, "LAST_UPDATED": at, "START_TIME": at, "END_TIME": at, "DEADLINE": at, "COMPLETED": "N",
            "STATUS": "1", "RESPONSIBLE_ID": user, "PRIORITY": "2", "NOTIFY_TYPE": "0", "NOTIFY_VALUE": "0",
            "DESCRIPTION": "", "DESCRIPTION_TYPE": "1", "DIRECTION": "0", "LOCATION": "", "SETTINGS": [],
            "ORIGINATOR_ID": None, "ORIGIN_ID": None, "AUTHOR_ID": user, "EDITOR_ID": user, "PROVIDER_PARAMS": [],
            "PROVIDER_DATA": None, "RESULT_MARK": "0", "RESULT_VALUE": None, "RESULT_SUM": None,
            "RESULT_CURRENCY_ID": None, "RESULT_STATUS": "0", "RESULT_STREAM": "0", "RESULT_SOURCE_ID": None,
            "AUTOCOMPLETE_RULE": "0"}


def _uploads(value: Any) -> list[tuple[str, bytes]]:
    """FILES as the docs send them: [[name, base64 content], ...] (files/how-to-upload-files); anything else is
    skipped, as the portal skips what it cannot read [inference]."""
    import base64
    import binascii
    items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    out = []
    for item in items:
        if isinstance(item, dict):
            item = list(item.values())
        if not isinstance(item, list) or len(item) != 2 or not str(item[0]).strip():
            continue
        try:
            out.append((str(item[0]), base64.b64decode(str(item[1]), validate=True)))
        except (binascii.Error, ValueError):
            continue
    return out


def _image_size(content: bytes) -> tuple[int, int] | None:
    """Width and height of a GIF or PNG (the two formats the docs' examples upload)."""
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        return int.from_bytes(content[6:8], "little"), int.from_bytes(content[8:10], "little")
    if content[:8] == b"\x89PNG\r\n\x1a\n" and len(content) >= 24:
        return int.from_bytes(content[16:20], "big"), int.from_bytes(content[20:24], "big")
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


def _flag(value: Any) -> str:
    return "Y" if str(value).upper() in ("Y", "1", "TRUE") else "N"


class TimelineMixin:
    """Activities and timeline comments of one portal (mixed into `models.Portal`)."""

    # --- activities (crm.activity.*) ---------------------------------------------------------------------
    def _owner_exists(self, type_id: Any, owner_id: Any) -> bool:
        type_number, owner = _positive(type_id), _positive(owner_id)
        if type_number not in (1, 2, 3, 4) or owner is None:
            return False
        return self.db.execute("SELECT 1 FROM b24_crm WHERE account_id=? AND entity_type_id=? AND id=?",
                               (self.account_id, type_number, owner)).fetchone() is not None

    def _user_exists(self, user_id: Any) -> bool:
        number = _positive(user_id)
        return number is not None and self.db.execute(
            "SELECT 1 FROM b24_users WHERE account_id=? AND id=?", (self.account_id, number)).fetchone() is not None

    def _write_activity(self, db, record: dict[str, Any]) -> None:
        db.execute("INSERT OR REPLACE INTO b24_activities (account_id, id, owner_type_id, owner_id, responsible_id, "
                   "completed, deadline, start_time, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (self.account_id, int(record["ID"]), int(record["OWNER_TYPE_ID"]), int(record["OWNER_ID"]),
                    _positive(record["RESPONSIBLE_ID"]), record["COMPLETED"], record["DEADLINE"],
                    record["START_TIME"], json.dumps(record, ensure_ascii=False)))
        self.cost += self.WRITE_COST

    def _apply_activity_fields(self, record: dict[str, Any], fields: dict[str, Any]) -> None:
        for name in ACTIVITY_WRITABLE:
            if name not in fields:
                continue
            value = fields[name]
            if name in ACTIVITY_DATES:
                moment = portal_time(value)
                if moment is not None:
                    record[name] = moment
            elif name == "COMPLETED":
                record["COMPLETED"] = _flag(value)
            else:
                record[name] = _text(value)
        record["STATUS"] = "2" if record["COMPLETED"] == "Y" else "1"
        if "COMMUNICATIONS" in fields:
            record["COMMUNICATIONS"] = self._communications(fields["COMMUNICATIONS"], record)

    def _communications(self, value: Any, record: dict[str, Any]) -> list[dict[str, Any]]:
        items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
        out = []
        for item in items:
            if not isinstance(item, dict) or not str(item.get("VALUE") or "").strip():
                continue
            kind = {"2": "PHONE", "4": "EMAIL"}.get(str(record.get("TYPE_ID")), "")
            out.append({"ID": str(len(out) + 1), "TYPE": kind, "VALUE": str(item["VALUE"]),
                        "ENTITY_ID": _text(item.get("ENTITY_ID") or record["OWNER_ID"]),
                        "ENTITY_TYPE_ID": _text(item.get("ENTITY_TYPE_ID") or record["OWNER_TYPE_ID"])})
        return out

    def activity_add(self, fields: dict[str, Any]) -> int:
        """crm.activity.add: the checks its error table lists, in its order (crm.activity.add)."""
        if not str(fields.get("SUBJECT") or "").strip():
            raise err.legacy("The field SUBJECT is not defined or empty")
        if not self._user_exists(fields.get("RESPONSIBLE_ID")):
            raise err.legacy("The field RESPONSIBLE_ID is not defined or invalid")
        type_id = _positive(fields.get("TYPE_ID"))
        if type_id not in (1, 2, 3, 4, 5, 6):
            raise err.legacy("The field TYPE_ID is not defined or invalid")
        if type_id == 6 and not fields.get("PROVIDER_ID"):
            raise err.legacy("The custom activity without provider is not supported in current context")
        communications = fields.get("COMMUNICATIONS")
        if type_id in NEEDS_COMMUNICATION and not communications:
            raise err.legacy("The field COMMUNICATIONS is not defined or invalid")
        if type_id == 2 and isinstance(communications, (list, dict)) and len(communications) > 1:
            raise err.legacy("The only one communication is allowed for activity of specified type")
        if not self._owner_exists(fields.get("OWNER_TYPE_ID"), fields.get("OWNER_ID")):
            raise err.legacy("Could not build binding. Please ensure that owner info and communications are "
                             "defined correctly")
        with self.store.transaction() as db:
            activity_id = next_ids(db, self.account_id, "activity")
            record = empty_record(activity_id, at=self.now_iso(), user=str(self.user_id))
            provider, provider_type = ACTIVITY_PROVIDERS.get(type_id, (str(fields.get("PROVIDER_ID")),
                                                                       _text(fields.get("PROVIDER_TYPE_ID"))))
            record.update(OWNER_ID=str(_positive(fields["OWNER_ID"])), OWNER_TYPE_ID=str(_positive(fields["OWNER_TYPE_ID"])),
                          TYPE_ID=str(type_id), PROVIDER_ID=provider, PROVIDER_TYPE_ID=provider_type)
            self._apply_activity_fields(record, fields)
            if "DEADLINE" not in fields:      # a call or meeting is due when it starts [inference]
                record["DEADLINE"] = record["START_TIME"]
            self._write_activity(db, record)
        return activity_id

    def _activity_row(self, activity_id: Any) -> dict[str, Any]:
        number = _positive(activity_id)
        if number is None:
            raise err.bad_id()
        row = self.db.execute("SELECT data FROM b24_activities WHERE account_id=? AND id=?",
                              (self.account_id, number)).fetchone()
        if row is None:
            raise err.legacy("Not found")
        return json.loads(row[0])

    def activity_get(self, activity_id: Any) -> dict[str, Any]:
        self.cost += self.ROW_COST
        record = self._activity_row(activity_id)
        return {k: v for k, v in record.items() if k not in ("COMMUNICATIONS", "FILES")}

    def activity_update(self, activity_id: Any, fields: dict[str, Any]) -> bool:
        record = self._activity_row(activity_id)
        if "SUBJECT" in fields and not str(fields["SUBJECT"] or "").strip():
            raise err.legacy("The field SUBJECT is not defined or empty")
        if "RESPONSIBLE_ID" in fields and not self._user_exists(fields["RESPONSIBLE_ID"]):
            raise err.legacy("The field RESPONSIBLE_ID is not defined or invalid")
        self._apply_activity_fields(record, fields)
        record["LAST_UPDATED"], record["EDITOR_ID"] = self.now_iso(), str(self.user_id)
        with self.store.transaction() as db:
            self._write_activity(db, record)
        return True

    def activity_delete(self, activity_id: Any) -> bool:
        record = self._activity_row(activity_id)
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_activities WHERE account_id=? AND id=?", (self.account_id, int(record["ID"])))
        self.cost += self.WRITE_COST
        return True

    def activity_todo_add(self, params: dict[str, Any]) -> dict[str, int]:
        """crm.activity.todo.add: a universal to-do (PROVIDER_ID CRM_TODO) on a CRM record; camelCase parameters."""
        missing = [name for name in ("ownerTypeId", "ownerId", "deadline") if params.get(name) in (None, "")]
        if missing:
            raise err.B24Error(f"Required fields are missing: {', '.join(missing)}", code="100")   # [unverified] text
        deadline = portal_time(params["deadline"])
        if deadline is None:
            raise err.B24Error("Incorrect date format", code="WRONG_DATETIME_FORMAT")       # [unverified] text
        if not self._owner_exists(params["ownerTypeId"], params["ownerId"]):
            raise err.B24Error("Not found.", code="NOT_FOUND")            # the page's error example
        responsible = params.get("responsibleId") or self.user_id
        if not self._user_exists(responsible):
            raise err.B24Error("Not found.", code="NOT_FOUND")
        with self.store.transaction() as db:
            activity_id = next_ids(db, self.account_id, "activity")
            record = empty_record(activity_id, at=self.now_iso(), user=str(self.user_id))
            record.update(OWNER_ID=str(_positive(params["ownerId"])), OWNER_TYPE_ID=str(_positive(params["ownerTypeId"])),
                          TYPE_ID="6", PROVIDER_ID="CRM_TODO", PROVIDER_TYPE_ID="TODO",
                          SUBJECT=str(params.get("title") or ""), DESCRIPTION=str(params.get("description") or ""),
                          RESPONSIBLE_ID=str(_positive(responsible)), START_TIME=deadline, END_TIME=deadline,
                          DEADLINE=deadline)
            self._write_activity(db, record)
        return {"id": activity_id}

    # --- timeline comments (crm.timeline.comment.*) --------------------------------------------------------
    def comment_add(self, fields: dict[str, Any]) -> int:
        entity_type = str(fields.get("ENTITY_TYPE") or "").strip().lower()
        if fields.get("ENTITY_ID") in (None, "") or not entity_type or "COMMENT" not in fields:
            raise err.B24Error("Required fields not provided", code="100")          # [unverified] text
        if not str(fields.get("COMMENT") or "").strip():
            raise err.invalid_arg("Empty comment")                                 # [unverified] text
        if not self._owner_exists(OWNER_TYPES.get(entity_type), fields["ENTITY_ID"]):
            raise err.B24Error("Not found.", code="NOT_FOUND")                     # the page's error example
        author = fields.get("AUTHOR_ID") if self._user_exists(fields.get("AUTHOR_ID")) else self.user_id
        files = _uploads(fields.get("FILES"))
        with self.store.transaction() as db:
            comment_id = next_ids(db, self.account_id, "comment")
            record = {"ID": str(comment_id), "ENTITY_ID": str(_positive(fields["ENTITY_ID"])), "ENTITY_TYPE": entity_type,
                      "CREATED": self.now_iso(), "COMMENT": str(fields["COMMENT"]), "AUTHOR_ID": str(_positive(author)),
                      "FILES": self._disk_files(db, files, author)}
            self._write_comment(db, record)
        return comment_id

    def _disk_files(self, db, files: list[tuple[str, bytes]], author: Any) -> dict[str, Any]:
        """Uploaded files as the comment prints them (crm.timeline.comment.list.response): keyed by disk id."""
        if not files:
            return {}
        portal = self.db.execute("SELECT subdomain FROM accounts WHERE id=?", (self.account_id,)).fetchone()[0]
        base = f"https://{portal}.bitrix24.ru/disk"
        out: dict[str, Any] = {}
        for name, content in files:
            file_id = next_ids(db, self.account_id, "file")
            entry: dict[str, Any] = {"id": file_id, "date": self.now_iso(), "type": "file", "name": name,
                                     "size": len(content)}
            size = _image_size(content)
            if size:
                entry.update(type="image", image={"width": size[0], "height": size[1]})
            entry.update(authorId=int(_positive(author)), authorName=self._user_card(author)["name"],
                         urlPreview=f"{base}/showFile/{file_id}/?&ncc=1&width=640&height=640&filename={name}",
                         urlShow=f"{base}/showFile/{file_id}/?&ncc=1&filename={name}",
                         urlDownload=f"{base}/downloadFile/{file_id}/?&ncc=1&filename={name}")
            if not size:
                del entry["urlPreview"]
            out[str(file_id)] = entry
        return out

    def _write_comment(self, db, record: dict[str, Any]) -> None:
        db.execute("INSERT OR REPLACE INTO b24_timeline_comments (account_id, id, entity_type, entity_id, created, "
                   "data) VALUES (?, ?, ?, ?, ?, ?)",
                   (self.account_id, int(record["ID"]), record["ENTITY_TYPE"], int(record["ENTITY_ID"]),
                    record["CREATED"], json.dumps(record, ensure_ascii=False)))
        self.cost += self.WRITE_COST

    def _comment_row(self, comment_id: Any) -> dict[str, Any]:
        number = _positive(comment_id)
        if number is None:
            raise err.bad_id()
        row = self.db.execute("SELECT data FROM b24_timeline_comments WHERE account_id=? AND id=?",
                              (self.account_id, number)).fetchone()
        if row is None:
            raise err.legacy("Not found.")             # crm.timeline.comment.get's error example
        return json.loads(row[0])

    def comment_get(self, comment_id: Any) -> dict[str, Any]:
        self.cost += self.ROW_COST
        return self._comment_row(comment_id)

    def comment_update(self, comment_id: Any, fields: dict[str, Any]) -> int:
        record = self._comment_row(comment_id)
        if "COMMENT" in fields:
            if not str(fields["COMMENT"] or "").strip():
                raise err.invalid_arg("Empty comment")
            record["COMMENT"] = str(fields["COMMENT"])
        with self.store.transaction() as db:
            self._write_comment(db, record)
        return int(record["ID"])

    def comment_delete(self, comment_id: Any) -> bool:
        record = self._comment_row(comment_id)
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_timeline_comments WHERE account_id=? AND id=?",
                       (self.account_id, int(record["ID"])))
        self.cost += self.WRITE_COST
        return True

    def comment_list(self, params: dict[str, Any]):
        columns = {"ID": ("id", "int"), "ENTITY_ID": ("entity_id", "int"), "ENTITY_TYPE": ("entity_type", "text"),
                   "CREATED": ("created", "text")}
        kinds = {"AUTHOR_ID": "int", "COMMENT": "text"}
        result = self._generic_list("b24_timeline_comments", params, columns, json_kinds=kinds,
                                    default_order="id DESC", strict=False, exact=False)
        select = params.get("select") or params.get("SELECT") or []
        select = list(select.values()) if isinstance(select, dict) else select if isinstance(select, list) else []
        wanted = {str(s).upper() for s in select if s not in ("", None, "*")}
        if wanted:
            result.rows = [{k: v for k, v in r.items() if k in wanted or k == "ID"} for r in result.rows]
        return result

    def _user_card(self, user_id: Any) -> dict[str, str]:
        row = self.db.execute("SELECT data FROM b24_users WHERE account_id=? AND id=?",
                              (self.account_id, _positive(user_id) or 0)).fetchone()
        user = json.loads(row[0]) if row else {}
        name = " ".join(p for p in (user.get("NAME"), user.get("LAST_NAME")) if p) or f"#{user_id}"
        return {"id": str(user_id), "name": name, "link": f"/company/personal/user/{user_id}/",
                "icon": "/bitrix/images/tasks/default_avatar.png", "workPosition": user.get("WORK_POSITION", "")}
