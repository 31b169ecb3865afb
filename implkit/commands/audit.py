"""`implkit sync TENANT` and `implkit audit [TENANT | --list | history TENANT]`.

Exit codes: sync 0 done, 1 API failure, 3 bad input. audit 0 no check over
its threshold (warnings alone count only with `--fail-on warning`), 2
findings over threshold, 1 no snapshot / runtime failure, 3 bad input
(malformed check file with file:line:col, unknown tenant or check id).
Results go to stdout (or `-o FILE`), progress to stderr.

Why this file is long: it is `sync` and the whole `audit` group (run, history,
diff, baseline, effect, assign, activity), and they share what its top
defines: the tenant lookup, the audit settings and check parameters, the
synced-folder check and the option decorators. Each command is a thin click
wrapper over `implkit.audit`; moving `sync` (the one seam) to a module of its
own would take those helpers into a third module both import, for no command
read more easily.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from implkit.commands import (
    FLEET_MESSAGES,
    break_stale_lock_option,
    fleet_names,
    fleet_options,
    for_tenant,
    json_format_option,
    quiet_option,
)
from implkit.errors import EXIT_OK
from implkit.lang import count_noun, say

_workspace_option = click.option("--workspace", "-w", "workspace_dir", type=click.Path(file_okay=False),
                                 help="Workspace folder (default: $IMPLKIT_WORKSPACE or the nearest implkit.yaml).")


def _stderr(message: str) -> None:
    click.echo(message, err=True)


def _tenant(workspace_dir: str | None, name: str) -> tuple[Any, Any]:
    from implkit.workspace import Workspace

    ws = Workspace.discover(workspace_dir)
    return ws, ws.tenant(name)


def _audit_settings(tenant: Any) -> dict[str, Any]:
    """The tenant entry's `audit: {thresholds: {ID: n | {max_count, max_share}}, exempt_stages: [...],
    parameters: {ID: {name: value}}}`; stages there by blueprint key (sales.offer), CRM id, or name."""
    return dict(tenant.audit or {})


def _check_parameters(settings: dict[str, Any], config_path: Path, tenant: str) -> dict[str, dict[str, Any]]:
    from implkit.errors import InputError, Problem
    from implkit.yamlio import load_yaml, location_of

    parameters = settings.get("parameters") or {}
    bad = [k for k, v in parameters.items() if not isinstance(v, dict)] if isinstance(parameters, dict) else [""]
    if bad:
        key = ("tenants", tenant, "audit", "parameters", *bad[:1])
        where = location_of(load_yaml(config_path), tuple(k for k in key if k), str(config_path))
        raise InputError("invalid audit settings", [Problem(where, "parameters: check id -> {name: value}")])
    return {str(k).upper(): dict(v) for k, v in parameters.items()}


def _bindings(folder: Path) -> dict[str, Any]:
    """The tenant's state (blueprint address -> CRM id), read without creating a state file."""
    path = folder / "state.db"
    if not path.is_file():
        return {}
    from implkit.workspace.state import StateStore

    with StateStore(path) as state:
        return state.get_ids()


@click.command("sync")
@click.argument("tenant", required=False)
@_workspace_option
@click.option("--full", is_flag=True, help="Forget the cursors and read everything again.")
@click.option("--all", "all_", is_flag=True, help="Sync every tenant of the workspace (in parallel).")
@json_format_option("the per-tenant rows (with --all)")
@fleet_options
@break_stale_lock_option
@quiet_option
def sync(tenant: str | None, workspace_dir: str | None, full: bool, all_: bool, as_json: bool,
         tenant_patterns: str | None, shard: str | None, jobs: int | None, quiet: bool) -> int:
    """Pull TENANT's users, pipelines, leads, contacts, companies, tasks, notes and stage-change
    events into its local snapshot. The next run reads only what changed; an interrupted run resumes.
    With --all (--tenants, --shard) many tenants at once: one line per tenant, the worst exit code.
    On a terminal a bar per entity shows the progress; piped, only the summary lines are printed."""
    from implkit.commands.plan import _for_all
    from implkit.terminal import Reporter
    from implkit.workspace import Workspace

    names = fleet_names(Workspace.discover(workspace_dir).tenant_names() if not tenant else [], tenant, all_,
                        tenant_patterns, shard)
    if names is None:
        raise click.UsageError(say(FLEET_MESSAGES, "one_or_all"))
    with Reporter(quiet=quiet) as report:
        if not tenant:   # the table names each tenant's outcome, errors included: printed even with --quiet
            return _for_all(names, lambda name: sync_one(workspace_dir, name, full, progress=for_tenant(report, name)),
                            as_json, jobs=jobs)
        done = sync_one(workspace_dir, tenant, full, progress=report)
    if quiet:
        return EXIT_OK
    click.echo(f"{tenant}: {done.summary()}")
    from implkit.audit.sync import mode_word

    for stream in done.streams:
        click.echo(say(_SYNC_MESSAGES, "stream", name=f"{stream.name:<24}", mode=f"{mode_word(stream.mode):<11}",
                       records=f"{stream.records:>8}", pages=f"{stream.pages:>6}"))
    return EXIT_OK


_SYNC_MESSAGES = {
    "stream": {"ru": "  {name} {mode} {records} зап. {pages} стр.", "en": "  {name} {mode} {records} records {pages} pages"},
    "summary": {"ru": "{records} на {pages}, {requests} (повторено: {retried}), удалено: {deleted}",
                "en": "{records} in {pages}, {requests} ({retried} retried), {deleted} deleted"},
    "unsupported": {"ru": "клиент {tenant!r}: sync работает с клиентами amoCRM, Bitrix24 и Directum; {provider} "
                          "пока не поддерживается",
                    "en": "tenant {tenant!r}: sync supports amoCRM, Bitrix24 and Directum tenants; {provider} "
                          "is not implemented yet"},
    "directum_full": {"ru": "{tenant}: полное чтение: у контрагентов Directum нет даты изменения, поэтому каждая "
                            "синхронизация читает всё, постранично по Id",
                      "en": "{tenant}: full read: Directum counterparties carry no modification date, so every sync "
                            "reads everything, keyset-paged by Id"},
    "baseline": {"ru": "сохранена база сравнения {name!r} (30 дней до этой первой синхронизации) для "
                       "`implkit audit effect`",
                 "en": "kept baseline {name!r} (the 30 days before this first sync) for `implkit audit effect`"},
}


@dataclass(frozen=True)
class Synced:
    """One tenant's sync, as the fleet table shows it."""

    records: int
    pages: int
    requests: int
    retried: int
    deleted: int
    streams: tuple

    def summary(self) -> str:
        from implkit.audit.sync import PAGES, RECORDS, REQUESTS

        return say(_SYNC_MESSAGES, "summary", records=count_noun(self.records, *RECORDS),
                   pages=count_noun(self.pages, *PAGES), requests=count_noun(self.requests, *REQUESTS),
                   retried=self.retried, deleted=self.deleted)

    def exit_code(self) -> int:
        return EXIT_OK


def sync_one(workspace_dir: str | None, tenant: str, full: bool, *, progress=_stderr) -> Synced:  # noqa: ANN001
    """Sync one tenant under its lock (the lock also keeps two runners within one integration's rate limit)."""
    from implkit.audit import SNAPSHOT_FILE
    from implkit.audit.snapshot import Snapshot
    from implkit.audit.sync import sync_snapshot
    from implkit.errors import InputError
    from implkit.http import HttpClient
    from implkit.providers.amocrm.records import AmoRecords

    ws, entry = _tenant(workspace_dir, tenant)
    if entry.provider == "directum":
        return _sync_directum(ws, entry, tenant, progress)
    local_zone = _tenant_tz(entry, None, ws, tenant)  # a bad audit.timezone stops the sync before it writes
    if entry.provider not in ("amocrm", "bitrix24"):
        raise InputError(say(_SYNC_MESSAGES, "unsupported", tenant=tenant, provider=entry.provider))
    if entry.provider == "bitrix24":
        from implkit.providers.bitrix24 import open_records, tenant_connection

        credential, rate = tenant_connection(entry, ws.credentials(tenant))
        reader = open_records(entry.url, credential, rate=rate)
        http = reader.api.http
    else:
        from implkit.providers.amocrm import tenant_connection

        # one budget per integration in this process: back-to-back runs must not together exceed it
        auth, limiter = tenant_connection(entry, ws.credentials(tenant))
        http = HttpClient(entry.url, auth=auth, rate=limiter)
        reader = AmoRecords(http)
    with ws.lock(tenant, "sync", timeout=300), http, Snapshot(ws.tenant_dir(tenant) / SNAPSHOT_FILE) as snapshot:
        comparison = _configuration_comparison(ws, tenant)  # before any write: a bad blueprint writes nothing
        summary = sync_snapshot(reader, snapshot, full=full, web_url=entry.url,
                                progress=progress,
                                requests=lambda: http.stats.total)
        from implkit.audit.config_drift import clear_comparison, store_comparison

        if comparison is None:
            clear_comparison(snapshot)
        else:
            store_comparison(snapshot, comparison)
    _first_baseline(ws, tenant, local_zone)
    return Synced(summary.records, summary.pages, summary.requests, http.stats.retries, summary.deleted,
                  tuple(summary.streams))


def _configuration_comparison(ws: Any, tenant: str) -> Any:
    """What F02/U01 will report: the plan layer's comparison (= `drift`), made as the sync starts."""
    from implkit.commands.plan import configuration_comparison

    return configuration_comparison(ws, tenant)


def _sync_directum(ws, entry, tenant: str, progress) -> Synced:  # noqa: ANN001
    """Directum RX: a full read every time (counterparties carry no modification date), keyset-paged by Id."""
    from implkit.audit import SNAPSHOT_FILE
    from implkit.audit.directum import sync_directum
    from implkit.audit.snapshot import Snapshot
    from implkit.providers.directum import open_records, tenant_connection

    auth, rate = tenant_connection(entry, ws.credentials(tenant))
    reader = open_records(entry.url, auth, rate=rate)
    with ws.lock(tenant, "sync", timeout=300), Snapshot(ws.tenant_dir(tenant) / SNAPSHOT_FILE) as snapshot:
        try:
            summary = sync_directum(reader, snapshot, progress=progress)
        finally:
            reader.close()
    progress(say(_SYNC_MESSAGES, "directum_full", tenant=tenant))
    return Synced(summary.records, summary.pages, summary.requests, 0, 0, tuple(summary.streams))


class _AuditGroup(click.Group):
    """`audit TENANT ...` runs the audit; `audit history TENANT` is a subcommand; `audit --list` lists checks."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and ctx.resilient_parsing:   # completing the word after `audit`: see shell_complete
            return super().parse_args(ctx, args)
        if not args or args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list:
        """The word after `audit` is a subcommand or a tenant (`audit TENANT` runs the audit)."""
        from implkit.commands import complete_tenants

        return super().shell_complete(ctx, incomplete) + complete_tenants(ctx, self.params[0] if self.params else None,
                                                                          incomplete)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("implkit audit", "TENANT [OPTIONS] | --list | history TENANT | diff TENANT | "
                                               "effect|activity|sales|load|feed|goals TENANT [period]")


@click.group("audit", cls=_AuditGroup)
def audit() -> None:
    """Run the curator's data-quality checks and the sales analytics on a tenant's snapshot.

    \b
    implkit audit TENANT [--format table|json|md|html] [-o FILE] [--fail-on warning|error] [--checks ID,...]
    implkit audit --list
    implkit audit history TENANT
    implkit audit diff TENANT [--format table|md|json|csv|html]
    implkit audit effect TENANT [--baseline NAME|DATE] [--from D --to D | --period 30d | --month YYYY-MM]
    implkit audit baseline TENANT [--name NAME]
    implkit audit activity TENANT [--from D --to D | --period 7d | --month YYYY-MM]
    implkit audit calls TENANT [--from D --to D | --period 7d | --month YYYY-MM]
    implkit audit sales TENANT [period]      the funnel per pipeline and manager, won, win rate
    implkit audit load TENANT [period]       open deals, budget, tasks, deals without a next step
    implkit audit feed TENANT [period] [--manager M] [--entity lead|contact|company] [--type T,...]
    implkit audit goals TENANT [period] [--goals FILE | --answers FILE]   plan against actuals, run rate
    implkit audit assign TENANT [--checks ID,...] [--due 2d] [--yes] [--close-fixed]

    Options of a run: `implkit audit TENANT --help`. Exit codes: 0 nothing over its threshold,
    2 findings over threshold (warnings only with --fail-on warning), 1 no snapshot or runtime
    failure, 3 bad input (a malformed check file is named with file:line:col).
    """


@audit.command("run", hidden=True)
@click.argument("tenant", required=False)
@_workspace_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md", "html"]), default="table",
              show_default=True, help="csv: one row per failing record; json: every record too; table, md and "
                                      "html show samples.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--by-manager", "by_manager", type=click.Path(file_okay=False),
              help="Also write one CSV worklist per responsible manager into DIR.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
              help="Exit 2 when checks of this severity (or worse) are over their threshold.")
@click.option("--checks", "check_ids", help="Only these check ids, comma-separated (e.g. D01,C01).")
@click.option("--period", "period_days", type=click.IntRange(1, 3660), default=30, show_default=True,
              help="Analytics period: the last N days before the snapshot time.")
@click.option("--lang", type=click.Choice(["ru", "en"]), default=None,
              help="Language of the report (default: implkit --lang, $IMPLKIT_LANG, lang in implkit.yaml, else ru).")
@click.option("--list", "list_only", is_flag=True, help="List every check: supported or not, and why.")
@click.option("--checks-dir", type=click.Path(file_okay=False, exists=True),
              help="Read the checks from this folder instead of the shipped audits/.")
def run(tenant: str | None, workspace_dir: str | None, fmt: str, output: str | None, by_manager: str | None,
        fail_on: str, check_ids: str | None, period_days: int, lang: str | None, list_only: bool,
        checks_dir: str | None) -> int:
    """Audit TENANT's snapshot: every check's failing records, counts, shares, budget at risk, and
    the sales analytics; each run is kept in the tenant's history."""
    from implkit import lang as language

    if list_only:
        return _list(fmt, lang or language.current(), checks_dir)
    if not tenant:
        raise click.UsageError("name a TENANT (or pass --list)")
    from implkit.audit import HISTORY_FILE, SNAPSHOT_FILE, run_audit
    from implkit.yamlio import atomic_writer

    ws, entry = _tenant(workspace_dir, tenant)
    lang = lang or language.current()  # --lang, else implkit --lang / $IMPLKIT_LANG / implkit.yaml's lang, else ru
    if output:
        _writable_folder(Path(output).parent, "-o", shown=output)
    if by_manager:
        _writable_folder(by_manager)
    if _audit_settings(entry).get("thresholds"):  # a threshold for a check that does not exist would be ignored
        from implkit.audit import load_checks

        ws.check_audit_ids(tenant, [c.id for c in load_checks(checks_dir)])
    folder = ws.tenant_dir(tenant)
    options = _audit_options(ws, entry, tenant, check_ids)
    kept_in = ws.backend.history(tenant, folder) or folder / HISTORY_FILE  # shared, or beside the snapshot
    outcome = run_audit(folder / SNAPSHOT_FILE, kept_in, tenant=tenant, options=options, fmt=fmt,
                        checks_dir=checks_dir, period_days=period_days, lang=lang)
    try:
        # json and csv list every record: written a chunk at a time as they are read, never held whole
        if output:
            with atomic_writer(output, mode=0o600) as fh:  # customer names, budgets: private like the snapshot
                outcome.write(fh.write)
            _stderr(f"wrote {output}")
        elif fmt == "table":
            click.echo(coloured_table(outcome.text, lang), nl=False)
        else:
            outcome.write(lambda text: click.echo(text, nl=False))
        if by_manager:
            written = outcome.write_worklists(by_manager)
            _stderr(f"wrote {len(written)} worklists to {by_manager}")
    finally:
        outcome.run.close()
    return outcome.run.exit_code(fail_on)


#: the audit's codes whose cells are coloured in a table, by the colour's meaning (implkit.terminal)
_CELL_ROLES = {"error": "error", "warning": "warning", "info": "info", "fail": "fail", "pass": "ok"}


def coloured_table(text: str, lang: str) -> str:
    """An audit table with its severity and status cells coloured, when stdout takes colour. A cell is
    a word between two-space column gaps, so the same word inside a check's title is left alone."""
    import re

    from implkit.audit.words import word
    from implkit.terminal import color_enabled, paint

    if not color_enabled():
        return text
    shown = {word(code, lang): role for code, role in _CELL_ROLES.items()}
    cell = re.compile(r"(?<=  )(" + "|".join(re.escape(w) for w in sorted(shown, key=len, reverse=True)) +
                      r")(?=  |$)", re.M)
    return cell.sub(lambda found: paint(found.group(1), shown[found.group(1)]), text)


def _audit_options(ws: Any, entry: Any, tenant: str, check_ids: str | None) -> Any:
    """The tenant's audit options: its settings in implkit.yaml, its blueprint and state bindings."""
    from implkit.audit import AuditOptions

    settings = _audit_settings(entry)
    blueprint = None
    if entry.blueprint:
        from implkit.blueprint import load_blueprint

        blueprint = load_blueprint(entry.blueprint)
    only = tuple(c.strip().upper() for c in (check_ids or "").split(",") if c.strip())
    return AuditOptions(crm=entry.provider, thresholds=dict(settings.get("thresholds") or {}),
                        exempt_stages=tuple(settings.get("exempt_stages") or ()), blueprint=blueprint, only=only,
                        parameters=_check_parameters(settings, ws.config_path, tenant),
                        bindings=_bindings(ws.tenant_dir(tenant)), settings_file=str(ws.config_path),
                        settings_path=("tenants", tenant, "audit"), blueprint_file=entry.blueprint or None)


_WRITE_MESSAGES = {
    "cannot_make": {"ru": "{option} {path}: не удаётся создать папку ({reason})",
                    "en": "{option} {path}: cannot make the folder ({reason})"},
    "not_writable": {"ru": "{option} {path}: в эту папку нельзя записывать",
                     "en": "{option} {path}: not a folder this user can write into"},
}


def _writable_folder(folder: str | Path, option: str = "--by-manager", shown: str | None = None) -> None:
    """--by-manager DIR (or -o FILE's folder) must be a folder we can write into, known before the audit
    writes anything (its history included)."""
    from implkit.errors import InputError

    path, shown = Path(folder), shown or str(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(say(_WRITE_MESSAGES, "cannot_make", option=option, path=shown,
                             reason=exc.strerror or exc)) from None
    if not path.is_dir() or not os.access(path, os.W_OK):
        raise InputError(say(_WRITE_MESSAGES, "not_writable", option=option, path=shown))


def _list(fmt: str, lang: str, checks_dir: str | None) -> int:
    import json

    from tabulate import tabulate

    from implkit.audit import list_checks

    rows = list_checks("amocrm", checks_dir, lang)
    bitrix = {r["id"]: r for r in list_checks("bitrix24", checks_dir, lang)}
    directum = {r["id"]: r for r in list_checks("directum", checks_dir, lang)}
    if fmt == "json":
        for row in rows:
            row["bitrix24"] = {"supported": bitrix[row["id"]]["supported"],
                               "why_unsupported": bitrix[row["id"]]["why_unsupported"]}
            row["directum"] = {"supported": directum[row["id"]]["supported"],
                               "why_unsupported": directum[row["id"]]["why_unsupported"]}
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    click.echo(tabulate([[r["id"], r["severity"], r["entity"], "yes" if r["supported"] else "no",
                          "yes" if bitrix[r["id"]]["supported"] else "no",
                          "yes" if directum[r["id"]]["supported"] else "no",
                          r["title"] + (f" — amoCRM: {r['why_unsupported']}" if r["why_unsupported"] else "")
                          + (f" (needs {r['needs']})" if r["needs"] else "")]
                         for r in rows],
                        headers=["check", "severity", "entity", "amoCRM", "Bitrix24", "Directum", "title"],
                        tablefmt="github" if fmt == "md" else "simple"))
    return EXIT_OK


@audit.command("history")
@click.argument("tenant")
@_workspace_option
@click.option("--last", "limit", type=click.IntRange(1, 1000), default=10, show_default=True)
def history(tenant: str, workspace_dir: str | None, limit: int) -> int:
    """Each check's failing count over the tenant's last audits (oldest first)."""
    from datetime import datetime, timezone

    from tabulate import tabulate

    from implkit.audit import HISTORY_FILE, history_table

    ws, _ = _tenant(workspace_dir, tenant)
    folder = Path(ws.tenant_dir(tenant))
    runs, trend = history_table(ws.backend.history(tenant, folder) or folder / HISTORY_FILE, limit)
    if not runs:
        click.echo(f"{tenant}: no audits kept yet; run `implkit audit {tenant}`")
        return EXIT_OK
    headers = ["check"] + [datetime.fromtimestamp(r["at"], timezone.utc).strftime("%m-%d %H:%M") for r in runs]
    run_ids = [r["id"] for r in runs]
    rows = []
    for check_id, series in trend.items():
        by_run = {p["run"]: p for p in series}
        cells = []
        for run_id in run_ids:
            point = by_run.get(run_id)
            if point is None:
                cells.append("")
            elif point["count"] is None:
                cells.append(point["status"])
            else:
                cells.append(f"{point['count']}{'!' if point['status'] == 'fail' else ''}")
        rows.append([check_id, *cells])
    click.echo(tabulate(rows, headers=headers, tablefmt="simple"))
    click.echo("(! = over threshold)")
    return EXIT_OK


def _lang(lang: str | None) -> str:
    """The command's --lang, else implkit --lang / $IMPLKIT_LANG / implkit.yaml's lang, else Russian; call it
    once the workspace is loaded."""
    from implkit import lang as language

    return lang or language.current()


@audit.command("diff")
@click.argument("tenant")
@_workspace_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md", "html"]), default="table",
              show_default=True, help="json and csv list every id; table, md and html the first few per check.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
@click.option("--lang", type=click.Choice(["ru", "en"]), default=None,
              help="Language (default: $IMPLKIT_LANG, else ru).")
@click.option("--checks-dir", type=click.Path(file_okay=False, exists=True),
              help="The checks folder the audits used (for each check's record type).")
def diff(tenant: str, workspace_dir: str | None, fmt: str, output: str | None, lang: str | None,
         checks_dir: str | None) -> int:
    """Per check, the failing records that are new, fixed and still open in TENANT's last audit against
    the one before it. Exit 2 when there is anything new, 0 otherwise."""
    from implkit.audit import HISTORY_FILE, load_checks
    from implkit.audit.diff import audit_diff, render_diff
    from implkit.audit.history import History

    ws, _ = _tenant(workspace_dir, tenant)
    lang = _lang(lang)
    folder = Path(ws.tenant_dir(tenant))
    path = ws.backend.history(tenant, folder) or folder / HISTORY_FILE  # shared, or beside the snapshot
    if not isinstance(path, (str, Path)) or path.is_file():
        history = History(path)
        try:
            result = audit_diff(history, check_entities={c.id: c.entity for c in load_checks(checks_dir)},
                                every_id=False)  # render_diff reads each cell's labels as far as it needs
        finally:
            history.close()
    else:
        result = {"before": None, "after": None, "checks": []}
    _emit(render_diff(result, fmt, lang, tenant), output)
    return 2 if result.get("totals", {}).get("new") else EXIT_OK


def _tenant_tz(entry: Any, tz: str | None, ws: Any = None, tenant: str = "") -> Any:
    """--tz, else the tenant's `audit.timezone` in implkit.yaml (a bad one named with file:line:col), else
    Europe/Moscow."""
    from implkit.audit.effect import zone
    from implkit.errors import InputError, Problem

    if tz:
        return zone(tz)
    setting = (entry.audit or {}).get("timezone")
    try:
        return zone(setting)
    except InputError as exc:
        from implkit.yamlio import load_yaml, location_of

        where = location_of(load_yaml(ws.config_path), ("tenants", tenant, "audit", "timezone"), str(ws.config_path))
        raise InputError("invalid audit settings", [Problem(where, str(exc))]) from None


def _first_baseline(ws: Any, tenant: str, local_zone: Any) -> None:
    """Keep "before the implementation" the first time a tenant is synced."""
    from implkit.audit import SNAPSHOT_FILE
    from implkit.audit.effect import FIRST_SYNC, kept_baselines, take_baseline
    from implkit.audit.snapshot import Snapshot

    folder = ws.tenant_dir(tenant)
    if kept_baselines(folder):
        return
    with Snapshot(folder / SNAPSHOT_FILE) as snapshot:
        take_baseline(snapshot, folder, name=FIRST_SYNC, tz=local_zone)
    _stderr(say(_SYNC_MESSAGES, "baseline", name=FIRST_SYNC))


@audit.command("baseline")
@click.argument("tenant")
@_workspace_option
@click.option("--name", help="Name of the baseline (default: the snapshot's date).")
@click.option("--period", "period", default="30d", show_default=True, help="Days before the snapshot time: 30d, 4w.")
@click.option("--tz", help="Time zone (default: the tenant's audit.timezone, else Europe/Moscow).")
def baseline_command(tenant: str, workspace_dir: str | None, name: str | None, period: str, tz: str | None) -> int:
    """Keep TENANT's indicators now as a baseline that `implkit audit effect` compares with."""
    from implkit.audit import SNAPSHOT_FILE
    from implkit.audit.effect import parse_days, take_baseline
    from implkit.audit.snapshot import Snapshot

    ws, entry = _tenant(workspace_dir, tenant)
    zone = _tenant_tz(entry, tz, ws, tenant)
    days = parse_days(period)
    folder = _synced_folder(ws, tenant)
    with Snapshot(folder / SNAPSHOT_FILE) as snapshot:
        kept = take_baseline(snapshot, folder, name=name, days=days, tz=zone)
    click.echo(f"{tenant}: baseline {kept['name']!r} kept")
    return EXIT_OK


def _synced_folder(ws: Any, tenant: str) -> Path:
    """The tenant's folder, once `implkit sync` has made its snapshot (a runtime failure before that)."""
    from implkit.audit import SNAPSHOT_FILE
    from implkit.errors import RuntimeFailure

    folder = ws.tenant_dir(tenant)
    if not (folder / SNAPSHOT_FILE).is_file():
        raise RuntimeFailure(f"tenant {tenant!r} has no snapshot yet: run `implkit sync {tenant}` first")
    return folder


def _period_report_options(period_examples: str):
    """The options every period report shares (effect, activity): the period in the tenant's time zone,
    the format, the output file and the language."""
    def decorate(command):
        for option in reversed((
            click.option("--from", "date_from", help="First day of the period (YYYY-MM-DD, tenant time zone)."),
            click.option("--to", "date_to", help="Last day of the period, included."),
            click.option("--period", "period", help=f"The last N days up to the snapshot: {period_examples}."),
            click.option("--month", help="A calendar month: YYYY-MM."),
            click.option("--tz", help="Time zone (default: the tenant's audit.timezone, else Europe/Moscow)."),
            click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "md", "html"]),
                         default="table", show_default=True),
            click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE."),
            click.option("--lang", type=click.Choice(["ru", "en"]), default=None,
                         help="Default: $IMPLKIT_LANG, else ru."),
        )):
            command = option(command)
        return command
    return decorate


@audit.command("effect")
@click.argument("tenant")
@_workspace_option
@click.option("--baseline", "baseline_ref", help="A kept baseline's name, or a date YYYY-MM-DD (the same-length "
                                                 "period before it). Default: the earliest kept baseline.")
@_period_report_options("30d, 4w")
def effect(tenant: str, workspace_dir: str | None, baseline_ref: str | None, date_from: str | None,
           date_to: str | None, period: str | None, month: str | None, tz: str | None, fmt: str,
           output: str | None, lang: str | None) -> int:
    """The implementation's effect: TENANT's indicators (contacts per seller, overdue tasks, sales cycle,
    contacts per sale, sales and their sum per seller, conversion, complete data) before and now."""
    from implkit.audit import SNAPSHOT_FILE
    from implkit.audit.effect import baseline, effect_report, indicators, render_effect, resolve_period
    from implkit.audit.snapshot import Snapshot

    ws, entry = _tenant(workspace_dir, tenant)
    lang = _lang(lang)
    zone = _tenant_tz(entry, tz, ws, tenant)
    folder = _synced_folder(ws, tenant)
    with Snapshot(folder / SNAPSHOT_FILE) as snapshot:
        now_period = resolve_period(snapshot.snapshot_at, zone, date_from=date_from, date_to=date_to, period=period,
                                    month=month)
        before = baseline(snapshot, folder, baseline_ref, days=now_period.days, tz=zone)
        now = indicators(snapshot, now_period)
    _emit(render_effect(effect_report(tenant, before, now, zone), fmt, lang), output)
    return EXIT_OK


def _assign_allowed(blueprint: Any, blueprint_file: str | None, lang: str) -> None:
    """Refuse (exit 3, nothing read or written) when the tenant's blueprint sets `audit: {assign: false}`,
    naming the setting's file:line:column."""
    from implkit.model import thaw

    if blueprint is None or thaw(blueprint.audit).get("assign", True) is not False:
        return
    from implkit.audit.assign import msg
    from implkit.errors import InputError, Problem
    from implkit.yamlio import load_yaml, location_of

    where = location_of(load_yaml(blueprint_file), ("audit", "assign"), str(blueprint_file))
    raise InputError(msg("refused_head", lang), [Problem(where, msg("refused", lang))])


def _task_writer(ws: Any, entry: Any, tenant: str) -> tuple[Any, Any]:
    """(writer, HTTP client) for the tenant's CRM, on its shared rate limiter."""
    from implkit.audit.assign import AmoTaskWriter, B24TodoWriter

    if entry.provider == "bitrix24":
        from implkit.providers.bitrix24 import open_records, tenant_connection

        credential, rate = tenant_connection(entry, ws.credentials(tenant))
        api = open_records(entry.url, credential, rate=rate).api
        return B24TodoWriter(api), api.http
    from implkit.http import HttpClient
    from implkit.providers.amocrm import tenant_connection

    auth, limiter = tenant_connection(entry, ws.credentials(tenant))
    http = HttpClient(entry.url, auth=auth, rate=limiter)
    return AmoTaskWriter(http), http


@audit.command("assign")
@click.argument("tenant")
@_workspace_option
@click.option("--checks", "check_ids", help="Only these check ids, comma-separated (e.g. D08,T01).")
@click.option("--due", default="2d", show_default=True, help="Deadline of the tasks from now: 2d, 1w.")
@click.option("--yes", is_flag=True, help="Create (and close) the tasks; without it only the plan is shown.")
@click.option("--close-fixed", is_flag=True, help="Close the tasks of findings the audit no longer reports.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--lang", type=click.Choice(["ru", "en"]), default=None, help="Default: $IMPLKIT_LANG, else ru.")
@break_stale_lock_option
def assign(tenant: str, workspace_dir: str | None, check_ids: str | None, due: str, yes: bool, close_fixed: bool,
           fmt: str, lang: str | None) -> int:
    """Turn TENANT's findings into CRM tasks on the responsible users, one per record and check, with the
    check's how-to-fix text. A plan first: exit 2 when there is something to create or close, 0 when not;
    --yes writes it (exit 0). Tasks already made for a finding are not made again; the ones a seller
    closed in the CRM are read back first. Refused (exit 3) when the blueprint says audit.assign: false."""
    import contextlib
    import time

    from implkit.audit import SNAPSHOT_FILE, load_checks
    from implkit.audit.assign import (ASSIGNMENTS_FILE, AssignmentStore, apply_plan, msg, plan_assignments,
                                      record_closed_by_seller, render_plan)
    from implkit.audit.effect import parse_days
    from implkit.audit.engine import run_checks
    from implkit.audit.snapshot import Snapshot
    from implkit.errors import InputError

    days = parse_days(due, "--due")
    ws, entry = _tenant(workspace_dir, tenant)
    lang = _lang(lang)
    if entry.provider not in ("amocrm", "bitrix24"):
        raise InputError(f"tenant {tenant!r}: assign supports amoCRM and Bitrix24 tenants, not {entry.provider}")
    options = _audit_options(ws, entry, tenant, check_ids)
    _assign_allowed(options.blueprint, entry.blueprint, lang)
    checks = load_checks()
    unknown = sorted(set(options.only) - {c.id for c in checks})
    if unknown:
        raise InputError(f"unknown check id(s): {', '.join(unknown)} (see `implkit audit --list`)")
    folder = _synced_folder(ws, tenant)
    with ws.lock(tenant, "assign", timeout=300):
        store = AssignmentStore(folder / ASSIGNMENTS_FILE)
        try:
            remembered = [r["task_id"] for r in store.open_tasks()]
            # the CRM is reached only to read back tasks made before, or to write: a first plan needs no credentials
            writer, http = _task_writer(ws, entry, tenant) if remembered or yes else (None, contextlib.nullcontext())
            with http:
                # the tasks made before, as the CRM has them now: one a seller closed is no longer open
                closed_in_crm = writer.completed(remembered) if remembered else set()
                with Snapshot(folder / SNAPSHOT_FILE) as snapshot:
                    plan = plan_assignments(run_checks(snapshot, checks, options), snapshot, store, lang=lang,
                                            close_fixed=close_fixed, closed_in_crm=closed_in_crm)
                click.echo(render_plan(plan, lang, fmt), nl=False)
                now = int(time.time())
                if not yes:
                    if plan.has_changes:
                        _stderr(msg("hint", lang))
                    return 2 if plan.has_changes else EXIT_OK
                if not plan.has_changes:
                    record_closed_by_seller(plan, store, now)
                    return EXIT_OK
                created, closed = apply_plan(plan, store, writer, due=now + days * 86400, at=now, lang=lang)
        finally:
            store.close()
    _stderr(msg("applied", lang, create=created, close=closed))
    return EXIT_OK


@audit.command("activity")
@click.argument("tenant")
@_workspace_option
@_period_report_options("7d, 2w (default 30d)")
def activity(tenant: str, workspace_dir: str | None, date_from: str | None, date_to: str | None,
             period: str | None, month: str | None, tz: str | None, fmt: str, output: str | None,
             lang: str | None) -> int:
    """Employee activity per manager and day: calls in (answered, missed) and out, notes, e-mails, tasks
    created and closed, stage moves."""
    from implkit.audit.activity import employee_activity, render_activity

    return _period_report(workspace_dir, tenant, tz, lang, fmt, output,
                          dict(date_from=date_from, date_to=date_to, period=period, month=month),
                          lambda snapshot, chosen, zone, *_: employee_activity(snapshot, chosen, zone),
                          lambda report, fmt, lang, tenant, _zone: render_activity(report, fmt, lang, tenant))


@audit.command("calls")
@click.argument("tenant")
@_workspace_option
@_period_report_options("7d, 2w (default 30d)")
def calls(tenant: str, workspace_dir: str | None, date_from: str | None, date_to: str | None, period: str | None,
          month: str | None, tz: str | None, fmt: str, output: str | None, lang: str | None) -> int:
    """Calls per manager: incoming and outgoing, answered share, total and average duration, calls per won
    deal, and the share of called deals that moved to the next stage."""
    from implkit.audit.calls import calls_report, render_calls

    return _period_report(workspace_dir, tenant, tz, lang, fmt, output,
                          dict(date_from=date_from, date_to=date_to, period=period, month=month),
                          lambda snapshot, chosen, zone, *_: calls_report(snapshot, chosen, zone),
                          lambda report, fmt, lang, tenant, _zone: render_calls(report, fmt, lang, tenant))


def _emit(text: str, output: str | None) -> None:
    """A report to -o FILE (private: names, ids, figures, like the report) or to stdout."""
    from implkit.yamlio import atomic_write

    if output:
        atomic_write(output, text, mode=0o600)
        _stderr(f"wrote {output}")
    else:
        click.echo(text, nl=False)


def _period_report(workspace_dir: str | None, tenant: str, tz: str | None, lang: str | None, fmt: str,
                   output: str | None, period: dict[str, Any], build: Any, render: Any) -> int:
    """Open TENANT's snapshot, resolve the period (`period`: the --from/--to/--period/--month values) in its
    time zone, `build(snapshot, period, zone, lang, entry)` the report (an InputError there comes before anything
    is written), then `render(report, fmt, lang, tenant, zone)` it to -o FILE or stdout."""
    from implkit.audit import SNAPSHOT_FILE
    from implkit.audit.effect import resolve_period
    from implkit.audit.snapshot import Snapshot

    ws, entry = _tenant(workspace_dir, tenant)
    lang = _lang(lang)
    zone = _tenant_tz(entry, tz, ws, tenant)
    folder = _synced_folder(ws, tenant)
    with Snapshot(folder / SNAPSHOT_FILE) as snapshot:
        report = build(snapshot, resolve_period(snapshot.snapshot_at, zone, **period), zone, lang, entry)
    _emit(render(report, fmt, lang, tenant, zone), output)
    return EXIT_OK


@audit.command("sales")
@click.argument("tenant")
@_workspace_option
@_period_report_options("30d, 4w")
def sales(tenant: str, workspace_dir: str | None, tz: str | None, fmt: str, output: str | None, lang: str | None,
          **period: str | None) -> int:
    """Sales analysis per pipeline and manager: the funnel by stage (reached, moved on, lost with the loss
    reasons, still there), won count and sum, win rate, for the deals created in the period."""
    from implkit.audit.sales import render_sales, sales_report

    return _period_report(workspace_dir, tenant, tz, lang, fmt, output, period,
                          lambda snapshot, chosen, *_: sales_report(snapshot, chosen), render_sales)


@audit.command("load")
@click.argument("tenant")
@_workspace_option
@_period_report_options("30d, 4w (for the new deals)")
def load(tenant: str, workspace_dir: str | None, tz: str | None, fmt: str, output: str | None, lang: str | None,
         **period: str | None) -> int:
    """Summary and load per manager: open deals and their budget, open and overdue tasks, new deals in the
    period, open deals without a next step (no open task); and per pipeline."""
    from implkit.audit.load import load_report, render_load

    return _period_report(workspace_dir, tenant, tz, lang, fmt, output, period,
                          lambda snapshot, chosen, *_: load_report(snapshot, chosen), render_load)


@audit.command("feed")
@click.argument("tenant")
@_workspace_option
@_period_report_options("7d, 2w (default 30d)")
@click.option("--manager", help="Only this manager's events: the CRM user's name or id.")
@click.option("--entity", type=click.Choice(["lead", "contact", "company"]), help="Only events on this record type.")
@click.option("--type", "types", help="Only these event types, comma-separated (e.g. won,lost,call_in).")
def feed(tenant: str, workspace_dir: str | None, tz: str | None, fmt: str, output: str | None, lang: str | None,
         manager: str | None, entity: str | None, types: str | None, **period: str | None) -> int:
    """The event feed of the period, newest first: deals, contacts and companies created, stage moves, wins
    and losses, calls, e-mails, messages, notes, tasks created and closed. Types: deal_created,
    contact_created, company_created, stage_changed, won, lost, call_in, call_out, call_missed, email_in,
    email_out, sms_in, sms_out, chat_in, chat_out, note, task_created, task_closed."""
    from implkit.audit.feed import event_feed, parse_types, render_feed
    from implkit.audit.scope import resolve_manager

    def build(snapshot, chosen, _zone, chosen_lang, _entry):
        wanted = parse_types(types, chosen_lang)
        who = resolve_manager(snapshot, manager, chosen_lang) if manager else None
        return event_feed(snapshot, chosen, manager=who, entity=entity, types=wanted)

    return _period_report(workspace_dir, tenant, tz, lang, fmt, output, period, build, render_feed)


@audit.command("goals")
@click.argument("tenant")
@_workspace_option
@_period_report_options("30d, 4w (a month's plan: --month)")
@click.option("--goals", "goals_file", type=click.Path(dir_okay=False),
              help="A goals YAML file (per manager: sales and/or revenue); default: the blueprint's analytics.plan.")
@click.option("--answers", "answers_file", type=click.Path(dir_okay=False),
              help="The questionnaire's answers file: its monthly plan shared equally among the sellers.")
def goals(tenant: str, workspace_dir: str | None, tz: str | None, fmt: str, output: str | None, lang: str | None,
          goals_file: str | None, answers_file: str | None, **period: str | None) -> int:
    """The plan per manager against the deals won in the period (count and sum): progress, and the run rate
    needed per remaining working day to finish the period."""
    from implkit.audit.goals import (goals_from_answers, goals_from_blueprint, goals_from_file, goals_report, msg,
                                     render_goals)
    from implkit.errors import InputError

    if goals_file and answers_file:
        raise click.UsageError("choose one plan: --goals or --answers")

    def build(snapshot, chosen, zone, chosen_lang, entry):
        if goals_file:
            plan = goals_from_file(goals_file, snapshot, chosen_lang)
        elif answers_file:
            from implkit.blueprint.compose import plan_from_answers
            from implkit.sizing.answers import load_answers

            answers = load_answers(answers_file)   # a bad answers file is bad input at file:line:col
            plan = goals_from_answers(plan_from_answers(answers), answers.get("sellers"), snapshot, chosen_lang)
            if not plan:
                raise InputError(msg("no_plan", chosen_lang))
        else:
            blueprint = None
            if entry.blueprint:
                from implkit.blueprint import load_blueprint

                blueprint = load_blueprint(entry.blueprint)
            plan = goals_from_blueprint(blueprint, snapshot, chosen_lang)
            if not plan:
                raise InputError(msg("no_plan", chosen_lang))
        return goals_report(snapshot, chosen, plan, zone)

    return _period_report(workspace_dir, tenant, tz, lang, fmt, output, period, build, render_goals)
