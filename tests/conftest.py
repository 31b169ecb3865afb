"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from implkit.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture
def run_cli():
    """Invoke the CLI in-process; exit codes are implkit's (usage errors → 3)."""

    def invoke(*args: str, input: str | None = None, env: dict | None = None):
        runner = CliRunner()
        return runner.invoke(cli, [str(a) for a in args], input=input, env=env, catch_exceptions=False)

    return invoke


@pytest.fixture(autouse=True)
def english_messages(monkeypatch):
    """Most tests read implkit's messages in English (IMPLKIT_LANG=en); the Russian default is what
    tests/adversarial checks, by clearing this."""
    monkeypatch.setenv("IMPLKIT_LANG", "en")


@pytest.fixture(scope="session")
def pg_cluster():
    """A real PostgreSQL server for this test session (one per xdist worker), stopped at the end.

    Skips with the reason where no server can be installed (see tests/pgcluster.py)."""
    import pgcluster

    reason = pgcluster.why_not()
    if reason:
        pytest.skip(f"no PostgreSQL server: {reason}")
    cluster = pgcluster.start()
    try:
        yield cluster
    finally:
        pgcluster.stop(cluster)
