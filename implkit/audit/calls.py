"""The calls report (the report set of seeds/002, «Отчёт по звонкам»): per manager, for a period in the
tenant's time zone —

- calls: incoming, outgoing, all; answered and their share (amoCRM: `call_status` 4 «разговор
  состоялся», else a non-zero duration; Bitrix24: result code 200);
- talk time: the total of the calls' durations, and the average over the answered calls (an unanswered
  call lasts nothing and would only dilute it);
- calls per won deal: the manager's calls in the period over the deals the manager won in it (deals
  whose responsible user is the manager, closed as won in the period);
- conversion from a call to the next stage: of the deals the manager called in the period while they
  were open, the share that moved forward after the first such call and before the period ended (to a
  later stage of the same pipeline, or won; lost is not forward).

A call belongs to its manager (`calls.user_id`: who was on the line). It counts for a deal when it is
logged on the deal, on one of the deal's contacts or on its company (as the deal card's feed shows it);
on Bitrix24 the call activity's owner, when the snapshot holds it, comes before the record the statistics
name. Figures are computed from the snapshot's `calls` table (docs/snapshot.md).
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

from implkit.audit.analytics import Period
from implkit.audit.snapshot import WON, Snapshot
from implkit.lang import number, percent, say_in

COLUMNS = ("calls_in", "calls_out", "calls", "answered", "answered_share", "duration_total", "duration_avg",
           "won_deals", "calls_per_won_deal", "called_deals", "moved_forward", "call_to_next_stage")
MESSAGES: dict[str, dict[str, str]] = {
    "title": {"ru": "Звонки: {tenant}, {start} — {end} ({tz})", "en": "Calls: {tenant}, {start} — {end} ({tz})"},
    "columns": {"ru": "менеджер|входящие|исходящие|всего|отвечено|доля отвеченных|длительность всего|"
                      "средняя длительность|выиграно сделок|звонков на выигранную сделку|сделок со звонком|"
                      "перешли на следующий этап|конверсия звонка в следующий этап",
                "en": "manager|incoming|outgoing|all|answered|answered share|talk time|average call|deals won|"
                      "calls per won deal|deals called|moved to the next stage|call to next stage"},
    "total": {"ru": "итого", "en": "total"},
    "nothing": {"ru": "За период звонков нет.", "en": "No calls in the period."},
    "unavailable": {"ru": "CRM не отдала статистику звонков ({why}): отчёт пуст.",
                    "en": "The CRM gave no call statistics ({why}): the report is empty."},
    "note": {"ru": "Средняя длительность — по отвеченным звонкам; длительность в формате ч:мм:сс.",
             "en": "Average call: over answered calls; durations as h:mm:ss."},
}


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


# A call's record, resolved: a Bitrix24 call activity's owner (in `tasks`) first, else the record it names.
_CALLS_SQL = """
SELECT c.user_id, c.direction, c.answered, c.duration, c.at,
       coalesce(t.entity_type, c.entity_type) AS entity_type, coalesce(t.entity_id, c.entity_id) AS entity_id
  FROM calls c LEFT JOIN tasks t ON c.activity_id IS NOT NULL AND t.id = c.activity_id
 WHERE c.at >= :start AND c.at < :end AND c.user_id IS NOT NULL
"""
# Forward stage moves: to won, or to a later stage (by position) of the same pipeline.
_FORWARD_SQL = """
SELECT e.entity_id, e.created_at FROM events e
  LEFT JOIN stages sb ON sb.pipeline_id = e.pipeline_before AND sb.id = e.status_before
  LEFT JOIN stages sa ON sa.pipeline_id = e.pipeline_after AND sa.id = e.status_after
 WHERE e.type = 'lead_status_changed' AND e.entity_type = 'lead' AND e.created_at < :end
   AND (e.status_after = 142 OR (e.pipeline_after = e.pipeline_before AND sa.kind IN ('open', 'unsorted')
                                 AND sa.position > sb.position))
