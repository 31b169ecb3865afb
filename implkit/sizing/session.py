"""One `implkit size` run: get the answers (file or interview), assess them, write the answers file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from implkit.lang import plural_ru, say
from implkit.sizing import Assessment
from implkit.sizing.answers import answers_document, read_answers, write_answers
from implkit.sizing.interview import confirm, interview
from implkit.sizing.matrix import assess
from implkit.sizing.report import render_assessment
from implkit.errors import InputError, Problem
from implkit.yamlio import atomic_write, load_yaml, location_of, to_plain

DEFAULT_OUTPUT = "answers.yaml"
ANSWERS_KEYS = ("questionnaire", "lang", "answers")

# What the interactive run says about the answers file and the draft, in both languages.
_TEXT = {
    "overwrite": {
        "ru": "Файл {path} уже есть: его ответы станут ответами по умолчанию, а файл будет перезаписан. Продолжить?",
        "en": "{path} exists: its answers become the defaults and the file will be overwritten. Continue?",
    },
    "refused": {
        "ru": "{path} уже есть и не перезаписан; --force — перезаписать без вопроса, -o ФАЙЛ — другой файл",
        "en": "{path} exists and was not overwritten; --force overwrites it without asking, -o FILE picks another",
    },
    "prefilled": {
        "ru": "Ответы по умолчанию — из {path}; файл будет перезаписан.",
        "en": "The defaults are the answers in {path}; the file will be overwritten.",
    },
    "resume": {
        "ru": "Найден черновик прерванной анкеты {path} ({count}). Продолжить с него?",
        "en": "Found the draft of an interrupted questionnaire {path} ({count}). Resume it?",
    },
    "not_answers": {"ru": "{path}: это не файл ответов; перезаписывать его не буду",
                    "en": "{path}: not an answers file; refusing to overwrite it"},
    "answers_keys": {"ru": "ожидаются только questionnaire, lang и answers",
                     "en": "expected only questionnaire, lang and answers"},
    "kept": {
        "ru": "Анкета прервана. Черновик {path}: {count}; `implkit size` продолжит с него.",
        "en": "Questionnaire interrupted. Draft {path}: {count}; `implkit size` resumes from it.",
    },
}


def _answers(count: int, lang: str) -> str:
    """«1 ответ», «3 ответа», «5 ответов»; "1 answer", "3 answers" (in the interview's language)."""
    if lang == "ru":
        return f"{count} {plural_ru(count, 'ответ', 'ответа', 'ответов')}"
    return f"{count} answer{'' if count == 1 else 's'}"


def _say(key: str, lang: str, **values) -> str:  # noqa: ANN003
    return _TEXT[key][lang].format(**values)


def draft_path(output: str) -> Path:
    """Where an interview keeps its answers until it finishes: answers.yaml → answers.draft.yaml."""
    path = Path(output)
    return path.with_name(f"{path.stem}.draft{path.suffix or '.yaml'}")


@dataclass(frozen=True)
class SizeResult:
    answers: dict
    assessment: Assessment
    report: str
    written: str | None  # the answers file written, if any


def run_size(answers_file: str | None = None, lang: str | None = None, output: str | None = None, *,
             force: bool = False) -> SizeResult:
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
        if Path(output).is_file():
            _confirm_overwrite(output, lang, force)
        previous = base.get("answers") if isinstance(base, dict) else None
        answers = _interview_with_draft(lang, to_plain(previous) if isinstance(previous, dict) else None,
                                        draft_path(output))
    assessment = assess(answers)
    if output:
        write_answers(output, answers, answers_lang, base)
    if not answers_file:
        draft_path(output).unlink(missing_ok=True)   # the answers file now holds them all
    return SizeResult(answers, assessment, render_assessment(assessment, lang), output)


def _confirm_overwrite(output: str, lang: str, force: bool) -> None:
    """An interview never overwrites an existing answers file silently: --force, or the user says yes."""
    if not force:
        try:
            agreed = confirm(_say("overwrite", lang, path=output), lang, default=False)
        except click.Abort:
            agreed = False
        if not agreed:
            raise InputError(_say("refused", lang, path=output))
    click.echo(_say("prefilled", lang, path=output), err=True)


def _interview_with_draft(lang: str, previous: dict | None, draft: Path) -> dict:
    """The interview, keeping a draft after each answer; a draft left by an interrupted run is offered first."""
    resume = None
    if draft.is_file():
        saved = to_plain(load_yaml(draft))
        saved = saved.get("answers") if isinstance(saved, dict) else None
        if isinstance(saved, dict) and saved:
            if confirm(_say("resume", lang, path=draft, count=_answers(len(saved), lang)), lang, default=True):
                resume = saved
    answered: list[dict] = [{}]

    def keep(answers: dict) -> None:
        answered[0] = dict(answers)
        atomic_write(draft, answers_document(answers, lang))

    try:
        return interview(lang, previous, resume=resume, on_answer=keep)
    except click.Abort:
        kept = {k: v for k, v in answered[0].items() if v is not None}
        if kept:
            click.echo("", err=True)
            click.echo(_say("kept", lang, path=draft, count=_answers(len(kept), lang)), err=True)
        raise


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
    raise InputError(say(_TEXT, "not_answers", path=path), [Problem(where, say(_TEXT, "answers_keys"))])
