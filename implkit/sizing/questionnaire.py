"""The questionnaire, read from `blueprints/questionnaire.yaml`.

Each question knows how to read a typed answer (`parse`, for the interview),
how to show one (`show`, for defaults and reasons), and its JSON Schema
(`schema`). The schema is the one place the validation rules live: the
answers file is checked against `answers_schema()` (shipped, generated, as
`blueprints/schema/answers.schema.json`), and a typed answer against its
question's part of it, with the error put into the user's language.

Regenerate the shipped schema after editing the questionnaire:

    python -m implkit.sizing.questionnaire
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from implkit.errors import InputError, Problem
from implkit.sizing import conditions
from implkit.yamlio import load_yaml, location_of, to_plain

LANGS = ("ru", "en")
TYPES = ("integer", "money", "text", "yes_no", "choice", "multi_choice", "text_list")
_VALIDATION_KEYS = {
    "integer": {"min", "max"},
    "money": {"min", "max"},
    "text": {"min_length", "max_length"},
    "yes_no": set(),
    "choice": set(),
    "multi_choice": {"min_items", "max_items"},
    "text_list": {"min_items", "max_items"},
}
_YES = {"да", "д", "yes", "y", "true"}
_NO = {"нет", "н", "no", "n", "false"}
_NONE = {"-", "—", "нет", "none", "no"}  # "nothing" for list answers

# The interview's messages for answers that do not hold up, in both languages.
_MESSAGES = {
    "integer": {"ru": "Введите целое число, например 8", "en": "Enter a whole number, e.g. 8"},
    "money": {"ru": "Введите сумму в рублях, например 40 000", "en": "Enter an amount in roubles, e.g. 40000"},
    "yes_no": {"ru": "Ответьте «да» или «нет»", "en": "Answer yes or no"},
    "choice": {"ru": "Нет такого варианта: {token}. Введите номер или название из списка",
               "en": "No such option: {token}. Enter a number or a name from the list"},
    "minimum": {"ru": "Не меньше {limit}", "en": "At least {limit}"},
    "maximum": {"ru": "Не больше {limit}", "en": "At most {limit}"},
    "minLength": {"ru": "Ответ не может быть пустым", "en": "The answer cannot be empty"},
    "maxLength": {"ru": "Не длиннее {limit} символов", "en": "At most {limit} characters"},
    "minItems": {"ru": "Выберите хотя бы {limit}", "en": "Choose at least {limit}"},
    "maxItems": {"ru": "Не больше {limit} пунктов", "en": "At most {limit} items"},
    "other": {"ru": "Недопустимый ответ: {detail}", "en": "Invalid answer: {detail}"},
}


class AnswerError(ValueError):
    """A typed answer that does not hold up; the message is in the interview's language."""


def _explained(error: Any, lang: str) -> str:
    """jsonschema's finding told by the shared explainer (implkit.schemas) in the interview's language."""
    from implkit.lang import speaking
    from implkit.schemas import explain_error

    with speaking(lang):
        return "; ".join(message for _path, message in explain_error(error))


def _message(kind: str, lang: str, **values: Any) -> str:
    return _MESSAGES[kind][lang].format(**values)


