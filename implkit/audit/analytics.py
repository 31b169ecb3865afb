"""Sales analytics over a snapshot (domain.md §2.2), per pipeline, period and manager.

Conversion is a **cohort** measure: the deals *created* in the period, and
for each stage the share that ever reached it — entered it or any later
stage, won included — taken from the stage-change events (a current-stage
snapshot, like amoCRM's «Сводный отчет», cannot give it). Win rate, average
check, loss reasons and response time are computed on the same cohort;
manager load is the state at the snapshot time.

The sales cycle is measured on the deals *closed* in the period (won and
lost apart), whenever they were created: a cohort's cycle counts only the
deals that closed fast, so a mostly-open cohort would show a confidently
short one. The report also says how many deals of the cohort are still
open, and marks the cycle as a lower bound when most of them are. The plan
decomposition (`implkit.decomposition`) is compared with the cohort's
actuals per seller and per working day.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from implkit.audit.snapshot import Snapshot
from implkit.model import Blueprint, thaw

DAY = 86400


@dataclass(frozen=True)
class Period:
    start: int
    end: int  # exclusive

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY


def default_period(snapshot_at: int, days: int = 30) -> Period:
    return Period(snapshot_at - days * DAY, snapshot_at)


def sales_analytics(snapshot: Snapshot, period: Period, *, blueprint: Blueprint | None = None,
                    working_days: int | None = None,
                    stage_ids: Callable[[Any, str], list[int]] | None = None) -> dict[str, Any]:
    """`stage_ids(reference, where)` resolves a funnel step's `stage` (engine.StageResolver.ids)."""
    """Everything the report shows under "Analytics", as plain data (JSON-ready)."""
    now = snapshot.snapshot_at or period.end
    users = {uid: name for uid, name in snapshot.db.execute("SELECT id, name FROM users")}
    pipelines = []
    for pid, name in snapshot.db.execute("SELECT id, name FROM pipelines WHERE is_archive = 0 ORDER BY sort, id"):
        pipelines.append(_pipeline(snapshot, pid, name, period, users))
    return {
        "method": "cohort: deals created in the period; reached(stage) = entered it or any later stage (won "
                  "included), from stage-change events; cycle: deals closed in the period",
        "period": {"start": period.start, "end": period.end, "days": round(period.days, 2)},
        "snapshot_at": now,
        "pipelines": pipelines,
        "managers": manager_load(snapshot, now, period, users),
        "plan": plan_vs_actual(snapshot, period, pipelines, blueprint, working_days, stage_ids),
    }


def _pipeline(snapshot: Snapshot, pipeline_id: int, name: str, period: Period, users: dict) -> dict[str, Any]:
    db = snapshot.db
    stages = [dict(r) for r in db.execute(
        "SELECT id, name, kind, position FROM stages WHERE pipeline_id = ? ORDER BY position", (pipeline_id,))]
    params = {"p": pipeline_id, "start": period.start, "end": period.end}
    cohort = [dict(r) for r in db.execute(
        "SELECT id, status_id, price, created_at, closed_at, responsible_user_id, loss_reason_id FROM leads"
        " WHERE pipeline_id = :p AND created_at >= :start AND created_at < :end", params)]
    reached_position = {row["id"]: row["pos"] for row in db.execute(_REACHED_SQL, params)}

    funnel = []
    counted = [s for s in stages if s["kind"] in ("open", "won")]
    previous = None
    for stage in counted:
        reached = sum(1 for pos in reached_position.values() if pos >= stage["position"])
        funnel.append({"stage_id": stage["id"], "stage": stage["name"], "kind": stage["kind"], "reached": reached,
                       "conversion_from_previous": _ratio(reached, previous)})
        previous = reached

    won = [d for d in cohort if d["status_id"] == 142]
    lost = [d for d in cohort if d["status_id"] == 143]
    cycle = sales_cycle(snapshot, pipeline_id, period, open_in_cohort=len(cohort) - len(won) - len(lost),
                        cohort=len(cohort))
    reasons = {rid: rname for rid, rname in db.execute("SELECT id, name FROM loss_reasons")}
    loss = Counter(reasons.get(d["loss_reason_id"], "(none)") if d["loss_reason_id"] else "(none)" for d in lost)
    response = _response_minutes(snapshot, params)

    by_manager: dict[Any, dict[str, Any]] = defaultdict(lambda: {"created": 0, "won": 0, "lost": 0, "won_budget": 0})
    for d in cohort:
        m = by_manager[d["responsible_user_id"]]
        m["created"] += 1
        if d["status_id"] == 142:
            m["won"] += 1
            m["won_budget"] += d["price"] or 0
        elif d["status_id"] == 143:
            m["lost"] += 1
    managers = [{"user_id": uid, "name": users.get(uid, f"#{uid}"), **m,
                 "win_rate": _ratio(m["won"], m["won"] + m["lost"])}
                for uid, m in sorted(by_manager.items(), key=lambda kv: -kv[1]["won_budget"])]
    return {
        "id": pipeline_id, "name": name, "cohort": len(cohort), "funnel": funnel,
        "won": len(won), "lost": len(lost), "open": len(cohort) - len(won) - len(lost),
        "overall_conversion": _ratio(len(won), len(cohort)),
        "win_rate": _ratio(len(won), len(won) + len(lost)),
        "average_check": round(sum(d["price"] or 0 for d in won) / len(won), 2) if won else None,
        "won_budget": sum(d["price"] or 0 for d in won),
        "cycle_days": cycle,
        "loss_reasons": dict(loss.most_common()),
        "response_minutes": response,
        "managers": managers,
    }


