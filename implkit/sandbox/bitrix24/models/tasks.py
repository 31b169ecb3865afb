"""Tasks (``tasks.task.*``) of one portal, with their comments and results.

Tasks keep the dialect of ``tasks.task.*``: camelCase keys, ids and numbers as strings. Status codes
(docs, task fields): 2 pending, 3 in progress, 4 awaiting control, 5 completed, 6 deferred. Reaching 5
stamps ``closedDate``/``closedBy``; leaving it clears them. A task's results (``tasks.task.result.list``)
live with the task; ``taskHasResult``/``taskHasOpenResult`` are computed from them. Where the docs are
silent (each marked [inference]): ``SE_PARAMETER`` code 3 (“do not complete without a result”) is stored
as ``taskRequireResult`` but completing such a task without a result is not refused (the refusal text
is undocumented); a result is closed (status 1) once its task is completed.

`TasksMixin` is part of `models.Portal`; a task's people are shown by `timeline.TimelineMixin._user_card`.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24.naming import snake_to_camel
from implkit.sandbox.bitrix24.portal import next_ids
from implkit.sandbox.bitrix24.models.base import positive_id as _positive
from implkit.sandbox.bitrix24.models.timeline import _flag, _text, portal_time

TASK_STATUSES = {"2", "3", "4", "5", "6"}    # pending, in progress, awaiting control, completed, deferred
TASK_DONE = "5"
USER_FIELD = re.compile(r"^UF_")


class TasksMixin:
    """Tasks, their comments and results (mixed into `models.Portal`)."""

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
