"""Long work shows progress the way users expect: a bar per entity on a terminal, a few summary lines
when piped, nothing with --quiet (errors still shown)."""

from __future__ import annotations

import re

import pytest
from ux_rig import run_in_pty, run_piped

pytestmark = pytest.mark.slow   # real servers and subprocesses


def _streams(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("  ")]


def test_a_piped_sync_prints_its_summary_not_a_line_per_page(world):
    done = run_piped("sync", "shop", "-w", world.ws)
    assert done.returncode == 0, done.stderr
    streams = _streams(done.stdout)
    pages = sum(int(re.search(r"(\d+) pages$", line).group(1)) for line in streams)
    assert len(streams) >= 8 and pages > len(streams)          # more pages were read than streams…
    assert len(done.stdout.splitlines()) == len(streams) + 1   # …and stdout is the summary and a row per stream
    assert not [line for line in done.stderr.splitlines() if ": page " in line]   # no per-page lines
    assert len(done.stderr.splitlines()) <= 3, done.stderr     # a few notes at most ("sync done: …")


def test_quiet_prints_nothing_on_success_and_still_shows_an_error(world, tmp_path):
    assert run_piped("sync", "shop", "-w", world.ws, "--quiet").returncode == 0
    again = run_piped("sync", "shop", "-w", world.ws, "-q")
    assert again.returncode == 0 and again.stdout == "" and again.stderr == ""
    applied = run_piped("apply", "shop", "-w", world.ws, "--yes", "--allow-destroy", "--quiet")
    assert applied.returncode == 0 and applied.stdout == "" and applied.stderr == ""
    unknown = run_piped("sync", "nobody", "-w", world.ws, "--quiet")
    assert unknown.returncode == 3 and "nobody" in unknown.stderr and unknown.stdout == ""


def test_a_piped_apply_prints_a_line_per_kind_not_per_object(world):
    applied = run_piped("apply", "shop", "-w", world.ws, "--yes", "--allow-destroy")
    assert applied.returncode == 0, applied.stderr
    notes = applied.stderr.splitlines()
    kinds = [line for line in notes if re.match(r"\[shop\] (creating|updating|deleting|replacing) \d+ ", line)]
    assert kinds and len(notes) == len(kinds), notes   # one line per kind and action, nothing per object
    assert not [line for line in notes if re.search(r"\b(pipeline|stage|field|role)\.\w", line)]  # no address
    written = sum(int(n) for n in re.findall(r"(\d+) (?:created|updated|deleted)", applied.stdout))
    assert "Apply complete" in applied.stdout and written > len(kinds)   # fewer lines than objects written


def test_a_terminal_sees_a_bar_per_entity_and_then_the_summary(world):
    code, screen = run_in_pty("sync", "shop", "-w", world.ws)
    assert code == 0, screen
    assert "━" in screen                                         # rich's bar
    assert "\x1b[?25l" in screen                                 # the cursor hidden while bars redraw
    assert re.search(r"leads\s+\S*\s*━", screen) and re.search(r"contacts\s+\S*\s*━", screen)
    assert re.search(r"\d+/\? ", screen)                         # a count against an unknown total
    assert "shop: " in screen and " records in " in screen       # the summary stays on the screen
    assert ": page " not in screen                               # the per-page log lines do not


def test_a_terminal_sees_a_bar_per_kind_during_apply(world):
    code, screen = run_in_pty("apply", "shop", "-w", world.ws, "--yes", "--allow-destroy")
    assert code == 0, screen
    assert "━" in screen and re.search(r"\[shop\] field\s", screen)
    assert re.search(r"\d+/\d+", screen)                          # apply knows each kind's total
    assert "Apply complete" in screen


@pytest.mark.parametrize("command", [("sandbox", "seed", "shop", "--contacts", "300"),
                                     ("sandbox", "bitrix24", "seed", "shop", "--deals", "300")])
def test_seeding_prints_one_line_piped_nothing_quiet_and_bars_on_a_terminal(tmp_path, command):
    piped = run_piped(*command, "--db", tmp_path / "piped.db")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.count("\n") == 1 and piped.stdout.startswith("seeded shop: ") and piped.stderr == ""
    quiet = run_piped(*command, "--db", tmp_path / "quiet.db", "-q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    code, screen = run_in_pty(*command, "--db", tmp_path / "pty.db")
    assert code == 0, screen
    assert "━" in screen and re.search(r"contacts\s+\S*\s*━", screen) and "seeded shop: " in screen
