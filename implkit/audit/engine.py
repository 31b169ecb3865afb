"""Running checks over a snapshot.

Every check selects the failing records (entity + id, with the deal budget
where there is one). Its SQL runs once, in its own order, into a temp table
of its own on the read connection (`_Readers.fill`; the temp database lives
on a file); the count, the share of its population, the budget at risk, the
per-manager counts, the samples a report shows, every id the history keeps
and every record an export streams are all read from that table — as
audited, whatever a later sync changes. "Now" is the snapshot time, passed
to every check as `:now`; no check reads the clock.

What several checks need per deal (its touches, last activity, stage
entries: `snapshot.AUDIT_TABLES`) sync stores in the snapshot for its time,
and every audit reads them there. On a snapshot without them for its time
(an older implkit's, one written since) the engine builds them once per read
connection as temp tables, by the engine only (a temp table of the name
shadows the snapshot's); the checks that read them run in one lane, so
each is built once. The checks run in lanes, one per core: this process's
thread and, for a big snapshot, processes of their own (`lanes`), each
taking the next unit of work.

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

Why this file is long: the engine owns the snapshot's read connections and everything that must hold
on them together — the read-only guard that lets only the engine build its temp tables, the work
units spread over the lanes, the table each check's records are run into and everything read from
it afterwards on the same connection; split apart, the guarantee that a check's SQL cannot write would span
modules.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterator

# RecordRef and sql_parameters live below this module (config_drift and checks need them without
# importing the engine, which imports both); imported here, they keep their old import path.
from implkit.audit import lanes
from implkit.audit.checks import (Check, ReadGuard, check_location, open_read_only, run_check_sql,
                                  sql_columns, sql_parameters)
from implkit.audit.lanes import SCRATCH
from implkit.audit.records import RecordRef, grouped_by_entity, joined_ids
from implkit.audit.snapshot import (AUDIT_TABLE_NEEDS, AUDIT_TABLES, Snapshot, build_audit_tables,
                                   stored_audit_tables)
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


@dataclass(frozen=True)
class Tally:
    """What a check's failing records add up to, counted where they are (SQL `count`/`sum ... GROUP BY`):
    how many, their budget, and how many per responsible user (`None`: no responsible)."""

    count: int = 0
    budget: int = 0
    managers: dict[Any, int] = field(default_factory=dict)

    @classmethod
    def of(cls, refs: list[RecordRef]) -> "Tally":
        managers: dict[Any, int] = {}
        for ref in refs:
            managers[ref.responsible_user_id] = managers.get(ref.responsible_user_id, 0) + 1
        return cls(len(refs), sum(r.budget for r in refs), managers)


class CheckResult:
    """One check's verdict. The figures (count, share, budget at risk, per manager) come from a `Tally`;
    the failing records themselves are read only when asked: `samples(n)` for what a report shows,
    `refs()`/`ids()` streamed for exports and the history, `failing` (every record, as a list) for callers
    that want them all at once."""

    def __init__(self, check: Check, status: str, failing: list[RecordRef] | None = None,
                 population: int | None = None, threshold: dict[str, float] | None = None, reason: str = "",
                 details: dict[str, Any] | None = None, *, tally: Tally | None = None,
                 records: "_SqlRecords | None" = None):
        self.check = check
        self.status = status  # fail | pass | unsupported | skipped
        self.population = population
        self.threshold = threshold if threshold is not None else {}
        self.reason = reason
        self.details = details if details is not None else {}
        self._failing = list(failing) if failing is not None else (None if records is not None else [])
        self._records = records
        self._ids: list[tuple[str, Any]] | None = None  # read once (`ids_by_entity`)
        self.tally = tally if tally is not None else (records.tally() if records is not None
                                                       else Tally.of(self._failing or []))

    def __repr__(self) -> str:
        return f"CheckResult({self.check.id}, {self.status}, count={self.count}, population={self.population})"

    @property
    def failing(self) -> list[RecordRef]:
        if self._failing is None:
            self._failing = list(self._records.refs()) if self._records is not None else []
        return self._failing

    def refs(self) -> Iterator[RecordRef]:
        """Every failing record, in the check's order, one at a time."""
        if self._failing is not None or self._records is None:
            return iter(self.failing)
        return self._records.refs()

    def samples(self, n: int) -> list[RecordRef]:
        """The first `n` failing records in the check's order (its SQL's ORDER BY)."""
        if self._failing is not None or self._records is None:
            return self.failing[:n]
        return list(self._records.refs(limit=n))

    def ids(self) -> Iterator[tuple[str, Any]]:
        """(entity, id) of every failing record, streamed (the history keeps them packed)."""
        if self._failing is not None or self._records is None:
            return ((r.entity, r.id) for r in self.failing)
        return self._records.ids()

    def ids_by_entity(self) -> list[tuple[str, Any]]:
        """The failing ids, per entity: a list, or a numpy int64 array (the history packs them so:
        `history.pack_grouped`)."""
        if self._ids is None:
            self._ids = (grouped_by_entity(self.ids()) if self._failing is not None or self._records is None
                         else self._records.ids_by_entity())
        return self._ids

    def manager_order(self) -> list[Any]:
        """Responsible users in the order their first failing record comes (breaks ties in per-manager
        counts exactly as a count over the records in the check's order did)."""
        if self._failing is not None or self._records is None:
            return list(dict.fromkeys(r.responsible_user_id for r in self.failing))
        return self._records.manager_order()

    @property
    def count(self) -> int:
        return self.tally.count

    @property
    def share(self) -> float | None:
        if not self.population:
            return None
        return self.count / self.population

    @property
    def budget_at_risk(self) -> int:
        return self.tally.budget

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

    _readers: list[Any] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Close the read connections the results' records are read through (the run keeps them, and their
        shared tables, until then; a closed run's results still have their figures)."""
        for reader in self._readers:
            reader.close()
        self._readers.clear()

    def __enter__(self) -> "AuditRun":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def result(self, check_id: str) -> CheckResult | None:
        return next((r for r in self.results if r.check.id == check_id), None)

    def exit_code(self, fail_on: str = "error") -> int:
        levels = ("error",) if fail_on == "error" else ("error", "warning")
        return 2 if any(r.status == "fail" and r.check.severity in levels for r in self.results) else 0


