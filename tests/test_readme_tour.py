"""The README's tour runs as written: every command, typed verbatim in a fresh copy of the repository,
prints the lines the README shows (in order) and exits as the README says.

`tools/readme_tour.py` does the run; `--update` regenerates the shown lines from it, so the tour is
built from real output and cannot drift. The first tests check the checker itself on small inputs.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "readme_tour.py"


def _tool():
    spec = importlib.util.spec_from_file_location("readme_tour", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_tour"] = module
    spec.loader.exec_module(module)
    return module


SAMPLE = """# x

## A five-minute tour

```
$ echo one; echo two; echo three
one
…
three
$ sh -c 'echo at 2026-01-02 03:04 UTC; exit 2'      # exit 2: findings
at 2030-12-31 23:59 UTC
$ printf 'a' |
  cat
a
```

## Next
```
$ not part of the tour
```
"""


def test_the_tour_is_the_commands_of_the_tour_section_with_their_shown_lines_and_exit_codes():
    tour = _tool()
    commands = tour.tour_commands(SAMPLE)
    assert [c.text.splitlines()[0] for c in commands] == [
        "echo one; echo two; echo three", "sh -c 'echo at 2026-01-02 03:04 UTC; exit 2'      # exit 2: findings",
        "printf 'a' |"]
    assert commands[0].shown == ["one", "…", "three"] and commands[0].expected_exit == 0
    assert commands[1].expected_exit == 2
    assert commands[2].text.endswith("\n  cat") and commands[2].shown == ["a"]


def test_the_checker_finds_a_missing_line_a_wrong_order_and_a_wrong_exit_code(tmp_path):
    tour = _tool()
    commands = tour.tour_commands(SAMPLE)
    runs = tour.run_tour(commands, tmp_path)
    assert [tour.check(run) for run in runs] == [[], [], []]      # times normalised, `…` skips lines
    wrong = tour.tour_commands(SAMPLE.replace("one\n…\nthree", "three\none").replace("# exit 2", "# exit 0"))
    problems = [tour.check(run) for run in tour.run_tour(wrong, tmp_path)]
    assert problems[0] == ["not in the output (in this order): 'one'"]
    assert problems[1] == ["exit code 2, the README says 0"]


def test_update_rewrites_a_drifted_line_from_the_run(tmp_path):
    tour = _tool()
    drifted = SAMPLE.replace("three\n$", "thre\n$")
    commands = tour.tour_commands(drifted)
    lines = tour.update(tour.run_tour(commands, tmp_path), drifted.split("\n"))
    assert "three" in lines and "thre" not in lines


def test_the_readme_tour_runs_as_written():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the tour runs in a copy of the repository's tracked files: needs git and a checkout")
    done = subprocess.run([sys.executable, str(TOOL)], capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "every shown line and exit code as written" in done.stdout
