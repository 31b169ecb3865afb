"""Running checks over a snapshot.

Every check yields the failing records (entity + id, with the deal budget
where there is one); the count, the share of its population and the budget
at risk are derived from that set. "Now" is the snapshot time, passed to
every check as `:now`; no check reads the clock.

Verdicts: a check whose failures exceed its threshold (`max_count`,
`max_share`) *fails*; an `error` failure makes the audit exit 2, a
`warning` failure only with `--fail-on warning`; `info` checks report.
Tenants override thresholds and exempt stages in the workspace.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from implkit.audit.checks import Check
from implkit.audit.snapshot import Snapshot
from implkit.model import Blueprint

STATUSES = ("fail", "pass", "unsupported", "skipped")


@dataclass(frozen=True, slots=True)  # slots: a check on a million records holds a million of these
class RecordRef:
    entity: str
    id: int | str
    budget: int = 0
    responsible_user_id: int | None = None


@dataclass
class CheckResult:
    check: Check
    status: str  # fail | pass | unsupported | skipped
    failing: list[RecordRef] = field(default_factory=list)
    population: int | None = None
    threshold: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.failing)

    @property
    def share(self) -> float | None:
        if not self.population:
            return None
        return self.count / self.population

    @property
    def budget_at_risk(self) -> int:
        return sum(r.budget for r in self.failing)

    @property
    def ran(self) -> bool:
        return self.status in ("fail", "pass")


@dataclass(frozen=True)
class AuditOptions:
    """Per-tenant settings: the CRM, overrides from the workspace, the blueprint if the tenant has one."""

    crm: str = "amocrm"
    thresholds: dict[str, Any] = field(default_factory=dict)  # check id -> number (max_count) or {max_count/max_share}
    exempt_stages: tuple[Any, ...] = ()  # stage ids or names
    blueprint: Blueprint | None = None
    only: tuple[str, ...] = ()  # check ids to run; empty: all


@dataclass
class AuditRun:
    snapshot_at: int
    results: list[CheckResult]
    options: AuditOptions

    def result(self, check_id: str) -> CheckResult | None:
        return next((r for r in self.results if r.check.id == check_id), None)

    def exit_code(self, fail_on: str = "error") -> int:
        levels = ("error",) if fail_on == "error" else ("error", "warning")
        return 2 if any(r.status == "fail" and r.check.severity in levels for r in self.results) else 0


def sql_parameters(check: Check, *, now: int, exempt_stage_ids: list[int],
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Named parameters a check's SQL sees: `:now`, `:exempt_stage_ids` (JSON) and every check parameter."""
    params: dict[str, Any] = {}
    for key, value in {**check.parameters, **(overrides or {})}.items():
        params[key] = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
    params["now"] = now
    params["exempt_stage_ids"] = json.dumps(exempt_stage_ids)
    return params


def run_checks(snapshot: Snapshot, checks: list[Check], options: AuditOptions, *,
               workers: int | None = None) -> AuditRun:
    """Run `checks` (those in `options.only`, if set). SQLite releases the GIL while it works, so checks
    run on `workers` threads, each with its own read connection (default: the CPUs, at most 4)."""
    now = snapshot.snapshot_at
    if now is None:
        from implkit.errors import RuntimeFailure
        raise RuntimeFailure(f"the snapshot {snapshot.path} has never been synced completely; run `implkit sync`")
    exempt = resolve_stages(snapshot, options.exempt_stages)
    selected = [c for c in checks if not options.only or c.id in options.only]
    workers = min(workers or os.cpu_count() or 1, 4, len(selected) or 1)
    if workers <= 1 or not snapshot.path.is_file():
        return AuditRun(now, [_run_one(snapshot, c, options, now, exempt) for c in selected], options)
    local = threading.local()
    opened: list[Snapshot] = []
    lock = threading.Lock()

    def run_in_thread(check: Check) -> CheckResult:
        if not hasattr(local, "snapshot"):
            local.snapshot = Snapshot(snapshot.path, reader=True)
            with lock:
                opened.append(local.snapshot)
        return _run_one(local.snapshot, check, options, now, exempt)

    # slowest first, so that no long check starts last
    order = sorted(selected, key=lambda c: (c.builtin != "duplicates", c.population is None))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = dict(zip((c.id for c in order), pool.map(run_in_thread, order)))
    finally:
        for opened_snapshot in opened:
            opened_snapshot.close()
    return AuditRun(now, [done[c.id] for c in selected], options)


