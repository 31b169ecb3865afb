"""No module of implkit over 600 lines without a reason written at its top (issue 20).

The rule: a module longer than `LIMIT` lines has, in its module docstring, a paragraph that begins
with "Why this file is long:" and says why in at least `MIN_WORDS` words. A file that reaches the
limit is either split where it has a seam or says why it has none; the reason is read where the
length is felt, at the top of the file.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "implkit"
LIMIT = 600
MARK = "Why this file is long:"
MIN_WORDS = 25


def reason(path: Path) -> str | None:
    """The paragraph of the module docstring that starts with MARK, or None."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    for paragraph in doc.split("\n\n"):
        if paragraph.lstrip().startswith(MARK):
            return " ".join(paragraph.split())
    return None


def long_modules() -> list[tuple[Path, int]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > LIMIT:
            out.append((path, lines))
    return out


def test_every_long_module_says_why_at_its_top():
    missing = []
    for path, lines in long_modules():
        text = reason(path)
        if text is None or len(text.split()) - len(MARK.split()) < MIN_WORDS:
            missing.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not missing, (f"over {LIMIT} lines without a paragraph starting {MARK!r} of {MIN_WORDS}+ words "
                         f"in the module docstring: split it where it has a seam, or say why: " + ", ".join(missing))


def test_the_rule_counts_lines_and_reads_the_docstring(tmp_path):
    """The check above on files made for it: a long file with the paragraph passes, one without it, one
    with a paragraph too short to be a reason, and one with the words outside the docstring do not."""
    body = "x = 1\n" * (LIMIT + 1)
    words = " ".join(["word"] * MIN_WORDS)
    good = tmp_path / "good.py"
    good.write_text(f'"""A module.\n\n{MARK} {words}\n"""\n' + body, encoding="utf-8")
    bare = tmp_path / "bare.py"
    bare.write_text('"""A module."""\n' + body, encoding="utf-8")
    short = tmp_path / "short.py"
    short.write_text(f'"""A module.\n\n{MARK} it is.\n"""\n' + body, encoding="utf-8")
    comment = tmp_path / "comment.py"
    comment.write_text(f'"""A module."""\n# {MARK} {words}\n' + body, encoding="utf-8")
    assert reason(good) is not None and len(reason(good).split()) >= MIN_WORDS
    assert reason(bare) is None
    assert len(reason(short).split()) - len(MARK.split()) < MIN_WORDS
    assert reason(comment) is None