def is_stage_parameter(name: str) -> bool:
    return name.endswith("_stages") or name == "stage_days"


def run_checks(snapshot: Snapshot, checks: list[Check], options: AuditOptions, *,
               workers: int | None = None, processes: bool | None = None, ids: bool = False) -> AuditRun:
    """Run `checks` (those in `options.only`, if set) in `workers` lanes (default: the CPUs, at most 4),
    each with its own read connection. SQLite releases the GIL while it works, but two threads of one
    process gain only 1.5× over one (the duplicates pass is Python; SQLite's allocator takes a
    process-wide lock), so with `processes` the lanes after the first are processes of their own
    (`lanes`); by default, for a snapshot of `lanes.PROCESSES_FROM` bytes or more, where starting one
    (a third of a second) pays. `ids`: each check's failing ids are read in the lane that ran it, beside
    the other lanes' work (the history records them all; read afterwards, they took 1.3 s on one thread
    at 1M + 1M). Check SQL runs on read-only connections (`checks.open_read_only`); built-ins read
    `Snapshot.db`."""
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
    opened: list[_Readers] = []
    lock = threading.Lock()
    keep = snapshot.path.is_file()  # records of a file snapshot are read later, through the run's readers

    def readers() -> _Readers:
        if not hasattr(local, "readers"):
            local.readers = _Readers(snapshot, threaded=workers > 1, now=now)
            with lock:
                opened.append(local.readers)
        return local.readers

    def run_unit(unit: list[Check]) -> list[CheckResult]:
        return [_run_one(readers(), c, options, now, exempt, eager=not keep, ids=ids) for c in unit]

    try:
        if workers <= 1 or not keep:
            results = run_unit(selected)
        elif processes or processes is None and lanes.worth_processes(snapshot.path):
            done = lanes.run_in_lanes(_units(selected), run_unit, lanes=workers, opened=opened,
                                      start=lambda: process_lane(snapshot.path, now, exempt, options, ids=ids))
            results = [done[c.id] for c in selected]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                done = {r.check.id: r for unit in pool.map(run_unit, _units(selected)) for r in unit}
            results = [done[c.id] for c in selected]
    except BaseException:
        for reader in opened:
            reader.close()
        raise
    if not keep:
        for reader in opened:
            reader.close()
        opened = []
    return AuditRun(now, results, options, opened)


