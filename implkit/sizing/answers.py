"""The answers file: reading it with every problem reported at once, and rewriting it keeping comments.

    # comments are kept on rewrite
    questionnaire: 1          # questionnaire version
    lang: ru
    answers:
      company_name: "ООО Ромашка"
      sellers: 8
      ...

`load_answers(path)` gives a plain dict with EVERY question id of the
questionnaire, in its order: the answer, the default of an optional question
left out, or None for a question that was not asked (its `when` did not hold,
e.g. `telephony_provider` when phone is not a lead channel).
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from implkit.errors import InputError, Location, Problem
from implkit.lang import count_noun, say
from implkit.schemas import explain_error
from implkit.sizing import conditions
from implkit.sizing.questionnaire import Question, Questionnaire, answers_schema_path, load_questionnaire
from implkit.yamlio import atomic_write, dump_yaml, load_yaml, location_of, to_plain

NEW_FILE_HEADER = (
    "implkit sizing answers: `implkit size --answers FILE` reads them.\n"
    "Comments are kept when implkit rewrites this file."
)


_MESSAGES = {
    "empty": {"ru": "{file}: файл пуст", "en": "{file}: the file is empty"},
    "empty_hint": {"ru": "ожидаются `questionnaire:`, `lang:` и `answers:`",
                   "en": "expected `questionnaire:`, `lang:` and `answers:`"},
    "do_not_hold": {"ru": "{file}: ответы не годятся", "en": "{file}: the answers do not hold up"},
    "headline": {"ru": "{file}: {count} в ответах", "en": "{file}: {count} in the answers"},
    "missing_answer": {"ru": "нет ответа", "en": "missing answer"},
    "missing": {"ru": "отсутствует", "en": "missing"},
    "unknown_question": {"ru": "неизвестный вопрос", "en": "unknown question"},
    "unknown_key": {"ru": "неизвестный ключ", "en": "unknown key"},
    "did_you_mean": {"ru": "; может быть, {near!r}?", "en": "; did you mean {near!r}?"},
    "version": {"ru": "ответы на анкету версии {found!r}, а эта версия implkit задаёт анкету версии {expected}",
                "en": "answers to questionnaire version {found!r}; this implkit asks version {expected}"},
}


@dataclass(frozen=True)
class AnswersFile:
    """A validated answers file: its round-trip tree (to rewrite it keeping comments), language and answers."""

    path: str
    tree: Any
    lang: str
    answers: dict[str, Any]


@cache
def _schema_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(answers_schema_path().read_text(encoding="utf-8")))


def load_answers(path) -> dict[str, Any]:  # noqa: ANN001
    """A validated answers file as question id → plain value; InputError lists every problem with file:line:col."""
    return read_answers(path).answers


def read_answers(path) -> AnswersFile:  # noqa: ANN001
    file = str(path)
    tree = load_yaml(file)
    if tree is None:
        raise InputError(say(_MESSAGES, "empty", file=file),
                         [Problem(Location(file, 1, 1), say(_MESSAGES, "empty_hint"))])
    return AnswersFile(file, tree, _lang_of(tree), validate_answers(tree, file))


def _lang_of(tree: Any) -> str:
    lang = tree.get("lang") if isinstance(tree, dict) else None
    return lang if lang in ("ru", "en") else "ru"


def validate_answers(tree: Any, file: str, questionnaire: Questionnaire | None = None) -> dict[str, Any]:
    """Check a loaded answers document against the schema and the questionnaire's conditions."""
    questionnaire = questionnaire or load_questionnaire()
    data = to_plain(tree)
    problems = _schema_problems(tree, data, file, questionnaire)
    answers = data.get("answers") if isinstance(data, dict) else None
    if not isinstance(answers, dict):
        raise InputError(say(_MESSAGES, "do_not_hold", file=file), problems)
    # ids whose answer the schema already refused (or that are missing): conditions on them are unknowable
    unreliable = {p.location.key.split(".")[1] for p in problems if p.location.key.startswith("answers.")}
    values: dict[str, Any] = {}
    for question in questionnaire.questions:
        present = question.id in answers
        refs = conditions.references(question.when) if question.when else set()
        if refs & unreliable:
            unreliable.add(question.id)
            values[question.id] = None
            continue
        where = location_of(tree, ("answers", question.id), file)
        if not question.is_asked(values):
            if present:
                problems.append(Problem(where, f"answered, but asked only when {conditions.describe(question.when)}"
                                               " — remove this answer"))
            values[question.id] = None
        elif present:
            values[question.id] = _normalised(question, answers[question.id])
        elif not question.required:
            values[question.id] = copy.deepcopy(question.default)
        else:
            values[question.id] = None
            unreliable.add(question.id)
            if question.when is not None:  # unconditional ones are the schema's `required`
                problems.append(Problem(where, f"missing answer (asked because {conditions.describe(question.when)})"))
    if problems:
        problems.sort(key=lambda p: (p.location.line or 0, p.location.column or 0, p.location.key))
        count = count_noun(len(problems), ("проблема", "проблемы", "проблем"), ("problem", "problems"))
        raise InputError(say(_MESSAGES, "headline", file=file, count=count), problems)
    return values


