"""Findings → tasks in the CRM, on the responsible user: the curator's feedback that reaches the seller.

One task per failing record and check, with the check's "how to fix" text,
due in `--due`. A plan first (what would be created and closed); nothing
is written without `yes`. Every task made is remembered in the tenant's
`assignments.sqlite` (check, record → CRM task id), so a second run creates
nothing for a finding that already has an open task, and `close_fixed`
closes the tasks of findings the last audit no longer reports.

Before planning, the remembered open tasks are read back from the CRM
(`TaskWriter.completed`: reads only, also in a plan): a task the seller
completed (or deleted) there is no longer open. Its finding, if the audit
still reports it, gets a new task; either way the plan lists it as closed
by the seller, and `--yes` records it closed. A blueprint with
`audit: {assign: false}` makes the command refuse before anything is read
or written (commands/audit.py).

Where a task goes: a deal, contact or company finding on that record; a
task finding (an overdue task, say) on the record that task belongs to. A
finding on a user or a field has no record to carry a task, and a record
with no active responsible user has nobody to give it to: both are listed
as skipped, with the reason.

Writers: amoCRM `POST /api/v4/tasks` (≤ 50 a request) and `PATCH
/api/v4/tasks` with `is_completed` and a result to close; Bitrix24
`crm.activity.todo.add` (a to-do on the CRM record, in `batch` calls of
50) and `crm.activity.update` with `COMPLETED=Y` to close. Both go through
the tenant's HTTP client, so its rate limit holds.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from implkit.lang import say_in
from implkit.audit.engine import AuditRun
from implkit.audit.words import word

ASSIGNMENTS_FILE = "assignments.sqlite"
OWNER_ENTITIES = ("leads", "contacts", "companies")
# Checks a task on the record itself satisfies (D01: an open deal with no open task; C07: a contact with no
# deal, task or note): the task implkit made would hide the finding, and closing it as "fixed" would bring
# it back on the next audit. Their records are listed as skipped, for the curator to hand over in person.
HIDDEN_BY_A_TASK = frozenset({"D01", "C07"})
AMO_BATCH = 50
SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
    check_id TEXT NOT NULL, entity TEXT NOT NULL, record_id TEXT NOT NULL,
    task_id TEXT NOT NULL, owner_entity TEXT NOT NULL, owner_id INTEGER NOT NULL,
    responsible_user_id INTEGER, created_at INTEGER NOT NULL, closed_at INTEGER,
    PRIMARY KEY (check_id, entity, record_id, task_id)
);
CREATE INDEX IF NOT EXISTS assignments_open ON assignments (closed_at);
"""
MESSAGES: dict[str, dict[str, str]] = {
    "text": {"ru": "Аудит CRM, {check} «{title}»: {what}. Что сделать: {fix}",
             "en": "CRM audit, {check} «{title}»: {what}. Fix: {fix}"},
    "what": {"ru": "{entity} {id}", "en": "{entity} {id}"},
    "value": {"ru": " (значение: {value})", "en": " (value: {value})"},
    "closed": {"ru": "Исправлено: аудит больше не находит нарушения.", "en": "Fixed: the audit no longer finds it."},
    "columns": {"ru": "действие|проверка|запись|ответственный|задача", "en": "action|check|record|responsible|task"},
    "create": {"ru": "создать", "en": "create"},
    "close": {"ru": "закрыть", "en": "close"},
    "skip": {"ru": "пропустить", "en": "skip"},
    "no_record": {"ru": "у записи этого типа нет карточки для задачи", "en": "no record card to carry a task"},
    "no_owner": {"ru": "задача без родительской записи", "en": "the task has no parent record"},
    "no_user": {"ru": "нет активного ответственного", "en": "no active responsible user"},
    "hidden": {"ru": "задача от аудита сама скрыла бы нарушение", "en": "a task from the audit would itself hide it"},
    "summary": {"ru": "Создать задач: {create}, закрыть: {close}, уже есть открытая задача: {open}, пропущено: {skip}.",
                "en": "Tasks to create: {create}, to close: {close}, already open: {open}, skipped: {skip}."},
    "applied": {"ru": "Создано задач: {create}, закрыто: {close}.", "en": "Tasks created: {create}, closed: {close}."},
    "hint": {"ru": "Ничего не записано; чтобы создать задачи: --yes.", "en": "Nothing written; to create the tasks: --yes."},
    "by_seller": {"ru": "закрыта в CRM", "en": "closed in the CRM"},
    "by_seller_again": {"ru": "закрыта в CRM, нарушение осталось: новая задача",
                        "en": "closed in the CRM, still failing: a new task"},
    "by_seller_fixed": {"ru": "закрыта в CRM, нарушение исправлено", "en": "closed in the CRM, fixed"},
    "seller_summary": {"ru": "Закрыто продавцами в CRM: {count} (из них нарушение осталось: {again}).",
                       "en": "Closed by the sellers in the CRM: {count} (still failing: {again})."},
    "refused_head": {"ru": "задачи не созданы: блюпринт тенанта это запрещает",
                     "en": "no tasks: the tenant's blueprint forbids them"},
    "refused": {"ru": "false — задачи по находкам в эту CRM не ставятся",
                "en": "false: no tasks are created in this CRM"},
}


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