def process_lane(snapshot: Path, now: int, exempt: list[int], options: AuditOptions, *,
                 ids: bool = False) -> lanes.ProcessLane:
    """A process lane (`lanes`) that runs check units as `run_checks` does, into its scratch file. It is
    given only what a SQL check reads of the options (`lanes.can_run` keeps the blueprint's here)."""
    light = AuditOptions(crm=options.crm, thresholds=dict(options.thresholds))
    return lanes.ProcessLane(snapshot, entry="from implkit.audit.engine import serve_lane; serve_lane()",
                             setup=(now, exempt, light, ids),
                             bind=lambda readers, shipped: _SqlRecords.received(readers, *shipped))


def serve_lane() -> None:
    """The main of a process lane's Python (`process_lane`): runs the units it is sent on its own
    read-only connection, each check's records into the scratch file, and sends back each result,
    its records as what `_SqlRecords.received` needs."""
    def start(snapshot: str, scratch: str, now: int, exempt: list[int], options: AuditOptions,
              ids: bool) -> tuple[Callable[[list[Check]], list[Any]], Callable[[], None]]:
        opened = Snapshot(Path(snapshot), reader=True)
        readers = _Readers(opened, threaded=False, now=now, scratch=Path(scratch))

        def run(unit: list[Check]) -> list[tuple[CheckResult, Any]]:
            return [_shipped(_run_one(readers, check, options, now, exempt, ids=ids)) for check in unit]

        def close() -> None:
            readers.close()
            opened.close()
        return run, close

    lanes.serve(start)


def _shipped(result: CheckResult) -> tuple[CheckResult, tuple[Any, ...] | None]:
    """A result to send to the main process: its records replaced by what `_SqlRecords.received` needs
    (the connection stays here)."""
    records, result._records = result._records, None
    return result, records.shipped() if records is not None else None


def _units(checks: list[Check]) -> list[list[Check]]:
    """Checks grouped into units of work for the lanes, slowest first so that no long unit starts last:
    the duplicates pass alone; every check that reads the engine's shared tables in one unit (a thread
    builds them once on its connection); the rest one by one."""
    duplicates = [c for c in checks if c.builtin == "duplicates"]
    shared = [c for c in checks if c not in duplicates and audit_tables_of(c)]
    rest = [c for c in checks if c not in duplicates and c not in shared]
    units = [duplicates] if duplicates else []
    units += [shared] if shared else []
    return units + [[c] for c in sorted(rest, key=lambda c: c.population is None)]


def audit_tables_of(check: Check) -> list[str]:
    """The engine's shared tables (snapshot.AUDIT_TABLES) the check's SQL names, with what they need,
    in the order to build them."""
    text = f"{check.sql or ''}\n{check.population or ''}"
    named = [name for name in AUDIT_TABLES if re.search(rf"\b{name}\b", text)]
    out: list[str] = []

    def add(name: str) -> None:
        for need in AUDIT_TABLE_NEEDS.get(name, ()):
            add(need)
        if name not in out:
            out.append(name)

    for name in named:
        add(name)
    return out


