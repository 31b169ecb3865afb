"""What a manager writes into the CRM besides the records: activities («дела»), timeline comments, tasks.

`TimelineMixin` is part of `models.Portal` (it uses the portal's store, account, clock, user and cost).
Shapes follow the docs' examples (reference fixtures `crm.activity.*`, `crm.timeline.comment.list`,
`tasks.task.*`) and the method pages of the official docs (apidocs.bitrix24.com, repository
bitrix24/b24restdocs): ``crm.activity.todo.add`` answers ``{"id": N}``; ``crm.timeline.comment.add`` and
``.update`` answer the comment's id; ``tasks.task.add``/``.get``/``.update`` answer ``{"task": {...}}``;
``tasks.task.result.list`` a list of results.

Activities keep the legacy dialect (UPPER_CASE keys, every value a string or null). Completion is
``COMPLETED`` Y/N with ``STATUS`` 2 (completed) or 1 (waiting); the outcome fields are the ``RESULT_*``
members of the records the docs print. Calls carry ``DIRECTION`` 1 (incoming) or 2 (outgoing).

Tasks keep the dialect of ``tasks.task.*``: camelCase keys, ids and numbers as strings. Status codes
(docs, task fields): 2 pending, 3 in progress, 4 awaiting control, 5 completed, 6 deferred. Reaching 5
stamps ``closedDate``/``closedBy``; leaving it clears them. A task's results (``tasks.task.result.list``)
live with the task; ``taskHasResult``/``taskHasOpenResult`` are computed from them. Where the docs are
silent (each marked [inference]): ``SE_PARAMETER`` code 3 (“do not complete without a result”) is stored
as ``taskRequireResult`` but completing such a task without a result is not refused (the refusal text
is undocumented); a result is closed (status 1) once its task is completed.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24.naming import snake_to_camel
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
TASK_STATUSES = {"2", "3", "4", "5", "6"}    # pending, in progress, awaiting control, completed, deferred
TASK_DONE = "5"
USER_FIELD = re.compile(r"^UF_")


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


def _positive(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


class TimelineMixin:
    """Activities, timeline comments and tasks of one portal (mixed into `models.Portal`)."""

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

    # --- tasks (tasks.task.*) --------------------------------------------------------------------------------
    def _user_card(self, user_id: Any) -> dict[str, str]:
        row = self.db.execute("SELECT data FROM b24_users WHERE account_id=? AND id=?",
                              (self.account_id, _positive(user_id) or 0)).fetchone()
        user = json.loads(row[0]) if row else {}
        name = " ".join(p for p in (user.get("NAME"), user.get("LAST_NAME")) if p) or f"#{user_id}"
        return {"id": str(user_id), "name": name, "link": f"/company/personal/user/{user_id}/",
                "icon": "/bitrix/images/tasks/default_avatar.png", "workPosition": user.get("WORK_POSITION", "")}

    def _task_row(self, task_id: Any) -> dict[str, Any]:
        number = _positive(task_id)
        if number is None:
            raise err.B24Error("wrong task id", code="0")                    # tasks.task.get error table
        row = self.db.execute("SELECT data FROM b24_tasks WHERE account_id=? AND id=?",
                              (self.account_id, number)).fetchone()
        if row is None:
            raise err.B24Error("Access denied.", code="0")    # the docs: no access or no such task, one answer
        return json.loads(row[0])

    def _task_fields(self, task: dict[str, Any], fields: dict[str, Any], *, creating: bool) -> None:
        names = {str(k).upper(): v for k, v in fields.items() if not str(k).startswith("UF_")}
        if creating or "TITLE" in names:
            if not str(names.get("TITLE") or "").strip():
                raise err.core("Task title not specified<br>")
        if creating or "RESPONSIBLE_ID" in names:
            if names.get("RESPONSIBLE_ID") in (None, ""):
                raise err.core("Assignee not specified<br>")
            if not self._user_exists(names["RESPONSIBLE_ID"]):
                raise err.core('User specified in the "Assignee" field not found<br>')
        if "STATUS" in names and str(names["STATUS"]) not in TASK_STATUSES:
            raise err.core("Invalid status<br>")
        now, user = self.now_iso(), str(self.user_id)
        simple = {"TITLE": "title", "DESCRIPTION": "description", "PRIORITY": "priority", "GROUP_ID": "groupId",
                  "CREATED_BY": "createdBy", "RESPONSIBLE_ID": "responsibleId", "PARENT_ID": "parentId",
                  "MARK": "mark", "TIME_ESTIMATE": "timeEstimate"}
        for name, key in simple.items():
            if name in names:
                task[key] = _text(names[name])
        for name, key in (("DEADLINE", "deadline"), ("START_DATE_PLAN", "startDatePlan"),
                          ("END_DATE_PLAN", "endDatePlan")):
            if name in names:
                task[key] = portal_time(names[name])
        for name, key in (("AUDITORS", "auditors"), ("ACCOMPLICES", "accomplices")):
            if name in names:
                values = names[name] if isinstance(names[name], list) else [names[name]]
                task[key] = [str(v) for v in values if _positive(v)]
        if "TAGS" in names:
            values = names["TAGS"] if isinstance(names["TAGS"], list) else str(names["TAGS"]).split(",")
            task["tags"] = {}
            for title in (str(v).strip() for v in values if str(v).strip()):
                tag_id = self._tag_id(title)
                task["tags"][str(tag_id)] = {"id": tag_id, "title": title}
        if "UF_TASK_WEBDAV_FILES" in fields:     # disk files attached as "n<disk id>" (tasks.task.add's example)
            values = fields["UF_TASK_WEBDAV_FILES"]
            task["ufTaskWebdavFiles"] = [int(str(v).lstrip("n")) for v in (values if isinstance(values, list)
                                                                          else [values]) if str(v).lstrip("n").isdigit()]
        if "UF_CRM_TASK" in fields:
            values = fields["UF_CRM_TASK"]
            task["ufCrmTask"] = [str(v) for v in (values if isinstance(values, list) else [values]) if v]
        for param in names.get("SE_PARAMETER") or []:
            if isinstance(param, dict) and str(param.get("CODE")) == "3":
                task["taskRequireResult"] = _flag(param.get("VALUE"))
        if "STATUS" in names and str(names["STATUS"]) != task.get("status"):
            self._set_task_status(task, str(names["STATUS"]))
        task["changedBy"], task["changedDate"], task["activityDate"] = user, now, now

    def _tag_id(self, title: str) -> int:
        """A tag's id: one per title in the portal (tags are shared between tasks)."""
        for row in self.db.execute("SELECT data FROM b24_tasks WHERE account_id=? AND data LIKE ?",
                                   (self.account_id, f"%{json.dumps(title)[1:-1]}%")):
            for tag in (json.loads(row[0]).get("tags") or {}).values():
                if tag["title"] == title:
                    return tag["id"]
        with self.store.transaction() as db:
            return next_ids(db, self.account_id, "tag")

    def _set_task_status(self, task: dict[str, Any], status: str) -> None:
        now, user = self.now_iso(), str(self.user_id)
        task["status"], task["statusChangedBy"], task["statusChangedDate"] = status, user, now
        task["subStatus"] = status
        if status == TASK_DONE:
            task["closedBy"], task["closedDate"] = user, now
            for result in task.get("_results", []):
                result["status"] = 1            # a result closes with its task (tasks.task.result.list)
        else:
            task["closedBy"] = task["closedDate"] = None

    def _write_task(self, db, task: dict[str, Any]) -> None:
        db.execute("INSERT OR REPLACE INTO b24_tasks (account_id, id, data) VALUES (?, ?, ?)",
                   (self.account_id, int(task["id"]), json.dumps(task, ensure_ascii=False)))
        self.cost += self.WRITE_COST

    def task_add(self, fields: Any) -> dict[str, Any]:
        if not isinstance(fields, dict) or not fields:
            raise err.B24Error("Could not find value for parameter {fields} (internal error)", code="100")
        now, user = self.now_iso(), str(self.user_id)
        task = new_task(0, created_by=user, at=now)
        self._task_fields(task, fields, creating=True)
        with self.store.transaction() as db:
            task["id"] = str(next_ids(db, self.account_id, "task"))
            task["guid"] = task_guid(int(task["id"]), task["createdDate"])
            self._write_task(db, task)
        return {"task": self.present_task(task, [])}

    def task_get(self, task_id: Any, select: Any) -> dict[str, Any]:
        if select is not None and not isinstance(select, list):
            raise err.B24Error("Invalid value {} to match with parameter {select}. Should be value of type array. "
                               "(internal error)", code="100")
        self.cost += self.ROW_COST
        return {"task": self.present_task(self._task_row(task_id), select or [], single=True)}

    def task_update(self, task_id: Any, fields: Any) -> dict[str, Any]:
        if not isinstance(fields, dict) or not fields:
            raise err.B24Error("Could not find value for parameter {fields} (internal error)", code="100")
        task = self._task_row(task_id)
        self._task_fields(task, fields, creating=False)
        with self.store.transaction() as db:
            self._write_task(db, task)
        return {"task": self.present_task(task, [])}

    def task_set_status(self, task_id: Any, status: str) -> dict[str, Any]:
        """tasks.task.complete / .renew / .start / .defer: the status change alone."""
        task = self._task_row(task_id)
        self._set_task_status(task, status)
        task["changedBy"], task["changedDate"] = str(self.user_id), self.now_iso()
        with self.store.transaction() as db:
            self._write_task(db, task)
        return {"task": self.present_task(task, [])}

    def task_results(self, task_id: Any) -> list[dict[str, Any]]:
        number = _positive(task_id)
        if number is None:
            raise err.B24Error(f"Invalid value {task_id} to match with parameter {{taskId}}. Should be value of "
                               "type int.", code="100")
        task = self._task_row(number)
        self.cost += self.ROW_COST
        return sorted(task.get("_results", []), key=lambda r: -r["id"])

    def task_comment_add(self, params: dict[str, Any]) -> int:
        """task.commentitem.add (TASKID, FIELDS{POST_MESSAGE}): named or positional parameters, as the old
        task.* methods take them (reference §2: task.commentitem.add?0=123&1[POST_MESSAGE]=test)."""
        upper = {str(k).upper(): v for k, v in params.items()}
        task = self._task_row(upper.get("TASKID", upper.get("0")))
        fields = upper.get("FIELDS", upper.get("1"))
        fields = {str(k).upper(): v for k, v in fields.items()} if isinstance(fields, dict) else {}
        text = str(fields.get("POST_MESSAGE") or "").strip()
        if not text:
            raise err.B24Error("Comment text is empty", code="ERROR_CORE")        # [unverified] text
        author = fields.get("AUTHOR_ID") if self._user_exists(fields.get("AUTHOR_ID")) else self.user_id
        with self.store.transaction() as db:
            comment_id = next_ids(db, self.account_id, "taskcomment")
            task.setdefault("_comments", []).append({"id": comment_id, "authorId": int(_positive(author)),
                                                     "text": text, "date": self.now_iso()})
            task["commentsCount"] = str(len(task["_comments"]))
            self._write_task(db, task)
        return comment_id

    def _task_of_comment(self, comment_id: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        number = _positive(comment_id)
        if number is None:
            raise err.B24Error(f"Invalid value {comment_id} to match with parameter {{commentId}}. Should be value "
                               "of type int.", code="100")
        row = self.db.execute("SELECT b24_tasks.data FROM b24_tasks, json_each(b24_tasks.data, '$._comments') AS c "
                              "WHERE b24_tasks.account_id=? AND json_extract(c.value, '$.id')=?",
                              (self.account_id, number)).fetchone()
        if row is None:
            raise err.B24Error("Comment not found.", code="0")        # tasks.task.result.addFromComment's example
        task = json.loads(row[0])
        return task, next(c for c in task["_comments"] if c["id"] == number)

    def task_result_from_comment(self, comment_id: Any) -> dict[str, Any]:
        """tasks.task.result.addFromComment: pin a comment as the task's result; its answer prints files null."""
        task, comment = self._task_of_comment(comment_id)
        results = task.setdefault("_results", [])
        if any(r["commentId"] == comment["id"] and r["status"] == 0 for r in results):
            raise err.B24Error("Result already exists.", code="0")
        with self.store.transaction() as db:
            result = task_result(next_ids(db, self.account_id, "taskresult"), int(task["id"]),
                                 author=str(self.user_id), at=self.now_iso(), text=comment["text"],
                                 closed=task["status"] == TASK_DONE, comment_id=comment["id"])
            results.append(result)
            self._write_task(db, task)
        return {**result, "files": None}

    def present_task(self, task: dict[str, Any], select: list[Any], *, single: bool = False,
                     params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A task as tasks.task.* print it: the stored members (no select: all; else the selected ones, the
        upper-case names mapped to camelCase) and the members the docs' examples print with them."""
        stored = {k: v for k, v in task.items() if not k.startswith("_")}
        wanted = [str(s) for s in select if s not in ("", None, "*")]
        if not wanted:
            out = dict(stored)
            out.update(creator=self._user_card(task["createdBy"]), responsible=self._user_card(task["responsibleId"]),
                       accomplicesData=[self._user_card(u) for u in task["accomplices"]] or [],
                       auditorsData={u: self._user_card(u) for u in task["auditors"]} or [],
                       action=dict(TASK_ACTIONS))
        else:
            out = {"id": task["id"]}
            for name in wanted:
                key = {"COUNTERS": "counter", "TAGS": "tags"}.get(name.upper(), snake_to_camel(name)
                                                                  if name.isupper() else name)
                if USER_FIELD.match(name):
                    out.update({k: v for k, v in stored.items() if k.startswith("uf")})
                elif key == "counter":
                    out["counter"] = {"counters": {"expired": 0, "newComments": 0, "projectExpired": 0,
                                                   "projectNewComments": 0, "mutedExpired": 0, "mutedNewComments": 0},
                                      "color": "gray", "value": 0}
                elif key in stored or key == "tags":
                    out[key] = stored.get(key, [])
                if key == "description":
                    out["descriptionInBbcode"] = stored["descriptionInBbcode"]
                if key == "deadline":
                    out["lengthDeadline"] = "1" if stored.get("deadline") else "0"   # [inference]
                if key == "createdBy":
                    out["creator"] = self._user_card(task["createdBy"])
                if key == "responsibleId":
                    out["responsible"] = self._user_card(task["responsibleId"])
                if key == "accomplices":
                    out["accomplicesData"] = [self._user_card(u) for u in task["accomplices"]] or []
                if key == "auditors":
                    out["auditorsData"] = {u: self._user_card(u) for u in task["auditors"]} or []
            out["group"] = []
            if single:
                out.update(favorite=stored.get("favorite", "N"), action=dict(TASK_ACTIONS))
        params = {str(k).upper(): v for k, v in (params or {}).items()}
        if _flag(params.get("WITH_RESULT_INFO")) == "Y":
            results = task.get("_results", [])
            out.update(taskRequireResult=task.get("taskRequireResult", "N"),
                       taskHasOpenResult="Y" if any(r["status"] == 0 for r in results) else "N",
                       taskHasResult="Y" if results else "N")
        if _flag(params.get("WITH_TIMER_INFO")) == "Y":
            out.update(timeElapsed=None, timerIsRunningForCurrentUser="N")
        if _flag(params.get("WITH_PARSED_DESCRIPTION")) == "Y":
            out["parsedDescription"] = task.get("description", "")
        return out


TASK_ACTIONS = {"accept": False, "decline": False, "complete": True, "approve": False, "disapprove": False,
                "start": True, "pause": False, "delegate": True, "remove": True, "edit": True, "defer": True,
                "renew": False, "create": True, "changeDeadline": True, "checklistAddItems": True, "addFavorite": True,
                "deleteFavorite": False, "rate": True, "take": False, "edit.originator": False,
                "checklist.reorder": True, "elapsedtime.add": True, "dayplan.timer.toggle": False, "edit.plan": True,
                "checklist.add": True, "favorite.add": True, "favorite.delete": False}


def new_task(task_id: int, *, created_by: str, at: str) -> dict[str, Any]:
    """Every member tasks.task.add prints for a new task (tasks.task.add's response example)."""
    return {"id": str(task_id), "parentId": None, "title": "", "description": "", "mark": "", "priority": "1",
            "multitask": "N", "notViewed": "N", "replicate": "N", "stageId": "0", "createdBy": created_by,
            "createdDate": at, "responsibleId": created_by, "changedBy": created_by, "changedDate": at,
            "statusChangedBy": None, "closedBy": None, "closedDate": None, "activityDate": at, "dateStart": None,
            "deadline": None, "startDatePlan": None, "endDatePlan": None,
            "guid": task_guid(task_id, at), "xmlId": None,
            "commentsCount": None, "serviceCommentsCount": None, "allowChangeDeadline": "N", "allowTimeTracking": "N",
            "taskControl": "N", "addInReport": "N", "forkedByTemplateId": None, "timeEstimate": "0",
            "timeSpentInLogs": None, "matchWorkTime": "N", "forumTopicId": None, "forumId": None, "siteId": "s1",
            "subordinate": "Y", "exchangeModified": None, "exchangeId": None, "outlookVersion": "1",
            "viewedDate": None, "sorting": None, "durationFact": None, "isMuted": "N", "isPinned": "N",
            "isPinnedInGroup": "N", "flowId": None, "descriptionInBbcode": "Y", "status": "2",
            "statusChangedDate": at, "durationPlan": None, "durationType": "days", "favorite": "N", "groupId": "0",
            "auditors": [], "accomplices": [], "checklist": [], "newCommentsCount": 0,
            "checkListTree": {"nodeId": 0, "fields": {"id": None, "copiedId": None, "entityId": None, "userId": 1,
                                                      "createdBy": None, "parentId": None, "title": "",
                                                      "sortIndex": None, "displaySortIndex": "", "isComplete": False,
                                                      "isImportant": False, "completedCount": 0, "members": [],
                                                      "attachments": []},
                              "action": [], "descendants": []},
            "checkListCanAdd": True, "subStatus": "2", "tags": [], "taskRequireResult": "N", "ufCrmTask": [],
            "ufTaskWebdavFiles": [], "ufMailMessage": None, "_results": []}


def task_guid(task_id: int, at: str) -> str:
    """A task's GUID, braces included as printed; derived from its id and creation time, so a seed repeats."""
    return "{%s}" % uuid.uuid5(uuid.NAMESPACE_URL, f"bitrix24-task:{task_id}:{at}")


def task_result(result_id: int, task_id: int, *, author: str, at: str, text: str, closed: bool,
                comment_id: int) -> dict[str, Any]:
    """One result as tasks.task.result.list prints it (real numbers, unlike the task itself); the formatted
    text turns BBCode bold into HTML, as the list's example shows."""
    formatted = re.sub(r"\[B\](.*?)\[/B\]", r"<b>\1</b>", text, flags=re.I | re.S)
    return {"id": result_id, "taskId": task_id, "commentId": comment_id, "createdBy": int(author), "createdAt": at,
            "updatedAt": at, "status": 1 if closed else 0, "text": text, "formattedText": formatted, "files": []}
