"""Fixtures for what a user sees: progress, colour, completion."""

from __future__ import annotations

import pytest
from ux_rig import World


@pytest.fixture
def world(tmp_path, run_cli):
    w = World(tmp_path, run_cli)
    yield w
    w.close()