"""


def calls_report(snapshot: Snapshot, period: Period, tz: ZoneInfo) -> dict[str, Any]:
    db = snapshot.db
    params = {"start": period.start, "end": period.end}
    users = {uid: name for uid, name in db.execute("SELECT id, name FROM users")}
    deals_of = _deals_of(db)
    closed = _closed_at(db)
    rows: dict[int, dict[str, Any]] = {}
    first_call: dict[int, dict[int, int]] = defaultdict(dict)  # manager -> deal -> first call in the period
    for uid, direction, answered, duration, at, entity_type, entity_id in db.execute(_CALLS_SQL, params):
        row = rows.setdefault(uid, _empty(uid, users))
        row["calls_in" if direction == "in" else "calls_out"] += 1
        row["answered"] += int(bool(answered))
        row["duration_total"] += int(duration or 0)
        row["_answered_duration"] += int(duration or 0) if answered else 0
        for deal in deals_of.get((entity_type, entity_id), ()):
            if deal in closed and (closed[deal] or 0) <= at:
                continue  # a call on a deal already closed cannot move it on
            if at < first_call[uid].get(deal, at + 1):
                first_call[uid][deal] = at
    for uid, won in db.execute(_WON_SQL, {**params, "won": WON}):
        rows.setdefault(uid, _empty(uid, users))["won_deals"] = won
    forward: dict[int, list[int]] = defaultdict(list)
    for deal, at in db.execute(_FORWARD_SQL, params):
        forward[deal].append(at)
    for uid, firsts in first_call.items():
        rows[uid]["called_deals"] = len(firsts)
        rows[uid]["moved_forward"] = sum(1 for deal, at in firsts.items() if any(m > at for m in forward.get(deal, ())))
    total = {**_empty(None, {}), "name": None}
    for r in rows.values():
        for key in ("calls_in", "calls_out", "answered", "duration_total", "_answered_duration", "won_deals",
                    "called_deals", "moved_forward"):
            total[key] += r[key]
    out = [_finish(r) for r in sorted(rows.values(), key=lambda r: (r["name"], r["user_id"]))]
    return {"period": {"start": period.start, "end": period.end}, "tz": tz.key, "rows": out,
            "total": _finish(total), "calls_unavailable": snapshot.get_meta("calls_unavailable")}


# Deals won in the period, by their responsible user: a move to won in the period (the stage history, which
# both CRMs keep), or — a snapshot without it — a won deal whose closing time falls in the period.
_WON_SQL = """
SELECT l.responsible_user_id, count(*) FROM leads l
 WHERE l.status_id = :won AND l.responsible_user_id IS NOT NULL
   AND (EXISTS (SELECT 1 FROM events e WHERE e.type = 'lead_status_changed' AND e.entity_type = 'lead'
                   AND e.entity_id = l.id AND e.status_after = :won AND e.created_at >= :start AND e.created_at < :end)
        OR (l.closed_at >= :start AND l.closed_at < :end))
 GROUP BY l.responsible_user_id
"""


def _closed_at(db: Any) -> dict[int, int | None]:
    """When each closed deal closed: its last move to won or lost, else the CRM's closing date."""
    moved = {lid: at for lid, at in db.execute(
        "SELECT entity_id, max(created_at) FROM events WHERE type = 'lead_status_changed' AND entity_type = 'lead'"
        " AND status_after IN (142, 143) GROUP BY entity_id")}
    return {lid: moved.get(lid, at) for lid, at in db.execute("SELECT id, closed_at FROM leads WHERE is_open = 0")}


def _deals_of(db: Any) -> dict[tuple[str, int], list[int]]:
    """(record type, id) → the deals a call logged on it counts for."""
    out: dict[tuple[str, int], list[int]] = defaultdict(list)
    for lid, company in db.execute("SELECT id, company_id FROM leads"):
        out[("leads", lid)].append(lid)
        if company:
            out[("companies", company)].append(lid)
    for lid, contact in db.execute("SELECT lead_id, contact_id FROM lead_contacts"):
        out[("contacts", contact)].append(lid)
    return out


