"""The language of what a user reads when no command-specific `--lang` says otherwise.

DESIGN.md: `--lang` (the top-level `implkit --lang en …`), else
$IMPLKIT_LANG, else `lang` in implkit.yaml (from the moment the workspace is
loaded: a problem in implkit.yaml itself is told before it is known), else
Russian. Error messages are formatted when they are raised, so the choice is
process-wide and read at that moment.

Messages stay data next to the code that uses them, as
`{"key": {"ru": "…", "en": "…"}}` catalogs; `say(catalog, key, **values)`
picks the current language.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

LANGS = ("ru", "en")
DEFAULT = "ru"
ENV_VAR = "IMPLKIT_LANG"
NBSP = "\u00a0"  # Russian documents group digits and set "%" apart with a no-break space

_chosen: str | None = None
_workspace: str | None = None


def use(lang: str | None) -> None:
    """Set the language for this process, as `--lang` does (None: $IMPLKIT_LANG, implkit.yaml, the default).
    Called once a command line is parsed, it also forgets a previous workspace's `lang`."""
    global _chosen, _workspace
    _chosen = lang if lang in LANGS else None
    _workspace = None


def use_workspace(lang: str | None) -> None:
    """The loaded workspace's `lang`, below --lang and $IMPLKIT_LANG."""
    global _workspace
    _workspace = lang if lang in LANGS else None


@contextmanager
def speaking(lang: str) -> Iterator[None]:
    """For the block, messages are told in `lang` (a document's or a questionnaire's own language), then the
    choice before it is back. Process-wide, like `use`: for single-threaded work such as an interview."""
    global _chosen
    before = _chosen
    _chosen = lang if lang in LANGS else before
    try:
        yield
    finally:
        _chosen = before


def current() -> str:
    if _chosen is not None:
        return _chosen
    env = os.environ.get(ENV_VAR, "").strip().lower()
    if env in LANGS:
        return env
    return _workspace or DEFAULT


def say(catalog: Mapping[str, Mapping[str, str]], message: str, /, **values: Any) -> str:
    """`catalog[message]` in the current language, formatted with `values`."""
    return catalog[message][current()].format(**values)


def say_in(catalog: Mapping[str, Mapping[str, str]], message: str, lang: str, /, **values: Any) -> str:
    """`catalog[message]` in `lang` (a report's own language), English where it has no text, formatted."""
    texts = catalog[message]
    return (texts.get(lang) or texts["en"]).format(**values)


def plural_ru(count: int, one: str, few: str, many: str) -> str:
    """The Russian noun form agreeing with `count`: 1 проблема, 2 проблемы, 5 проблем, 21 проблема."""
    n = abs(count) % 100
    if 11 <= n <= 14:
        return many
    n %= 10
    if n == 1:
        return one
    if 2 <= n <= 4:
        return few
    return many


def count_noun(count: int, ru: tuple[str, str, str], en: tuple[str, str]) -> str:
    """`count` and its noun in the current language: «3 проблемы», "3 problems"."""
    if current() == "ru":
        return f"{count} {plural_ru(count, *ru)}"
    return f"{count} {en[0] if count == 1 else en[1]}"


def number(value: int | float | Decimal | None, lang: str) -> str:
    """A whole or decimal number with the language's separators: "1 234,5" / "1,234.5"."""
    if value is None:
        return "—"
    amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    text = f"{amount:,f}" if amount != amount.to_integral_value() else f"{int(amount):,}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if lang == "ru":
        text = text.replace(",", NBSP).replace(".", ",")
    return text


def percent(share: Decimal | float | None, lang: str) -> str:
    """A share (0.4) as a percentage ("40 %" / "40%"), at most one decimal place."""
    if share is None:
        return "—"
    value = (Decimal(str(share)) * 100).quantize(Decimal("0.1")).normalize()
    text = number(value, lang)
    return f"{text}{NBSP}%" if lang == "ru" else f"{text}%"
