"""Running checks over a snapshot.

Every check yields the failing records (entity + id, with the deal budget
where there is one); the count, the share of its population and the budget
at risk are derived from that set. "Now" is the snapshot time, passed to
every check as `:now`; no check reads the clock.

Stages in parameters (`exempt_stages`, D04's `stage_days`, D09's `from_stages`, D15's
`mandatory_stages`; by convention any parameter named `*_stages` or `stage_days`) are references
resolved here, before the SQL runs, into the snapshot's stage ids: the CRM's stage id, or the
blueprint's stable key (`pipeline.sales.stage.offer`, `sales.offer`, or `offer` when one pipeline
has it) through the tenant's state bindings, so a stage renamed in the CRM keeps its meaning.
A display name is accepted too, but only while the tenant has a stage of that name: a reference
that matches no stage of the tenant is bad input naming the stage and the file, never a silent
zero.

Verdicts: a check whose failures exceed its threshold (`max_count`,
`max_share`) *fails*; an `error` failure makes the audit exit 2, a
`warning` failure only with `--fail-on warning`; `info` checks report.
Tenants override thresholds and exempt stages in the workspace.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# RecordRef and sql_parameters live below this module (config_drift and checks need them without
# importing the engine, which imports both); imported here, they keep their old import path.
from implkit.audit.checks import (Check, ReadGuard, check_location, open_read_only, run_check_sql,
                                  sql_parameters)
from implkit.audit.records import RecordRef
from implkit.audit.snapshot import Snapshot
from implkit.errors import InputError, Location, Problem
from implkit.lang import say
from implkit.model import Blueprint

STATUSES = ("fail", "pass", "unsupported", "skipped")

# The audit's refusals of a tenant's settings (implkit.yaml `audit:`) and of a snapshot, in the user's language.
_MESSAGES = {
    "never_synced": {"ru": "снимок {path} ни разу не синхронизирован до конца; выполните `implkit sync`",
                     "en": "the snapshot {path} has never been synced completely; run `implkit sync`"},
    "unknown_parameters": {"ru": "параметры для неизвестных проверок: {ids}",
                           "en": "parameters for unknown check id(s) {ids}"},
    "no_such_check": {"ru": "нет такой проверки", "en": "no such check"},
    "not_a_stage": {"ru": "{ref!r} — не этап этого клиента", "en": "stage {ref!r} is not a stage of this tenant"},
    "no_stage": {"ru": "здесь нет этапа {ref!r} (по id в CRM, ключу в описании или названию); его этапы: {known}",
                 "en": "no stage {ref!r} here (by CRM id, blueprint key or name); its stages: {known}"},
    "no_check": {"ru": "нет проверки {id}", "en": "no check {id}"},
    "count_or_share": {"ru": "ожидается max_count или max_share", "en": "expected max_count or max_share"},
    "not_number": {"ru": "ожидается число записей или доля, а здесь {number!r}",
                   "en": "expected a number of records or a share, got {number!r}"},
    "share": {"ru": "доля не больше 1, а здесь {number!r}", "en": "a share is at most 1, got {number!r}"},
    "whole": {"ru": "число записей — целое, а здесь {number!r}", "en": "a count is a whole number, got {number!r}"},
    "thresholds": {"ru": "недопустимые пороги аудита", "en": "invalid audit thresholds"},
}


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
    exempt_stages: tuple[Any, ...] = ()  # stage references: CRM ids, blueprint keys (or names)
    blueprint: Blueprint | None = None
    only: tuple[str, ...] = ()  # check ids to run; empty: all
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # check id -> parameter overrides
    bindings: dict[str, Any] = field(default_factory=dict)  # state: blueprint address -> CRM id
    settings_file: str | None = None  # where the tenant's settings live (implkit.yaml), for error locations
    settings_path: tuple[str, ...] = ()  # the key path of the tenant's `audit` entry in that file
    blueprint_file: str | None = None  # the blueprint's path, for error locations


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


def is_stage_parameter(name: str) -> bool:
    return name.endswith("_stages") or name == "stage_days"


def run_checks(snapshot: Snapshot, checks: list[Check], options: AuditOptions, *,
               workers: int | None = None) -> AuditRun:
    """Run `checks` (those in `options.only`, if set). SQLite releases the GIL while it works, so checks
    run on `workers` threads, each with its own read connection (default: the CPUs, at most 4).
    Check SQL runs on read-only connections (`checks.open_read_only`); built-ins read `Snapshot.db`."""
    now = snapshot.snapshot_at
    if now is None:
        from implkit.errors import RuntimeFailure
        raise RuntimeFailure(say(_MESSAGES, "never_synced", path=snapshot.path))
    stages = StageResolver(snapshot, options)
    check_thresholds(options, {c.id for c in checks}, stages.setting_location)
    exempt = stages.ids(options.exempt_stages, stages.setting_location("exempt_stages"))
    selected = [c for c in checks if not options.only or c.id in options.only]
    unknown = sorted(set(options.parameters) - {c.id for c in checks})
    if unknown:
        raise InputError(say(_MESSAGES, "unknown_parameters", ids=", ".join(unknown)),
                         [Problem(stages.setting_location("parameters", unknown[0]),
                                  say(_MESSAGES, "no_such_check"))])
    # every stage reference is resolved before any check runs: one that names no stage stops the audit
    # (a check the CRM cannot run names no stage of it: it is reported unsupported, not resolved)
    selected = [c if c.unsupported_reason(options.crm) else stages.resolve_check(c) for c in selected]
    workers = min(workers or os.cpu_count() or 1, 4, len(selected) or 1)
    local = threading.local()
    opened: list[Any] = []
    lock = threading.Lock()

    def readers() -> _Readers:
        if not hasattr(local, "readers"):
            local.readers = _Readers(snapshot, threaded=workers > 1)
            with lock:
                opened.append(local.readers)
        return local.readers

    try:
        if workers <= 1 or not snapshot.path.is_file():
            return AuditRun(now, [_run_one(readers(), c, options, now, exempt) for c in selected], options)
        # slowest first, so that no long check starts last
        order = sorted(selected, key=lambda c: (c.builtin != "duplicates", c.population is None))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = dict(zip((c.id for c in order), pool.map(lambda c: _run_one(readers(), c, options, now, exempt),
                                                             order)))
        return AuditRun(now, [done[c.id] for c in selected], options)
    finally:
        for reader in opened:
            reader.close()


class _Readers:
    """One thread's connections: a Snapshot for the built-ins, a read-only guarded one for check SQL."""

    def __init__(self, snapshot: Snapshot, *, threaded: bool):
        self._own = threaded and snapshot.path.is_file()
        self.snapshot = Snapshot(snapshot.path, reader=True) if self._own else snapshot
        self._sql: tuple[Any, ReadGuard] | None = None

    @property
    def sql(self) -> tuple[Any, ReadGuard]:
        if self._sql is None:
            if self.snapshot.path.is_file():
                self._sql = open_read_only(self.snapshot.path)
            else:  # a snapshot that is not a file (in memory): the guard alone keeps it read-only
                self._sql = (self.snapshot.db, ReadGuard().install(self.snapshot.db))
        return self._sql

    def close(self) -> None:
        if self._sql is not None:
            db, _ = self._sql
            if db is self.snapshot.db:
                db.set_authorizer(None)
            else:
                db.close()
        if self._own:
            self.snapshot.close()