@dataclass
class Assignment:
    check_id: str
    entity: str
    record_id: Any
    owner_entity: str | None
    owner_id: int | None
    responsible_user_id: int | None
    responsible: str | None
    text: str
    reason: str | None = None  # why it is skipped


@dataclass
class AssignPlan:
    create: list[Assignment] = field(default_factory=list)
    close: list[dict[str, Any]] = field(default_factory=list)
    already_open: int = 0
    skipped: list[Assignment] = field(default_factory=list)
    # remembered tasks the CRM reports completed or gone: the seller closed them; `still_failing` says
    # whether the audit still reports the finding (then `create` holds its new task)
    closed_by_seller: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.create or self.close)


class AssignmentStore:
    """The tasks implkit made for findings, per tenant."""

    def __init__(self, path: str | Path):
        from implkit.files import private_file

        private_file(path)  # 0600 before SQLite opens it (its -wal/-shm inherit the mode)
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def open_tasks(self) -> list[dict[str, Any]]:
        keys = ("check_id", "entity", "record_id", "task_id", "owner_entity", "owner_id", "responsible_user_id")
        return [dict(zip(keys, row)) for row in self.db.execute(
            f"SELECT {', '.join(keys)} FROM assignments WHERE closed_at IS NULL ORDER BY check_id, entity, record_id")]

    def add(self, a: Assignment, task_id: Any, at: int) -> None:
        self.db.execute("INSERT INTO assignments VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                        (a.check_id, a.entity, str(a.record_id), str(task_id), a.owner_entity, a.owner_id,
                         a.responsible_user_id, at))

    def mark_closed(self, row: dict[str, Any], at: int) -> None:
        self.db.execute("UPDATE assignments SET closed_at = ? WHERE check_id = ? AND entity = ? AND record_id = ?"
                        " AND task_id = ?", (at, row["check_id"], row["entity"], row["record_id"], row["task_id"]))


def plan_assignments(run: AuditRun, snapshot: Any, store: AssignmentStore, *, lang: str = "ru",
                     close_fixed: bool = False, closed_in_crm: set[str] = frozenset()) -> AssignPlan:
    """What to create (one task per failing record and check with no open task yet) and, with
    `close_fixed`, which open tasks to close (their check ran and no longer reports the record).
    `closed_in_crm`: ids of remembered tasks the CRM no longer has open (read back by the caller)."""
    db = snapshot.db
    users = {uid: (name, bool(active)) for uid, name, active in db.execute("SELECT id, name, is_active FROM users")}
    remembered = store.open_tasks()
    seller_closed = [r for r in remembered if str(r["task_id"]) in closed_in_crm]
    opened = {(r["check_id"], r["entity"], r["record_id"]) for r in remembered
              if str(r["task_id"]) not in closed_in_crm}
    plan = AssignPlan()
    failing_now: dict[str, set[tuple[str, str]]] = {}
    for result in run.results:
        if not result.ran:
            continue
        failing_now[result.check.id] = {(ref.entity, str(ref.id)) for ref in result.failing}
        check = result.check
        title = check.title.get(lang) or check.title["en"]
        fix = check.fix.get(lang) or check.fix["en"]
        for ref in result.failing:
            if (check.id, ref.entity, str(ref.id)) in opened:
                plan.already_open += 1
                continue
            owner_entity, owner_id, reason = _owner(db, ref.entity, ref.id)
            if check.id in HIDDEN_BY_A_TASK:
                reason = "hidden"
            name, active = users.get(ref.responsible_user_id, (None, False))
            what = msg("what", lang, entity=word(ref.entity, lang), id=ref.id) + (
                msg("value", lang, value=ref.value) if ref.value not in (None, "") else "")
            item = Assignment(check.id, ref.entity, ref.id, owner_entity, owner_id, ref.responsible_user_id, name,
                              msg("text", lang, check=check.id, title=title, what=what, fix=fix))
            if reason is None and not (ref.responsible_user_id and active):
                reason = "no_user"
            if reason:
                item.reason = msg(reason, lang)
                plan.skipped.append(item)
            else:
                plan.create.append(item)
    for row in seller_closed:
        now = failing_now.get(row["check_id"])
        failing = now is not None and (row["entity"], row["record_id"]) in now
        plan.closed_by_seller.append({**row, "still_failing": failing})
    if close_fixed:
        for row in remembered:
            now = failing_now.get(row["check_id"])
            if str(row["task_id"]) not in closed_in_crm and now is not None and \
                    (row["entity"], row["record_id"]) not in now:
                plan.close.append(row)
    return plan


