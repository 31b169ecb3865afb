"""Jinja2 rendering of the spec: one structure template, per-language texts, per-format primitives.

    templates/spec.j2        the sections in order (shared by every language and format)
    templates/ru.j2, en.j2   the words of each language
    templates/_md.j2, _html.j2  headings, lists, tables in Markdown / HTML

Data is never markup: HTML is autoescaped; in Markdown the environment's
`finalize` backslash-escapes every printed value (macro output, already
escaped, is marked safe and passed through). Both run in a
SandboxedEnvironment with StrictUndefined, so a template cannot reach
Python internals and a missing key fails loudly instead of printing nothing.
The output depends only on the inputs (no clock, no locale, no dict
ordering from the environment), so the same inputs give the same bytes.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from implkit.spec import formatting

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGS = ("ru", "en")
TEXT_FORMATS = ("md", "html")


def render_text(context: dict[str, Any], fmt: str, lang: str) -> str:
    """The spec as Markdown or HTML text."""
    template = _environment(fmt, lang).get_template("spec.j2")
    text = template.render(doc=context, fmt=fmt, lang=lang)
    return _tidy(text)


@functools.cache
def _environment(fmt: str, lang: str) -> SandboxedEnvironment:
    if fmt not in TEXT_FORMATS:
        raise ValueError(f"unknown text format {fmt!r}")
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}")
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES)),
        undefined=StrictUndefined,
        autoescape=True,  # HTML: markupsafe; Markdown: `finalize` escapes first and marks the result safe
        finalize=_markdown_finalize if fmt == "md" else _html_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update({
        "stars": formatting.stars,
        "money": functools.partial(formatting.money, lang=lang),
        "percent": functools.partial(formatting.percent, lang=lang),
        "num": functools.partial(formatting.number, lang=lang),
        "longdate": functools.partial(formatting.long_date, lang=lang),
        "count": functools.partial(formatting.count, lang=lang),
        # Markup: only digits and separators, nothing to escape (Markdown would escape "02." as a list number)
        "shortdate": lambda value: Markup(formatting.short_date(value, lang)),
        "names": _names,
        "current_row": lambda row, names: (names.get(row["key"], row["key"]), row["value"]),
        "pairs": _pairs,
        "lookup": _lookup,
        "md_inline": _markdown_inline,  # used by _md.j2 only
    })
    return env


def _markdown_finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Markup):  # macro output: its values are escaped already
        return value
    return Markup(formatting.md_escape(value))


def _markdown_inline(value: Any) -> Markup:
    """Headings and table cells cannot start a list or a quote: only inline markup needs escaping."""
    if isinstance(value, Markup):
        return value
    return Markup(formatting.md_escape_inline("" if value is None else value))


def _html_finalize(value: Any) -> Any:
    return "" if value is None else value


def _names(values: Any) -> str:
    """A list of names as "a, b, c"; "—" when empty."""
    items = [str(v) for v in values or () if v not in (None, "")]
    return ", ".join(items) if items else "—"


def _pairs(mapping: Any) -> str:
    return ", ".join(f"{k}: {v}" for k, v in dict(mapping or {}).items())


def _lookup(key: Any, mapping: dict[str, str], default: str = "—") -> str:
    return mapping.get(key, default) if key is not None else default


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n") + "\n"
