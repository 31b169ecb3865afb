"""Sales analysis per pipeline and per manager (the report set of seeds/002, «Анализ продаж»): the funnel
by stage — reached, moved on to the next stage, lost there with the loss reasons, still there — the
won count and sum, and the win rate.

The deals are the **cohort** of the period, as the audit's analytics counts it (analytics.py): the deals
created in the period, each at the furthest open-or-won stage it ever stood in (its current stage and
every stage-change event). So for each stage: reached = moved on + lost here + still here, and the won
stage's "reached" is the won count. Stages are rows of their own pipeline, matched by the stage's id in
that pipeline, never by its display name: two pipelines with same-named stages are two funnels.
A lost deal's reason is the CRM's (amoCRM `loss_reason_id`; Bitrix24: the failure stage it was closed
in, which is how a portal records why). Win rate = won / (won + lost).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from implkit.audit.analytics import _REACHED_SQL, Period, _ratio
from implkit.audit.scope import period_title, user_name
from implkit.audit.snapshot import LOST, WON, Snapshot
from implkit.audit.tables import Rendered, Section
from implkit.lang import number, percent, say_in

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"ru": "Анализ продаж: {tenant}, {start} — {end} ({tz})", "en": "Sales analysis: {tenant}, {start} — {end} ({tz})"},
    "basis": {"ru": "Сделки, созданные в периоде; каждая — на самом дальнем этапе, которого она достигла.",
              "en": "The deals created in the period, each at the furthest stage it reached."},
    "pipeline": {"ru": "Воронка «{name}»", "en": "Pipeline «{name}»"},
    "pipeline_manager": {"ru": "Воронка «{name}»: {manager}", "en": "Pipeline «{name}»: {manager}"},
    "managers": {"ru": "Воронка «{name}»: по менеджерам", "en": "Pipeline «{name}»: per manager"},
    "all_pipelines": {"ru": "По менеджерам, все воронки вместе", "en": "Per manager, all pipelines together"},
    "totals": {"ru": "Создано {created}, выиграно {won} на сумму {won_sum}, проиграно {lost}, в работе {open}; "
                     "доля выигранных {win_rate}.",
               "en": "Created {created}, won {won} worth {won_sum}, lost {lost}, open {open}; win rate {win_rate}."},
    "unstaged": {"ru": "Проиграно до первого этапа: {count}.", "en": "Lost before the first stage: {count}."},
    "unsorted": {"ru": "Ещё не разобрано (до первого этапа): {count}.",
                 "en": "Not sorted yet (before the first stage): {count}."},
    "columns": {"ru": "этап|дошли|перешли дальше|конверсия|проиграно здесь|причины отказа|в работе здесь",
                "en": "stage|reached|moved on|conversion|lost here|loss reasons|still here"},
    "manager_columns": {"ru": "менеджер|создано|выиграно|сумма выигранных|проиграно|в работе|доля выигранных",
                        "en": "manager|created|won|won sum|lost|open|win rate"},
    "csv_columns": {"ru": "воронка id|воронка|менеджер id|менеджер|этап id|этап|дошли|перешли дальше|конверсия|"
                          "проиграно здесь|причины отказа|в работе здесь|сумма выигранных",
                    "en": "pipeline id|pipeline|manager id|manager|stage id|stage|reached|moved on|conversion|"
                          "lost here|loss reasons|still here|won sum"},
    "everyone": {"ru": "все", "en": "all"},
    "no_reason": {"ru": "без причины", "en": "no reason"},
    "nothing": {"ru": "В периоде сделок нет.", "en": "No deals in the period."},
}


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


def sales_report(snapshot: Snapshot, period: Period) -> dict[str, Any]:
    db = snapshot.db
    people = {uid: name for uid, name in db.execute("SELECT id, name FROM users")}
    reasons = {rid: name for rid, name in db.execute("SELECT id, name FROM loss_reasons")}
    pipelines = []
    for pid, name in db.execute("SELECT id, name FROM pipelines WHERE is_archive = 0 ORDER BY is_main DESC, sort, id"):
        params = {"p": pid, "start": period.start, "end": period.end}
        stages = [dict(r) for r in db.execute(
            "SELECT id, name, kind, position FROM stages WHERE pipeline_id = ? AND kind IN ('open', 'won')"
            " ORDER BY position", (pid,))]
        furthest = {row["id"]: row["pos"] for row in db.execute(_REACHED_SQL, params)}
        deals = [{**dict(r), "pos": furthest.get(r["id"])} for r in db.execute(
            "SELECT id, status_id, price, responsible_user_id, loss_reason_id FROM leads"
            " WHERE pipeline_id = :p AND created_at >= :start AND created_at < :end ORDER BY id", params)]
        by_manager: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for d in deals:
            by_manager[d["responsible_user_id"]].append(d)
        managers = [{"user_id": uid, "name": user_name(people, uid), **_funnel(mine, stages, reasons)}
                    for uid, mine in by_manager.items()]
        managers.sort(key=lambda m: (-m["won_sum"], m["name"]))
        pipelines.append({"id": pid, "name": name, **_funnel(deals, stages, reasons), "managers": managers})
    return {"period": {"start": period.start, "end": period.end}, "pipelines": pipelines,
            "managers": _across(pipelines)}


def _across(pipelines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each manager's deals of every pipeline together: counts and money add up across pipelines (their
    stages do not, so no funnel here)."""
    out: dict[Any, dict[str, Any]] = {}
    for p in pipelines:
        for m in p["managers"]:
            entry = out.setdefault(m["user_id"], {"user_id": m["user_id"], "name": m["name"], "created": 0, "won": 0,
                                                  "won_sum": 0, "lost": 0, "open": 0})
            for key in ("created", "won", "won_sum", "lost", "open"):
                entry[key] += m[key]
    for entry in out.values():
        entry["win_rate"] = _ratio(entry["won"], entry["won"] + entry["lost"])
    return sorted(out.values(), key=lambda m: (-m["won_sum"], m["name"]))