def _owner(db: Any, entity: str, record_id: Any) -> tuple[str | None, int | None, str | None]:
    """(entity, id) of the card a finding's task goes on, or a reason it has none."""
    if entity in OWNER_ENTITIES:
        return entity, int(record_id), None
    if entity == "tasks":
        row = db.execute("SELECT entity_type, entity_id FROM tasks WHERE id = ?", (record_id,)).fetchone()
        if row is None or row[0] not in OWNER_ENTITIES or not row[1]:
            return None, None, "no_owner"
        return row[0], int(row[1]), None
    return None, None, "no_record"


# --- writers ---------------------------------------------------------------------------------------

class TaskWriter(Protocol):
    def create(self, items: list[Assignment], due: int) -> list[Any]: ...

    def close(self, rows: list[dict[str, Any]], text: str) -> None: ...

    def completed(self, task_ids: list[str]) -> set[str]:
        """Of these task ids, those the CRM no longer has open: completed, or deleted (not found). Reads only."""
        ...


READ_BACK_CHUNK = 50  # ids a request: filter[id][] fifty times keeps an amoCRM URL short; a Bitrix24 list page


class AmoTaskWriter:
    """amoCRM: POST /api/v4/tasks, PATCH /api/v4/tasks (is_completed + result) — the HttpClient's limiter paces them."""

    TASK_TYPE_CALL = 1  # «Связаться»: the type every amoCRM account has

    def __init__(self, http: Any):
        self.http = http

    def create(self, items: list[Assignment], due: int) -> list[Any]:
        body = [{"text": a.text, "complete_till": due, "entity_type": a.owner_entity, "entity_id": a.owner_id,
                 "responsible_user_id": a.responsible_user_id, "task_type_id": self.TASK_TYPE_CALL,
                 "request_id": str(i)} for i, a in enumerate(items)]
        answer = self.http.post("/api/v4/tasks", json=body) or {}
        made = (answer.get("_embedded") or {}).get("tasks") or []
        by_request = {str(t.get("request_id")): t["id"] for t in made}
        return [by_request.get(str(i), made[i]["id"] if i < len(made) else None) for i in range(len(items))]

    def close(self, rows: list[dict[str, Any]], text: str) -> None:
        self.http.patch("/api/v4/tasks", json=[{"id": int(r["task_id"]), "is_completed": True,
                                                "result": {"text": text}} for r in rows])

    def completed(self, task_ids: list[str]) -> set[str]:
        still_open: set[str] = set()
        for start in range(0, len(task_ids), READ_BACK_CHUNK):
            chunk = task_ids[start:start + READ_BACK_CHUNK]
            data = self.http.get("/api/v4/tasks", [("limit", 250), *(("filter[id][]", int(i)) for i in chunk)]) or {}
            still_open |= {str(t["id"]) for t in (data.get("_embedded") or {}).get("tasks") or ()
                           if not t.get("is_completed")}
        return {str(i) for i in task_ids} - still_open


B24_OWNER_TYPES = {"leads": 2, "contacts": 3, "companies": 4}  # CRM entity type ids: deal, contact, company