class _Readers:
    """One thread's connections: a Snapshot for the built-ins, a read-only guarded one for check SQL, with
    the engine's shared tables built on it as its checks need them."""

    schema = "temp"  # where the failing records' tables are: the connection's temp database

    def __init__(self, snapshot: Snapshot, *, threaded: bool, now: int, scratch: Path | None = None):
        self._threaded = threaded and snapshot.path.is_file()
        self._scratch = scratch
        if scratch is not None:  # a second process: its tables go to a file the main process reads
            self.schema = SCRATCH
        self._caller = snapshot
        self._own: Snapshot | None = None  # opened when a built-in runs on this thread (each holds a page cache)
        self.now = now
        self._sql: tuple[Any, ReadGuard] | None = None
        self.built: list[str] = []  # the shared tables built here (TEMP), when the snapshot has none for its time
        self._stored: bool | None = None
        self.filled: list[str] = []  # the temp tables the checks' failing records were run into
        self.closed = False

    @property
    def snapshot(self) -> Snapshot:
        """The Snapshot the built-ins read: the caller's, or this thread's own reader."""
        if not self._threaded:
            return self._caller
        if self._own is None:
            self._own = Snapshot(self._caller.path, reader=True)
        return self._own

    @property
    def sql(self) -> tuple[Any, ReadGuard]:
        if self._sql is None:
            if self._caller.path.is_file():
                self._sql = open_read_only(self._caller.path, attach=(SCRATCH, self._scratch, True)
                                           if self.schema == SCRATCH else None)
            else:  # a snapshot that is not a file (in memory): the guard alone keeps it read-only
                self._sql = (self._caller.db, ReadGuard().install(self._caller.db))
        return self._sql

    def fill(self, check: Check, params: dict[str, Any], width: int) -> str:
        """Run the check's SQL once, in its order, into a new table of `width` columns (`c0`, `c1`, …,
        untyped so that no value is converted) in `self.schema`; its rowids are the records' positions.
        Only that table may be written while the check's SQL runs (`ReadGuard.filling`)."""
        db, guard = self.sql
        name = f"failing_{len(self.filled)}"
        with guard.filling(db, name, self.schema):
            db.execute(f"CREATE TABLE {self.schema}.{name} ({', '.join(f'c{i}' for i in range(width))})")
            self.filled.append(name)
            run_check_sql(db, guard, check, "sql", params, sql=f"INSERT INTO {self.schema}.{name} {check.sql}")
        return name

    @property
    def stored(self) -> bool:
        """Whether the snapshot holds the shared tables for its time (sync built them): then they are read
        as they are, and none is built here."""
        if self._stored is None:
            self._stored = stored_audit_tables(self.sql[0], self.now)
        return self._stored

    def tables(self, names: list[str]) -> None:
        """The shared tables `names` for this connection: the snapshot's own when sync stored them for its
        time, else built here as TEMP tables (once each), as the engine, not as a check."""
        if not names or self.stored:
            return
        db, guard = self.sql
        for name in names:
            if name in self.built:
                continue
            with guard.engine_tables(db):
                build_audit_tables(db, [name], schema="temp", now=self.now)
            self.built.append(name)

    def close(self) -> None:
        self.closed = True
        if self._sql is not None:
            db, guard = self._sql
            if db is self._caller.db:  # the caller's connection: leave it as it was
                with guard.engine_tables(db):
                    for name in reversed(self.built + self.filled):
                        db.execute(f"DROP TABLE IF EXISTS temp.{name}")
                db.set_authorizer(None)
            else:
                db.close()
            self._sql = None
        if self._own is not None:
            self._own.close()
            self._own = None


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


def _run_one(readers: _Readers, check: Check, options: AuditOptions, now: int, exempt: list[int], *,
             eager: bool = False, ids: bool = False) -> CheckResult:
    threshold = effective_threshold(check, options.thresholds.get(check.id))
    reason = check.unsupported_reason(options.crm)
    if reason:
        return CheckResult(check, "unsupported", threshold=threshold, reason=reason)
    if "blueprint" in check.requires and options.blueprint is None:
        return CheckResult(check, "skipped", threshold=threshold,
                           reason="the tenant has no blueprint to compare against")
    source, details = check, {}
    if check.builtin == "required_fields":  # D10 becomes SQL: counted and read as a check's SQL is
        source, details = _required_fields_check(readers.sql[0], check)
        if source is None:
            return CheckResult(check, "pass", [], 0, threshold, details=details)
    if source.builtin:
        from implkit.audit.config_drift import NoComparison

        try:
            failing, population, details = BUILTINS[check.builtin](readers.snapshot, check, options, now)
        except NoComparison as missing:  # F02/U01 on a snapshot synced without a configuration comparison
            return CheckResult(check, "skipped", threshold=threshold, reason=str(missing))
        result = CheckResult(check, "pass", failing, population, threshold, details=details)
    else:
        params = sql_parameters(source, now=now, exempt_stage_ids=exempt)
        readers.tables(audit_tables_of(source))
        records = _SqlRecords(readers, source, params)
        population = (records.run("population").fetchone()[0] if source.population else None)
        result = CheckResult(check, "pass", population=population, threshold=threshold, details=details,
                             records=records)
        if eager:  # a snapshot in memory: nothing to read the records through later
            result.failing
    if check.severity != "info" and _over(result, threshold):
        result.status = "fail"
    if ids:
        result.ids_by_entity()
    return result