def _funnel(deals: list[dict[str, Any]], stages: list[dict[str, Any]], reasons: dict[int, str]) -> dict[str, Any]:
    """The funnel of `deals` over one pipeline's open and won stages (by position), and their totals."""
    rows = []
    for i, stage in enumerate(stages):
        here = [d for d in deals if d["pos"] == stage["position"]]
        reached = sum(1 for d in deals if d["pos"] is not None and d["pos"] >= stage["position"])
        last = i + 1 == len(stages)
        moved_on = None if last else sum(1 for d in deals if d["pos"] is not None and d["pos"] > stage["position"])
        lost_here = [d for d in here if d["status_id"] == LOST]
        rows.append({"stage_id": stage["id"], "stage": stage["name"], "kind": stage["kind"], "reached": reached,
                     "moved_on": moved_on, "conversion": None if last else _ratio(moved_on, reached),
                     "lost_here": len(lost_here), "loss_reasons": _reasons(lost_here, reasons),
                     "still_here": sum(1 for d in here if d["status_id"] not in (WON, LOST))})
    won = [d for d in deals if d["status_id"] == WON]
    lost = [d for d in deals if d["status_id"] == LOST]
    unstaged = [d for d in deals if d["pos"] is None]  # never left amoCRM's «Неразобранное»
    return {"created": len(deals), "won": len(won), "won_sum": sum(d["price"] or 0 for d in won), "lost": len(lost),
            "open": len(deals) - len(won) - len(lost), "win_rate": _ratio(len(won), len(won) + len(lost)),
            "loss_reasons": _reasons(lost, reasons),
            "lost_before_first_stage": sum(1 for d in unstaged if d["status_id"] == LOST),
            "open_before_first_stage": sum(1 for d in unstaged if d["status_id"] not in (WON, LOST)), "funnel": rows}


def _reasons(lost: list[dict[str, Any]], reasons: dict[int, str]) -> dict[str, int]:
    """Lost deals per reason name ("" for a deal lost without one), most frequent first."""
    counted = Counter(reasons.get(d["loss_reason_id"], "") if d["loss_reason_id"] else "" for d in lost)
    return dict(sorted(counted.items(), key=lambda kv: (-kv[1], kv[0])))


# --- rendering --------------------------------------------------------------------------------------

def _reason_text(counted: dict[str, int], lang: str) -> str:
    return "; ".join(f"{name or msg('no_reason', lang)}: {n}" for name, n in counted.items())


def _stage_rows(funnel: list[dict[str, Any]], lang: str) -> list[list[Any]]:
    return [[st["stage"], st["reached"], st["moved_on"], percent(st["conversion"], lang), st["lost_here"],
             _reason_text(st["loss_reasons"], lang), st["still_here"]] for st in funnel]


def _totals(entry: dict[str, Any], lang: str) -> list[str]:
    lines = [msg("totals", lang, created=entry["created"], won=entry["won"], won_sum=number(entry["won_sum"], lang),
                 lost=entry["lost"], open=entry["open"], win_rate=percent(entry["win_rate"], lang))]
    if entry["lost_before_first_stage"]:
        lines.append(msg("unstaged", lang, count=entry["lost_before_first_stage"]))
    if entry["open_before_first_stage"]:
        lines.append(msg("unsorted", lang, count=entry["open_before_first_stage"]))
    return lines


def _manager_row(m: dict[str, Any], lang: str) -> list[Any]:
    return [m["name"], m["created"], m["won"], number(m["won_sum"], lang), m["lost"], m["open"],
            percent(m["win_rate"], lang)]


def render_sales(report: dict[str, Any], fmt: str, lang: str, tenant: str, tz: ZoneInfo) -> str:
    from implkit.audit.tables import render

    headers = msg("columns", lang).split("|")
    sections, csv_rows = [], []
    if report["managers"]:
        sections.append(Section(msg("all_pipelines", lang), msg("manager_columns", lang).split("|"),
                                [_manager_row(m, lang) for m in report["managers"]]))
    for p in report["pipelines"]:
        if not p["created"]:
            continue
        sections.append(Section(msg("pipeline", lang, name=p["name"]), headers, _stage_rows(p["funnel"], lang),
                                notes=_totals(p, lang)))
        sections.append(Section(msg("managers", lang, name=p["name"]), msg("manager_columns", lang).split("|"),
                                [_manager_row(m, lang) for m in p["managers"]]))
        for m in p["managers"]:
            sections.append(Section(msg("pipeline_manager", lang, name=p["name"], manager=m["name"]), headers,
                                    _stage_rows(m["funnel"], lang), notes=_totals(m, lang)))
        for who, entry in [(None, p), *((m, m) for m in p["managers"])]:
            for st in entry["funnel"]:
                csv_rows.append([p["id"], p["name"], who["user_id"] if who else "",
                                 who["name"] if who else msg("everyone", lang), st["stage_id"], st["stage"],
                                 st["reached"], st["moved_on"], st["conversion"], st["lost_here"],
                                 _reason_text(st["loss_reasons"], lang), st["still_here"],
                                 entry["won_sum"] if st["kind"] == "won" else None])
    title = period_title("title", MESSAGES, report, lang, tenant, tz)
    notes = [msg("basis", lang)] + ([] if sections else [msg("nothing", lang)])
    doc = Rendered(title, notes, sections, {"tenant": tenant, "tz": tz.key, **report},
                   csv_headers=msg("csv_columns", lang).split("|"), csv_rows=csv_rows)
    return render(doc, fmt, lang)
