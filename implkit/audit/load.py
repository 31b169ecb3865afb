"""Summary and load per manager (the report set of seeds/002, «Сводный отчёт»: too many deals or tasks and
a seller is at the limit, too few and the plan is out of reach): open deals and their budget, open and
overdue tasks, new deals in the period, and the open deals without a next step (no open task on the
deal). State figures are as of the snapshot time; "new" counts the deals created in the period.

Every active seller has a row, idle ones too (a seller with nothing is what the report is for); other
users appear when they hold something. The per-pipeline table gives the open deals, their budget and
those without a next step in each pipeline apart.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from implkit.audit.analytics import Period, manager_load
from implkit.audit.scope import period_title, sellers, user_name, users
from implkit.audit.snapshot import Snapshot
from implkit.audit.tables import Rendered, Section, render
from implkit.lang import number, say_in

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"ru": "Сводный отчёт и нагрузка: {tenant}, {start} — {end} ({tz})",
              "en": "Summary and load: {tenant}, {start} — {end} ({tz})"},
    "basis": {"ru": "Открытые сделки и задачи — на момент снимка; новые сделки — созданные в периоде.",
              "en": "Open deals and tasks as of the snapshot; new deals: created in the period."},
    "managers": {"ru": "По менеджерам", "en": "Per manager"},
    "pipelines": {"ru": "По воронкам", "en": "Per pipeline"},
    "columns": {"ru": "менеджер|открытых сделок|бюджет открытых|открытых задач|просроченных задач|новых сделок|"
                      "сделок без следующего шага",
                "en": "manager|open deals|open budget|open tasks|overdue tasks|new deals|deals without a next step"},
    "pipeline_columns": {"ru": "воронка|открытых сделок|бюджет открытых|сделок без следующего шага",
                         "en": "pipeline|open deals|open budget|deals without a next step"},
    "total": {"ru": "итого", "en": "total"},
    "nobody": {"ru": "(без ответственного)", "en": "(no responsible user)"},
}
COLUMNS = ("open_deals", "open_budget", "open_tasks", "overdue_tasks", "new_deals", "no_next_step")

# An open deal with no open task on it: nobody has planned what happens next.
_NO_NEXT_STEP_SQL = """
SELECT l.id, l.responsible_user_id, l.pipeline_id, l.price FROM leads l
 WHERE l.is_open = 1 AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.entity_type = 'leads' AND t.entity_id = l.id
                                                          AND t.is_completed = 0)
 ORDER BY l.id
"""


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


def load_report(snapshot: Snapshot, period: Period) -> dict[str, Any]:
    db = snapshot.db
    now = snapshot.snapshot_at or period.end
    people = users(snapshot)
    rows = {m["user_id"]: {**m, "no_next_step": 0, "no_next_step_ids": []}
            for m in manager_load(snapshot, now, period, people)}
    for uid in sellers(snapshot):
        rows.setdefault(uid, {"user_id": uid, "name": user_name(people, uid),
                              **dict.fromkeys(COLUMNS, 0), "no_next_step_ids": []})
    bare = [dict(r) for r in db.execute(_NO_NEXT_STEP_SQL)]
    for deal in bare:
        entry = rows.setdefault(deal["responsible_user_id"], {
            "user_id": deal["responsible_user_id"], "name": user_name(people, deal["responsible_user_id"]),
            **dict.fromkeys(COLUMNS, 0), "no_next_step_ids": []})
        entry["no_next_step"] += 1
        entry["no_next_step_ids"].append(deal["id"])
    pipelines = []
    for pid, name in db.execute("SELECT id, name FROM pipelines WHERE is_archive = 0 ORDER BY is_main DESC, sort, id"):
        count, budget = db.execute("SELECT count(*), coalesce(sum(price), 0) FROM leads WHERE is_open = 1"
                                   " AND pipeline_id = ?", (pid,)).fetchone()
        pipelines.append({"id": pid, "name": name, "open_deals": count, "open_budget": budget,
                          "no_next_step": sum(1 for d in bare if d["pipeline_id"] == pid)})
    managers = sorted(rows.values(), key=lambda m: (-m["open_budget"], m["name"] or "", str(m["user_id"])))
    for m in managers:
        m.pop("new_deals_per_day", None)
        m["name"] = user_name(people, m["user_id"])  # manager_load says "#None" for a deal nobody holds
    return {"period": {"start": period.start, "end": period.end}, "snapshot_at": now, "managers": managers,
            "pipelines": pipelines}


def render_load(report: dict[str, Any], fmt: str, lang: str, tenant: str, tz: ZoneInfo) -> str:
    def figures(entry: dict[str, Any]) -> list[Any]:
        return [entry["open_deals"], number(entry["open_budget"], lang), entry["open_tasks"], entry["overdue_tasks"],
                entry["new_deals"], entry["no_next_step"]]

    managers = report["managers"]
    rows = [[m["name"] if m["user_id"] is not None else msg("nobody", lang), *figures(m)] for m in managers]
    total = {c: sum(m[c] for m in managers) for c in COLUMNS}
    rows.append([msg("total", lang), *figures(total)])
    pipelines = [[p["name"], p["open_deals"], number(p["open_budget"], lang), p["no_next_step"]]
                 for p in report["pipelines"]]
    doc = Rendered(period_title("title", MESSAGES, report, lang, tenant, tz), [msg("basis", lang)],
                   [Section(msg("managers", lang), msg("columns", lang).split("|"), rows),
                    Section(msg("pipelines", lang), msg("pipeline_columns", lang).split("|"), pipelines)],
                   {"tenant": tenant, "tz": tz.key, **report})
    if fmt == "csv":  # one table a spreadsheet sums: the managers' rows, raw figures
        doc.csv_headers = ["id", *msg("columns", lang).split("|")]
        doc.csv_rows = [[m["user_id"], m["name"], *(m[c] for c in COLUMNS)] for m in managers]
    return render(doc, fmt, lang)