@dataclass(frozen=True)
class Option:
    value: str
    ru: str
    en: str

    def label(self, lang: str) -> str:
        return self.ru if lang == "ru" else self.en


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    text_ru: str
    text_en: str
    help_ru: str = ""
    help_en: str = ""
    options: tuple[Option, ...] = ()
    validation: tuple[tuple[str, Any], ...] = ()
    required: bool = True
    default: Any = None
    when: Mapping[str, Any] | None = None

    def text(self, lang: str) -> str:
        return self.text_ru if lang == "ru" else self.text_en

    def help(self, lang: str) -> str:
        return self.help_ru if lang == "ru" else self.help_en

    def is_asked(self, answers: Mapping[str, Any]) -> bool:
        return self.when is None or conditions.evaluate(self.when, answers)

    # --- the rules ---------------------------------------------------------------
    def schema(self) -> dict[str, Any]:
        """This question's answer as JSON Schema (draft 2020-12)."""
        rules = dict(self.validation)
        values = [o.value for o in self.options]
        schema: dict[str, Any] = {"description": self.text_en}
        if self.type == "integer":
            schema["type"] = "integer"
        elif self.type == "money":
            schema["type"] = "number"
        elif self.type == "text":
            schema["type"] = "string"
        elif self.type == "yes_no":
            schema["type"] = "boolean"
        elif self.type == "choice":
            schema.update(type="string", enum=values)
        elif self.type == "multi_choice":
            schema.update(type="array", items={"type": "string", "enum": values}, uniqueItems=True)
        elif self.type == "text_list":
            schema.update(type="array", items={"type": "string", "minLength": 1}, uniqueItems=True)
        for ours, theirs in (("min", "minimum"), ("max", "maximum"), ("min_length", "minLength"),
                             ("max_length", "maxLength"), ("min_items", "minItems"), ("max_items", "maxItems")):
            if ours in rules:
                schema[theirs] = rules[ours]
        return schema

    def check(self, value: Any, lang: str) -> None:
        """Raise AnswerError (in `lang`) if `value` breaks this question's schema."""
        error = next(iter(Draft202012Validator(self.schema()).iter_errors(value)), None)
        if error is None:
            return
        if error.validator in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"):
            if error.validator == "minLength" and error.validator_value > 1:
                raise AnswerError(_message("other", lang, detail=_explained(error, lang)))
            raise AnswerError(_message(error.validator, lang, limit=error.validator_value))
        if error.validator == "type" and self.type in ("integer", "money", "yes_no"):
            raise AnswerError(_message(self.type, lang))
        raise AnswerError(_message("other", lang, detail=_explained(error, lang)))

    # --- typed answers -----------------------------------------------------------
    def parse(self, typed: str, lang: str) -> Any:
        """Read an answer typed in the interview; raise AnswerError (in `lang`) if it does not hold up."""
        text = typed.strip()
        if self.type == "integer":
            try:
                value: Any = int(re.sub(r"[\s\u00a0]", "", text))
            except ValueError:
                raise AnswerError(_message("integer", lang)) from None
        elif self.type == "money":
            value = _parse_money(text, lang)
        elif self.type == "yes_no":
            word = text.casefold()
            if word not in _YES | _NO:
                raise AnswerError(_message("yes_no", lang))
            value = word in _YES
        elif self.type == "choice":
            value = self._option(text, lang)
        elif self.type == "multi_choice":
            value = _unique(self._option(t, lang) for t in _split_list(text))
        elif self.type == "text_list":
            value = _unique(_split_list(text))
        else:
            value = text
        self.check(value, lang)
        return value

    def _option(self, token: str, lang: str) -> str:
        """An option by its number in the list, its value or its label in either language."""
        wanted = token.strip().casefold()
        if wanted.isdigit() and 1 <= int(wanted) <= len(self.options):
            return self.options[int(wanted) - 1].value
        for option in self.options:
            if wanted in (option.value.casefold(), option.ru.casefold(), option.en.casefold()):
                return option.value
        raise AnswerError(_message("choice", lang, token=token.strip() or "—"))

    def show(self, value: Any, lang: str) -> str:
        """An answer as the interview shows it (and `parse` reads it back)."""
        labels = {o.value: o.label(lang) for o in self.options}
        if value is None:
            return ""
        if self.type == "yes_no":
            return {True: {"ru": "да", "en": "yes"}, False: {"ru": "нет", "en": "no"}}[bool(value)][lang]
        if self.type == "choice":
            return labels.get(value, str(value))
        if self.type in ("multi_choice", "text_list"):
            return ", ".join(labels.get(v, str(v)) for v in value) if value else "-"
        if self.type == "money" and isinstance(value, (int, float)):
            return f"{value:,}".replace(",", " ")
        return str(value)


