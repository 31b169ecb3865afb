"""Goals: the plan per manager against the actuals of the period (the report set of seeds/002, «Цели»; the
plan decomposition of seeds/003: 800 000 a month at 40 000 a sale is 20 sales, 200 000 a seller).

The plan comes from a goals file (`--goals FILE`, blueprints/schema/goals.schema.json: per manager, by
name or CRM id, `sales` and/or `revenue` for the period; a bad file is bad input at file:line:col), or
the questionnaire's answers (`--answers FILE`: their revenue plan, average check and sellers), else from
the tenant's blueprint: `analytics.plan` decomposed (implkit.decomposition, rounding up) gives every
seller the same share — sales = ceil(ceil(revenue_month / avg_check) / sellers), revenue = revenue_month /
sellers. The blueprint's plan is a month's: compare it with a calendar month (`--month`).

Actuals: the deals won in the period (the moment of the move into the won stage: scope.closed_at_sql),
count and budget, per responsible user, all pipelines together (money and sales add up across pipelines;
stages do not, and goals have none). Progress = actual / plan. The run rate needed = what is left of the
plan / the working days (Monday to Friday, local dates) left in the period, today included while the
snapshot lies inside the period; none left: «—».
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from implkit.audit.analytics import Period, _ratio
from implkit.audit.scope import closed_at_sql, period_title, sellers, user_name, users
from implkit.audit.snapshot import Snapshot
from implkit.audit.tables import Rendered, Section, render
from implkit.errors import InputError
from implkit.lang import number, percent, say_in

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"ru": "Цели: {tenant}, {start} — {end} ({tz})", "en": "Goals: {tenant}, {start} — {end} ({tz})"},
    "source_file": {"ru": "План — из файла {file}.", "en": "The plan comes from {file}."},
    "source_blueprint": {"ru": "План — из описания (blueprint): {revenue} в месяц при среднем чеке {check}, "
                               "продавцов {sellers}; на каждого — {sales} продаж на {share}.",
                         "en": "The plan comes from the blueprint: {revenue} a month at an average check of {check}, "
                               "{sellers} sellers; each: {sales} sales worth {share}."},
    "source_answers": {"ru": "План — из ответов анкеты: {revenue} в месяц при среднем чеке {check}, "
                             "продавцов {sellers}; на каждого — {sales} продаж на {share}.",
                       "en": "The plan comes from the questionnaire's answers: {revenue} a month at an average check "
                             "of {check}, {sellers} sellers; each: {sales} sales worth {share}."},
    "days": {"ru": "Рабочих дней в периоде: {total}, осталось: {left}.",
             "en": "Working days in the period: {total}, left: {left}."},
    "basis": {"ru": "Факт — сделки, выигранные в периоде.", "en": "Actuals: the deals won in the period."},
    "goals": {"ru": "План и факт по менеджерам", "en": "Plan and actuals per manager"},
    "columns": {"ru": "менеджер|план продаж|продаж|выполнено|нужно продаж в день|план суммы|сумма продаж|"
                      "выполнено по сумме|нужно суммы в день",
                "en": "manager|sales plan|sales|done|sales needed a day|revenue plan|revenue|revenue done|"
                      "revenue needed a day"},
    "csv_columns": {"ru": "менеджер id|менеджер|план продаж|продаж|выполнено|нужно продаж в день|план суммы|"
                          "сумма продаж|выполнено по сумме|нужно суммы в день",
                    "en": "manager id|manager|sales plan|sales|done|sales needed a day|revenue plan|revenue|"
                          "revenue done|revenue needed a day"},
    "no_plan": {"ru": "нет плана: укажите --goals FILE или задайте analytics.plan в описании (blueprint) клиента",
                "en": "no plan: pass --goals FILE, or give the tenant's blueprint an analytics.plan"},
    "plan_error": {"ru": "план описания (blueprint) не раскладывается: {error}",
                   "en": "the blueprint's plan cannot be decomposed: {error}"},
    "unknown_manager": {"ru": "нет такого пользователя {value!r} (известны: {known})",
                        "en": "no such user {value!r} (known: {known})"},
    "twice": {"ru": "менеджер {value!r} указан дважды", "en": "manager {value!r} is given twice"},
}


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


# --- the plan ---------------------------------------------------------------------------------------

def goals_from_file(path: str | Path, snapshot: Snapshot, lang: str) -> dict[str, Any]:
    """{user id: {"sales": n | None, "revenue": x | None}} from a goals file, every problem at file:line:col."""
    from jsonschema import Draft202012Validator

    from implkit.schemas import dotted_path, explain_schema_errors, headline, load_schema, non_finite_problems, \
        problem_at
    from implkit.yamlio import load_yaml, to_plain

    file = str(path)
    tree = load_yaml(file)
    data = to_plain(tree)
    problems = explain_schema_errors(Draft202012Validator(load_schema("goals")), tree, data, file)
    problems += non_finite_problems(tree, data, file)
    plan: dict[int, dict[str, Any]] = {}
    if not problems:
        people = users(snapshot)
        by_name: dict[str, list[int]] = {}
        for uid, name in people.items():
            by_name.setdefault(name.strip().casefold(), []).append(uid)
        for i, goal in enumerate(data["goals"]):
            value = goal["manager"]
            text = str(value).strip()
            found = [int(text)] if text.isdigit() and int(text) in people else by_name.get(text.casefold(), [])
            where = ("goals", i, "manager")
            if len(found) != 1:
                known = ", ".join(sorted(people.values())) or "—"
                problems.append(problem_at(tree, data, file, dotted_path, where,
                                           msg("unknown_manager", lang, value=value, known=known)))
            elif found[0] in plan:
                problems.append(problem_at(tree, data, file, dotted_path, where, msg("twice", lang, value=value)))
            else:
                plan[found[0]] = {"sales": goal.get("sales"), "revenue": goal.get("revenue")}
    if problems:
        raise InputError(headline(file, len(problems)), problems)
    return {"source": "file", "file": file, "goals": plan}


def goals_from_blueprint(blueprint: Any, snapshot: Snapshot, lang: str) -> dict[str, Any]:
    """Every seller's equal share of the blueprint's monthly plan ({} when the blueprint has none)."""
    from implkit.model import thaw

    if blueprint is None or not blueprint.analytics:
        return {}
    return _shared(thaw(blueprint.analytics), blueprint.sellers, snapshot, lang, "blueprint")


def goals_from_answers(plan: dict[str, Any], sellers: int | None, snapshot: Snapshot, lang: str) -> dict[str, Any]:
    """The same from the questionnaire's answers: `plan` is the revenue plan and average check the
    blueprint composed from them would carry (the command reads the answers file), shared among `sellers`."""
    return _shared({"plan": plan}, sellers, snapshot, lang, "answers")


def _shared(analytics: dict[str, Any], sellers_planned: int | None, snapshot: Snapshot, lang: str,
            source: str) -> dict[str, Any]:
    from implkit.decomposition import DecompositionError, from_analytics

    people = sellers(snapshot)
    count = sellers_planned or len(people) or None
    try:
        decomposition = from_analytics(analytics, sellers=count, sale_key="sale")
    except DecompositionError as exc:
        raise InputError(msg("plan_error", lang, error=exc)) from None
    if decomposition is None or not count:
        return {}
    sales = decomposition.steps[-1].per_seller
    revenue = (decomposition.revenue_month / count).quantize(Decimal("0.01"), ROUND_HALF_UP)
    share = {"sales": sales, "revenue": int(revenue) if revenue == revenue.to_integral_value() else float(revenue)}
    return {"source": source, "revenue_month": str(decomposition.revenue_month),
            "avg_check": str(decomposition.avg_check), "sellers": count, "share": share,
            "goals": {uid: dict(share) for uid in people}}


# --- plan against actuals ---------------------------------------------------------------------------

def working_days(first: date, end: date) -> int:
    """Monday-to-Friday days from `first` up to `end` (excluded)."""
    return sum(1 for n in range((end - first).days) if (first + timedelta(days=n)).weekday() < 5)


def goals_report(snapshot: Snapshot, period: Period, plan: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    now = snapshot.snapshot_at or period.end
    start_day = datetime.fromtimestamp(period.start, tz).date()
    end_day = datetime.fromtimestamp(period.end - 1, tz).date() + timedelta(days=1)  # the day after the last
    today = datetime.fromtimestamp(now, tz).date()
    total = working_days(start_day, end_day)
    left = 0 if now >= period.end else working_days(max(today, start_day), end_day)
    people = users(snapshot)
    actual: dict[Any, dict[str, int]] = {}
    for uid, count, budget in snapshot.db.execute(
            f"SELECT l.responsible_user_id, count(*), coalesce(sum(l.price), 0) FROM leads l"
            f" WHERE l.status_id = 142 AND {closed_at_sql('l')} >= ? AND {closed_at_sql('l')} < ?"
            f" GROUP BY l.responsible_user_id", (period.start, period.end)):
        actual[uid] = {"sales": count, "revenue": budget}
    rows = []
    for uid in sorted(set(plan["goals"]) | set(actual), key=lambda u: (people.get(u, ""), str(u))):
        goal = plan["goals"].get(uid, {})
        done = actual.get(uid, {"sales": 0, "revenue": 0})
        row = {"user_id": uid, "name": user_name(people, uid)}
        for key in ("sales", "revenue"):
            target = goal.get(key)
            row[f"{key}_plan"] = target
            row[key] = done[key]
            row[f"{key}_done"] = _ratio(done[key], target) if target else None
            row[f"{key}_per_day"] = (_per_day(target - done[key], left) if target is not None and left else None)
        rows.append(row)
    return {"period": {"start": period.start, "end": period.end}, "snapshot_at": now,
            "working_days": {"total": total, "left": left},
            "plan": {k: v for k, v in plan.items() if k != "goals"}, "managers": rows}


def _per_day(remaining: float, days: int) -> float:
    """What is left a working day (nothing once the plan is met), to two decimals."""
    return round(max(remaining, 0) / days, 2)


def render_goals(report: dict[str, Any], fmt: str, lang: str, tenant: str, tz: ZoneInfo) -> str:
    plan = report["plan"]
    if plan.get("source") == "file":
        notes = [msg("source_file", lang, file=plan["file"])]
    else:
        notes = [msg("source_" + plan["source"], lang, revenue=number(Decimal(plan["revenue_month"]), lang),
                     check=number(Decimal(plan["avg_check"]), lang), sellers=plan["sellers"],
                     sales=plan["share"]["sales"], share=number(plan["share"]["revenue"], lang))]
    notes += [msg("basis", lang), msg("days", lang, **report["working_days"])]
    rows = [[m["name"], m["sales_plan"], m["sales"], percent(m["sales_done"], lang), number(m["sales_per_day"], lang),
             number(m["revenue_plan"], lang), number(m["revenue"], lang), percent(m["revenue_done"], lang),
             number(m["revenue_per_day"], lang)] for m in report["managers"]]
    doc = Rendered(period_title("title", MESSAGES, report, lang, tenant, tz), notes,
                   [Section(msg("goals", lang), msg("columns", lang).split("|"), rows)],
                   {"tenant": tenant, "tz": tz.key, **report},
                   csv_headers=msg("csv_columns", lang).split("|"),
                   csv_rows=[[m["user_id"], m["name"], m["sales_plan"], m["sales"], m["sales_done"], m["sales_per_day"],
                              m["revenue_plan"], m["revenue"], m["revenue_done"], m["revenue_per_day"]]
                             for m in report["managers"]])
    return render(doc, fmt, lang)
