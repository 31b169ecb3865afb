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


def test_error_messages_are_redacted_whoever_raised_them(monkeypatch, run_cli):
    """An error that carries a bearer token in its message is printed masked."""
    import click

    from implkit import cli as cli_module
    from implkit.errors import RuntimeFailure

    secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"

    @click.command()
    def leaky():
        raise RuntimeFailure(f"remote refused: Authorization: Bearer {secret}")

    monkeypatch.setitem(cli_module.COMMANDS, "leaky", ("tests.test_cli", "leaky", "test only"))
    monkeypatch.setattr(cli_module.cli, "get_command", lambda ctx, name: leaky if name == "leaky" else None)
    result = run_cli("leaky")
    assert result.exit_code == 1
    assert "remote refused" in result.output
    assert secret not in result.output
