"""Files checked against a JSON Schema: jsonschema's findings told in the user's language, at file:line:col.

jsonschema's own English ("True is not of type 'integer'") never reaches a
Russian reader: each validator keyword the shipped schemas use has its
message here in ru and en; any other keyword gets a generic message naming
the rule. Used for blueprints and feature modules (`implkit.blueprint.
validate`, with object addresses) and implkit.yaml (`implkit.workspace`,
with dotted paths). JSON Schema cannot refuse NaN or infinity (every
comparison with NaN is false, and `.inf` is a number), so
`non_finite_problems` does.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any, Callable, Iterator

from jsonschema.exceptions import ValidationError, best_match

from implkit.data import blueprints_dir
from implkit.errors import Location, Problem
from implkit.lang import count_noun, current, say
from implkit.yamlio import location_of

Address = Callable[[Any, tuple], str]

_MESSAGES = {
    "headline": {"ru": "{file}: {count}", "en": "{file}: {count}"},
    "headline_blueprint": {"ru": "{file}: {count} в описании (blueprint)", "en": "{file}: {count} in the blueprint"},
    "unknown_key": {"ru": "неизвестный ключ {key!r} (здесь допустимы: {known})",
                    "en": "unknown key {key!r} (allowed here: {known})"},
    "none": {"ru": "никакие", "en": "none"},
    "missing": {"ru": "нет обязательного ключа {key!r}", "en": "missing required key {key!r}"},
    "enum": {"ru": "{value!r} — не одно из: {choices}", "en": "{value!r} is not one of: {choices}"},
    "const": {"ru": "должно быть {expected!r}, а не {value!r}", "en": "must be {expected!r}, not {value!r}"},
    "pattern": {"ru": "{value!r} не соответствует формату: {hint}", "en": "{value!r} does not match {hint}"},
    "type": {"ru": "ожидается {expected}, а здесь {got}", "en": "expected {expected}, got {got}"},
    "unique": {"ru": "один и тот же элемент указан дважды", "en": "contains the same item twice"},
    "min_items": {"ru": "нужно минимум {counted}", "en": "needs at least {counted}"},
    "max_items": {"ru": "допустимо максимум {counted}, а здесь {length}", "en": "at most {counted}, not {length}"},
    "min_properties": {"ru": "нужно минимум {counted}", "en": "needs at least {counted}"},
    "max_properties": {"ru": "допустимо максимум {counted}, а здесь {length}: {keys}",
                       "en": "at most {counted}, not {length}: {keys}"},
    "minimum": {"ru": "не меньше {limit}, а здесь {value}", "en": "must be at least {limit}, not {value}"},
    "maximum": {"ru": "не больше {limit}, а здесь {value}", "en": "must be at most {limit}, not {value}"},
    "exclusive_minimum": {"ru": "должно быть больше {limit}, а здесь {value}",
                          "en": "must be greater than {limit}, not {value}"},
    "exclusive_maximum": {"ru": "должно быть меньше {limit}, а здесь {value}",
                          "en": "must be less than {limit}, not {value}"},
    "min_length": {"ru": "нужно минимум {counted}", "en": "at least {counted}"},
    "max_length": {"ru": "допустимо максимум {counted}, а здесь {length}", "en": "at most {counted}, not {length}"},
    "not_finite": {"ru": "должно быть конечным числом, а здесь {value}", "en": "must be a finite number, not {value}"},
    "other": {"ru": "значение не подходит по правилу схемы «{rule}»",
              "en": "does not fit the schema's rule {rule!r}: {detail}"},
    "one_of": {"ru": "ожидается {expected}, а здесь {got}", "en": "expected {expected}, got {got}"},
}
_TYPE_NAMES = {
    "ru": {"object": "словарь (ключ: значение)", "array": "список", "string": "текст", "integer": "целое число",
           "number": "число", "boolean": "true или false", "null": "пустое значение"},
    "en": {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
           "number": "a number", "boolean": "true or false", "null": "nothing"},
}
_OR = {"ru": " или ", "en": " or "}
_PATTERN_HINTS = {
    "^[a-z][a-z0-9_]*$": {
        "ru": "формат ключа (строчная латинская буква, затем буквы, цифры, подчёркивания)",
        "en": "the key format (a lowercase latin letter, then letters, digits, underscores)"},
    "^[a-z0-9][a-z0-9-]*$": {"ru": "формат имени (строчные латинские буквы, цифры, дефисы)",
                             "en": "the name format (lowercase latin letters, digits, dashes)"},
    "^#[0-9a-fA-F]{6}$": {"ru": "формат цвета #rrggbb", "en": "the colour format #rrggbb"},
    "^[0-9]+[mhd]$": {"ru": "формат длительности (число и m, h или d: 15m, 2h, 1d)",
                      "en": "the duration format (a number and m, h or d: 15m, 2h, 1d)"},
    "^[a-z0-9][a-z0-9_.-]{0,62}$": {
        "ru": "формат имени клиента (строчные латинские буквы, цифры, «.», «_» и «-»; это имя папки)",
        "en": "the tenant name format (lower-case letters, digits, '.', '_' and '-'; it names a folder)"},
    "^[A-Z][0-9]{2}$": {"ru": "формат кода проверки (заглавная латинская буква и две цифры: D03)",
                        "en": "the check id format (a capital letter and two digits: D03)"},
    "semver": {"ru": "семантическую версию (MAJOR.MINOR.PATCH, например 1.0.0)",
               "en": "semantic versioning (MAJOR.MINOR.PATCH, e.g. 1.0.0)"},
    "field": {"ru": "адрес поля (field.<leads|contacts|companies>.<ключ>)",
              "en": "a field address (field.<leads|contacts|companies>.<key>)"},
    "stage": {"ru": "адрес этапа (pipeline.<ключ>.stage.<ключ>)",
              "en": "a stage address (pipeline.<key>.stage.<key>)"},
    "other": {"ru": "шаблон {pattern}", "en": "the pattern {pattern}"},
}



@cache
def load_schema(name: str) -> dict[str, Any]:
    """`blueprints/schema/<name>.schema.json`."""
    return json.loads((blueprints_dir() / "schema" / f"{name}.schema.json").read_text(encoding="utf-8"))


def headline(file: str, count: int, *, blueprint: bool = False) -> str:
    """«FILE: 3 проблемы» / "FILE: 3 problems" above a list of problems."""
    noun = count_noun(count, ("проблема", "проблемы", "проблем"), ("problem", "problems"))
    return say(_MESSAGES, "headline_blueprint" if blueprint else "headline", file=file, count=noun)


def dotted_path(_data: Any, path: tuple) -> str:
    """A path as `a.b[0].c`, for files without object addresses."""
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "(document)"


def explain_schema_errors(validator: Any, tree: Any, data: Any, file: str,
                          address: Address = dotted_path) -> list[Problem]:
    """Every violation `validator` finds in `data`, located in `tree` and told in the user's language."""
    problems = []
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        for path, message in explain_error(error):
            problems.append(problem_at(tree, data, file, address, path, message))
    return sort_problems(problems)