class _SqlRecords:
    """A SQL check's failing records. Its SQL runs once, in its own order, into a temp table on the
    connection that ran it (`_Readers.fill`: row n is the check's n-th record, its columns as the check
    names them); the figures, the samples, the ids and every record are read from there — as audited,
    however the snapshot changes afterwards."""

    def __init__(self, readers: _Readers, check: Check, params: dict[str, Any]):
        self.readers, self.check, self.params = readers, check, params
        try:
            columns = sql_columns(check)
        except (sqlite3.Error, sqlite3.Warning):  # say it as running it says it (a refused write: bad input)
            self.run("sql").fetchone()
            raise
        if "id" not in columns:
            from implkit.errors import RuntimeFailure
            raise RuntimeFailure("a check's SQL must select an `id` column")
        self.columns = columns
        self.table = f"{readers.schema}.{readers.fill(check, params, len(columns))}"
        self._order: list[Any] = []

    @classmethod
    def received(cls, readers: Any, check: Check, params: dict[str, Any], table: str, columns: tuple[str, ...],
                 order: list[Any]) -> "_SqlRecords":
        """The records a second process ran into `table` (`lanes`), read through `readers`, which attach
        its file."""
        records = cls.__new__(cls)
        records.readers, records.check, records.params = readers, check, params
        records.columns, records.table, records._order = columns, table, order
        return records

    def shipped(self) -> tuple[Check, dict[str, Any], str, tuple[str, ...], list[Any]]:
        """What `received` needs in another process (the connection stays here)."""
        return self.check, self.params, self.table, tuple(self.columns), self._order

    def run(self, key: str, sql: str | None = None, **extra: Any) -> Any:
        """The check's `key` SQL (or `sql`, the engine's query, with `extra` parameters beside the check's)
        on the connection that ran the check."""
        if self.readers.closed:
            from implkit.errors import RuntimeFailure
            raise RuntimeFailure("the audit run is closed: its records can no longer be read")
        db, guard = self.readers.sql
        return run_check_sql(db, guard, self.check, key, {**self.params, **extra}, sql=sql)

    def _column(self, name: str, default: str = "NULL") -> str:
        """The filled table's column for the check's column `name` (its first, as `_refs` reads it)."""
        return f"c{self.columns.index(name)}" if name in self.columns else default

    def _entity(self) -> str:
        """A row's entity as the records say it: its `entity` column, else the check's."""
        quoted = "'" + self.check.entity.replace("'", "''") + "'"
        return f"coalesce(nullif({self._column('entity')}, ''), {quoted})"

    def tally(self) -> Tally:
        """Count, budget and per-manager counts, and the order in which the managers' first records come
        (for ties in the per-manager table), from the filled table: the sum in SQL, the managers counted
        off one column in C (`Counter`, `dict.fromkeys`) — a `GROUP BY` would sort every record for
        a few dozen managers."""
        budget = self._column("budget", "0")
        count, budget_sum = self.run("sql", f"SELECT count(*), sum(CAST(coalesce({budget}, 0) AS INTEGER))"
                                            f" FROM {self.table}").fetchone()
        uids = list(map(itemgetter(0), self.run(
            "sql", f"SELECT {self._column('responsible_user_id')} FROM {self.table} ORDER BY rowid")))
        self._order = list(dict.fromkeys(uids))
        return Tally(count, budget_sum or 0, dict(Counter(uids)))

    def refs(self, limit: int | None = None) -> Iterator[RecordRef]:
        """The failing records in the check's order (the first `limit`), one at a time."""
        cursor = self.run("sql", f"SELECT * FROM {self.table} ORDER BY rowid"
                                 + (f" LIMIT {int(limit)}" if limit is not None else ""))
        return _refs(self.check.entity, self.columns, cursor)

    def ids(self) -> Iterator[tuple[str, Any]]:
        """(entity, id) of every failing record."""
        return ((entity, record_id) for entity, record_id in self.run(
            "sql", f"SELECT {self._entity()}, {self._column('id')} FROM {self.table}"))

    def ids_by_entity(self) -> list[tuple[str, Any]]:
        """Per entity, the ids of its failing records, fetched in bulk (millions of ids, and no RecordRef or
        pair built for each): integer ids as one `group_concat` string parsed by numpy into an int64 array
        (ten times faster than a row each); other ids a row each."""
        table, entity, record_id = self.table, self._entity(), self._column("id")
        out = []
        by_entity = " GROUP BY 1 ORDER BY 1" if "entity" in self.columns else ""  # else one: no sort needed
        for name, integers, rows, joined in self.run(
                "sql", f"SELECT {entity}, sum(typeof({record_id}) = 'integer'), count(*), group_concat({record_id})"
                       f" FROM {table}{by_entity}").fetchall():
            if not rows:
                continue
            if integers == rows:  # (one pass: the text is dropped in the rare case of other ids)
                out.append((name, joined_ids(joined)))
                continue
            out.append((name, [i for (i,) in self.run(
                "sql", f"SELECT {record_id} FROM {table} WHERE {entity} = :entity_", entity_=name)]))
        return out

    def manager_order(self) -> list[Any]:
        return list(self._order)