def _split_list(text: str) -> list[str]:
    if text.strip().casefold() in _NONE:
        return []
    return [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _parse_money(text: str, lang: str) -> int | float:
    cleaned = re.sub(r"(?i)[\s\u00a0]|₽|руб\.?|rub|р\.", "", text).replace(",", ".")
    try:
        amount = float(cleaned)
    except ValueError:
        raise AnswerError(_message("money", lang)) from None
    if amount != amount or amount in (float("inf"), float("-inf")):
        raise AnswerError(_message("money", lang))
    return int(amount) if amount.is_integer() else round(amount, 2)


@dataclass(frozen=True)
class Questionnaire:
    version: int
    questions: tuple[Question, ...]

    def question(self, qid: str) -> Question:
        return next(q for q in self.questions if q.id == qid)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)

    def answers_schema(self) -> dict[str, Any]:
        """The answers file's JSON Schema. Conditional questions (`when`) are checked in code."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "implkit questionnaire answers",
            "description": (
                "Answers to blueprints/questionnaire.yaml. Generated from it by "
                "`python -m implkit.sizing.questionnaire`: do not edit by hand. Questions asked only "
                "under a condition (`when`) are not listed as required here; implkit checks them."
            ),
            "type": "object",
            "required": ["questionnaire", "answers"],
            "additionalProperties": False,
            "properties": {
                "questionnaire": {"const": self.version, "description": "The questionnaire version answered."},
                "lang": {"enum": list(LANGS), "description": "The language the answers were given in."},
                "answers": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [q.id for q in self.questions if q.required and q.when is None],
                    "properties": {q.id: q.schema() for q in self.questions},
                },
            },
        }


def questionnaire_path() -> Path:
    from implkit.data import blueprints_dir

    return blueprints_dir() / "questionnaire.yaml"


def answers_schema_path() -> Path:
    from implkit.data import blueprints_dir

    return blueprints_dir() / "schema" / "answers.schema.json"


@cache
def load_questionnaire(path: str | None = None) -> Questionnaire:
    """Read and check the questionnaire; every problem in it is reported at once (InputError)."""
    file = str(path or questionnaire_path())
    tree = load_yaml(file)
    data = to_plain(tree)
    problems: list[Problem] = []

    def problem(where: tuple, message: str) -> None:
        problems.append(Problem(location_of(tree, where, file), message))

    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise InputError(f"{file}: not a questionnaire", [Problem(location_of(tree, (), file),
                                                                  "needs `version` and a `questions` list")])
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        problem(("version",), "version must be a whole number")
    questions: list[Question] = []
    for index, raw in enumerate(data["questions"]):
        where = ("questions", index)
        question = _question(raw, where, problem, known=[q.id for q in questions])
        if question is not None:
            questions.append(question)
    if problems:
        raise InputError(f"{file}: the questionnaire does not hold up", problems)
    return Questionnaire(version, tuple(questions))


def _question(raw: Any, where: tuple, problem, known: list[str]) -> Question | None:  # noqa: ANN001
    if not isinstance(raw, dict):
        problem(where, "a question must be a mapping")
        return None
    ok = True
    qid = raw.get("id")
    if not isinstance(qid, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", qid):
        problem((*where, "id"), "id must be a snake_case name")
        ok = False
    elif qid in known:
        problem((*where, "id"), f"duplicate question id {qid!r}")
        ok = False
    qtype = raw.get("type")
    if qtype not in TYPES:
        problem((*where, "type"), f"type must be one of {', '.join(TYPES)}")
        return None
    for part in ("text", "help"):
        value = raw.get(part)
        if (part == "text" or value is not None) and not (
                isinstance(value, dict) and all(isinstance(value.get(lang), str) and value[lang] for lang in LANGS)):
            problem((*where, part), f"{part} needs non-empty ru and en")
            ok = False
    options: list[Option] = []
    if qtype in ("choice", "multi_choice"):
        raw_options = raw.get("options")
        if not isinstance(raw_options, list) or not raw_options:
            problem((*where, "options"), f"a {qtype} question needs options")
            ok = False
        else:
            for i, o in enumerate(raw_options):
                if not (isinstance(o, dict) and all(isinstance(o.get(k), str) and o[k] for k in ("value", *LANGS))):
                    problem((*where, "options", i), "an option needs value, ru and en")
                    ok = False
                elif o["value"] in [x.value for x in options]:
                    problem((*where, "options", i, "value"), f"duplicate option {o['value']!r}")
                    ok = False
                else:
                    options.append(Option(o["value"], o["ru"], o["en"]))
    elif "options" in raw:
        problem((*where, "options"), f"a {qtype} question takes no options")
        ok = False
    validation = raw.get("validation") or {}
    if not isinstance(validation, dict):
        problem((*where, "validation"), "validation must be a mapping")
        validation, ok = {}, False
    for key, limit in validation.items():
        if key not in _VALIDATION_KEYS[qtype]:
            allowed = ", ".join(sorted(_VALIDATION_KEYS[qtype])) or "none"
            problem((*where, "validation", key), f"{qtype} takes no {key!r} (allowed: {allowed})")
            ok = False
        elif not isinstance(limit, (int, float)) or isinstance(limit, bool):
            problem((*where, "validation", key), f"{key} must be a number")
            ok = False
    required = raw.get("required", True)
    if not isinstance(required, bool):
        problem((*where, "required"), "required must be true or false")
        ok = False
    if not required and "default" not in raw:
        problem((*where, "required"), "an optional question needs a default")
        ok = False
    when = raw.get("when")
    if when is not None:
        for path, message in conditions.problems(when, known):
            problem((*where, "when", *path), message)
            ok = False
    unknown = set(raw) - {"id", "type", "text", "help", "options", "validation", "required", "default", "when"}
    for key in sorted(unknown):
        problem((*where, key), f"unknown question key {key!r}")
        ok = False
    if not ok:
        return None
    question = Question(
        id=qid, type=qtype, text_ru=raw["text"]["ru"], text_en=raw["text"]["en"],
        help_ru=(raw.get("help") or {}).get("ru", ""), help_en=(raw.get("help") or {}).get("en", ""),
        options=tuple(options), validation=tuple(validation.items()), required=required,
        default=raw.get("default"), when=when,
    )
    if question.default is not None:
        try:
            question.check(question.default, "en")
        except AnswerError as exc:
            problem((*where, "default"), f"default does not hold up: {exc}")
            return None
    return question


def render_answers_schema(questionnaire: Questionnaire) -> str:
    """The shipped schema file's exact text."""
    return json.dumps(questionnaire.answers_schema(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":  # regenerate blueprints/schema/answers.schema.json
    from implkit.yamlio import atomic_write

    atomic_write(answers_schema_path(), render_answers_schema(load_questionnaire()))
    print(answers_schema_path())
