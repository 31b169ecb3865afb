"""Everything README.md and docs/*.md send a reader to is in the repository, or is a public address.

Checked: every relative Markdown link (the file, and the heading its #anchor names), and every path
written in the text that starts at a top-level folder of the repository (`implkit/…`, `tests/…`,
`docs/…`, `blueprints/…`, `audits/…`, `bench/…`, `examples/…`), backticked or not; a test id's
`::name` and a trailing `:line` are cut off, `*` is a glob that must match something, and paths with
a placeholder (`<crm>`, `{name}`) are patterns, not files. Refused anywhere: the project's material
that is not in the repository (DESIGN.md, domain.md, anchors.md, `../shared`, the `reference/` and
`seeds/` folders beside it); docs cite the vendor's public documentation by its address instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOPS = ("implkit", "tests", "bench", "docs", "blueprints", "audits", "examples")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w/.~-])((?:%s)/[\w./*<>{}@-]*)" % "|".join(TOPS))
OUTSIDE = re.compile(r"DESIGN\.md|domain\.md|anchors\.md|\.\./shared|(?<![\w/.-])(?:reference|seeds)/")


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", path.read_text(encoding="utf-8"), re.M)}


def broken_links(doc: Path) -> list[str]:
    out = []
    for match in LINK.finditer(doc.read_text(encoding="utf-8")):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):          # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            out.append(f"{target} (no such file)")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            out.append(f"{target} (no heading #{anchor})")
    return out


def missing_paths(doc: Path) -> list[str]:
    out = []
    for match in PATH.finditer(doc.read_text(encoding="utf-8")):
        path = re.sub(r"(::[\w\[\]-]*|:\d+)$", "", match.group(1).split("::")[0]).rstrip(".,:;")
        if "<" in path or "{" in path:
            continue
        if not (list(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()):
            out.append(path)
    return out


def outside_mentions(doc: Path) -> list[str]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    return [f"{doc.name}:{n}: {line.strip()[:100]}" for n, line in enumerate(lines, 1) if OUTSIDE.search(line)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_and_paths_lead_to_files_in_the_repository(doc):
    assert broken_links(doc) == []
    assert missing_paths(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_doc_sends_the_reader_outside_the_repository(doc):
    assert outside_mentions(doc) == []


def test_the_architecture_page_exists_and_the_readme_points_to_it():
    assert (ROOT / "docs" / "architecture.md").is_file()
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_checks_catch_what_they_are_for(tmp_path):
    """Each check on a made-up page: a link to a missing file or heading, a missing path, a glob that
    matches nothing, and each kind of outside reference are found; what exists passes."""
    (tmp_path / "other.md").write_text("# A heading (with words)\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-heading-with-words) [gone](nothing.md) [no heading](other.md#nope) "
        "[web](https://apidocs.bitrix24.com/) [self](#top)\n"
        "# Top\n"
        "`implkit/sandbox/store.py`, tests/test_docs_links.py::test_x, implkit/nothing.py, "
        "audits/*.yaml, audits/*.nothing, implkit/sandbox/<crm>/\n"
        "see DESIGN.md, domain.md §1, anchors.md, ../shared/x, reference/amocrm-api.md and seeds/001; "
        "but https://apidocs.bitrix24.com/api-reference/crm/ is fine\n", encoding="utf-8")
    assert broken_links(page) == ["nothing.md (no such file)", "other.md#nope (no heading #nope)"]
    assert missing_paths(page) == ["implkit/nothing.py", "audits/*.nothing"]
    assert len(outside_mentions(page)) == 1 and len(OUTSIDE.findall(page.read_text(encoding="utf-8"))) == 6