def _refs(entity: str, columns: tuple[str, ...] | list[str], rows: Any) -> Iterator[RecordRef]:
    """Failing records from rows with a check's `columns`, one at a time: `id`, and `entity`, `budget`,
    `responsible_user_id`, `value` if present."""
    at = {name: columns.index(name) if name in columns else None
          for name in ("id", "entity", "budget", "responsible_user_id", "value")}
    if at["id"] is None:
        from implkit.errors import RuntimeFailure
        raise RuntimeFailure("a check's SQL must select an `id` column")
    i, e, b, r, v = at["id"], at["entity"], at["budget"], at["responsible_user_id"], at["value"]
    return (RecordRef(row[e] if e is not None and row[e] else entity, row[i],
                      int(row[b] or 0) if b is not None else 0, row[r] if r is not None else None,
                      row[v] if v is not None else None)
            for row in rows)


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


_REQUIRED_FIELDS_SQL = """
WITH required (pipeline_id, status_id, field_id) AS MATERIALIZED (
    SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(:required))
SELECT l.id, l.price AS budget, l.responsible_user_id FROM leads l
 WHERE (l.is_open = 1 OR NOT :only_open)
   AND l.status_id IN (SELECT status_id FROM required)
   AND EXISTS (SELECT 1 FROM required r
                WHERE r.pipeline_id = l.pipeline_id AND r.status_id = l.status_id
                  AND NOT EXISTS (SELECT 1 FROM field_values v
                                   WHERE v.entity_type = 'leads' AND v.entity_id = l.id AND v.field_id = r.field_id))
 ORDER BY CASE WHEN :only_open THEN l.pipeline_id END, CASE WHEN :only_open THEN l.status_id END, l.id
"""
_REQUIRED_POPULATION_SQL = """
WITH required (pipeline_id, status_id) AS MATERIALIZED (
    SELECT DISTINCT value ->> 0, value ->> 1 FROM json_each(:required))
SELECT count(*) FROM leads l
 WHERE (l.is_open = 1 OR NOT :only_open)
   AND EXISTS (SELECT 1 FROM required r WHERE r.pipeline_id = l.pipeline_id AND r.status_id = l.status_id)
"""


def required_by_stage(db: Any) -> dict[tuple[int, int], set[int]]:
    """(pipeline id, stage id) → the deal fields required there: at the stage or any earlier one (`db`: a
    connection to the snapshot)."""
    required: dict[tuple[int, int], set[int]] = {}
    positions = {(p, s): pos for p, s, pos in db.execute("SELECT pipeline_id, id, position FROM stages")}
    stage_fields: dict[tuple[int, int], set[int]] = {}
    for field_id, statuses in db.execute(
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
    return required


def _required_fields_check(db: Any, check: Check) -> tuple[Check | None, dict[str, Any]]:
    """D10: fields required at the deal's stage *or any earlier one* in its pipeline (cumulative), left empty.

    In the order D10 always listed them: open deals by pipeline, stage and id (the open-deal index's
    order), every deal by id. The stages' requirements (a few rows) are worked out here; the deals are
    counted and read in SQL, as a check's SQL is (`None`: no stage requires anything, nothing to read)."""
    required = required_by_stage(db)
    if not required:
        return None, {"required_stages": 0}
    rows = [[p, s, f] for (p, s), fields in sorted(required.items()) for f in sorted(fields)]
    parameters = {**check.parameters, "required": rows,
                  "only_open": int(bool(check.parameters.get("only_open", True)))}
    return dataclasses.replace(check, builtin=None, sql=_REQUIRED_FIELDS_SQL, population=_REQUIRED_POPULATION_SQL,
                               parameters=parameters), {"required_stages": len(required)}


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
    "rights_drift": _rights_drift,
    "blueprint_drift": _blueprint_drift,
}
