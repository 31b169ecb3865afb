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

from implkit.blueprint.manual import CRMS
from implkit.errors import InputError
from implkit.model import Blueprint
from implkit.sizing import Assessment

FORMATS = ("md", "html", "docx")
LANGS = ("ru", "en")
_EXTENSIONS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".docx": "docx"}


def format_for(output: str | os.PathLike, fmt: str | None = None) -> str:
    """The output format: `fmt` when given, else from the output file's extension."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"--format: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(output).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise InputError(f"{output}: cannot tell the format from the extension {suffix or '(none)'!r}; "
                         f"use .md, .html or .docx, or give --format")
    return _EXTENSIONS[suffix]


def render_spec(blueprint: Blueprint, fmt: str, *, lang: str = "ru", assessment: Assessment | None = None,
                date: _dt.date | None = None, integrator: str = "", crms: tuple[str, ...] = CRMS,
                source: str = "blueprint", from_answers: bool = False) -> bytes:
    """The spec of `blueprint` in `fmt` ("md", "html" or "docx") and `lang` ("ru" or "en")."""
    from implkit.spec.context import SpecOptions, build_context
    from implkit.spec.render import render_text

    if lang not in LANGS:
        raise InputError(f"--lang: unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    if fmt not in FORMATS:
        raise InputError(f"--format: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    date = date or _dt.date.today()
    context = build_context(blueprint, assessment, SpecOptions(lang, date, integrator, crms, source, from_answers))
    if fmt == "md":
        return render_text(context, "md", lang).encode("utf-8")
    html = render_text(context, "html", lang)
    if fmt == "html":
        return html.encode("utf-8")
    from implkit.spec.docx import to_docx

    title = f"{blueprint.company} — {blueprint.name} {blueprint.version}".strip(" —")
    return to_docx(html, title=title, author=integrator or "implkit", date=date, lang=lang)


def write_spec(blueprint_path: str | os.PathLike, output: str | os.PathLike, *, fmt: str | None = None,
               lang: str = "ru", answers_path: str | os.PathLike | None = None, integrator: str = "",
               date: _dt.date | None = None, crm: str | None = None) -> Path:
    """Render the spec of the blueprint file to `output`; every input is checked before anything is written."""
    from implkit.blueprint import load_blueprint
    from implkit.yamlio import atomic_write

    fmt = format_for(output, fmt)
    if lang not in LANGS:
        raise InputError(f"--lang: unknown language {lang!r}; expected one of {', '.join(LANGS)}")
    if crm is not None and crm not in (*CRMS, "directum"):    # Directum only on request (templates/directum.j2)
        raise InputError(f"--crm: unknown CRM {crm!r}; expected one of {', '.join(CRMS)}, directum")
    blueprint = load_blueprint(blueprint_path)
    answers = None
    if answers_path is not None:
        from implkit.sizing.answers import load_answers

        answers = load_answers(answers_path)
    assessment = assess_for(blueprint, answers)
    if crm is None and answers and answers.get("target_crm") in CRMS:
        crm = answers["target_crm"]  # the questionnaire named the target CRM
    data = render_spec(blueprint, fmt, lang=lang, assessment=assessment, date=date, integrator=integrator,
                       crms=(crm,) if crm else CRMS, source=str(blueprint_path),
                       from_answers=answers is not None)
    atomic_write(output, data)
    return Path(output)


def assess_for(blueprint: Blueprint, answers: dict | None) -> Assessment | None:
    """The sizing the spec shows: from the answers when given, else from the blueprint's seller count."""
    from implkit.sizing.matrix import assess

    if answers is not None:
        return assess(answers)
    if blueprint.sellers:
        return assess({"sellers": blueprint.sellers})
    return None
