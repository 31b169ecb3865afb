"""`implkit spec render`: the technical specification (ТЗ) from a blueprint."""

from __future__ import annotations

import datetime as _dt

import click

from implkit.errors import InputError


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
@click.option("-o", "--output", required=True, metavar="FILE", help="Where to write the spec.")
def render(blueprint_path: str, answers_path: str | None, lang: str, fmt: str | None, integrator: str,
           date_text: str | None, crm: str | None, output: str) -> int:
    """Render the spec as Markdown, HTML (one self-contained file) or Word; Russian by default."""
    from implkit.spec import write_spec

    written = write_spec(blueprint_path, output, fmt=fmt, lang=lang, answers_path=answers_path,
                         integrator=integrator, date=_parse_date(date_text), crm=crm)
    click.echo(str(written))
    return 0


def _parse_date(text: str | None) -> _dt.date | None:
    if text is None:
        return None
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--date: {text!r} is not a date in the form YYYY-MM-DD") from None
