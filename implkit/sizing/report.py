"""An Assessment as text: the seller group, the notes, and a table of every feature with stars and reasons."""

from __future__ import annotations

from tabulate import tabulate

from implkit.sizing import Assessment, FeatureScore
from implkit.model import seller_group_label
from implkit.sizing.matrix import load_matrix

_HEADERS = {
    "ru": ("Функция", "Матрица", "Итог", "Почему"),
    "en": ("Feature", "Matrix", "Stars", "Why"),
}
_GROUP_LINE = {
    "ru": "Группа по числу продавцов: {group} ({sellers} чел.)",
    "en": "Seller group: {group} ({sellers} sellers)",
}
_NOTE = {"ru": "Примечание", "en": "Note"}


def stars_text(stars: int | None) -> str:
    """★★★ / ★★ / ★, or — for "not relevant"."""
    return "★" * stars if stars else "—"


def reason_text(score: FeatureScore, lang: str) -> str:
    """The answer-driven reasons when there are any, else what the matrix says."""
    adjusted = [r for r in score.reasons if r.code != "matrix"]
    return "; ".join(r.text(lang) for r in (adjusted or score.reasons))


def render_assessment(assessment: Assessment, lang: str = "ru") -> str:
    matrix = load_matrix()
    lines = [_GROUP_LINE[lang].format(group=seller_group_label(assessment.group), sellers=assessment.sellers)]
    lines += [f"{_NOTE[lang]}: {note.text(lang)}" for note in assessment.notes]
    rows = [
        (f.name(lang), stars_text(f.matrix_stars), stars_text(f.stars), reason_text(f, lang))
        for f in assessment.features
    ]
    lines += ["", tabulate(rows, headers=_HEADERS[lang], tablefmt="simple"), ""]
    lines.append("   ".join(f"{stars_text(s)} {matrix.legend_text(s, lang)}" for s in (3, 2, 1, None)))
    return "\n".join(lines)
