"""Measured funnel figures for the plan decomposition: what `spec render --measured-from TENANT` brings.

The command reads the tenant's latest audit snapshot (the cohort analytics of
implkit.audit.analytics: deals created in the period, how many reached each
stage) and passes it here as plain data; this module maps the blueprint's
funnel steps onto the measured stages. A step's conversion is
reached(next step's stage) ÷ reached(its stage), the last step's next being
the sale (won). A step with fewer than MIN_DEALS deals, no matching stage or
nobody reaching the next step keeps the blueprint's figure, which stays an
assumption, and the spec says why. The average check and the sales cycle are
taken when at least MIN_DEALS deals were won and the client did not give them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from implkit.model import Blueprint, thaw

MIN_DEALS = 10  # fewer than this at a step: too few to measure a share (a 1-deal swing moves it by 10 points)


@dataclass(frozen=True)
class MeasuredStep:
    key: str
    name: str
    conversion: Decimal | None  # None: not measured (see `reason`)
    entered: int | None  # deals of the cohort that reached the step's stage
    reason: str | None = None  # "few_deals" | "no_stage" | "none_next"


@dataclass(frozen=True)
class Measured:
    tenant: str
    pipeline: str
    start: int  # unix seconds, the period's first moment
    end: int  # exclusive
    days: int
    deals: int  # the cohort: deals created in the period
    won: int
    steps: tuple[MeasuredStep, ...]
    avg_check: Decimal | None
    cycle_days: Decimal | None

    def conversion(self, key: str) -> Decimal | None:
        return next((s.conversion for s in self.steps if s.key == key), None)


def pick_pipeline(analytics: dict[str, Any], blueprint: Blueprint) -> dict[str, Any] | None:
    """The measured pipeline the funnel describes: the blueprint's main pipeline by name, else the first."""
    pipelines = analytics.get("pipelines") or []
    main = next((p for p in blueprint.pipelines if p.is_main), blueprint.pipelines[0] if blueprint.pipelines else None)
    if main is not None:
        found = next((p for p in pipelines if p.get("name") == main.name), None)
        if found is not None:
            return found
    return pipelines[0] if pipelines else None


def measure(analytics: dict[str, Any], blueprint: Blueprint, tenant: str) -> Measured | None:
    """The blueprint's funnel steps measured on one pipeline of the snapshot's cohort analytics."""
    pipeline = pick_pipeline(analytics, blueprint)
    if pipeline is None:
        return None
    reached = {step["stage"]: step["reached"] for step in pipeline.get("funnel") or () if step.get("kind") == "open"}
    won = int(pipeline.get("won") or 0)
    plain = thaw(blueprint.analytics) if blueprint.analytics else {}
    funnel = [dict(s) for s in plain.get("funnel") or ()]
    stage_names = {s.address(p.key): s.name for p in blueprint.pipelines for s in p.stages}

    def entered(step: dict[str, Any]) -> int | None:
        name = stage_names.get(str(step.get("stage") or ""), step.get("name"))
        return reached.get(name)

    steps = []
    for index, step in enumerate(funnel):
        here = entered(step)
        after = entered(funnel[index + 1]) if index + 1 < len(funnel) else won
        key, name = str(step.get("key", "")), str(step.get("name", ""))
        if here is None or after is None:
            steps.append(MeasuredStep(key, name, None, here, "no_stage"))
        elif here < MIN_DEALS:
            steps.append(MeasuredStep(key, name, None, here, "few_deals"))
        elif after == 0:
            steps.append(MeasuredStep(key, name, None, here, "none_next"))
        else:
            steps.append(MeasuredStep(key, name, min(Decimal(1), Decimal(after) / Decimal(here)).quantize(Decimal("0.001")),
                                      here))
    period = analytics.get("period") or {}
    check = pipeline.get("average_check")
    cycle = (pipeline.get("cycle_days") or {}).get("median")
    enough = won >= MIN_DEALS
    return Measured(
        tenant=tenant, pipeline=str(pipeline.get("name", "")), start=int(period.get("start", 0)),
        end=int(period.get("end", 0)), days=round(float(period.get("days", 0))), deals=int(pipeline.get("cohort") or 0),
        won=won, steps=tuple(steps),
        avg_check=Decimal(str(check)) if enough and check else None,
        cycle_days=Decimal(str(cycle)) if enough and cycle is not None else None,
    )
