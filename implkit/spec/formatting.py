"""Formatting of values in the spec, per language, and escaping of data per output format.

Decisions (tested in tests/spec/test_spec_formatting.py):

- Money, Russian: digits grouped by three with a NO-BREAK SPACE (U+00A0),
  then a no-break space and the sign: "800 000 ₽" — the ru_RU (CLDR) style,
  and the no-break spaces keep the figure on one line in print.
- Money, English: "RUB 800,000" — the ISO code first (an English reader
  may not know the ₽ sign), comma thousands separators.
- Percent: "40 %" in Russian (no-break space, as ru_RU writes it),
  "40%" in English; a fraction keeps up to one decimal: "33,3 %" / "33.3%".
- Dates: "23 ноября 2026 г." / "23 November 2026".
- Stars: ★ filled, ☆ empty, out of three; "—" for "not relevant".
- Markdown: data is text, never markup; `md_escape` backslash-escapes every
  character CommonMark gives a meaning to where it has one, and turns line
  breaks into spaces so a value cannot leave its table cell or list item.
  Only there: a version "1.0.0", a share "0.5" or a phone "+7 900…" reads as
  written, not "1\\.0.0".
"""

from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal

from implkit.lang import NBSP, number, percent, plural_ru  # one place for numbers in every report

_MONTHS_RU = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
              "сентября", "октября", "ноября", "декабря")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


def stars(value: int | None) -> str:
    if not value:
        return "—"
    value = max(0, min(3, int(value)))
    return "★" * value + "☆" * (3 - value)


def plural(n: int, forms: tuple[str, ...] | list[str], lang: str) -> str:
    """The noun form that agrees with `n`: Russian (one, few, many), English (one, other).

    Russian: 1, 21, 101 продавец; 2–4, 22–24 продавца; 0, 5–20, 11–14, 25 продавцов.
    """
    n = abs(int(n))
    if lang != "ru":
        return forms[0] if n == 1 else forms[-1]
    return plural_ru(n, *forms[:3])


def count(n: int | Decimal | None, forms: tuple[str, ...] | list[str], lang: str) -> str:
    """A number with its agreeing noun: "21 рабочий день", "5 продавцов", "2 sellers"; a fraction takes
    the genitive singular in Russian ("0,4 встречи") and the plural in English."""
    if n is None:
        return "—"
    value = Decimal(str(n))
    if value != value.to_integral_value():
        form = forms[1] if lang == "ru" else forms[-1]
        return f"{number(value, lang)}{NBSP}{form}"
    return f"{number(value, lang)}{NBSP}{plural(int(value), forms, lang)}"


def money(value: int | float | Decimal | None, lang: str) -> str:
    if value is None:
        return "—"
    if lang == "ru":
        return f"{number(value, lang)}{NBSP}₽"
    return f"RUB{NBSP}{number(value, lang)}"




def short_date(value: _dt.date, lang: str) -> str:
    """"02.02.2026" / "2026-02-02": digits and separators only, so no format gives it a meaning."""
    return value.strftime("%d.%m.%Y") if lang == "ru" else value.isoformat()


def long_date(value: _dt.date, lang: str) -> str:
    if lang == "ru":
        return f"{value.day} {_MONTHS_RU[value.month - 1]} {value.year} г."
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


# CommonMark: any ASCII punctuation may be backslash-escaped. These are the ones
# that can start markup anywhere in a line (emphasis, code, links, raw HTML,
# entities, tables, strikethrough).
_MD_ANYWHERE = re.compile(r"([\\`*\[\]<>|#~&])")  # "!" needs no escape: "[" after it is escaped
# "_" opens or closes emphasis only at a word's edge: between two letters or digits ("utm_source") it
# is text, so only a run of "_" with a space or punctuation on either side is escaped.
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_+|_+(?![^\W_])")
# ...and these only at the start of a line, and only where CommonMark would read a block there: a
# list item needs a space (or the end) after its marker — "- x", "+ x", "1. x", "1)" — so "1.0.0",
# "0.5", "+7 900…" and "-5" stay as written; "---" and "===" alone would underline the line above.
_MD_LINE_START = re.compile(r"^(\s*)(?:([-+])(?=\s|$)|(\d{1,9})(?=[.)](?:\s|$))|([-=])(?=[-= ]*$))")


def md_escape_inline(value: object) -> str:
    """Escape for a place that cannot start a block (a heading's text, a table cell)."""
    text = _MD_ANYWHERE.sub(r"\\\1", " ".join(str(value).splitlines()))
    return _MD_UNDERSCORE.sub(lambda m: "\\_" * len(m.group()), text)


def md_escape(value: object) -> str:
    """Escape for any place, the start of a line included (paragraphs, list items)."""
    text = md_escape_inline(value)
    match = _MD_LINE_START.match(text)
    if match:
        if match.group(3):  # "1. text" → "1\. text"
            end = match.end()
            text = text[:end] + "\\" + text[end:]
        else:
            text = match.group(1) + "\\" + text[len(match.group(1)):]
    return text
