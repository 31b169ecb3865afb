"""Colour where it helps (plan symbols, ok/error, audit severities and statuses) on a terminal; none when
piped or with NO_COLOR (https://no-color.org); --color / --no-color decide when given."""

from __future__ import annotations

import re

import pytest
from ux_rig import BLUEPRINT, run_in_pty, run_piped

ESC = "\x1b["
GREEN, YELLOW, RED = "\x1b[32m", "\x1b[33m", "\x1b[31m"


def _coloured_lines(screen: str, colour: str) -> list[str]:
    return [line for line in screen.splitlines() if colour in line]


@pytest.mark.slow
def test_a_plan_on_a_terminal_colours_each_change_by_its_action_and_no_color_turns_it_off(world):
    code, screen = run_in_pty("plan", "shop", "-w", world.ws)
    assert code == 2, screen
    created = [line for line in screen.splitlines() if re.match(r"\s*(\x1b\[[\d;]*m)*\+ ", line)]
    assert created and all(GREEN in line for line in created)           # + create: green
    assert any(re.match(rf"\s*{re.escape(YELLOW)}~ ", line) for line in screen.splitlines())  # ~ update: yellow
    code, plain = run_in_pty("plan", "shop", "-w", world.ws, env={"NO_COLOR": "1"})
    assert code == 2 and ESC not in plain
    assert len(plain.splitlines()) == len(screen.splitlines())          # the same plan, only without colour
    code, off = run_in_pty("--no-color", "plan", "shop", "-w", world.ws)
    assert code == 2 and ESC not in off
    piped = run_piped("plan", "shop", "-w", world.ws)
    assert piped.returncode == 2 and ESC not in piped.stdout and "+ " in piped.stdout
    forced = run_piped("--color", "plan", "shop", "-w", world.ws)
    assert GREEN in forced.stdout                                         # asked for: coloured even piped


@pytest.mark.slow
def test_audit_severities_and_statuses_are_coloured_on_a_terminal_only(world):
    assert run_piped("sync", "shop", "-w", world.ws, "-q").returncode == 0
    code, screen = run_in_pty("audit", "shop", "-w", world.ws, env={"IMPLKIT_LANG": "ru"})
    assert code == 2, screen
    assert f"{RED}\x1b[1mСВЕРХ ПОРОГА" in screen and f"{RED}\x1b[1mошибка" in screen
    assert f"{YELLOW}предупреждение" in screen
    code, plain = run_in_pty("audit", "shop", "-w", world.ws, env={"IMPLKIT_LANG": "ru", "NO_COLOR": "1"})
    assert code == 2 and ESC not in plain and "СВЕРХ ПОРОГА" in plain
    piped = run_piped("audit", "shop", "-w", world.ws)
    assert piped.returncode == 2 and ESC not in piped.stdout and "FAIL" in piped.stdout


def test_validate_ok_and_an_error_line_are_coloured_on_a_terminal(tmp_path):
    code, screen = run_in_pty("blueprint", "validate", BLUEPRINT)
    assert code == 0 and f"{GREEN}ok:" in screen
    code, plain = run_in_pty("blueprint", "validate", BLUEPRINT, env={"NO_COLOR": "yes"})
    assert code == 0 and ESC not in plain and "ok:" in plain
    code, failed = run_in_pty("tenant", "show", "nobody", "-w", tmp_path)
    assert code == 3 and f"{RED}\x1b[1merror:" in failed
    piped = run_piped("blueprint", "validate", BLUEPRINT)
    assert piped.stdout.startswith("ok: ")


def test_a_word_of_a_check_title_is_not_taken_for_a_cell(monkeypatch):
    from implkit.commands.audit import coloured_table
    from implkit.terminal import force_color

    table = ("проверка    важность        статус          название\n"
             "D01         ошибка          СВЕРХ ПОРОГА    Ошибка ввода: ошибка в поле\n")
    force_color(True)
    try:
        coloured = coloured_table(table, "ru")
    finally:
        force_color(None)
    assert coloured.count(ESC + "31m") == 2                       # the severity and the status cells
    assert coloured.endswith("Ошибка ввода: ошибка в поле\n")     # the title as it was
    monkeypatch.setenv("NO_COLOR", "1")
    assert coloured_table(table, "ru") == table