class B24TodoWriter:
    """Bitrix24: crm.activity.todo.add (a to-do on the CRM record), crm.activity.update COMPLETED=Y to close;
    in batches, paced by the API's rate limiter and operating budget."""

    def __init__(self, api: Any):
        self.api = api

    def create(self, items: list[Assignment], due: int) -> list[Any]:
        from implkit.providers.bitrix24.transport import Command

        deadline = datetime.fromtimestamp(due, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        commands = [Command(f"t{i}", "crm.activity.todo.add", {
            "ownerTypeId": B24_OWNER_TYPES[a.owner_entity], "ownerId": a.owner_id, "deadline": deadline,
            "title": a.text.split(":", 1)[0][:250], "description": a.text, "responsibleId": a.responsible_user_id})
            for i, a in enumerate(items)]
        answer = self.api.batch(commands, write=True)
        out = []
        for i in range(len(items)):
            result = answer.results.get(f"t{i}")
            out.append(result.get("id") if isinstance(result, dict) else result)
        return out

    def close(self, rows: list[dict[str, Any]], text: str) -> None:
        from implkit.providers.bitrix24.transport import Command

        self.api.batch([Command(f"c{i}", "crm.activity.update", {"id": int(r["task_id"]),
                                                                 "fields": {"COMPLETED": "Y"}})
                        for i, r in enumerate(rows)], write=True)

    def completed(self, task_ids: list[str]) -> set[str]:
        from implkit.providers.bitrix24.transport import Command

        chunks = [task_ids[s:s + READ_BACK_CHUNK] for s in range(0, len(task_ids), READ_BACK_CHUNK)]
        if not chunks:
            return set()
        answer = self.api.batch([Command(f"r{k}", "crm.activity.list", {
            "filter": {"@ID": [int(i) for i in chunk]}, "select": ["ID", "COMPLETED"], "start": -1})
            for k, chunk in enumerate(chunks)])
        for error in answer.errors.values():
            raise error
        still_open = {str(a["ID"]) for k in range(len(chunks)) for a in answer.results.get(f"r{k}") or ()
                      if a.get("COMPLETED") != "Y"}
        return {str(i) for i in task_ids} - still_open


def apply_plan(plan: AssignPlan, store: AssignmentStore, writer: TaskWriter, *, due: int, at: int,
               lang: str = "ru") -> tuple[int, int]:
    """Record the tasks the sellers closed, then create and close; each chunk is recorded as soon as the
    CRM answers, so a run cut short is finished by running it again without creating a task twice for
    what was recorded."""
    record_closed_by_seller(plan, store, at)
    created = 0
    for start in range(0, len(plan.create), AMO_BATCH):
        chunk = plan.create[start:start + AMO_BATCH]
        ids = writer.create(chunk, due)
        store.db.execute("BEGIN")
        for item, task_id in zip(chunk, ids):
            if task_id is not None:
                store.add(item, task_id, at)
                created += 1
        store.db.execute("COMMIT")
    for start in range(0, len(plan.close), AMO_BATCH):
        chunk = plan.close[start:start + AMO_BATCH]
        writer.close(chunk, msg("closed", lang))
        store.db.execute("BEGIN")
        for row in chunk:
            store.mark_closed(row, at)
        store.db.execute("COMMIT")
    return created, len(plan.close)


def record_closed_by_seller(plan: AssignPlan, store: AssignmentStore, at: int) -> None:
    """Remembered tasks the CRM reports closed are closed in the store too (nothing is sent)."""
    store.db.execute("BEGIN")
    for row in plan.closed_by_seller:
        store.mark_closed(row, at)
    store.db.execute("COMMIT")


def render_plan(plan: AssignPlan, lang: str, fmt: str = "table") -> str:
    import json

    from tabulate import tabulate

    if fmt == "json":
        def item(a: Assignment) -> dict[str, Any]:
            return {"check": a.check_id, "entity": a.entity, "id": a.record_id, "on": [a.owner_entity, a.owner_id],
                    "responsible_user_id": a.responsible_user_id, "responsible": a.responsible, "text": a.text,
                    **({"reason": a.reason} if a.reason else {})}
        return json.dumps({"create": [item(a) for a in plan.create], "close": plan.close,
                           "already_open": plan.already_open, "skipped": [item(a) for a in plan.skipped],
                           "closed_by_seller": plan.closed_by_seller}, ensure_ascii=False, indent=2) + "\n"
    rows = [[msg("create", lang), a.check_id, f"{word(a.entity, lang)}:{a.record_id}", a.responsible or "",
             _short(a.text)] for a in plan.create]
    rows += [[msg("close", lang), r["check_id"], f"{word(r['entity'], lang)}:{r['record_id']}", "",
              r["task_id"]] for r in plan.close]
    rows += [[msg("skip", lang), a.check_id, f"{word(a.entity, lang)}:{a.record_id}", a.responsible or "",
              a.reason] for a in plan.skipped]
    rows += [[msg("by_seller", lang), r["check_id"], f"{word(r['entity'], lang)}:{r['record_id']}", "",
              f"{r['task_id']}: " + msg("by_seller_again" if r["still_failing"] else "by_seller_fixed", lang)]
             for r in plan.closed_by_seller]
    out = [tabulate(rows, headers=msg("columns", lang).split("|"), tablefmt="simple")] if rows else []
    out.append(msg("summary", lang, create=len(plan.create), close=len(plan.close), open=plan.already_open,
                   skip=len(plan.skipped)))
    if plan.closed_by_seller:
        out.append(msg("seller_summary", lang, count=len(plan.closed_by_seller),
                       again=sum(r["still_failing"] for r in plan.closed_by_seller)))
    return "\n".join(out) + "\n"


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
