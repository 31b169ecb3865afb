"""The spec's figures: section 9 (analytics: the plan decomposed per seller, norms, the implementation's
effect, the CRM's built-in reports), the points motivation, and the table of assumptions (every value
nobody gave). `context.build_context` lays them beside the blueprint's configuration."""

from __future__ import annotations

import datetime as _dt
from decimal import ROUND_CEILING, Decimal
from typing import Any

from implkit.decomposition import Decomposition, DecompositionError, ceil_div, from_analytics
from implkit.errors import InputError, Location, Problem
from implkit.model import Blueprint, thaw
from implkit.lang import say
from implkit.spec.facts import Facts
from implkit.spec.messages import MESSAGES as _SPEC_MESSAGES


# --- 9. motivation (when the client wants CRM discipline in the bonus) -----------------------

# Example points per action (domain.md §2.4, derived; the client sets its own): a lead worked 1,
# qualification 2, a meeting 5, a proposal 3, a sale 10; any other step 1.
POINTS = {"lead": 1, "qualified": 2, "meeting": 5, "proposal": 3, "sale": 10}


def motivation(decomposition: dict[str, Any] | None) -> dict[str, Any] | None:
    """The seller's monthly points norm from the decomposition's per-seller norms × points per action."""
    if not decomposition or decomposition["sellers"] is None:
        return None
    rows = []
    for step, key in zip(decomposition["steps"], decomposition["keys"]):
        points = POINTS.get("sale" if step["is_sale"] else key, 1)
        rows.append({"name": step["name"], "is_sale": step["is_sale"], "norm": step["per_seller"], "points": points,
                     "total": step["per_seller"] * points})
    # the threshold scheme (share of the norm → coefficient, domain.md §2.4) is worded in templates/<lang>.j2
    return {"rows": rows, "norm": sum(r["total"] for r in rows)}


# --- 9. analytics ------------------------------------------------------------------------------


def analytics(blueprint: Blueprint, facts: Facts, crms: tuple[str, ...], source: str) -> dict[str, Any]:
    analytics = thaw(blueprint.analytics) if blueprint.analytics else {}
    # The plan the client gave (or the blueprint's, or the default working days) — one source: `facts`.
    plan = {"revenue_month": facts.revenue_month.value, "avg_check": facts.avg_check.value,
            "working_days": facts.working_days.value}
    merged = dict(analytics)
    merged["plan"] = plan if facts.revenue_month.known and facts.avg_check.known else None
    measured = facts.measured
    if measured is not None:  # measured conversions replace the assumed ones, step by step
        merged["funnel"] = [{**step, "conversion": measured.conversion(str(step.get("key", ""))) or step.get("conversion")}
                            for step in analytics.get("funnel") or ()]
    sellers = facts.sellers.value
    try:
        decomposition = from_analytics(merged, sellers=sellers)
    except DecompositionError as exc:
        raise InputError(say(_SPEC_MESSAGES, "decompose"),
                         [Problem(Location(source, key=exc.key), exc.reason)]) from None
    roles = {r.key: r.name for r in blueprint.roles}
    decomposed = _decomposition(decomposition, facts)
    return {
        "kpi_assumed": facts.preset is not None and bool(analytics.get("kpi")),
        # Directum RX has no deals module and so no sales reports of its own (templates/directum.j2 says so)
        "builtin_reports": [{"crm": crm, "reports": builtin_reports(crm, blueprint)} for crm in crms
                            if crm != "directum"],
        "audit_commands": AUDIT_COMMANDS,
        "effect": _effect(decomposed, facts),
        "decomposition": decomposed,
        # Every optional key present (None when absent): the templates run with StrictUndefined.
        "kpi": [{key: k.get(key) for key in ("key", "name", "target", "unit", "period", "per", "description")}
                for k in analytics.get("kpi") or ()],
        "reports": [
            {"key": r.get("key"), "name": r.get("name"), "frequency": r.get("frequency"),
             "audience": [roles.get(a, a) for a in r.get("audience") or ()], "description": r.get("description")}
            for r in analytics.get("reports") or ()
        ],
    }


# The CRM's own reports a sales team is run on, as the seeds list them for amoCRM (sales analysis,
# summary, employees, event feed, calls, goals) and their Bitrix24 counterparts; worded per language in
# templates/ru.j2 and en.j2 (`builtin`). Where each name comes from — and which Bitrix24 ones are
# described rather than named because no vendor page confirms the menu name — is in docs/spec.md.
BUILTIN_REPORTS = ("sales_analysis", "summary", "employees", "events", "calls", "goals")
# The `implkit audit` command that gives each report's figures from the tenant's snapshot.
AUDIT_COMMANDS = {"sales_analysis": "sales", "summary": "load", "employees": "activity", "events": "feed",
                  "calls": "calls", "goals": "goals"}


def builtin_reports(crm: str, blueprint: Blueprint) -> list[str]:
    """The CRM's built-in reports to set up; calls only with telephony in the blueprint."""
    telephony = any(i.kind == "telephony" for i in blueprint.integrations) or "telephony" in blueprint.features
    return [r for r in BUILTIN_REPORTS if r != "calls" or telephony]