def resolve_stages(snapshot: Snapshot, stages: tuple[Any, ...] | list[Any]) -> list[int]:
    """Stage ids from ids or names (case-insensitive); names may match stages in several pipelines."""
    ids: set[int] = set()
    for stage in stages:
        if isinstance(stage, int) or (isinstance(stage, str) and stage.isdigit()):
            ids.add(int(stage))
            continue
        for (stage_id,) in snapshot.db.execute("SELECT id FROM stages WHERE lower(name) = lower(?)", (str(stage),)):
            ids.add(stage_id)
    return sorted(ids)


def _run_one(snapshot: Snapshot, check: Check, options: AuditOptions, now: int, exempt: list[int]) -> CheckResult:
    threshold = effective_threshold(check, options.thresholds.get(check.id))
    reason = check.unsupported_reason(options.crm)
    if reason:
        return CheckResult(check, "unsupported", threshold=threshold, reason=reason)
    if "blueprint" in check.requires and options.blueprint is None:
        return CheckResult(check, "skipped", threshold=threshold,
                           reason="the tenant has no blueprint to compare against")
    if check.builtin:
        failing, population, details = BUILTINS[check.builtin](snapshot, check, options, now)
    else:
        params = sql_parameters(check, now=now, exempt_stage_ids=exempt)
        cursor = snapshot.db.execute(check.sql, params)
        failing = _refs(check.entity, cursor)
        population = snapshot.db.execute(check.population, params).fetchone()[0] if check.population else None
        details = {}
    result = CheckResult(check, "pass", failing, population, threshold, details=details)
    if check.severity != "info" and _over(result, threshold):
        result.status = "fail"
    return result


def _refs(entity: str, cursor: Any) -> list[RecordRef]:
    """Failing records from a check's SELECT: `id`, and `entity`, `budget`, `responsible_user_id` if present."""
    columns = [d[0] for d in cursor.description]
    at = {name: columns.index(name) if name in columns else None
          for name in ("id", "entity", "budget", "responsible_user_id")}
    if at["id"] is None:
        from implkit.errors import RuntimeFailure
        raise RuntimeFailure("a check's SQL must select an `id` column")
    i, e, b, r = at["id"], at["entity"], at["budget"], at["responsible_user_id"]
    return [RecordRef(row[e] if e is not None and row[e] else entity, row[i],
                      int(row[b] or 0) if b is not None else 0, row[r] if r is not None else None)
            for row in cursor]


def effective_threshold(check: Check, override: Any) -> dict[str, float]:
    if override is None:
        return dict(check.threshold)
    if isinstance(override, dict):
        return {k: v for k, v in override.items() if k in ("max_count", "max_share")}
    if isinstance(override, float) and override < 1:
        return {"max_share": override}
    return {"max_count": int(override)}


def _over(result: CheckResult, threshold: dict[str, float]) -> bool:
    if not threshold:
        return False
    if "max_count" in threshold and result.count > threshold["max_count"]:
        return True
    share = result.share
    return "max_share" in threshold and share is not None and share > threshold["max_share"]


# --- built-ins -------------------------------------------------------------------------

Builtin = Callable[[Snapshot, Check, AuditOptions, int], tuple[list[RecordRef], int | None, dict[str, Any]]]


