"""The interactive questionnaire: asks in order, honours each question's condition, re-asks a bad answer.

The interview talks on stderr (prompts, options, complaints), so stdout
carries only the result, as for every implkit command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from implkit.sizing.questionnaire import _NO, _YES, AnswerError, Question, _message, load_questionnaire

_TEXT = {
    "title": {
        "ru": "Анкета внедрения CRM. Enter — принять ответ в скобках.",
        "en": "CRM implementation questionnaire. Enter accepts the answer in brackets.",
    },
    "choice": {"ru": "номер или название", "en": "number or name"},
    "multi_choice": {"ru": "номера или названия через запятую, «-» — ничего",
                     "en": "numbers or names, comma-separated; \"-\" for none"},
    "yes_no": {"ru": "да/нет", "en": "yes/no"},
    "required": {"ru": "Это обязательный вопрос: введите ответ (Ctrl-C — прервать, ответы сохранятся в черновике)",
                 "en": "This question needs an answer (Ctrl-C stops; the answers so far are kept in a draft)"},
    "from_draft": {"ru": "{question} — {answer} (из черновика)", "en": "{question} — {answer} (from the draft)"},
    "yes": {"ru": "да", "en": "yes"},
    "no": {"ru": "нет", "en": "no"},
}


def interview(lang: str = "ru", previous: Mapping[str, Any] | None = None, *,
              resume: Mapping[str, Any] | None = None,
              on_answer: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Ask every question whose condition holds; not-asked ones are None. `previous` answers become defaults.

    `resume` holds a draft's answers: each one that still holds up is taken without asking (and shown),
    so an interrupted interview continues at its first unanswered question. `on_answer` is called with
    the answers so far after each one (the caller keeps the draft), so Ctrl-C or end of input loses none.
    """
    previous = previous or {}
    resume = resume or {}
    click.echo(_TEXT["title"][lang], err=True)
    answers: dict[str, Any] = {}
    for question in load_questionnaire().questions:
        if not question.is_asked(answers):
            answers[question.id] = None
            continue
        if question.id in resume and _holds_up(question, resume[question.id]):
            answers[question.id] = resume[question.id]
            click.echo(_TEXT["from_draft"][lang].format(question=question.text(lang),
                                                        answer=question.show(resume[question.id], lang)), err=True)
            continue
        answers[question.id] = ask(question, lang, _usable_default(question, previous))
        if on_answer is not None:
            on_answer(answers)
    return answers


def confirm(text: str, lang: str, *, default: bool) -> bool:
    """A yes/no question in the interview's language («да/нет», not click's English [y/N]).

    End of input or Ctrl-C raises click.Abort, as every other prompt of the interview does."""
    yes, no = _TEXT["yes"][lang], _TEXT["no"][lang]
    shown = yes if default else no
    while True:
        typed = click.prompt(f"{text} ({yes}/{no})", default=shown, err=True).strip().casefold()
        if typed in _YES:
            return True
        if typed in _NO:
            return False
        click.echo(f"  ✗ {_message('yes_no', lang)}", err=True)


def _holds_up(question: Question, value: Any) -> bool:
    try:
        question.check(value, "en")
    except AnswerError:
        return False
    return True


def _usable_default(question: Question, previous: Mapping[str, Any]) -> Any:
    """The earlier answer if it still holds up, else the questionnaire's default."""
    if question.id in previous and _holds_up(question, previous[question.id]):
        return previous[question.id]
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
        # default "" rather than None: click re-asks a blank answer silently; this loop says why instead
        typed = click.prompt(prompt, default="" if shown is None else shown, show_default=bool(shown), err=True)
        if not typed.strip() and shown is None and question.required:
            click.echo(f"  ✗ {_TEXT['required'][lang]}", err=True)
            continue
        try:
            return question.parse(typed, lang)
        except AnswerError as exc:
            click.echo(f"  ✗ {exc}", err=True)