MIN_CLOSED = 5  # fewer closed deals than this: a median, but not one to judge by
MOSTLY_OPEN = 0.5  # above this share of the cohort still open, the cycle is a lower bound


def sales_cycle(snapshot: Snapshot, pipeline_id: int, period: Period, *, open_in_cohort: int,
                cohort: int) -> dict[str, Any]:
    """Days from creation to closing of the deals closed in the period, won and lost apart."""
    days: dict[str, list[float]] = {"won": [], "lost": []}
    for status, created, closed in snapshot.db.execute(
            "SELECT status_id, created_at, closed_at FROM leads WHERE pipeline_id = ? AND is_open = 0"
            " AND closed_at >= ? AND closed_at < ? AND closed_at >= created_at",
            (pipeline_id, period.start, period.end)):
        days["won" if status == 142 else "lost"].append((closed - created) / DAY)

    def summary(values: list[float]) -> dict[str, Any]:
        return {"closed": len(values),
                "median": round(statistics.median(values), 2) if values else None,
                "mean": round(statistics.fmean(values), 2) if values else None,
                "enough": len(values) >= MIN_CLOSED}

    open_share = _ratio(open_in_cohort, cohort)
    won = summary(days["won"])
    return {"basis": "closed_in_period", "won": won, "lost": summary(days["lost"]),
            "median": won["median"],  # the won cycle is "the" cycle of reports and the plan
            "cohort": cohort, "cohort_open": open_in_cohort, "cohort_open_share": open_share,
            "lower_bound": bool(open_share is not None and open_share > MOSTLY_OPEN)}


# The furthest open-or-won stage each cohort deal ever stood in: its current stage and every stage a
# stage-change event moved it from or to. Lost and unsorted stages do not count as progress.
_REACHED_SQL = """
WITH cohort AS (SELECT id, pipeline_id, status_id FROM leads
                 WHERE pipeline_id = :p AND created_at >= :start AND created_at < :end),
positions AS (
    SELECT c.id, s.position FROM cohort c
      JOIN stages s ON s.pipeline_id = c.pipeline_id AND s.id = c.status_id AND s.kind IN ('open', 'won')
    UNION ALL
    SELECT c.id, s.position FROM cohort c
      JOIN events e ON e.entity_type = 'lead' AND e.entity_id = c.id AND e.type = 'lead_status_changed'
      JOIN stages s ON s.pipeline_id = c.pipeline_id AND s.id = e.status_after AND s.kind IN ('open', 'won')
    UNION ALL
    SELECT c.id, s.position FROM cohort c
      JOIN events e ON e.entity_type = 'lead' AND e.entity_id = c.id AND e.type = 'lead_status_changed'
      JOIN stages s ON s.pipeline_id = c.pipeline_id AND s.id = e.status_before AND s.kind IN ('open', 'won'))
SELECT id, max(position) AS pos FROM positions GROUP BY id
"""