def _duplicates(snapshot: Snapshot, check: Check, options: AuditOptions, now: int):
    from implkit.audit.duplicates import find_duplicates_by_rules

    params = check.parameters
    rules = params.get("rule", "phone")
    report = find_duplicates_by_rules(snapshot, check.entity, rules if isinstance(rules, list) else [rules],
                                      max_block=int(params.get("max_block", 20)),
                                      min_score=float(params.get("min_score", 90)))
    population = snapshot.db.execute(f"SELECT count(*) FROM {check.entity}").fetchone()[0]
    # every member of a group fails (the group is the finding); the details say which one to keep
    failing = [RecordRef(check.entity, i) for i in sorted(i for g in report.groups for i in g.members)]
    details = {**report.summary(),
               "duplicate_rate": round(len(report.extra_records) / population, 4) if population else None,
               "duplicate_groups": [{"rule": g.rule, "key": g.key, "keep": g.keep, "merge": g.merge}
                                    for g in report.groups]}
    return failing, population, details


def _required_fields(snapshot: Snapshot, check: Check, options: AuditOptions, now: int):
    """D10: fields required at the deal's stage *or any earlier one* in its pipeline (cumulative), left empty."""
    required: dict[tuple[int, int], set[int]] = {}
    positions = {(p, s): pos for p, s, pos in snapshot.db.execute("SELECT pipeline_id, id, position FROM stages")}
    stage_fields: dict[tuple[int, int], set[int]] = {}
    for field_id, statuses in snapshot.db.execute(
            "SELECT id, required_statuses FROM custom_fields WHERE entity_type = 'leads'"):
        for item in json.loads(statuses or "[]"):
            stage_fields.setdefault((item.get("pipeline_id"), item.get("status_id")), set()).add(field_id)
    for (pipeline_id, status_id), position in positions.items():
        fields: set[int] = set()
        for (p, s), ids in stage_fields.items():
            if p == pipeline_id and positions.get((p, s), 10 ** 9) <= position:
                fields |= ids
        if fields:
            required[(pipeline_id, status_id)] = fields
    failing: list[RecordRef] = []
    population = 0
    if not required:
        return failing, 0, {"required_stages": 0}
    filled: dict[int, set[int]] = {}
    field_ids = sorted(set().union(*required.values()))
    for lead_id, field_id in snapshot.db.execute(
            f"SELECT entity_id, field_id FROM field_values WHERE entity_type = 'leads'"
            f" AND field_id IN ({','.join('?' * len(field_ids))})", field_ids):
        filled.setdefault(lead_id, set()).add(field_id)
    only_open = bool(check.parameters.get("only_open", True))
    for lead_id, pipeline_id, status_id, price, responsible in snapshot.db.execute(
            "SELECT id, pipeline_id, status_id, price, responsible_user_id FROM leads"
            + (" WHERE is_open = 1" if only_open else "")):
        need = required.get((pipeline_id, status_id))
        if not need:
            continue
        population += 1
        if need - filled.get(lead_id, set()):
            failing.append(RecordRef("leads", lead_id, price or 0, responsible))
    return failing, population, {"required_stages": len(required)}


def _rights_drift(snapshot: Snapshot, check: Check, options: AuditOptions, now: int):
    """U01: users whose rights differ from their role in the blueprint (matched by role name)."""
    from implkit.audit.config_drift import rights_drift

    return rights_drift(snapshot, options.blueprint)


def _blueprint_drift(snapshot: Snapshot, check: Check, options: AuditOptions, now: int):
    """F02: pipelines, stages, fields and loss reasons of the blueprint missing or different in the tenant."""
    from implkit.audit.config_drift import blueprint_drift

    return blueprint_drift(snapshot, options.blueprint)


def _directum_duplicates(snapshot: Snapshot, check: Check, options: AuditOptions, now: int):
    """X01–X05: one of Directum's own duplicate definitions (implkit/audit/directum.py); the groups are the evidence."""
    from implkit.audit.directum import duplicate_groups

    ids, groups, population = duplicate_groups(snapshot.db, str(check.parameters.get("rule")))
    return [RecordRef(check.entity, i) for i in ids], population, {"groups": len(groups), "duplicate_groups": groups}


BUILTINS: dict[str, Builtin] = {
    "duplicates": _duplicates,
    "directum_duplicates": _directum_duplicates,
    "required_fields": _required_fields,
    "rights_drift": _rights_drift,
    "blueprint_drift": _blueprint_drift,
}
