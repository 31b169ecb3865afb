"""The command shell: help, version, usage errors and exit-code mapping."""

from __future__ import annotations

import subprocess
import sys

from implkit import __version__
from implkit.cli import COMMANDS


def test_help_lists_every_command_without_importing_them(run_cli):
    result = run_cli("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_help_does_not_import_command_modules():
    code = "import sys; from implkit.cli import main\n" \
           "try:\n    main(['--help'])\nexcept SystemExit: pass\n" \
           "print(sorted(m for m in sys.modules if m.startswith('implkit.commands')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")


def test_version(run_cli):
    result = run_cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_unknown_command_is_bad_input_exit_3(run_cli):
    result = run_cli("no-such-command")
    assert result.exit_code == 3
    assert "No such command" in result.output


def test_unknown_option_is_bad_input_exit_3(run_cli):
    result = run_cli("--no-such-option")
    assert result.exit_code == 3