def _empty(uid: Any, users: dict) -> dict[str, Any]:
    return {"user_id": uid, "name": users.get(uid, f"#{uid}"), "calls_in": 0, "calls_out": 0, "answered": 0,
            "duration_total": 0, "_answered_duration": 0, "won_deals": 0, "called_deals": 0, "moved_forward": 0}


def _finish(row: dict[str, Any]) -> dict[str, Any]:
    calls = row["calls_in"] + row["calls_out"]
    row = dict(row)
    answered_time = row.pop("_answered_duration")
    return {**row, "calls": calls, "answered_share": _ratio(row["answered"], calls, 4),
            "duration_avg": _ratio(answered_time, row["answered"], 1),
            "calls_per_won_deal": _ratio(calls, row["won_deals"], 2),
            "call_to_next_stage": _ratio(row["moved_forward"], row["called_deals"], 4)}


def _ratio(a: float, b: float, digits: int) -> float | None:
    return round(a / b, digits) if b else None


# --- rendering ----------------------------------------------------------------------------------------


def clock(seconds: float | None) -> str:
    """Seconds as h:mm:ss (the same in every language: no words to translate)."""
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _cells(row: dict[str, Any], lang: str) -> list[str]:
    return [number(row["calls_in"], lang), number(row["calls_out"], lang), number(row["calls"], lang),
            number(row["answered"], lang), percent(row["answered_share"], lang), clock(row["duration_total"]),
            clock(row["duration_avg"]), number(row["won_deals"], lang), number(row["calls_per_won_deal"], lang),
            number(row["called_deals"], lang), number(row["moved_forward"], lang),
            percent(row["call_to_next_stage"], lang)]


def render_calls(report: dict[str, Any], fmt: str, lang: str, tenant: str) -> str:
    from tabulate import tabulate

    if fmt == "json":
        return json.dumps({"tenant": tenant, "lang": lang, **report}, ensure_ascii=False, indent=2) + "\n"
    headers = msg("columns", lang).split("|")
    if fmt == "csv":  # figures as numbers (seconds, shares 0..1), headers in the report's language
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        for r in [*report["rows"], *([{**report["total"], "name": msg("total", lang)}] if report["rows"] else [])]:
            writer.writerow([r["name"], *("" if r[c] is None else r[c] for c in COLUMNS)])
        return out.getvalue()
    rows = [[r["name"], *_cells(r, lang)] for r in report["rows"]]
    if rows:
        rows.append([msg("total", lang), *_cells(report["total"], lang)])
    tz = ZoneInfo(report["tz"])
    title = msg("title", lang, tenant=tenant, tz=report["tz"],
                start=datetime.fromtimestamp(report["period"]["start"], tz).strftime("%Y-%m-%d %H:%M"),
                end=datetime.fromtimestamp(report["period"]["end"], tz).strftime("%Y-%m-%d %H:%M"))
    notes = [msg("unavailable", lang, why=report["calls_unavailable"])] if report.get("calls_unavailable") else []
    notes.append(msg("note", lang) if rows else msg("nothing", lang))
    if fmt == "html":
        e = html.escape
        body = ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>"
                + "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows)
                + "</table>") if rows else ""
        return (f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
                f"</head><body><h1>{e(title)}</h1>" + "".join(f"<p>{e(n)}</p>" for n in notes) + body
                + "</body></html>\n")
    md = fmt == "md"
    parts = [("# " if md else "") + title, "", *notes]
    if rows:
        parts += ["", tabulate(rows, headers=headers, tablefmt="github" if md else "simple",
                               colalign=("left",) + ("right",) * len(COLUMNS))]
    return "\n".join(parts) + "\n"