def _effect(decomposition: dict[str, Any] | None, facts: Facts) -> list[dict[str, Any]]:
    """Implementation-effect indicators: the value before (the client's answer, else measured by a
    baseline audit before go-live) and the target (from the plan decomposition and the work rules)."""
    first = decomposition["steps"][0] if decomposition and len(decomposition["steps"]) > 1 else None
    sale = decomposition["steps"][-1] if decomposition else None
    cycle = facts.sales_cycle_days.value if facts.sales_cycle_days.source in ("client", "measured") else None
    return [
        {"key": "contacts_per_seller", "before": None, "target": first["per_seller"] if first else None},
        {"key": "overdue_contacts", "before": None, "target": 0, "checks": "D02, T01"},
        {"key": "sales_cycle", "before": cycle, "target": cycle},
        {"key": "contacts_per_sale", "before": None,
         "target": (ceil_div(first["needed"], sale["needed"]) if first and sale and sale["needed"] else None)},
        {"key": "sales_per_seller", "before": None, "target": sale["per_seller"] if sale else None},
        {"key": "revenue_per_seller", "before": None,
         "target": decomposition["revenue_per_seller"] if decomposition else None},
    ]


def _decomposition(decomposition: Decomposition | None, facts: Facts) -> dict[str, Any] | None:
    if decomposition is None:
        return None
    days = decomposition.working_days
    sellers = decomposition.sellers
    measured = facts.measured
    measured_keys = {m.key for m in measured.steps if m.conversion is not None} if measured else set()
    steps = [
        {"name": s.name, "is_sale": s.is_sale, "conversion": s.conversion, "needed": s.needed,
         "per_seller": s.per_seller, "measured": s.key in measured_keys, **norms(s.per_seller, days)}
        for s in decomposition.steps
    ]
    return {
        "revenue_month": decomposition.revenue_month,
        "avg_check": decomposition.avg_check,
        "sellers": sellers,
        "working_days": days,
        "sales": decomposition.sales,
        "overall_conversion": decomposition.overall_conversion,
        "revenue_per_seller": (ceil_div(decomposition.revenue_month, sellers) if sellers else None),
        "assumed": {k: getattr(facts, k).assumed for k in ("revenue_month", "avg_check", "sellers", "working_days")},
        "avg_check_measured": facts.avg_check.source == "measured",
        "measured": _measured(measured, facts),
        "steps": steps,
        "keys": [s.key for s in decomposition.steps],
        # Leading indicators: what each seller must do at the steps before the sale, per month, week, day.
        "leading": [s for s in steps if not s["is_sale"] and s["per_seller"] is not None],
    }


def _measured(measured: Any, facts: Facts) -> dict[str, Any] | None:
    """What the spec says about the measurement: tenant, period, deals, the steps left assumed and why, and
    the average check and cycle when they were measured (the client's own figures win over them)."""
    if measured is None:
        return None
    return {
        "avg_check": facts.avg_check.value if facts.avg_check.source == "measured" else None,
        "cycle": facts.sales_cycle_days.value if facts.sales_cycle_days.source == "measured" else None,
        "few_won": measured.won < _min_deals(),
        "tenant": measured.tenant, "pipeline": measured.pipeline, "days": measured.days, "deals": measured.deals,
        "won": measured.won,
        "start": _dt.datetime.fromtimestamp(measured.start, _dt.timezone.utc).date(),
        "end": _dt.datetime.fromtimestamp(measured.end - 1, _dt.timezone.utc).date(),
        "kept": [{"name": m.name, "entered": m.entered, "reason": m.reason} for m in measured.steps if m.conversion is None],
        "min_deals": _min_deals(),
    }


def _min_deals() -> int:
    from implkit.spec.measured import MIN_DEALS

    return MIN_DEALS


def norms(per_month: int | None, working_days: int | None) -> dict[str, Any]:
    """A seller's monthly norm as weekly and daily rates that do not mislead.

    The month is the norm (rounded up from the plan); the week (working days ÷ 5
    weeks) and the day are averages rounded UP to one decimal, never to a whole
    number: 7 a month over 21 days is 0.4 a day, not 1 (which would mean 21).
    Under one a day, the rate is also given as "once every N working days",
    N rounded DOWN so that the month's norm is still met (7 a month: every 3 days).
    """
    if per_month is None or not working_days:
        return {"per_week": None, "per_day": None, "every_days": None}
    month = Decimal(per_month)
    per_day = _ceil_tenth(month / working_days)
    per_week = _ceil_tenth(month * 5 / working_days)
    every = int(Decimal(working_days) // month) if 0 < month <= working_days / 2 else None  # "every 1 day" says nothing
    return {"per_week": per_week, "per_day": per_day, "every_days": every}


def _ceil_tenth(value: Decimal) -> Decimal:
    return (value * 10).to_integral_value(rounding=ROUND_CEILING) / 10


def assumptions(facts: Facts, decomposition: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every value nobody gave, in one table to confirm: company facts, then the funnel's conversions."""
    rows = [{"key": key, "value": value.value, "source": value.source, "step": None}
            for key, value in facts.assumptions()]
    if decomposition:
        for step in decomposition["steps"]:
            if not step["is_sale"] and not step["measured"]:
                rows.append({"key": "conversion", "value": step["conversion"], "source": facts.conversions_source,
                             "step": step["name"]})
    return rows
