"""One `implkit size` run: get the answers (file or interview), assess them, write the answers file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from implkit.sizing import Assessment
from implkit.sizing.answers import read_answers, write_answers
from implkit.sizing.interview import interview
from implkit.sizing.matrix import assess
from implkit.sizing.report import render_assessment
from implkit.yamlio import load_yaml, to_plain

DEFAULT_OUTPUT = "answers.yaml"


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
    base = _existing_tree(output)  # a broken output file is refused before anything is asked
    if answers_file:
        source = read_answers(answers_file)
        answers, lang = source.answers, lang or source.lang
        answers_lang = source.lang
        if base is None and output:
            base = source.tree  # a copy keeps the source's comments
    else:
        lang = lang or "ru"
        answers_lang = lang
        output = output or DEFAULT_OUTPUT
        base = _existing_tree(output)
        previous = base.get("answers") if isinstance(base, dict) else None
        answers = interview(lang, to_plain(previous) if isinstance(previous, dict) else None)
    assessment = assess(answers)
    if output:
        write_answers(output, answers, answers_lang, base)
    return SizeResult(answers, assessment, render_assessment(assessment, lang), output)


def _existing_tree(path: str | None):  # noqa: ANN202
    if path and Path(path).is_file():
        return load_yaml(path)
    return None