class StageResolver:
    """Stage references (CRM id, blueprint key, display name) → the snapshot's stage ids."""

    def __init__(self, snapshot: Snapshot, options: AuditOptions):
        self.options = options
        self.stages = [tuple(r) for r in snapshot.db.execute("SELECT pipeline_id, id, name FROM stages")]
        self.pipelines = {pid: name for pid, name in snapshot.db.execute("SELECT id, name FROM pipelines")}

    def setting_location(self, *keys: str) -> Location:
        """file:line:col of a key of the tenant's audit settings (implkit.yaml)."""
        file = self.options.settings_file
        path = (*self.options.settings_path, *keys)
        if file and Path(file).is_file():
            from implkit.yamlio import load_yaml, location_of

            try:
                return location_of(load_yaml(file), path, file)
            except InputError:
                pass
        return Location(file or "tenant audit settings", key=".".join(path))

    def resolve_check(self, check: Check) -> Check:
        """The check with its stage parameters (defaults and tenant overrides) replaced by stage ids."""
        overrides = self.options.parameters.get(check.id) or {}
        merged = {**check.parameters, **overrides}
        if not any(is_stage_parameter(k) for k in merged) and not overrides:
            return check
        resolved = dict(merged)
        for name, value in merged.items():
            if not is_stage_parameter(name) or value in (None, [], {}):
                continue
            where = (self.setting_location("parameters", check.id, name) if name in overrides
                     else check_location(check, ("parameters", name)))
            if isinstance(value, dict):
                out: dict[str, Any] = {}
                for ref, number in value.items():
                    for stage_id in self.ids([ref], where):
                        out[str(stage_id)] = number
                resolved[name] = out
            else:
                resolved[name] = self.ids(value if isinstance(value, (list, tuple)) else [value], where)
        return dataclasses.replace(check, parameters=resolved)

    def ids(self, refs: Any, where: Location) -> list[int]:
        found: set[int] = set()
        for ref in refs or ():
            matched = self._match(ref)
            if not matched:
                known = ", ".join(sorted({name for _, _, name in self.stages})[:12])
                raise InputError(say(_MESSAGES, "not_a_stage", ref=ref), [Problem(
                    where, say(_MESSAGES, "no_stage", ref=ref, known=known))])
            found |= matched
        return sorted(found)

    def _match(self, ref: Any) -> set[int]:
        if isinstance(ref, bool):
            return set()
        if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
            wanted = int(ref)
            return {sid for _, sid, _ in self.stages if sid == wanted}
        text = str(ref).strip()
        by_key = self._by_key(text)
        if by_key is not None:
            return by_key
        return {sid for _, sid, name in self.stages if name.strip().lower() == text.lower()}

    def _by_key(self, text: str) -> set[int] | None:
        """A blueprint key: through the state's binding (the CRM id) first, else the blueprint's names."""
        blueprint = self.options.blueprint
        parts = text.split(".")
        if len(parts) == 4 and parts[0] == "pipeline" and parts[2] == "stage":
            pairs = [(parts[1], parts[3])]
        elif len(parts) == 2:
            pairs = [(parts[0], parts[1])]
        elif len(parts) == 1 and blueprint is not None:
            pairs = [(p.key, text) for p in blueprint.pipelines if p.stage(text)]
        else:
            pairs = []
        out: set[int] = set()
        for pipeline_key, stage_key in pairs:
            bound = self.options.bindings.get(f"pipeline.{pipeline_key}.stage.{stage_key}")
            if bound is not None and str(bound).isdigit() and any(sid == int(bound) for _, sid, _ in self.stages):
                out.add(int(bound))
                continue
            pipeline = blueprint.pipeline(pipeline_key) if blueprint else None
            stage = pipeline.stage(stage_key) if pipeline else None
            if stage is None:
                continue
            pipeline_bound = self.options.bindings.get(f"pipeline.{pipeline_key}")
            pids = ({int(pipeline_bound)} if pipeline_bound is not None and str(pipeline_bound).isdigit()
                    else {pid for pid, name in self.pipelines.items()
                          if name.strip().lower() == pipeline.name.strip().lower()})
            out |= {sid for pid, sid, name in self.stages
                    if pid in pids and name.strip().lower() == stage.name.strip().lower()}
        return out if pairs and (out or blueprint is not None) else None


