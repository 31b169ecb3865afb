"""Score an audit against planted ground truth: precision and recall per check.

The sandbox's seeder (`implkit.sandbox.amocrm.seed`) writes, per check id, the
records the check must report (`ids`, or `by_entity` for checks spanning
several entities). This module only reads that JSON shape; it never
imports the sandbox. Checks whose truth was not planted are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from implkit.audit.engine import AuditRun, CheckResult


@dataclass(frozen=True)
class Score:
    check_id: str
    expected: int
    reported: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.reported if self.reported else (1.0 if not self.expected else 0.0)

    @property
    def recall(self) -> float:
        return self.true_positives / self.expected if self.expected else 1.0


# The seeders name records as their CRM does (Bitrix24: deals, activities); the snapshot's tables are
# the neutral leads and tasks.
ENTITY_NAMES = {"deals": "leads", "activities": "tasks"}


def expected_records(result: CheckResult, defect: dict[str, Any]) -> set[tuple[str, str]]:
    """The (entity, id) pairs the truth says this check must report, under the check's parameters."""
    def named(entity: str) -> str:
        return ENTITY_NAMES.get(entity, entity)

    linked = defect.get("linked_to_open_leads", defect.get("linked_to_open_deals"))
    if result.check.id == "C05" and result.check.parameters.get("only_linked_to_open_deals", True) \
            and linked is not None:
        return {("contacts", str(i)) for i in linked}
    if "by_entity" in defect:
        return {(named(entity), str(i)) for entity, ids in defect["by_entity"].items() for i in ids}
    return {(named(defect["entity"]), str(i)) for i in defect["ids"]}


def score_run(run: AuditRun, truth: dict[str, Any]) -> list[Score]:
    scores = []
    for result in run.results:
        defect = (truth.get("defects") or {}).get(result.check.id)
        if defect is None or not result.ran:
            continue
        expected = expected_records(result, defect)
        reported = {(r.entity, str(r.id)) for r in result.failing}
        scores.append(Score(result.check.id, len(expected), len(reported), len(expected & reported)))
    return scores


def misses(run: AuditRun, truth: dict[str, Any], check_id: str) -> dict[str, list]:
    """For a failing score: what was missed and what was reported wrongly (for debugging rules)."""
    result = run.result(check_id)
    defect = truth["defects"][check_id]
    expected = expected_records(result, defect)
    reported = {(r.entity, str(r.id)) for r in result.failing}
    return {"missed": sorted(expected - reported)[:20], "wrong": sorted(reported - expected)[:20]}


def truth_parameters(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check parameters the seeded account calls for, as a tenant would set them (stages by CRM id):
    D09's budget-required stages are each pipeline's offer stage."""
    pipelines = (((truth.get("defects") or {}).get("D09") or {}).get("params") or {}).get("pipelines") or {}
    offers = sorted(p["offer_status_id"] for p in pipelines.values() if p.get("offer_status_id"))
    return {"D09": {"from_stages": offers}} if offers else {}
