"""Fixtures for the audit tests: a small hand-built snapshot with relative times, the sandbox in-process."""

from __future__ import annotations

import pytest

from audit_support import SyncRig, build_snapshot


@pytest.fixture
def make_snapshot(tmp_path):
    counter = iter(range(1_000_000))
    opened: list[Snapshot] = []

    def make(records: dict[str, list[dict]] | None = None, **kw) -> Snapshot:
        snap = build_snapshot(tmp_path / f"snap{next(counter)}.sqlite", records, **kw)
        opened.append(snap)
        return snap

    yield make
    for snap in opened:
        snap.close()


@pytest.fixture
def sync_rig(tmp_path):
    rig = SyncRig(tmp_path)
    yield rig
    rig.close()


@pytest.fixture(autouse=True)
def english_messages(monkeypatch):
    """The audit's tests were written for the Russian default and ask for English with `--lang en`
    where they read English; this overrides the suite-wide IMPLKIT_LANG=en of tests/conftest.py."""
    monkeypatch.delenv("IMPLKIT_LANG", raising=False)


@pytest.fixture
def english(monkeypatch):
    """For a test that reads implkit's own English messages (refusals are told in the user's language)."""
    monkeypatch.setenv("IMPLKIT_LANG", "en")