def problem_at(tree: Any, data: Any, file: str, address: Address, path: tuple, message: str) -> Problem:
    """A Problem at `path` of the round-trip `tree` (the document's start when the file is empty)."""
    loc = location_of(tree, path, file)
    line, column = (loc.line, loc.column) if loc.line is not None else (1, 1)
    return Problem(Location(loc.file, line, column, address(data, path)), message)


def non_finite_problems(tree: Any, data: Any, file: str, address: Address = dotted_path) -> list[Problem]:
    """Every .nan, .inf or -.inf in `data`: no count, share, rate or amount is infinite or not a number."""
    found: list[Problem] = []

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, float) and not math.isfinite(node):
            found.append(problem_at(tree, data, file, address, path, say(_MESSAGES, "not_finite", value=node)))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + (key,))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, path + (index,))

    walk(data, ())
    return found


def sort_problems(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.location.line or 0, p.location.column or 0, p.message))


def explain_error(error: ValidationError) -> Iterator[tuple[tuple, str]]:
    """One or more (path, message) for a schema error, pointing at the offending key itself."""
    path = tuple(error.absolute_path)
    value = error.instance
    rule = error.validator
    limit = error.validator_value
    if "propertyNames" in error.relative_schema_path:
        path = path + (value,)  # a bad key: point at the key itself
    if rule in ("anyOf", "oneOf") and isinstance(limit, list):
        # a sub-error's first schema step is the index of its branch: keep those of branches whose type fits
        fitting = [e for e in error.context if e.relative_schema_path
                   and _fits_type(value, limit[e.relative_schema_path[0]].get("type"))]
        if not fitting:
            types = [t for branch in limit for t in _as_list(branch.get("type"))]
            yield path, say(_MESSAGES, "one_of", expected=_type_name(types), got=_type_name_of(value))
        else:
            yield from explain_error(best_match(fitting))
    elif rule == "additionalProperties" and isinstance(value, dict):
        allowed = set(error.schema.get("properties") or {})
        for extra in value:
            if extra not in allowed:
                known = ", ".join(sorted(allowed)) or say(_MESSAGES, "none")
                yield path + (extra,), say(_MESSAGES, "unknown_key", key=extra, known=known)
    elif rule == "required":
        for missing in limit:
            if isinstance(value, dict) and missing not in value:
                yield path, say(_MESSAGES, "missing", key=missing)
    elif rule == "enum":
        yield path, say(_MESSAGES, "enum", value=value, choices=", ".join(str(c) for c in limit))
    elif rule == "const":
        yield path, say(_MESSAGES, "const", expected=limit, value=value)
    elif rule == "pattern":
        yield path, say(_MESSAGES, "pattern", value=value, hint=_pattern_hint(limit))
    elif rule == "type":
        yield path, say(_MESSAGES, "type", expected=_type_name(limit), got=_type_name_of(value))
    elif rule == "uniqueItems":
        yield path, say(_MESSAGES, "unique")
    elif rule in _LIMIT_RULES:
        nouns = _COUNTED.get(rule)
        yield path, say(_MESSAGES, _LIMIT_RULES[rule], limit=limit, value=value,
                        counted=count_noun(limit, *nouns) if nouns and isinstance(limit, int) else limit,
                        length=len(value) if isinstance(value, (str, list, dict)) else "",
                        keys=", ".join(map(str, value)) if isinstance(value, dict) else "")
    else:
        yield path, say(_MESSAGES, "other", rule=rule, detail=error.message)


