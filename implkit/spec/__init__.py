"""The technical specification (ТЗ): rendered from a blueprint, in Russian or English, as Markdown, HTML or Word.

The public surface:

- `write_spec(blueprint_path, output, ...)`: what `implkit spec render` does —
  load and check the inputs, render, write atomically. Bad input raises
  InputError (exit 3) before anything is written.
- `render_spec(blueprint, fmt, ...) -> bytes`: render an in-memory blueprint.
- `format_for(path, fmt=None) -> str`: the output format, given or from the extension.

Sections: title; goals and sizing; roadmap; pipelines; fields; automations
and distribution; roles and rights; integrations; analytics (plan
decomposition, leading indicators, KPI, reports); manual steps per target
CRM; acceptance criteria and glossary. Data preparation is in `context`,
wording in `templates/<lang>.j2`, layout in `templates/spec.j2`.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Callable

from implkit.blueprint.manual import CRMS
from implkit.errors import InputError
from implkit.lang import say
from implkit.model import Blueprint
from implkit.sizing import Assessment
from implkit.spec.messages import MESSAGES

FORMATS = ("md", "html", "docx")
LANGS = ("ru", "en")
_EXTENSIONS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".docx": "docx"}


def format_for(output: str | os.PathLike, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the output file's extension."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(say(MESSAGES, "format", fmt=fmt, known=", ".join(FORMATS)))
        return fmt
    suffix = Path(output).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise InputError(say(MESSAGES, "extension", output=output, suffix=suffix or say(MESSAGES, "none")))
    return _EXTENSIONS[suffix]


def render_spec(blueprint: Blueprint, fmt: str, *, lang: str = "ru", assessment: Assessment | None = None,
                date: _dt.date | None = None, integrator: str = "", crms: tuple[str, ...] = CRMS,
                source: str = "blueprint", from_answers: bool = False, answers: dict | None = None,
                answered: frozenset[str] | None = None, warn: Callable[[str], None] | None = None,
                measured=None) -> bytes:  # noqa: ANN001 (implkit.spec.measured.Measured)
    """The spec of `blueprint` in `fmt` ("md", "html" or "docx") and `lang` ("ru" or "en").

    `answers` (question id → value) override the blueprint's company facts
    (implkit.spec.facts); each conflict is passed to `warn` and noted in the spec.
    """
    from implkit.spec.context import SpecOptions, build_context
    from implkit.spec.render import render_text

    if lang not in LANGS:
        raise InputError(say(MESSAGES, "lang", lang=lang, known=", ".join(LANGS)))
    if fmt not in FORMATS:
        raise InputError(say(MESSAGES, "format", fmt=fmt, known=", ".join(FORMATS)))
    date = date or _dt.date.today()
    from implkit.spec.context import conflict_messages
    from implkit.spec.facts import resolve

    facts = resolve(blueprint, assessment, answers, answered, measured)
    if warn is not None:
        for message in conflict_messages(facts, lang):
            warn(message)
    options = SpecOptions(lang, date, integrator, crms, source, from_answers, answers, answered, measured)
    context = build_context(blueprint, assessment, options, facts)
    if fmt == "md":
        return render_text(context, "md", lang).encode("utf-8")
    html = render_text(context, "html", lang)
    if fmt == "html":
        return html.encode("utf-8")
    from implkit.spec.docx import to_docx

    title = f"{facts.company.value or ''} — {blueprint.name} {blueprint.version}".strip(" —")
    return to_docx(html, title=title, author=integrator or "implkit", date=date, lang=lang)


def write_spec(blueprint_path: str | os.PathLike, output: str | os.PathLike, *, fmt: str | None = None,
               lang: str = "ru", answers_path: str | os.PathLike | None = None, integrator: str = "",
               date: _dt.date | None = None, crm: str | None = None,
               warn: Callable[[str], None] | None = None,
               measure: Callable[[Blueprint], object] | None = None) -> Path:
    """Render the spec of the blueprint file to `output`; every input is checked before anything is written."""
    from implkit.blueprint import load_blueprint
    from implkit.yamlio import atomic_write

    fmt = format_for(output, fmt)
    if lang not in LANGS:
        raise InputError(say(MESSAGES, "lang", lang=lang, known=", ".join(LANGS)))
    if crm is not None and crm not in (*CRMS, "directum"):    # Directum only on request (templates/directum.j2)
        raise InputError(say(MESSAGES, "crm", crm=crm, known=", ".join((*CRMS, "directum"))))
    blueprint = load_blueprint(blueprint_path)
    # The measured funnel (spec render --measured-from): the command reads the tenant's snapshot.
    measured = measure(blueprint) if measure is not None else None
    if warn is not None:
        from implkit.blueprint.validate import duplicate_automation_warnings
        from implkit.yamlio import load_yaml, to_plain

        tree = load_yaml(blueprint_path)
        for problem in duplicate_automation_warnings(tree, to_plain(tree), str(blueprint_path)):
            warn(str(problem))
    answers = None
    answered = None
    if answers_path is not None:
        from implkit.sizing.answers import read_answers

        answers_file = read_answers(answers_path)
        answers = answers_file.answers
        # What the file states; the rest took the questionnaire's defaults, which are assumptions.
        stated = answers_file.tree.get("answers") if isinstance(answers_file.tree, dict) else None
        answered = frozenset(str(k) for k in (stated or {}))
        _check_start(answers_file)
    assessment = assess_for(blueprint, answers)
    if crm is None and answers and answers.get("target_crm") in CRMS:
        crm = answers["target_crm"]  # the questionnaire named the target CRM
    data = render_spec(blueprint, fmt, lang=lang, assessment=assessment, date=date, integrator=integrator,
                       crms=(crm,) if crm else CRMS, source=str(blueprint_path),
                       from_answers=answers is not None, answers=answers, answered=answered, warn=warn,
                       measured=measured)
    atomic_write(output, data)
    return Path(output)


def _check_start(answers_file) -> None:  # noqa: ANN001
    """`project_start` must be a date (the questionnaire types it as text): bad input with its place."""
    from implkit.errors import Location, Problem
    from implkit.yamlio import location_of

    text = str(answers_file.answers.get("project_start") or "").strip()
    if not text:
        return
    try:
        _dt.date.fromisoformat(text)
    except ValueError:
        where = location_of(answers_file.tree, ("answers", "project_start"), answers_file.path)
        raise InputError(say(MESSAGES, "start_not_date", file=answers_file.path),
                         [Problem(where, say(MESSAGES, "not_date", text=text))]) from None


def assess_for(blueprint: Blueprint, answers: dict | None) -> Assessment | None:
    """The sizing the spec shows: from the answers when given, else from the blueprint's seller count."""
    from implkit.sizing.matrix import assess

    if answers is not None:
        return assess(answers)
    if blueprint.sellers:
        return assess({"sellers": blueprint.sellers})
    return None
