"""Conditions over questionnaire answers, written as data.

The questionnaire's `when` (is a question asked?) and sizing's adjustment
rules (does an answer change a feature's stars?) share this small language,
so a consultant reads and edits both the same way:

    {answer: lead_channels, contains: phone}
    {answer: lead_channels, contains_none: [whatsapp, telegram]}
    {answer: sales_processes, min_items: 2}
    {answer: bi_tool, empty: false}
    {all: [{answer: has_head_of_sales, equals: false}, {answer: sellers, at_most: 5}]}
    {any: [...]}   {not: {...}}

An unanswered question (None: not asked) counts as empty: it contains
nothing, so `lacks` and `contains_none` hold for it and `contains` does not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

Condition = Mapping[str, Any]


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _items(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# operator -> (test(answer value, argument), English description, expected argument kind)
_OPERATORS: dict[str, tuple[Callable[[Any, Any], bool], str, str]] = {
    "equals": (lambda v, a: v is not None and v == a, "is {arg}", "scalar"),
    "contains": (lambda v, a: a in _items(v), "includes {arg}", "scalar"),
    "lacks": (lambda v, a: a not in _items(v), "does not include {arg}", "scalar"),
    "contains_any": (lambda v, a: any(x in _items(v) for x in a), "includes any of {arg}", "list"),
    "contains_none": (lambda v, a: not any(x in _items(v) for x in a), "includes none of {arg}", "list"),
    "min_items": (lambda v, a: len(_items(v)) >= a, "has at least {arg} items", "number"),
    "at_least": (lambda v, a: _is_number(v) and v >= a, "is at least {arg}", "number"),
    "at_most": (lambda v, a: _is_number(v) and v <= a, "is at most {arg}", "number"),
    "empty": (lambda v, a: _is_empty(v) == a, "{arg}", "bool"),
}
_COMBINATORS = ("all", "any", "not")


def evaluate(condition: Condition, answers: Mapping[str, Any]) -> bool:
    """Whether `condition` holds for `answers` (question id → value; a missing id counts as unanswered)."""
    if "all" in condition:
        return all(evaluate(c, answers) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, answers) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], answers)
    value = answers.get(condition["answer"])
    (op, arg), = ((k, v) for k, v in condition.items() if k != "answer")
    return _OPERATORS[op][0](value, arg)


def references(condition: Condition) -> set[str]:
    """The question ids a condition reads."""
    if "all" in condition or "any" in condition:
        return set().union(*(references(c) for c in condition.get("all") or condition.get("any") or ()))
    if "not" in condition:
        return references(condition["not"])
    return {condition["answer"]}


def describe(condition: Condition) -> str:
    """The condition in plain English, for error messages."""
    if "all" in condition:
        return " and ".join(describe(c) for c in condition["all"])
    if "any" in condition:
        return "(" + " or ".join(describe(c) for c in condition["any"]) + ")"
    if "not" in condition:
        return f"not ({describe(condition['not'])})"
    (op, arg), = ((k, v) for k, v in condition.items() if k != "answer")
    if op == "empty":
        return f"{condition['answer']} is {'empty' if arg else 'given'}"
    shown = ", ".join(map(str, arg)) if isinstance(arg, list) else arg
    return f"{condition['answer']} {_OPERATORS[op][1].format(arg=shown)}"


def problems(condition: Any, known: Collection[str]) -> list[tuple[tuple, str]]:
    """What is wrong with a condition read from data: (path inside the condition, message) pairs.

    `known` is the question ids the condition may read (for a question's
    `when`: the questions asked before it).
    """
    if not isinstance(condition, Mapping):
        return [((), "a condition must be a mapping")]
    combinators = [k for k in _COMBINATORS if k in condition]
    if combinators:
        if len(condition) != 1:
            return [((), f"{combinators[0]!r} must be the condition's only key")]
        name = combinators[0]
        if name == "not":
            return [((name, *p), m) for p, m in problems(condition[name], known)]
        parts = condition[name]
        if not isinstance(parts, list) or not parts:
            return [((name,), f"{name!r} takes a non-empty list of conditions")]
        return [((name, i, *p), m) for i, part in enumerate(parts) for p, m in problems(part, known)]
    if "answer" not in condition:
        return [((), "a condition needs 'answer' (or 'all', 'any', 'not')")]
    found: list[tuple[tuple, str]] = []
    if condition["answer"] not in known:
        found.append((("answer",), f"unknown or later question {condition['answer']!r}"))
    ops = [k for k in condition if k != "answer"]
    if len(ops) != 1 or ops[0] not in _OPERATORS:
        found.append(((), f"a condition needs exactly one operator of: {', '.join(_OPERATORS)}"))
        return found
    op = ops[0]
    arg = condition[op]
    kind = _OPERATORS[op][2]
    ok = {
        "scalar": isinstance(arg, (str, int, float, bool)),
        "list": isinstance(arg, list) and bool(arg),
        "number": _is_number(arg),
        "bool": isinstance(arg, bool),
    }[kind]
    if not ok:
        found.append(((op,), f"{op!r} takes {'a non-empty list' if kind == 'list' else 'a ' + kind}"))
    return found