_LIMIT_RULES = {"minProperties": "min_properties", "maxProperties": "max_properties",
                "minItems": "min_items", "maxItems": "max_items", "minimum": "minimum", "maximum": "maximum",
                "exclusiveMinimum": "exclusive_minimum", "exclusiveMaximum": "exclusive_maximum",
                "minLength": "min_length", "maxLength": "max_length"}


_ITEMS = (("элемент", "элемента", "элементов"), ("item", "items"))
_KEYS = (("ключ", "ключа", "ключей"), ("key", "keys"))
_CHARACTERS = (("символ", "символа", "символов"), ("character", "characters"))
_COUNTED = {"minItems": _ITEMS, "maxItems": _ITEMS, "minProperties": _KEYS, "maxProperties": _KEYS,
            "minLength": _CHARACTERS, "maxLength": _CHARACTERS}

_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _fits_type(value: Any, expected: Any) -> bool:
    """Whether `value` has (one of) the JSON type(s) `expected` (no type: anything fits)."""
    if expected is None:
        return True
    for name in _as_list(expected):
        if name == "integer" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if name == "integer" and isinstance(value, float) and value.is_integer():
            return True
        if name == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if name in _JSON_TYPES and isinstance(value, _JSON_TYPES[name]) and \
                not (name != "boolean" and isinstance(value, bool)):
            return True
    return False


def _pattern_hint(pattern: str) -> str:
    if pattern.startswith("^(0|[1-9]"):
        return _PATTERN_HINTS["semver"][current()]
    if pattern.startswith("^field\\."):
        return _PATTERN_HINTS["field"][current()]
    if pattern.startswith("^pipeline\\."):
        return _PATTERN_HINTS["stage"][current()]
    return _PATTERN_HINTS.get(pattern, _PATTERN_HINTS["other"])[current()].format(pattern=pattern)


def _type_name(expected: Any) -> str:
    names = _TYPE_NAMES[current()]
    if isinstance(expected, list):
        return _OR[current()].join(names.get(t, t) for t in expected)
    return names.get(expected, str(expected))


def _type_name_of(value: Any) -> str:
    ru = current() == "ru"
    if value is None:
        return "пустое значение" if ru else "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}" if ru else "true/false"
    if isinstance(value, dict):
        return "словарь" if ru else "a mapping"
    if isinstance(value, list):
        return "список" if ru else "a list"
    if isinstance(value, str):
        return f"текст {value!r}" if ru else f"text {value!r}"
    if isinstance(value, (int, float)):
        return f"число {value}" if ru else f"the number {value}"
    return type(value).__name__
