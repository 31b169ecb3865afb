"""The relevance matrix (`blueprints/sizing.yaml`): seller groups, feature stars, answer-driven adjustments.

    seller_group(8)            -> "5-10"
    assess(load_answers(path)) -> Assessment (group, every feature in matrix order, reasons, notes)

The boundary rule (documented in sizing.yaml): each group's upper bound is
inclusive — 1-2 → 1..2, 2-5 → 3..5, 5-10 → 6..10, 10-30 → 11..30,
30-100 → 31..100 — and more than 100 sellers fall in "30-100" with a note.
Those names are the blueprint's stored value; every output shows a group by its
bounds instead (`model.seller_group_label`: "5-10" → "6–10").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from implkit.errors import InputError, Location, Problem
from implkit.lang import plural_ru, say
from implkit.model import FEATURES, SELLER_GROUPS, seller_group_label
from implkit.sizing import Assessment, FeatureScore, Reason, conditions
from implkit.sizing.questionnaire import load_questionnaire
from implkit.yamlio import load_yaml, location_of, to_plain

STAR_VALUES = (1, 2, 3, None)


@dataclass(frozen=True)
class SellerGroup:
    label: str
    min: int
    max: int


@dataclass(frozen=True)
class MatrixRow:
    key: str
    name_ru: str
    name_en: str
    stars: tuple[int | None, ...]  # one per group


@dataclass(frozen=True)
class Adjustment:
    code: str
    feature: str
    when: Mapping[str, Any]
    stars: int | None
    reason_ru: str
    reason_en: str


@dataclass(frozen=True)
class Matrix:
    groups: tuple[SellerGroup, ...]
    rows: tuple[MatrixRow, ...]
    adjustments: tuple[Adjustment, ...]
    legend: tuple[tuple[int | None, str, str], ...]  # (stars, ru, en)

    def legend_text(self, stars: int | None, lang: str) -> str:
        ru, en = next((ru, en) for value, ru, en in self.legend if value == stars)
        return ru if lang == "ru" else en


def sizing_path():  # noqa: ANN201
    from implkit.data import blueprints_dir

    return blueprints_dir() / "sizing.yaml"


@cache
def load_matrix(path: str | None = None) -> Matrix:
    """Read and check sizing.yaml; every problem is reported at once (InputError)."""
    file = str(path or sizing_path())
    tree = load_yaml(file)
    data = to_plain(tree)
    problems: list[Problem] = []

    def problem(where: tuple, message: str) -> None:
        problems.append(Problem(location_of(tree, where, file), message))

    if not isinstance(data, dict):
        raise InputError(f"{file}: not a sizing matrix", [Problem(Location(file, 1, 1), "expected a mapping")])
    groups = _groups(data.get("groups"), problem)
    rows = _rows(data.get("features"), len(groups), problem)
    legend = tuple((e.get("stars"), e.get("ru"), e.get("en")) for e in data.get("legend") or ()
                   if isinstance(e, dict))
    if sorted(map(str, (s for s, _, _ in legend))) != sorted(map(str, STAR_VALUES)):
        problem(("legend",), "the legend needs one entry for each of 3, 2, 1 and null")
    adjustments = _adjustments(data.get("adjustments") or [], problem)
    if problems:
        raise InputError(f"{file}: the sizing matrix does not hold up", problems)
    return Matrix(groups, rows, adjustments, legend)


def _groups(raw: Any, problem) -> tuple[SellerGroup, ...]:  # noqa: ANN001
    if not isinstance(raw, list) or [g.get("label") for g in raw if isinstance(g, dict)] != list(SELLER_GROUPS):
        problem(("groups",), f"groups must be labelled {', '.join(SELLER_GROUPS)} in that order")
        return ()
    groups: list[SellerGroup] = []
    expected_min = 1
    for i, g in enumerate(raw):
        lo, hi = g.get("min"), g.get("max")
        if lo != expected_min or not isinstance(hi, int) or hi < lo:
            problem(("groups", i), f"group bounds must continue from {expected_min} with max ≥ min")
            return ()
        if seller_group_label(g["label"]) != f"{lo}–{hi}":   # every output labels a group by these bounds
            problem(("groups", i), f"group {g['label']!r} must span {seller_group_label(g['label'])}")
            return ()
        groups.append(SellerGroup(g["label"], lo, hi))
        expected_min = hi + 1
    return tuple(groups)


def _rows(raw: Any, group_count: int, problem) -> tuple[MatrixRow, ...]:  # noqa: ANN001
    if not isinstance(raw, list) or [f.get("key") for f in raw if isinstance(f, dict)] != list(FEATURES):
        problem(("features",), f"features must be {', '.join(FEATURES)} in that order (implkit.model.FEATURES)")
        return ()
    rows = []
    for i, f in enumerate(raw):
        name = f.get("name") or {}
        stars = f.get("stars")
        if not (isinstance(name, dict) and name.get("ru") and name.get("en")):
            problem(("features", i, "name"), "a feature needs a name in ru and en")
        if not isinstance(stars, list) or len(stars) != group_count or any(s not in STAR_VALUES for s in stars):
            problem(("features", i, "stars"), f"stars must list {group_count} values of 1, 2, 3 or null")
            continue
        rows.append(MatrixRow(f["key"], name.get("ru", ""), name.get("en", ""), tuple(stars)))
    return tuple(rows)


def _adjustments(raw: Any, problem) -> tuple[Adjustment, ...]:  # noqa: ANN001
    question_ids = load_questionnaire().ids
    adjustments = []
    for i, a in enumerate(raw):
        where = ("adjustments", i)
        if not isinstance(a, dict):
            problem(where, "an adjustment must be a mapping")
            continue
        ok = True
        if a.get("feature") not in FEATURES:
            problem((*where, "feature"), f"unknown feature {a.get('feature')!r}")
            ok = False
        if "stars" not in a or a["stars"] not in STAR_VALUES:
            problem((*where, "stars"), "stars must be 1, 2, 3 or null")
            ok = False
        reason = a.get("reason") or {}
        if not (isinstance(a.get("code"), str) and isinstance(reason, dict) and reason.get("ru") and reason.get("en")):
            problem(where, "an adjustment needs a code and a reason in ru and en")
            ok = False
        for path, message in conditions.problems(a.get("when"), question_ids):
            problem((*where, "when", *path), message)
            ok = False
        if ok:
            adjustments.append(Adjustment(a["code"], a["feature"], a["when"], a["stars"], reason["ru"], reason["en"]))
    return tuple(adjustments)


# --- sizing ---------------------------------------------------------------------------------------

_MESSAGES = {
    "sellers": {"ru": "sellers: {n!r} — не число продавцов (целое, не меньше 1)",
                "en": "sellers: {n!r} is not a number of sellers (a whole number, at least 1)"},
    "missing": {"ru": "sellers: нет ответа", "en": "sellers: missing answer"},
}


def _checked_sellers(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(say(_MESSAGES, "sellers", n=n))
    return n


def seller_group(n: int) -> str:
    """The matrix column for `n` sellers: upper bounds inclusive, more than 100 in the last group."""
    sellers = _checked_sellers(n)
    groups = load_matrix().groups
    return next((g.label for g in groups if sellers <= g.max), groups[-1].label)


def assess(answers: Mapping[str, Any]) -> Assessment:
    """The seller group and every feature's stars for `answers` (question id → value), with the reasons.

    Only `sellers` is required; an adjustment whose answers are absent from
    `answers` does not fire (an answer present as None counts as empty).
    """
    if "sellers" not in answers:
        raise InputError(say(_MESSAGES, "missing"))
    matrix = load_matrix()
    sellers = _checked_sellers(answers["sellers"])
    group = seller_group(sellers)
    column = SELLER_GROUPS.index(group)
    bounds = seller_group_label(group)
    shown = _shown_answers(answers)
    features = []
    for row in matrix.rows:
        matrix_stars = row.stars[column]
        stars = matrix_stars
        reasons = [Reason(
            "matrix",
            f"Матрица, группа {bounds} продавцов: {matrix.legend_text(matrix_stars, 'ru')}",
            f"Matrix, group of {bounds} sellers: {matrix.legend_text(matrix_stars, 'en')}",
        )]
        for rule in matrix.adjustments:
            if rule.feature == row.key and conditions.references(rule.when) <= answers.keys() \
                    and conditions.evaluate(rule.when, answers):
                stars = rule.stars
                reasons.append(Reason(rule.code, rule.reason_ru.format_map(shown["ru"]),
                                      rule.reason_en.format_map(shown["en"])))
        features.append(FeatureScore(row.key, row.name_ru, row.name_en, matrix_stars, stars, tuple(reasons)))
    notes = []
    top = matrix.groups[-1]
    if sellers > top.max:
        notes.append(Reason(
            "beyond_matrix",
            f"{sellers} {plural_ru(sellers, 'продавец', 'продавца', 'продавцов')}: матрица заканчивается на "
            f"{top.max} — использована последняя группа «{seller_group_label(top.label)}»",
            f"{sellers} sellers: the matrix ends at {top.max}, so the last group "
            f"({seller_group_label(top.label)}) is used",
        ))
    return Assessment(sellers, group, tuple(features), tuple(notes))


def _shown_answers(answers: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Answers as text for the reasons' {placeholders}, option labels in each language."""
    questionnaire = load_questionnaire()
    shown: dict[str, dict[str, str]] = {"ru": {}, "en": {}}
    for question in questionnaire.questions:
        if question.id in answers:
            for lang in shown:
                shown[lang][question.id] = question.show(answers[question.id], lang)
    return shown
