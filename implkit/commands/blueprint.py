"""`implkit blueprint`: compose, validate, show and diff blueprints."""

from __future__ import annotations

from pathlib import Path

import click

from implkit.lang import say
from implkit.model import FEATURES

_MESSAGES = {
    "warning_word": {"ru": "предупреждение:", "en": "warning:"},
    "ok_word": {"ru": "ok:", "en": "ok:"},
    "valid": {"ru": "{file} — корректное описание (blueprint)", "en": "{file} is a valid blueprint"},
    "wrote": {"ru": "записан {file}", "en": "wrote {file}"},
}

_FEATURE = click.Choice(FEATURES)


@click.group()
def blueprint() -> None:
    """Compose, validate, show and diff blueprints (YAML, apiVersion implkit/v1)."""


@blueprint.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> int:
    """Check FILE against the schema and the cross-references; list every problem as FILE:LINE:COL."""
    from implkit.blueprint import validate_file
    from implkit.schemas import headline
    from implkit.errors import InputError

    problems = validate_file(file)
    if problems:
        raise InputError(headline(file, len(problems)), problems)
    from implkit.blueprint.validate import duplicate_automation_warnings
    from implkit.terminal import paint
    from implkit.yamlio import load_yaml, to_plain

    tree = load_yaml(file)
    for warning in duplicate_automation_warnings(tree, to_plain(tree), file):
        click.echo(f"{paint(say(_MESSAGES, 'warning_word'), 'warning', err=True)} {warning}", err=True)
    click.echo(f"{paint(say(_MESSAGES, 'ok_word'), 'ok')} {say(_MESSAGES, 'valid', file=file)}")
    return 0


@blueprint.command()
@click.option("--answers", "answers_file", required=True, type=click.Path(dir_okay=False),
              help="The questionnaire's answers (implkit size writes them).")
@click.option("--include", multiple=True, type=_FEATURE, help="Add a feature whatever its stars (repeatable).")
@click.option("--exclude", multiple=True, type=_FEATURE, help="Leave a feature out (repeatable; never base).")
@click.option("--min-stars", default=2, show_default=True, type=click.IntRange(1, 3),
              help="Select features with at least this many stars.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the blueprint (written atomically).")
def compose(answers_file: str, include: tuple[str, ...], exclude: tuple[str, ...], min_stars: int,
            output: str) -> int:
    """Compose a blueprint from the answers: the sizing selects features, their modules merge into one file."""
    from implkit.blueprint.compose import compose as compose_blueprint
    from implkit.sizing.answers import load_answers
    from implkit.yamlio import atomic_write

    answers = load_answers(answers_file)
    text = compose_blueprint(answers, include=include, exclude=exclude, min_stars=min_stars,
                             answers_name=Path(answers_file).name)
    atomic_write(output, text)
    click.echo(say(_MESSAGES, "wrote", file=output))
    return 0


@blueprint.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--crm", type=click.Choice(["amocrm", "bitrix24"]),
              help="List every manual step for this CRM (what its API cannot configure), not only the file's own.")
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True,
              help="Language of the derived manual steps (with --crm).")
def show(file: str, crm: str | None, lang: str) -> int:
    """Summarise FILE: pipelines and stages, automations, fields, roles, integrations, manual steps."""
    from implkit.blueprint import load_blueprint
    from implkit.blueprint.show import render_summary

    bp = load_blueprint(file)
    steps = None
    if crm:
        from implkit.blueprint.manual import every_manual_step

        steps = every_manual_step(bp, crm, lang)
    click.echo(render_summary(bp, steps), nl=False)
    return 0


@blueprint.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
def diff(old: str, new: str) -> int:
    """What changed from OLD to NEW, by address. Exit 0 when identical, 2 when they differ."""
    from implkit.blueprint import load_blueprint
    from implkit.blueprint.diff import diff_blueprints, render_changes

    changes = diff_blueprints(load_blueprint(old), load_blueprint(new))
    click.echo(render_changes(changes), nl=False)
    return 2 if changes else 0
