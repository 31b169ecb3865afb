"""Fixtures for plan/apply tests (helpers in plan_rig.py)."""

from __future__ import annotations

import pytest
from plan_rig import SandboxRig


@pytest.fixture
def rig(tmp_path):
    r = SandboxRig(tmp_path)
    yield r
    r.close()


@pytest.fixture
def state(tmp_path):
    from implkit.workspace.state import StateStore

    store = StateStore(tmp_path / "state" / "state.db")
    yield store
    store.close()
