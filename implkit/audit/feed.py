"""The event feed of a period (the report set of seeds/002, «Лента событий»): what happened in the CRM,
newest first, filterable by manager, record type and event type.

An event is credited to the responsible user of the record it happened on, as the activity report and
the effect table credit it (an API or a telephony integration often writes the note, not the seller);
a task to its own responsible user. The sources, one kind of fact each so nothing is counted twice:

| type | from |
|---|---|
| deal_created, contact_created, company_created | the record's creation time |
| stage_changed, won, lost | stage-change events (amoCRM events, Bitrix24 stage history); a Bitrix24 deal's first entry is its creation, not a move |
| call_in, call_out, call_missed, email_in, email_out, sms_in, sms_out, note | notes (amoCRM), completed calls and e-mails (Bitrix24) |
| chat_in, chat_out | amoCRM chat message events |
| task_created, task_closed | tasks; a task's closing time is its last change (the APIs give no completion time) |

On Bitrix24 a completed call or e-mail is an activity like a to-do: the snapshot holds it both as a
task and as a note under the same id, and the feed shows it once, as the call or e-mail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from implkit.audit.analytics import Period
from implkit.audit.scope import period_title, user_name
from implkit.audit.snapshot import LOST, WON, Snapshot
from implkit.audit.tables import Rendered, Section, render
from implkit.errors import InputError
from implkit.lang import say_in

TYPES: dict[str, dict[str, str]] = {
    "deal_created": {"ru": "сделка создана", "en": "deal created"},
    "contact_created": {"ru": "контакт создан", "en": "contact created"},
    "company_created": {"ru": "компания создана", "en": "company created"},
    "stage_changed": {"ru": "смена этапа", "en": "stage changed"},
    "won": {"ru": "сделка выиграна", "en": "deal won"},
    "lost": {"ru": "сделка проиграна", "en": "deal lost"},
    "call_in": {"ru": "входящий звонок", "en": "incoming call"},
    "call_out": {"ru": "исходящий звонок", "en": "outgoing call"},
    "call_missed": {"ru": "пропущенный звонок", "en": "missed call"},
    "email_in": {"ru": "входящее письмо", "en": "incoming e-mail"},
    "email_out": {"ru": "исходящее письмо", "en": "outgoing e-mail"},
    "sms_in": {"ru": "входящее СМС", "en": "incoming SMS"},
    "sms_out": {"ru": "исходящее СМС", "en": "outgoing SMS"},
    "chat_in": {"ru": "входящее сообщение", "en": "incoming message"},
    "chat_out": {"ru": "исходящее сообщение", "en": "outgoing message"},
    "note": {"ru": "примечание", "en": "note"},
    "task_created": {"ru": "задача поставлена", "en": "task created"},
    "task_closed": {"ru": "задача закрыта", "en": "task closed"},
}
ENTITIES = {"lead": "leads", "contact": "contacts", "company": "companies"}
NOTE_TYPES = {"call_in": "call_in", "call_out": "call_out", "call_missed": "call_missed", "email_in": "email_in",
              "email_out": "email_out", "sms_in": "sms_in", "sms_out": "sms_out", "common": "note"}
CHAT_EVENTS = {"incoming_chat_message": "chat_in", "outgoing_chat_message": "chat_out"}
MESSAGES: dict[str, dict[str, str]] = {
    "title": {"ru": "Лента событий: {tenant}, {start} — {end} ({tz})", "en": "Event feed: {tenant}, {start} — {end} ({tz})"},
    "events": {"ru": "События", "en": "Events"},
    "columns": {"ru": "время|менеджер|объект|номер|название|событие|подробности",
                "en": "time|manager|record|id|name|event|details"},
    "filters": {"ru": "Отбор: {what}.", "en": "Filter: {what}."},
    "by_manager": {"ru": "менеджер {name}", "en": "manager {name}"},
    "by_entity": {"ru": "объект — {entity}", "en": "record — {entity}"},
    "by_type": {"ru": "события — {types}", "en": "events — {types}"},
    "counts": {"ru": "Всего событий: {count}.", "en": "Events: {count}."},
    "nothing": {"ru": "За период событий нет.", "en": "No events in the period."},
    "move": {"ru": "«{before}» → «{after}»", "en": "«{before}» → «{after}»"},
    "unknown_type": {"ru": "--type {value!r}: нет такого типа события (известны: {known})",
                     "en": "--type {value!r}: no such event type (known: {known})"},
    "leads": {"ru": "сделка", "en": "deal"}, "contacts": {"ru": "контакт", "en": "contact"},
    "companies": {"ru": "компания", "en": "company"},
}


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


def parse_types(text: str | None, lang: str) -> tuple[str, ...]:
    """`--type call_in,won` → the types; an unknown one is bad input naming the known ones."""
    if not text:
        return ()
    types = tuple(t.strip() for t in text.split(",") if t.strip())
    for t in types:
        if t not in TYPES:
            raise InputError(msg("unknown_type", lang, value=t, known=", ".join(TYPES)))
    return types


_SQL = """
WITH feed (at, entity_type, entity_id, kind, detail_a, detail_b, pipeline, owner) AS (
    SELECT created_at, 'leads', id, 'deal_created', NULL, NULL, pipeline_id, responsible_user_id FROM leads
     WHERE created_at >= :start AND created_at < :end
    UNION ALL
    SELECT created_at, 'contacts', id, 'contact_created', NULL, NULL, NULL, responsible_user_id FROM contacts
     WHERE created_at >= :start AND created_at < :end
    UNION ALL
    SELECT created_at, 'companies', id, 'company_created', NULL, NULL, NULL, responsible_user_id FROM companies
     WHERE created_at >= :start AND created_at < :end
    UNION ALL
    SELECT e.created_at, 'leads', e.entity_id, 'stage', e.status_before, e.status_after,
           coalesce(e.pipeline_after, l.pipeline_id), l.responsible_user_id
      FROM events e LEFT JOIN leads l ON l.id = e.entity_id
     WHERE e.entity_type = 'lead' AND e.type = 'lead_status_changed' AND e.status_before IS NOT NULL
       AND e.created_at >= :start AND e.created_at < :end
    UNION ALL
    SELECT e.created_at, CASE e.entity_type WHEN 'lead' THEN 'leads' WHEN 'contact' THEN 'contacts'
                                            WHEN 'company' THEN 'companies' END,
           e.entity_id, e.type, NULL, NULL, NULL, NULL
      FROM events e WHERE e.type IN ('incoming_chat_message', 'outgoing_chat_message')
       AND e.created_at >= :start AND e.created_at < :end
    UNION ALL
    SELECT created_at, entity_type, entity_id, 'note:' || note_type, NULL, NULL, NULL, NULL FROM notes
     WHERE created_at >= :start AND created_at < :end
    UNION ALL
    SELECT created_at, entity_type, entity_id, 'task_created', id, text, NULL, responsible_user_id FROM tasks t
     WHERE created_at >= :start AND created_at < :end AND NOT (:b24 AND EXISTS (SELECT 1 FROM notes n WHERE n.id = t.id))
    UNION ALL
    SELECT updated_at, entity_type, entity_id, 'task_closed', id, text, NULL, responsible_user_id FROM tasks t
     WHERE is_completed = 1 AND updated_at >= :start AND updated_at < :end
       AND NOT (:b24 AND EXISTS (SELECT 1 FROM notes n WHERE n.id = t.id)))
