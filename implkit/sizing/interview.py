"""The interactive questionnaire: asks in order, honours each question's condition, re-asks a bad answer.

The interview talks on stderr (prompts, options, complaints), so stdout
carries only the result, as for every implkit command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from implkit.sizing.questionnaire import AnswerError, Question, load_questionnaire

_TEXT = {
    "title": {
        "ru": "Анкета внедрения CRM. Enter — принять ответ в скобках.",
        "en": "CRM implementation questionnaire. Enter accepts the answer in brackets.",
    },
    "choice": {"ru": "номер или название", "en": "number or name"},
    "multi_choice": {"ru": "номера или названия через запятую, «-» — ничего",
                     "en": "numbers or names, comma-separated; \"-\" for none"},
    "yes_no": {"ru": "да/нет", "en": "yes/no"},
}


def interview(lang: str = "ru", previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ask every question whose condition holds; not-asked ones are None. `previous` answers become defaults."""
    previous = previous or {}
    click.echo(_TEXT["title"][lang], err=True)
    answers: dict[str, Any] = {}
    for question in load_questionnaire().questions:
        if not question.is_asked(answers):
            answers[question.id] = None
            continue
        answers[question.id] = ask(question, lang, _usable_default(question, previous))
    return answers


def _usable_default(question: Question, previous: Mapping[str, Any]) -> Any:
    """The earlier answer if it still holds up, else the questionnaire's default."""
    if question.id in previous:
        try:
            question.check(previous[question.id], "en")
            return previous[question.id]
        except AnswerError:
            pass
    return question.default


def ask(question: Question, lang: str, default: Any = None) -> Any:
    """Ask one question until the answer holds up."""
    click.echo("", err=True)
    if question.help(lang):
        click.echo(question.help(lang), err=True)
    for number, option in enumerate(question.options, 1):
        click.echo(f"  {number}. {option.label(lang)}", err=True)
    prompt = question.text(lang)
    if question.type in _TEXT:
        prompt += f" ({_TEXT[question.type][lang]})"
    shown = None if default is None else question.show(default, lang)
    while True:
        typed = click.prompt(prompt, default=shown, show_default=bool(shown), err=True)
        try:
            return question.parse(typed, lang)
        except AnswerError as exc:
            click.echo(f"  ✗ {exc}", err=True)