# Each cohort deal's first touch at or after its creation: one pass over the touches (CROSS JOIN keeps
# them outside), each deal found by its primary key. The touches view inside a correlated subquery per
# deal (as this was) is planned as a pass over every touch per deal once the statistics tip the planner.
_FIRST_TOUCH_SQL = """
SELECT t.lead_id, min(t.at) FROM touches t CROSS JOIN leads l ON l.id = t.lead_id
 WHERE t.lead_id IN (SELECT id FROM leads WHERE pipeline_id = :p AND created_at >= :start AND created_at < :end)
   AND t.at >= l.created_at
 GROUP BY t.lead_id
"""


def _response_minutes(snapshot: Snapshot, params: dict[str, Any]) -> dict[str, Any]:
    first = dict(snapshot.db.execute(_FIRST_TOUCH_SQL, params).fetchall())
    rows = [first[lead_id] - created if lead_id in first else None for lead_id, created in snapshot.db.execute(
        "SELECT id, created_at FROM leads WHERE pipeline_id = :p AND created_at >= :start AND created_at < :end",
        params)]
    answered = [r / 60 for r in rows if r is not None]
    return {"answered": len(answered), "unanswered": len(rows) - len(answered),
            "median": round(statistics.median(answered), 1) if answered else None}


def manager_load(snapshot: Snapshot, now: int, period: Period, users: dict) -> list[dict[str, Any]]:
    """Per manager at the snapshot time: open deals and budget, open and overdue tasks, new deals a day."""
    load: dict[Any, dict[str, Any]] = defaultdict(lambda: {"open_deals": 0, "open_budget": 0, "open_tasks": 0,
                                                           "overdue_tasks": 0, "new_deals": 0})
    for uid, count, budget in snapshot.db.execute(
            "SELECT responsible_user_id, count(*), coalesce(sum(price), 0) FROM leads WHERE is_open = 1"
            " GROUP BY responsible_user_id"):
        load[uid].update(open_deals=count, open_budget=budget)
    for uid, open_tasks, overdue in snapshot.db.execute(
            "SELECT responsible_user_id, count(*), sum(complete_till < ?) FROM tasks WHERE is_completed = 0"
            " GROUP BY responsible_user_id", (now,)):
        load[uid].update(open_tasks=open_tasks, overdue_tasks=overdue or 0)
    for uid, count in snapshot.db.execute(
            "SELECT responsible_user_id, count(*) FROM leads WHERE created_at >= ? AND created_at < ?"
            " GROUP BY responsible_user_id", (period.start, period.end)):
        load[uid]["new_deals"] = count
    return [{"user_id": uid, "name": users.get(uid, f"#{uid}"), **m,
             "new_deals_per_day": round(m["new_deals"] / period.days, 2) if period.days else None}
            for uid, m in sorted(load.items(), key=lambda kv: (-kv[1]["open_budget"], str(kv[0])))]