def resolve_stages(snapshot: Snapshot, stages: tuple[Any, ...] | list[Any],
                   options: AuditOptions | None = None) -> list[int]:
    """Stage ids from references (CRM ids, blueprint keys, names); an unknown one is bad input."""
    resolver = StageResolver(snapshot, options or AuditOptions())
    return resolver.ids(stages, resolver.setting_location("exempt_stages"))


def _run_one(readers: _Readers, check: Check, options: AuditOptions, now: int, exempt: list[int]) -> CheckResult:
    threshold = effective_threshold(check, options.thresholds.get(check.id))
    reason = check.unsupported_reason(options.crm)
    if reason:
        return CheckResult(check, "unsupported", threshold=threshold, reason=reason)
    if "blueprint" in check.requires and options.blueprint is None:
        return CheckResult(check, "skipped", threshold=threshold,
                           reason="the tenant has no blueprint to compare against")
    if check.builtin:
        from implkit.audit.config_drift import NoComparison

        try:
            failing, population, details = BUILTINS[check.builtin](readers.snapshot, check, options, now)
        except NoComparison as missing:  # F02/U01 on a snapshot synced without a configuration comparison
            return CheckResult(check, "skipped", threshold=threshold, reason=str(missing))
    else:
        params = sql_parameters(check, now=now, exempt_stage_ids=exempt)
        db, guard = readers.sql
        failing = _refs(check.entity, run_check_sql(db, guard, check, "sql", params))
        population = (run_check_sql(db, guard, check, "population", params).fetchone()[0]
                      if check.population else None)
        details = {}
    result = CheckResult(check, "pass", failing, population, threshold, details=details)
    if check.severity != "info" and _over(result, threshold):
        result.status = "fail"
    return result


