"""Every bench script answers --help with its usage: exit 0, nothing run, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(BENCH.glob("*.py"))


def test_there_are_bench_scripts():
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help(script, tmp_path):
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("usage: " + script.name), done.stdout[:300]
    assert list(tmp_path.iterdir()) == []     # --help runs nothing, so it writes nothing


def test_apply_bench_refuses_a_missing_blueprint_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH / "apply.py"), str(tmp_path / "missing.yaml")],
                          capture_output=True, text=True, timeout=120, env={**__import__("os").environ,
                                                                            "IMPLKIT_LANG": "en"})
    assert done.returncode == 3
    assert "Traceback" not in done.stderr and "missing.yaml" in done.stderr
