"""Fixtures of the blueprint tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from implkit.model import FEATURES
from implkit.sizing import Assessment, FeatureScore

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def assessment_with(stars: dict[str, int | None], sellers: int = 8, group: str = "5-10") -> Assessment:
    """An Assessment giving each feature the stars listed (others: none)."""
    return Assessment(sellers, group, tuple(
        FeatureScore(key, key, key, stars.get(key), stars.get(key), ()) for key in FEATURES))


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