def _refs(entity: str, cursor: Any) -> list[RecordRef]:
    """Failing records from a check's SELECT: `id`, and `entity`, `budget`, `responsible_user_id`, `value`
    if present."""
    columns = [d[0] for d in cursor.description]
    at = {name: columns.index(name) if name in columns else None
          for name in ("id", "entity", "budget", "responsible_user_id", "value")}
    if at["id"] is None:
        from implkit.errors import RuntimeFailure
        raise RuntimeFailure("a check's SQL must select an `id` column")
    i, e, b, r, v = at["id"], at["entity"], at["budget"], at["responsible_user_id"], at["value"]
    return [RecordRef(row[e] if e is not None and row[e] else entity, row[i],
                      int(row[b] or 0) if b is not None else 0, row[r] if r is not None else None,
                      row[v] if v is not None else None)
            for row in cursor]


def check_thresholds(options: AuditOptions, known: set[str], where: Callable[..., Location]) -> None:
    """Tenant thresholds: a check id → a count (int ≥ 0), a share (0 < x < 1) or {max_count, max_share};
    anything else is bad input at its key (`D03: lots` was an internal ValueError)."""
    problems = []
    for check_id, value in options.thresholds.items():
        if str(check_id) not in known:
            problems.append(Problem(where("thresholds", check_id), say(_MESSAGES, "no_check", id=check_id)))
            continue
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, number in items:
            path = ("thresholds", check_id) + ((key,) if key else ())
            if key not in (None, "max_count", "max_share"):
                problems.append(Problem(where(*path), say(_MESSAGES, "count_or_share")))
            elif isinstance(number, bool) or not isinstance(number, (int, float)) or number != number \
                    or number < 0 or number == float("inf"):
                problems.append(Problem(where(*path), say(_MESSAGES, "not_number", number=number)))
            elif key == "max_share" and number > 1:
                problems.append(Problem(where(*path), say(_MESSAGES, "share", number=number)))
            elif key == "max_count" and not float(number).is_integer():
                problems.append(Problem(where(*path), say(_MESSAGES, "whole", number=number)))
    if problems:
        raise InputError(say(_MESSAGES, "thresholds"), problems)


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
    """C01–C04, C14: one view each of the one entity-resolution pass (implkit.audit.duplicates)."""
    from implkit.audit.duplicates import check_result

    failing, population, details = check_result(snapshot, check.entity, check.parameters, check.source)
    # every record of a group fails (the group is the finding), with its owner for the worklists
    return [RecordRef(check.entity, i, 0, owner) for i, owner in failing], population, details


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
    """U01: roles whose rights `drift` shows changed (implkit.audit.config_drift)."""
    from implkit.audit.config_drift import rights_drift

    return rights_drift(snapshot, options.blueprint)


def _blueprint_drift(snapshot: Snapshot, check: Check, options: AuditOptions, now: int):
    """F02: every configuration difference `drift` shows, roles aside (implkit.audit.config_drift)."""
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