def plan_vs_actual(snapshot: Snapshot, period: Period, pipelines: list[dict[str, Any]],
                   blueprint: Blueprint | None, working_days: int | None,
                   stage_ids: Callable[[Any, str], list[int]] | None = None) -> dict[str, Any] | None:
    """The blueprint's plan decomposed (round up at every step) against the cohort's actual counts,
    per pipeline, each step matched by a stable reference, never by a display name across pipelines.

    A step's actual (`basis`): `stage` — the step's `stage` (blueprint address or CRM id) resolved to
    stage ids, counted in the pipeline those ids belong to; `key` — no `stage`, but the blueprint has a
    stage whose key is the step's key (resolved through the tenant's bindings the same way); `cohort` —
    the first step with neither: every deal created in the period is a lead; `sale` — won deals;
    `none` — nothing to count it on (shown as «—», never a guess). The pipelines compared are those the
    resolved stages belong to; with no stage anywhere, every active pipeline on its own."""
    if blueprint is None or not blueprint.analytics:
        return None
    from implkit.decomposition import DecompositionError, from_analytics

    analytics = thaw(blueprint.analytics)
    sellers = blueprint.sellers or snapshot.db.execute(
        "SELECT count(*) FROM users WHERE is_active = 1 AND is_admin = 0").fetchone()[0] or None
    if working_days and isinstance(analytics.get("plan"), dict):
        analytics["plan"] = {**analytics["plan"], "working_days": working_days}
    try:
        decomposition = from_analytics(analytics, sellers=sellers, sale_key="sale", sale_name="Продажа")
    except DecompositionError as exc:
        return {"error": str(exc)}
    if decomposition is None:
        return None
    days = decomposition.working_days
    steps_in = [f if isinstance(f, dict) else {} for f in analytics.get("funnel") or ()]
    index_of = {str(f.get("key", "")): i for i, f in enumerate(steps_in)}
    pipeline_of = {st["stage_id"]: p["id"] for p in pipelines for st in p["funnel"]}
    resolved: dict[str, tuple[str, list[int]]] = {}  # step key -> (basis, stage ids)
    for step in decomposition.steps:
        index = index_of.get(step.key)
        if step.is_sale or index is None or stage_ids is None:
            continue
        stage = steps_in[index].get("stage")
        if stage not in (None, ""):
            resolved[step.key] = ("stage", stage_ids([stage], f"blueprint analytics.funnel[{index}].stage"))
        elif blueprint.pipelines and any(p.stage(step.key) for p in blueprint.pipelines):
            refs = [f"{p.key}.{step.key}" for p in blueprint.pipelines if p.stage(step.key)]
            resolved[step.key] = ("key", stage_ids(refs, f"blueprint analytics.funnel[{index}].key"))
    wanted = [pid for ids in (ids for _, ids in resolved.values()) for pid in (pipeline_of.get(i) for i in ids)
              if pid is not None]
    compared = [p for p in pipelines if p["id"] in set(wanted)] or list(pipelines)
    per_pipeline = []
    for p in compared:
        reached = {st["stage_id"]: st["reached"] for st in p["funnel"]}
        rows = []
        for position, step in enumerate(decomposition.steps):
            if step.is_sale:
                basis, actual = "sale", p["won"]
            elif step.key in resolved:
                basis, ids = resolved[step.key]
                actual = sum(reached[i] for i in ids if i in reached)
            elif position == 0:
                basis, actual = "cohort", p["cohort"]
            else:
                basis, actual = "none", None
            per_seller = round(actual / sellers, 2) if actual is not None and sellers else None
            rows.append({"key": step.key, "name": step.name or step.key, "basis": basis,
                         "conversion": str(step.conversion) if step.conversion else None,
                         "needed": step.needed, "per_seller": step.per_seller, "per_day": step.per_day,
                         "actual": actual, "actual_per_seller": per_seller,
                         "actual_per_day": round(per_seller / days, 2) if per_seller is not None and days else None,
                         "done_share": _ratio(actual, step.needed) if actual is not None else None})
        per_pipeline.append({"id": p["id"], "name": p["name"], "steps": rows})
    sale = decomposition.steps[-1]
    per_manager: dict[Any, dict[str, Any]] = {}
    for p in compared:
        for m in p["managers"]:
            entry = per_manager.setdefault(m["user_id"], {"user_id": m["user_id"], "name": m["name"], "won": 0,
                                                          "won_budget": 0})
            entry["won"] += m["won"]
            entry["won_budget"] += m["won_budget"]
    for entry in per_manager.values():
        entry["target_sales"] = sale.per_seller
        entry["done_share"] = _ratio(entry["won"], sale.per_seller)
        entry["won_per_day"] = round(entry["won"] / days, 2) if days else None
    main = max(per_pipeline, key=lambda e: next(p["cohort"] for p in compared if p["id"] == e["id"])) \
        if per_pipeline else {"steps": []}
    return {"revenue_month": str(decomposition.revenue_month), "avg_check": str(decomposition.avg_check),
            "sellers": sellers, "working_days": days, "steps": main["steps"], "pipelines": per_pipeline,
            "per_manager": sorted(per_manager.values(), key=lambda e: -e["won_budget"]),
            "note": "actuals are the cohort of the report's period; compare with a one-month period"}


def _ratio(numerator: int | float | None, denominator: int | float | None) -> float | None:
    if not denominator or numerator is None:
        return None
    return round(numerator / denominator, 4)
