"""The curator's audit: sync a tenant into a local snapshot, run the checks of `audits/`, add sales analytics.

Public API:

- `sync_snapshot(reader, snapshot, full=False, progress=...)` (`implkit.audit.sync`) — pull records
  through a provider's records reader (`implkit.providers.amocrm.records.AmoRecords`).
- `run_audit(snapshot_path, history_path, tenant=..., options=AuditOptions(...), fmt="table")`
  → `AuditOutcome` (`text`, or `write(...)` a piece at a time; `run`; `report`);
  `outcome.run.exit_code(fail_on)` is the verdict (0 or 2).
- `list_checks(crm)` — every check with supported / unsupported and why.
- `history_table(history_path)` — each check's trend over the kept audits.
- `Snapshot` (`implkit.audit.snapshot`), `load_checks` (`implkit.audit.checks`).

Files per tenant (inside the workspace's tenant folder): `snapshot.sqlite`
(docs/snapshot.md) and `audit-history.sqlite`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from implkit.audit.checks import Check, load_checks
from implkit.audit.engine import AuditOptions, AuditRun
from implkit.audit.snapshot import Snapshot
from implkit.errors import RuntimeFailure
from implkit.lang import say

SNAPSHOT_FILE = "snapshot.sqlite"
HISTORY_FILE = "audit-history.sqlite"

__all__ = ["AuditOptions", "AuditOutcome", "AuditRun", "Check", "HISTORY_FILE", "SNAPSHOT_FILE", "Snapshot",
           "history_table", "list_checks", "load_checks", "run_audit"]


@dataclass
class AuditOutcome:
    """An audit's result. `report` lists each check's samples (every record only when run_audit was asked
    for `every_record`); JSON and CSV list every record, streamed from the run by `write` (`text` is the
    same written into one string), so `run` must still be open to write them."""

    run: AuditRun
    report: dict[str, Any]
    fmt: str = "table"
    export: Any = None  # report.RecordExport: every record, read from the run a chunk at a time
    rendered: str | None = None

    @property
    def text(self) -> str:
        if self.rendered is None:
            parts: list[str] = []
            self.write(parts.append)
            self.rendered = "".join(parts)
        return self.rendered

    def write(self, write: Callable[[str], Any]) -> None:
        """The report, through `write` a piece at a time: JSON and CSV a chunk of records at a time."""
        if self.rendered is None and self.export is not None and self.fmt in ("json", "csv"):
            from implkit.audit.report import write_csv, write_json

            (write_json if self.fmt == "json" else write_csv)(self.report, self.export, write)
        else:
            write(self.text)

    def write_worklists(self, folder: str | Path) -> list[Path]:
        """One CSV of every record per responsible manager into `folder` (`report.write_worklists`)."""
        from implkit.audit.report import write_worklists

        return write_worklists(self.report, folder, self.export)


# The audit's refusals in the user's language (the spec's --measured-from says "no snapshot" with these words).
MESSAGES = {
    "unknown_checks": {"ru": "неизвестные проверки: {ids} (см. `implkit audit --list`)",
                       "en": "unknown check id(s): {ids} (see `implkit audit --list`)"},
    "no_snapshot": {"ru": "у клиента {tenant!r} ещё нет снимка: сначала выполните `implkit sync {tenant}`",
                    "en": "tenant {tenant!r} has no snapshot yet: run `implkit sync {tenant}` first"},
}


def run_audit(snapshot_path: str | Path, history_path: str | Path | None, *, tenant: str,
              options: AuditOptions, fmt: str = "table", checks_dir: str | Path | None = None,
              period_days: int = 30, working_days: int | None = None, lang: str = "ru",
              clock: Callable[[], float] = time.time, every_record: bool = False) -> AuditOutcome:
    """Run the checks (and analytics) on the tenant's snapshot, keep the result in its history, render it.

    `every_record`: the report (`outcome.report`) lists every failing record, not only the samples, all
    in memory (gigabytes at a million records; the JSON and CSV reports and the worklists stream them
    instead). `outcome.run` keeps its read connections, to read its records through, until
    `outcome.run.close()` (or until it is garbage)."""
    from implkit.audit.analytics import default_period, sales_analytics
    from implkit.audit.engine import StageResolver, run_checks
    from implkit.errors import Location
    from implkit.audit.history import History
    from implkit.audit.report import RecordExport, build_report, lookup_records, render

    checks = load_checks(checks_dir)
    unknown = sorted(set(options.only) - {c.id for c in checks})
    if unknown:
        from implkit.errors import InputError

        raise InputError(say(MESSAGES, "unknown_checks", ids=", ".join(unknown)))
    if not Path(snapshot_path).is_file():
        raise RuntimeFailure(say(MESSAGES, "no_snapshot", tenant=tenant))
    with Snapshot(snapshot_path) as snapshot, ThreadPoolExecutor(1) as beside:
        stages = StageResolver(snapshot, options)

        def analyse() -> dict[str, Any]:
            """The sales analytics, on their own connection, while the checks run: a thread the checks
            leave idle (their last, longest unit) takes it."""
            with Snapshot(snapshot_path, reader=True) as own:
                return sales_analytics(
                    own, default_period(own.snapshot_at, period_days), blueprint=options.blueprint,
                    working_days=working_days, stage_ids=lambda refs, key: stages.ids(
                        refs, Location(options.blueprint_file or "blueprint", key=key)))

        # Directum RX has no deals module (reference directum-rx.md): no funnel, no sales analytics
        analysed = None if options.crm == "directum" or snapshot.snapshot_at is None else beside.submit(analyse)
        run = run_checks(snapshot, checks, options, ids=history_path is not None)  # the history records them
        analytics = analysed.result() if analysed is not None else None
        users = {uid: name for uid, name in snapshot.db.execute("SELECT id, name FROM users")}
        web_url = snapshot.get_meta("web_url")
        crm = snapshot.get_meta("crm") or options.crm
        records = lookup_records(snapshot, run, every_record=every_record)
    trend = diff = None
    if history_path is not None:
        from implkit.audit.diff import audit_diff

        history = History(history_path)
        try:
            history.record(run, at=int(clock()))
            trend = history.trend()
            diff = audit_diff(history, check_entities={c.id: c.entity for c in checks},
                              every_id=False)  # each report reads the ids it shows (json: all, a cell at a time)
        finally:
            history.close()
    report = build_report(run, tenant=tenant, web_url=web_url, analytics=analytics, trend=trend, lang=lang,
                          users=users, crm=crm, records=records, every_record=every_record)
    report["diff"] = diff  # new / fixed / still open since the previous audit (implkit.audit.diff)
    if every_record:
        return AuditOutcome(run, report, fmt, rendered=render(report, fmt))
    export = RecordExport(run, snapshot_path, users=users, web_url=web_url, crm=crm)
    streamed = fmt in ("json", "csv")  # every record: written from the run when asked (`outcome.write`)
    return AuditOutcome(run, report, fmt, export, rendered=None if streamed else render(report, fmt))


def list_checks(crm: str = "amocrm", checks_dir: str | Path | None = None, lang: str = "en") -> list[dict[str, Any]]:
    rows = []
    for check in load_checks(checks_dir):
        reason = check.unsupported_reason(crm)
        rows.append({"id": check.id, "name": check.name, "severity": check.severity, "entity": check.entity,
                     "title": check.title.get(lang) or check.title["en"],
                     "supported": reason is None, "why_unsupported": reason or "",
                     "needs": ", ".join(check.requires), "evaluation": check.builtin or ("sql" if check.sql else "")})
    return rows


def history_table(history_path: str | Path | Any, limit: int = 10) -> tuple[list[dict[str, Any]], dict[str, list]]:
    """(runs, check id → results per run) for the last `limit` audits."""
    from implkit.audit.history import History

    if isinstance(history_path, (str, Path)) and not Path(history_path).is_file():
        return [], {}
    history = History(history_path)
    try:
        return history.runs(limit), history.trend(limit)
    finally:
        history.close()
