"""One `implkit size` run: get the answers (file or interview), assess them, write the answers file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from implkit.sizing import Assessment
from implkit.sizing.answers import read_answers, write_answers
from implkit.sizing.interview import interview
from implkit.sizing.matrix import assess
from implkit.sizing.report import render_assessment
from implkit.errors import InputError, Problem
from implkit.yamlio import load_yaml, location_of, to_plain

DEFAULT_OUTPUT = "answers.yaml"
ANSWERS_KEYS = ("questionnaire", "lang", "answers")


@dataclass(frozen=True)
class SizeResult:
    answers: dict
    assessment: Assessment
    report: str
    written: str | None  # the answers file written, if any


def run_size(answers_file: str | None = None, lang: str | None = None, output: str | None = None) -> SizeResult:
    """With `answers_file`: validate it (InputError lists every problem), no prompts.
    Without: interview in `lang` (ru by default), defaulting each answer to the one already in `output`.

    The answers file is written (atomically, keeping an existing file's comments)
    to `output` — in an interview, to answers.yaml when not given — and only
    after the answers have been assessed, so a failure writes nothing.
    """
    if not answers_file:
        lang = lang or "ru"
        output = output or DEFAULT_OUTPUT
    base = _existing_answers_tree(output)  # a broken or foreign output file is refused before anything is asked
    if answers_file:
        source = read_answers(answers_file)
        answers, answers_lang, lang = source.answers, source.lang, lang or source.lang
        if base is None and output:
            base = source.tree  # a copy keeps the source's comments
    else:
        answers_lang = lang
        previous = base.get("answers") if isinstance(base, dict) else None
        answers = interview(lang, to_plain(previous) if isinstance(previous, dict) else None)
    assessment = assess(answers)
    if output:
        write_answers(output, answers, answers_lang, base)
    return SizeResult(answers, assessment, render_assessment(assessment, lang), output)


def _existing_answers_tree(path: str | None):  # noqa: ANN202
    """The round-trip tree of an existing answers file at `path` (None if there is none or it is empty).

    Anything else there (another YAML document, a blueprint) is refused rather than overwritten.
    """
    if not path or not Path(path).is_file():
        return None
    tree = load_yaml(path)
    if tree is None:
        return None
    if isinstance(tree, dict):
        foreign = [key for key in tree if key not in ANSWERS_KEYS]
        if not foreign:
            return tree
        where = location_of(tree, (foreign[0],), path)
    else:
        where = location_of(tree, (), path)
    raise InputError(f"{path}: not an answers file; refusing to overwrite it",
                     [Problem(where, "expected only questionnaire, lang and answers")])
