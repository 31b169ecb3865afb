"""Fixtures of the spec tests."""

from __future__ import annotations

import pytest

from implkit.model import Blueprint
from spec_helpers import fixture_blueprint


@pytest.fixture
def b2b() -> Blueprint:
    return fixture_blueprint("b2b")