def _normalised(question: Question, value: Any) -> Any:
    if question.type == "integer" and isinstance(value, float):
        return int(value)  # the schema let it through, so it is whole (8.0)
    if question.type == "money" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _schema_problems(tree: Any, data: Any, file: str, questionnaire: Questionnaire) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()

    def add(path: tuple, message: str) -> None:
        location = location_of(tree, path, file)
        if (location.key, message) not in seen:
            seen.add((location.key, message))
            problems.append(Problem(location, message))

    for error in _schema_validator().iter_errors(data):
        path = tuple(error.absolute_path)
        instance = error.instance
        if error.validator == "required":
            for key in error.validator_value:
                if isinstance(instance, dict) and key not in instance:
                    add((*path, key), say(_MESSAGES, "missing_answer" if path == ("answers",) else "missing"))
        elif error.validator == "additionalProperties" and isinstance(instance, dict):
            known = list(error.schema.get("properties", {}))
            for key in instance:
                if key not in known:
                    near = difflib.get_close_matches(str(key), known, n=1)
                    what = say(_MESSAGES, "unknown_question" if path == ("answers",) else "unknown_key")
                    add((*path, key), what + (say(_MESSAGES, "did_you_mean", near=near[0]) if near else ""))
        elif path == ("questionnaire",) and error.validator == "const":
            add(path, say(_MESSAGES, "version", found=instance, expected=questionnaire.version))
        else:  # the shared explainer: jsonschema's own English never reaches a Russian reader
            for where, message in explain_error(error):
                add(where, message)
    return problems


# --- writing ---------------------------------------------------------------------------------------


def write_answers(path, answers: dict[str, Any], lang: str, base: Any = None) -> None:  # noqa: ANN001
    """Write an answers file atomically; `base` (a round-trip tree) keeps its comments and layout."""
    atomic_write(path, answers_document(answers, lang, base))


def answers_document(answers: dict[str, Any], lang: str, base: Any = None) -> str:
    """The answers file's text. Keys not asked (None) or unknown are dropped; unchanged values keep their node."""
    questionnaire = load_questionnaire()
    if isinstance(base, CommentedMap):
        doc = base
    else:
        doc = CommentedMap()
        doc.yaml_set_start_comment(NEW_FILE_HEADER)
    _put(doc, "questionnaire", questionnaire.version, 0)
    _put(doc, "lang", lang, 1)
    node = doc.get("answers")
    if not isinstance(node, CommentedMap):
        node = CommentedMap()
        _put(doc, "answers", node, 2)
    order = {qid: i for i, qid in enumerate(questionnaire.ids)}
    for key in list(node):
        if key not in order or answers.get(key) is None:
            del node[key]
    for question in questionnaire.questions:
        value = answers.get(question.id)
        if value is None or (question.id in node and to_plain(node[question.id]) == value):
            continue
        if question.id in node:
            node[question.id] = _yaml_value(value)
        else:
            keys = list(node)
            before = [k for k in keys if order[k] < order[question.id]]
            node.insert(keys.index(before[-1]) + 1 if before else 0, question.id, _yaml_value(value))
    return dump_yaml(doc)


def _put(doc: CommentedMap, key: str, value: Any, position: int) -> None:
    if key in doc:
        if to_plain(doc[key]) != to_plain(value):
            doc[key] = value
    else:
        doc.insert(min(position, len(doc)), key, value)


def _yaml_value(value: Any) -> Any:
    if isinstance(value, list):
        seq = CommentedSeq(value)
        seq.fa.set_flow_style()  # short lists of option values read best on one line
        return seq
    return value
