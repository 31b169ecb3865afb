"""Filters of the spec: money, percent, dates, stars per language; Markdown escaping of data."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from jinja2.exceptions import SecurityError

from implkit.spec.formatting import NBSP, long_date, md_escape, money, number, percent, stars


def test_money_russian_groups_with_no_break_spaces():
    assert money(800_000, "ru") == f"800{NBSP}000{NBSP}₽"
    assert money(Decimal("1234567.5"), "ru") == f"1{NBSP}234{NBSP}567,5{NBSP}₽"
    assert money(40_000.0, "ru") == f"40{NBSP}000{NBSP}₽"


def test_money_english_uses_the_iso_code():
    assert money(800_000, "en") == f"RUB{NBSP}800,000"
    assert money(Decimal("999.90"), "en") == f"RUB{NBSP}999.9"


def test_percent_and_numbers():
    assert percent(Decimal("0.4"), "ru") == f"40{NBSP}%"
    assert percent(Decimal("0.4"), "en") == "40%"
    assert percent(Decimal(1) / 3, "ru") == f"33,3{NBSP}%"
    assert number(1500, "en") == "1,500"
    assert number(None, "ru") == "—"


def test_dates_per_language():
    assert long_date(dt.date(2026, 11, 23), "ru") == "23 ноября 2026 г."
    assert long_date(dt.date(2026, 3, 1), "en") == "1 March 2026"


def test_stars():
    assert [stars(v) for v in (3, 2, 1, None)] == ["★★★", "★★☆", "★☆☆", "—"]


def test_markdown_escaping_leaves_no_markup():
    assert md_escape("**bold**") == r"\*\*bold\*\*"
    assert md_escape("<script>alert(1)</script>") == r"\<script\>alert(1)\</script\>"
    assert md_escape("a | b") == r"a \| b"
    assert md_escape("[x](http://e)") == r"\[x\](http://e)"
    assert md_escape("- item") == r"\- item"
    assert md_escape("1. item") == r"1\. item"
    assert md_escape("line one\nline two") == "line one line two"
    assert md_escape("&amp;") == r"\&amp;"
    assert md_escape("---") == r"\---" and md_escape("===") == r"\===" and md_escape("1)") == r"1\)"


def test_markdown_escaping_leaves_versions_and_numbers_as_written():
    for text in ("1.0.0", "0.5", "2.3 (once every 2 working days)", "+7 900 123-45-67", "-5 %", "= 40 000",
                 "1.5", "10.12.2025", "utm_source", "snake_case_name"):
        assert md_escape(text) == text


# Values a spec carries, hostile or ordinary: each must come out of a CommonMark parser as its own text.
VALUES = ["1.0.0", "0.5", "1. item", "1) item", "1.", "- item", "+ item", "+7 900 123-45-67", "-5 %", "---", "===",
          "- - -", "**bold**", "<script>alert(1)</script>", "a | b", "[x](http://e)", "&amp;", "# title", "> quote",
          "`code`", "~~x~~", "_x_", "2026. год", "ООО «Ромашка» & Co", "100 000 ₽", "utm_source", "a _b_ c",
          "__init__", "x__y__z", "_", "snake_case_name", "поле_1", "(_x_)"]


@pytest.mark.parametrize("value", VALUES)
def test_a_commonmark_parser_reads_escaped_text_as_the_text(value):
    markdown_it = pytest.importorskip("markdown_it")  # a test dependency (pyproject [test])
    from markdown_it.common.utils import escapeHtml

    parser = markdown_it.MarkdownIt("commonmark").enable("table").enable("strikethrough")
    assert parser.render(md_escape(value)) == f"<p>{escapeHtml(value)}</p>\n"
    # under a line of text, where "---" or "===" would turn that line into a heading
    assert parser.render("Текст\n" + md_escape(value)) == f"<p>Текст\n{escapeHtml(value)}</p>\n"
    # in a table cell
    from implkit.spec.formatting import md_escape_inline

    table = parser.render(f"| Поле |\n| --- |\n| {md_escape_inline(value)} |\n")
    assert f"<td>{escapeHtml(value)}</td>" in table


def test_templates_run_sandboxed_and_strict():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from implkit.spec.render import _environment

    for fmt in ("md", "html"):
        env = _environment(fmt, "ru")
        assert isinstance(env, SandboxedEnvironment) and env.undefined is StrictUndefined
    # a template reaching for Python internals is stopped by the sandbox
    with pytest.raises(SecurityError):
        _environment("html", "en").from_string("{{ x.__class__.__subclasses__() }}").render(x=1)


def test_inline_escaping_keeps_a_leading_number():
    from implkit.spec.formatting import md_escape_inline

    assert md_escape_inline("1. Title | **x**") == r"1. Title \| \*\*x\*\*"


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_a_rendered_spec_writes_versions_and_rates_without_backslashes(tmp_path, lang):
    from implkit.data import blueprints_dir
    from implkit.spec import write_spec

    for preset in sorted((blueprints_dir() / "presets").glob("*.yaml")):
        text = write_spec(preset, tmp_path / f"{preset.stem}.md", lang=lang, date=dt.date(2026, 1, 15),
                          warn=lambda message: None).read_text(encoding="utf-8")
        label = "Версия документа" if lang == "ru" else "Document version"
        assert f"- **{label}:** 1.0.0\n" in text, preset.stem  # every preset is version 1.0.0
        assert not re.search(r"\d\\[.)]\d", text), preset.stem  # no "1\.5" anywhere
