"""Employee activity per day (the report set of seeds/002, «Отчёт по сотрудникам»): per manager and local
day, the calls (incoming answered, missed, outgoing) and their talk time, notes, e-mails, tasks created
and closed, and stage moves.

Everything is credited to the responsible user of the record it happened on (as the effect table's
contacts: an API or a telephony integration often writes the note, not the seller); a task to its own
responsible user. Days are the tenant's local days. A task's closing day is its last change (the APIs
give no completion time). Talk time is the seconds of the snapshot's `calls` on the record (amoCRM: the
call notes' durations; Bitrix24: the telephony statistics, on the call activity's record), credited the
same way; the table shows it as h:mm:ss, CSV and JSON in seconds.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from implkit.lang import say_in
from implkit.audit.analytics import Period
from implkit.audit.calls import clock
from implkit.audit.snapshot import Snapshot

COLUMNS = ("calls_in", "calls_missed", "calls_out", "call_seconds", "notes", "emails", "tasks_created",
           "tasks_closed", "stage_moves")
NOTE_COLUMNS = {"call_in": "calls_in", "call_missed": "calls_missed", "call_out": "calls_out", "common": "notes",
                "email_in": "emails", "email_out": "emails"}
MESSAGES: dict[str, dict[str, str]] = {
    "title": {"ru": "Активность сотрудников: {tenant}, {start} — {end} ({tz})",
              "en": "Employee activity: {tenant}, {start} — {end} ({tz})"},
    "columns": {"ru": "менеджер|день|входящие|пропущенные|исходящие|время разговоров|примечания|письма|"
                      "задач поставлено|задач закрыто|смен этапа",
                "en": "manager|day|calls in|missed|calls out|talk time|notes|e-mails|tasks created|tasks closed|"
                      "stage moves"},
    "total": {"ru": "итого", "en": "total"},
    "nothing": {"ru": "За период действий нет.", "en": "No activity in the period."},
}


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


_SQL = """
WITH acts (uid, at, kind) AS (
    SELECT coalesce(l.responsible_user_id, c.responsible_user_id, m.responsible_user_id), n.created_at, n.note_type
      FROM notes n
      LEFT JOIN leads l ON n.entity_type = 'leads' AND l.id = n.entity_id
      LEFT JOIN contacts c ON n.entity_type = 'contacts' AND c.id = n.entity_id
      LEFT JOIN companies m ON n.entity_type = 'companies' AND m.id = n.entity_id
     WHERE n.created_at >= :start AND n.created_at < :end
    UNION ALL
    SELECT responsible_user_id, created_at, 'task_created' FROM tasks WHERE created_at >= :start AND created_at < :end
    UNION ALL
    SELECT responsible_user_id, updated_at, 'task_closed' FROM tasks
     WHERE is_completed = 1 AND updated_at >= :start AND updated_at < :end
    UNION ALL
    SELECT l.responsible_user_id, e.created_at, 'stage_move' FROM events e JOIN leads l ON l.id = e.entity_id
     WHERE e.entity_type = 'lead' AND e.type = 'lead_status_changed' AND e.created_at >= :start AND e.created_at < :end)
SELECT uid, at, kind, 1 FROM acts WHERE uid IS NOT NULL
UNION ALL
SELECT coalesce(l.responsible_user_id, c.responsible_user_id, m.responsible_user_id), k.at, 'call_seconds', k.duration
  FROM (SELECT coalesce(t.entity_type, x.entity_type) AS entity_type, coalesce(t.entity_id, x.entity_id) AS entity_id,
               x.at, x.duration
          FROM calls x LEFT JOIN tasks t ON x.activity_id IS NOT NULL AND t.id = x.activity_id
         WHERE x.at >= :start AND x.at < :end AND x.duration > 0) k
  LEFT JOIN leads l ON k.entity_type = 'leads' AND l.id = k.entity_id
  LEFT JOIN contacts c ON k.entity_type = 'contacts' AND c.id = k.entity_id
  LEFT JOIN companies m ON k.entity_type = 'companies' AND m.id = k.entity_id
 WHERE coalesce(l.responsible_user_id, c.responsible_user_id, m.responsible_user_id) IS NOT NULL
"""
KINDS = {**NOTE_COLUMNS, "task_created": "tasks_created", "task_closed": "tasks_closed", "stage_move": "stage_moves",
         "call_seconds": "call_seconds"}


def employee_activity(snapshot: Snapshot, period: Period, tz: ZoneInfo) -> dict[str, Any]:
    users = {uid: name for uid, name in snapshot.db.execute("SELECT id, name FROM users")}
    cells: dict[tuple[Any, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))
    for uid, at, kind, amount in snapshot.db.execute(_SQL, {"start": period.start, "end": period.end}):
        column = KINDS.get(kind)
        if column is None:
            continue
        day = datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d")
        cells[(uid, day)][column] += amount
    rows = [{"user_id": uid, "name": users.get(uid, f"#{uid}"), "day": day, **counts}
            for (uid, day), counts in sorted(cells.items(), key=lambda kv: (users.get(kv[0][0], ""), kv[0][1]))]
    totals: dict[Any, dict[str, Any]] = {}
    for row in rows:
        entry = totals.setdefault(row["user_id"], {"user_id": row["user_id"], "name": row["name"],
                                                   **dict.fromkeys(COLUMNS, 0)})
        for column in COLUMNS:
            entry[column] += row[column]
    return {"period": {"start": period.start, "end": period.end}, "tz": tz.key, "rows": rows,
            "totals": list(totals.values())}


def render_activity(report: dict[str, Any], fmt: str, lang: str, tenant: str) -> str:
    from tabulate import tabulate

    if fmt == "json":
        return json.dumps({"tenant": tenant, "lang": lang, **report}, ensure_ascii=False, indent=2) + "\n"
    headers = msg("columns", lang).split("|")
    shown = (lambda c, v: v) if fmt == "csv" else (lambda c, v: clock(v) if c == "call_seconds" else v)
    rows = [[r["name"], r["day"], *(shown(c, r[c]) for c in COLUMNS)] for r in report["rows"]]
    rows += [[t["name"], msg("total", lang), *(shown(c, t[c]) for c in COLUMNS)] for t in report["totals"]]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        return out.getvalue()
    tz = ZoneInfo(report["tz"])
    title = msg("title", lang, tenant=tenant, tz=report["tz"],
                start=datetime.fromtimestamp(report["period"]["start"], tz).strftime("%Y-%m-%d %H:%M"),
                end=datetime.fromtimestamp(report["period"]["end"], tz).strftime("%Y-%m-%d %H:%M"))
    if fmt == "html":
        e = html.escape
        body = ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
                + "</table>") if rows else f"<p>{e(msg('nothing', lang))}</p>"
        return (f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
                f"</head><body><h1>{e(title)}</h1>{body}</body></html>\n")
    md = fmt == "md"
    table = tabulate(rows, headers=headers, tablefmt="github" if md else "simple") if rows else msg("nothing", lang)
    return "\n".join([("# " if md else "") + title, "", table]) + "\n"
