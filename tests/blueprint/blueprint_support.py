"""Helpers the blueprint tests import (a uniquely named module: several conftest modules clash under one run)."""

from __future__ import annotations

from implkit.model import FEATURES
from implkit.sizing import Assessment, FeatureScore


def assessment_with(stars: dict[str, int | None], sellers: int = 8, group: str = "5-10") -> Assessment:
    """An Assessment giving each feature the stars listed (others: none)."""
    return Assessment(sellers, group, tuple(
        FeatureScore(key, key, key, stars.get(key), stars.get(key), ()) for key in FEATURES))
