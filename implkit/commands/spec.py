"""`implkit spec render`: the technical specification (ТЗ) from a blueprint."""

from __future__ import annotations

import datetime as _dt

import click

from implkit.commands import workspace_dir_option
from implkit.errors import InputError
from implkit.lang import count_noun, say

_MESSAGES = {
    "no_pipeline": {"ru": "клиент {tenant!r}: в снимке нет воронки, которую можно измерить",
                    "en": "tenant {tenant!r}: the snapshot has no pipeline to measure"},
    "measured": {"ru": "измерено: {tenant}, воронка {pipeline!r}, сделки, созданные {start}..{end} ({days} дн.): "
                       "{deals}, успешных {won}",
                 "en": "measured: {tenant}, pipeline {pipeline!r}, deals created {start}..{end} ({days} days): "
                       "{deals}, {won} won"},
    "not_measured": {"ru": "не измерено ({reason}), остаётся допущение",
                     "en": "not measured ({reason}), the assumption stands"},
    "bad_date": {"ru": "--date: {text!r} — не дата вида YYYY-MM-DD", "en": "--date: {text!r} is not a date in the form YYYY-MM-DD"},
}
_DEALS = (("сделка", "сделки", "сделок"), ("deal", "deals"))


@click.group("spec")
def spec() -> None:
    """Render the technical specification (ТЗ) from a blueprint."""


@spec.command("render")
@click.option("-b", "--blueprint", "blueprint_path", required=True, metavar="FILE", help="The blueprint YAML.")
@click.option("--answers", "answers_path", metavar="FILE",
              help="Questionnaire answers: the sizing table then shows answer-driven adjustments.")
@click.option("--lang", default="ru", show_default=True, metavar="ru|en", help="Language of the spec.")
@click.option("--format", "fmt", metavar="md|html|docx", help="Output format (default: from the extension of -o).")
@click.option("--integrator", default="", metavar="NAME", help="Who implements the CRM (printed on the title page).")
@click.option("--date", "date_text", metavar="YYYY-MM-DD", help="Date on the title page (default: today).")
@click.option("--crm", metavar="amocrm|bitrix24|directum",
              help="Target CRM for the manual checklist (default: amoCRM and Bitrix24).")
@click.option("--measured-from", "tenant", metavar="TENANT",
              help="Take the funnel's conversions, average check and cycle from TENANT's latest audit snapshot.")
@click.option("--period", "period_days", type=click.IntRange(1, 3660), default=30, show_default=True,
              help="With --measured-from: the deals created in the last N days before the snapshot.")
@workspace_dir_option()
@click.option("-o", "--output", required=True, metavar="FILE", help="Where to write the spec.")
def render(blueprint_path: str, answers_path: str | None, lang: str, fmt: str | None, integrator: str,
           date_text: str | None, crm: str | None, tenant: str | None, period_days: int,
           workspace_dir: str | None, output: str) -> int:
    """Render the spec as Markdown, HTML (one self-contained file) or Word; Russian by default."""
    from implkit.spec import write_spec

    measure = None
    if tenant:
        def measure(blueprint):  # noqa: ANN001, ANN202 — called once the blueprint is loaded and checked
            return _measure(blueprint, tenant, workspace_dir, period_days)

    written = write_spec(blueprint_path, output, fmt=fmt, lang=lang, answers_path=answers_path,
                         integrator=integrator, date=_parse_date(date_text), crm=crm,
                         warn=lambda message: click.echo(f"warning: {message}", err=True), measure=measure)
    click.echo(str(written))
    return 0


def _measure(blueprint, tenant: str, workspace_dir: str | None, period_days: int):  # noqa: ANN001, ANN202
    """The blueprint's funnel measured on TENANT's latest snapshot; prints what was measured on stderr."""
    from implkit.audit import MESSAGES as AUDIT_MESSAGES, SNAPSHOT_FILE
    from implkit.audit.analytics import default_period, sales_analytics
    from implkit.audit.snapshot import Snapshot
    from implkit.errors import RuntimeFailure
    from implkit.spec.measured import measure
    from implkit.workspace import Workspace

    ws = Workspace.discover(workspace_dir)
    ws.tenant(tenant)  # an unknown tenant is bad input (exit 3)
    path = ws.tenant_dir(tenant) / SNAPSHOT_FILE
    if not path.exists():
        raise RuntimeFailure(say(AUDIT_MESSAGES, "no_snapshot", tenant=tenant))
    snapshot = Snapshot(path, reader=True)
    try:
        if not snapshot.snapshot_at:
            raise RuntimeFailure(say(AUDIT_MESSAGES, "no_snapshot", tenant=tenant))
        analytics = sales_analytics(snapshot, default_period(snapshot.snapshot_at, period_days))
    finally:
        snapshot.close()
    measured = measure(analytics, blueprint, tenant)
    if measured is None:
        raise RuntimeFailure(say(_MESSAGES, "no_pipeline", tenant=tenant))
    start = _dt.datetime.fromtimestamp(measured.start, _dt.timezone.utc).date()
    end = _dt.datetime.fromtimestamp(measured.end - 1, _dt.timezone.utc).date()
    click.echo(say(_MESSAGES, "measured", tenant=tenant, pipeline=measured.pipeline, start=start, end=end,
                   days=measured.days, deals=count_noun(measured.deals, *_DEALS), won=measured.won), err=True)
    for step in measured.steps:
        shown = (f"{float(step.conversion) * 100:.1f}%" if step.conversion is not None
                 else say(_MESSAGES, "not_measured", reason=step.reason))
        entered = count_noun(step.entered, *_DEALS) if step.entered is not None else "-"
        click.echo(f"  {step.name}: {entered}, {shown}", err=True)
    return measured


def _parse_date(text: str | None) -> _dt.date | None:
    if text is None:
        return None
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(say(_MESSAGES, "bad_date", text=text)) from None
