"""Duplicate groups and shared numbers in the reports people read (table, Markdown, HTML): as many as the
check's samples of records, then how many there are and where all of them are (JSON). A million-record
account has tens of thousands of shared lines: listed whole, the table report was 2.7 MB in a terminal."""

from __future__ import annotations

import json

import pytest

from implkit.audit import report_duplicates


def _finding(groups: int, shared: int, samples: int | None = 10) -> dict:
    return {"id": "C14", "samples": samples, "details": {
        "groups": groups, "compared_pairs": 5, "blocks": 3, "largest_block": 2, "truncated_blocks": [],
        "duplicate_groups": [{"keep": 100 + i, "merge": [200 + i], "level": "certain", "confidence": 0.99,
                              "evidence": [{"records": [100 + i, 200 + i], "evidence": ["phone:+74951000000"]}]}
                             for i in range(groups)],
        "shared_channels": [{"kind": "phone", "key": f"+7495100{i:04d}", "generic": False,
                             "people": [[300 + i], [400 + i]]} for i in range(shared)]}}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_the_table_shows_the_first_groups_and_says_how_many_there_are(lang):
    lines = report_duplicates.text_lines(_finding(25, 15), lang)
    text = "\n".join(lines)
    assert sum("keep 1" in line or "оставить 1" in line for line in lines) == 10
    assert "+74951000009" in text and "+74951000010" not in text  # the first ten shared numbers only
    if lang == "ru":
        assert "показано групп: 10 из 25; все группы: --format json" in text
        assert "показано общих номеров и адресов: 10 из 15; все: --format json" in text
    else:
        assert "shown 10 of 25 groups; every group: --format json" in text
        assert "shown 10 of 15 shared numbers and addresses" in text


def test_no_count_line_when_every_group_is_shown():
    text = "\n".join(report_duplicates.text_lines(_finding(3, 10), "ru"))
    assert "показано" not in text and text.count("оставить") == 3 and text.count("людей — 2") == 10


def test_markdown_and_html_show_as_many_and_html_speaks_russian():
    finding = _finding(12, 11)
    markdown = "\n".join(report_duplicates.markdown_lines(finding, "ru"))
    assert markdown.count("- оставить") == 10 and "- показано групп: 10 из 12" in markdown
    assert "- показано общих номеров и адресов: 10 из 11" in markdown
    page = report_duplicates.html_block(finding, "ru")
    assert page.count("<tr><td>") == 10 and "<p>показано групп: 10 из 12; все группы: --format json</p>" in page
    assert "<th>оставить</th><th>объединить</th><th>уверенность</th><th>основания</th>" in page
    assert "<th>keep</th>" in report_duplicates.html_block(finding, "en")


def test_json_keeps_every_group_and_the_table_the_first(make_snapshot):
    """Twelve office numbers, each on two different people: the JSON report lists the twelve shared lines,
    the table the first ten and the count."""
    from implkit.audit import AuditOptions, run_audit

    contacts = []
    for k in range(12):
        phone = f"+7 495 100-00-{k:02d}"
        contacts += [{"id": 2 * k + 1, "name": "Анна Котова", "phones": [phone]},
                     {"id": 2 * k + 2, "name": "Олег Лапин", "phones": [phone]}]
    snap = make_snapshot({"contacts": contacts})
    shared = {}
    for fmt in ("json", "table"):
        outcome = run_audit(snap.path, None, tenant="t", options=AuditOptions(), fmt=fmt)
        try:
            pieces: list[str] = []
            outcome.write(pieces.append)
            shared[fmt] = "".join(pieces)
        finally:
            outcome.run.close()
    c14 = next(f for f in json.loads(shared["json"])["findings"] if f["id"] == "C14")
    assert len(c14["details"]["shared_channels"]) == 12
    assert shared["table"].count("людей — 2") == 10 and "показано общих номеров и адресов: 10 из 12" in shared["table"]
