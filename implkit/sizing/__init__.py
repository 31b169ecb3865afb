"""Sizing: seller groups, the relevance matrix and the questionnaire.

The public surface other layers use:

- `assess(answers) -> Assessment` (in `implkit.sizing.matrix`): the seller
  group and every feature's stars with the reasons, after answer-driven
  adjustments.
- `load_answers(path) -> dict` (in `implkit.sizing.answers`): a validated
  answers file as a plain dict of question id → value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """Why a feature got its stars, in both languages the tool speaks."""

    code: str  # stable id, e.g. "matrix", "no_phone_sales", "bi_tool_named"
    ru: str
    en: str

    def text(self, lang: str) -> str:
        return self.ru if lang == "ru" else self.en


@dataclass(frozen=True)
class FeatureScore:
    key: str  # one of implkit.model.FEATURES
    name_ru: str
    name_en: str
    matrix_stars: int | None  # what the relevance matrix says for the group (None: not relevant)
    stars: int | None  # after answer-driven adjustments
    reasons: tuple[Reason, ...]

    def name(self, lang: str) -> str:
        return self.name_ru if lang == "ru" else self.name_en


@dataclass(frozen=True)
class Assessment:
    sellers: int
    group: str  # one of implkit.model.SELLER_GROUPS
    features: tuple[FeatureScore, ...]
    notes: tuple[Reason, ...] = ()  # e.g. "more than 100 sellers: the matrix ends at 100"

    def feature(self, key: str) -> FeatureScore:
        return next(f for f in self.features if f.key == key)

    def selected(self, min_stars: int = 2) -> tuple[str, ...]:
        """Feature keys with at least `min_stars` stars, in matrix order."""
        return tuple(f.key for f in self.features if (f.stars or 0) >= min_stars)
