"""Helpers of the spec tests (a uniquely named module: `conftest` is a name every test folder uses)."""

from __future__ import annotations

from pathlib import Path

from implkit.model import Blueprint
from implkit.yamlio import load_yaml, to_plain

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_blueprint(name: str = "b2b") -> Blueprint:
    """A fixture blueprint read the plain way (no schema), independent of the blueprint loader."""
    return Blueprint.from_dict(to_plain(load_yaml(FIXTURES / f"{name}.yaml")))
