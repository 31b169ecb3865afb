"""The README's set-up leaves a usable `implkit`, and the README says how to call it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _top(readme: str) -> str:
    """The README before its first second-level heading: what a new user reads before the tour."""
    return readme.split("\n## ", 1)[0]


def test_the_readme_says_how_to_run_implkit_before_the_tour():
    top = _top((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "make demo" in top and "make test" in top
    assert "source .venv/bin/activate" in top
    assert ".venv/bin/implkit" in top


def test_both_setup_targets_install_the_console_script_into_the_venv():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    # `make demo` and `make test` both depend on the install stamp, whose recipe installs the project
    for target in ("demo", "test"):
        assert re.search(rf"^{target}:.*\$\(STAMP\)", makefile, re.M), target
    recipe = makefile.split("$(STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"\$\(PY\) -m pip install .*-e '\.\[test\]'", recipe)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")   # tomllib is 3.11+, implkit runs on 3.10
    scripts = pyproject.split("[project.scripts]\n", 1)[1].split("\n\n", 1)[0]
    assert scripts.strip() == 'implkit = "implkit.cli:main"'


def test_the_venv_command_runs():
    """This test runs in such a venv: its bin/implkit is the command the README names."""
    script = Path(sys.executable).parent / "implkit"
    if not script.exists():
        import pytest

        pytest.skip(f"no implkit console script next to {sys.executable} (not an installed venv)")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "size" in done.stdout and "Traceback" not in done.stderr