SELECT f.*, coalesce(f.owner, l.responsible_user_id, c.responsible_user_id, m.responsible_user_id) AS uid,
       coalesce(l.name, c.name, m.name) AS record_name, l.loss_reason_id AS loss_reason_id
  FROM feed f
  LEFT JOIN leads l ON f.entity_type = 'leads' AND l.id = f.entity_id
  LEFT JOIN contacts c ON f.entity_type = 'contacts' AND c.id = f.entity_id
  LEFT JOIN companies m ON f.entity_type = 'companies' AND m.id = f.entity_id
 ORDER BY f.at DESC, f.entity_type, f.entity_id
"""


def event_feed(snapshot: Snapshot, period: Period, *, manager: int | None = None, entity: str | None = None,
               types: Iterable[str] = ()) -> dict[str, Any]:
    db = snapshot.db
    people = {uid: name for uid, name in db.execute("SELECT id, name FROM users")}
    stages = {(p, s): name for p, s, name in db.execute("SELECT pipeline_id, id, name FROM stages")}
    reasons = {rid: name for rid, name in db.execute("SELECT id, name FROM loss_reasons")}
    wanted = set(types)
    table = ENTITIES.get(entity) if entity else None
    events = []
    b24 = snapshot.get_meta("crm") == "bitrix24"
    for row in db.execute(_SQL, {"start": period.start, "end": period.end, "b24": b24}):
        kind = _kind(row)
        if kind is None or (wanted and kind not in wanted) or (table and row["entity_type"] != table):
            continue
        if manager is not None and row["uid"] != manager:
            continue
        event = {"at": row["at"], "type": kind, "entity_type": row["entity_type"], "entity_id": row["entity_id"],
                 "name": row["record_name"] or "", "user_id": row["uid"], "manager": user_name(people, row["uid"])}
        if row["kind"] == "stage":
            event["stage_before"] = stages.get((row["pipeline"], row["detail_a"]), "")
            event["stage_after"] = stages.get((row["pipeline"], row["detail_b"]), "")
            if kind == "lost" and row["loss_reason_id"]:
                event["loss_reason"] = reasons.get(row["loss_reason_id"], "")
        elif kind.startswith("task_"):
            event["task_id"], event["text"] = row["detail_a"], row["detail_b"] or ""
        events.append(event)
    counts: dict[str, int] = {}
    for e in events:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    return {"period": {"start": period.start, "end": period.end},
            "filters": {"manager": manager, "manager_name": user_name(people, manager) if manager is not None else None,
                        "entity": entity, "types": sorted(wanted)},
            "counts": counts, "events": events}


def _kind(row: Any) -> str | None:
    kind = row["kind"]
    if kind == "stage":
        return {WON: "won", LOST: "lost"}.get(row["detail_b"], "stage_changed")
    if kind.startswith("note:"):
        return NOTE_TYPES.get(kind[5:])  # service notes (links, system messages) are no one's action
    return CHAT_EVENTS.get(kind, kind)


def render_feed(report: dict[str, Any], fmt: str, lang: str, tenant: str, tz: ZoneInfo) -> str:
    # a feed runs to hundreds of thousands of lines: its words are looked up once, not per line
    kinds = {t: say_in(TYPES, t, lang) for t in TYPES}
    records = {table: msg(table, lang) for table in ENTITIES.values()}
    moment = (lambda at: datetime.fromtimestamp(at, tz).isoformat()) if fmt == "csv" else \
        (lambda at: datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M"))
    rows = [[moment(e["at"]), e["manager"], records.get(e["entity_type"], e["entity_type"]), e["entity_id"], e["name"],
             kinds[e["type"]], _details(e, lang)] for e in report["events"]]
    notes = []
    f = report["filters"]
    what = []
    if f["manager"] is not None:
        what.append(msg("by_manager", lang, name=f["manager_name"]))
    if f["entity"]:
        what.append(msg("by_entity", lang, entity=msg(ENTITIES[f["entity"]], lang)))
    if f["types"]:
        what.append(msg("by_type", lang, types=", ".join(say_in(TYPES, t, lang) for t in f["types"])))
    if what:
        notes.append(msg("filters", lang, what="; ".join(what)))
    notes.append(msg("counts", lang, count=len(rows)))
    doc = Rendered(period_title("title", MESSAGES, report, lang, tenant, tz), notes,
                   [Section(msg("events", lang), msg("columns", lang).split("|"), rows, empty=msg("nothing", lang))],
                   {"tenant": tenant, "tz": tz.key, **report})
    if fmt == "csv":  # one table, local times with their offset
        doc.csv_headers, doc.csv_rows = msg("columns", lang).split("|"), rows
    return render(doc, fmt, lang)


def _details(event: dict[str, Any], lang: str) -> str:
    if "stage_after" in event:
        text = msg("move", lang, before=event["stage_before"] or "—", after=event["stage_after"] or "—")
        reason = event.get("loss_reason")  # a Bitrix24 reason is the failure stage: said once when it is the same
        return f"{text}: {reason}" if reason and reason != event["stage_after"] else text
    return event.get("text") or ""
