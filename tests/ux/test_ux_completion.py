"""Shell completion completes values, not only option names: the workspace's tenants, the audit's check
ids, languages and formats (click's completion protocol: _IMPLKIT_COMPLETE=bash_complete with
COMP_WORDS / COMP_CWORD, as the script docs/completion.md installs sends them)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from implkit.cli import cli


@pytest.fixture
def workspace(tmp_path, run_cli, monkeypatch):
    ws = tmp_path / "ws"
    assert run_cli("init", ws).exit_code == 0
    token = tmp_path / "t.token"
    token.write_text("token-0123456789abcdef\n")
    token.chmod(0o600)
    for name in ("north-shop", "north-mill", "south"):
        added = run_cli("tenant", "add", name, "-w", ws, "--provider", "amocrm", "--url",
                        f"https://{name}.amocrm.ru", "--token-file", token)
        assert added.exit_code == 0, added.output
    monkeypatch.delenv("IMPLKIT_WORKSPACE", raising=False)
    return ws


def complete(line: str, cwd=None) -> list[str]:
    """What bash would offer for `line` (the last word is the one being completed, "" after a space)."""
    words = line.split(" ")
    env = {"_IMPLKIT_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    old = os.getcwd()
    os.chdir(cwd or old)
    try:
        result = CliRunner().invoke(cli, [], env=env, prog_name="implkit")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.output.splitlines() if line.startswith("plain,")]


def test_tenant_names_complete_from_the_workspace_named_by_w(workspace):
    assert complete(f"implkit plan -w {workspace} ") == ["north-mill", "north-shop", "south"]
    assert complete(f"implkit apply -w {workspace} nor") == ["north-mill", "north-shop"]
    assert complete(f"implkit tenant show -w {workspace} s") == ["south"]


def test_tenant_names_complete_from_the_workspace_found_upwards(workspace):
    (workspace / "sub").mkdir()
    assert complete("implkit sync ", cwd=workspace / "sub") == ["north-mill", "north-shop", "south"]
    assert complete("implkit audit sou", cwd=workspace) == ["south"]          # `audit TENANT` is `audit run`
    after_audit = complete("implkit audit ", cwd=workspace)                    # a subcommand, or a tenant
    assert {"history", "diff", "north-mill", "north-shop", "south"} <= set(after_audit)
    assert complete("implkit audit -w . ", cwd=workspace) == ["north-mill", "north-shop", "south"]
    assert complete("implkit audit history ", cwd=workspace) == ["north-mill", "north-shop", "south"]
    assert complete("implkit sync --tenants north-shop,", cwd=workspace) == ["north-shop,north-mill",
                                                                            "north-shop,south"]


def test_no_workspace_completes_nothing_and_prints_no_error(tmp_path, monkeypatch):
    monkeypatch.delenv("IMPLKIT_WORKSPACE", raising=False)
    assert complete("implkit plan ", cwd=tmp_path) == []


def test_check_ids_complete_from_the_shipped_checks(workspace):
    from implkit.audit.checks import load_checks

    ids = [check.id for check in load_checks()]
    d_ids = [i for i in ids if i.startswith("D")]
    assert len(d_ids) >= 10
    assert complete("implkit audit run south --checks D") == d_ids
    assert complete("implkit audit south --checks d0")[:1] == ["D01"]                 # typed in lower case
    offered = complete("implkit audit south --checks D01,C")
    assert offered and all(o.startswith("D01,C") for o in offered) and "D01,C01" in offered
    assert complete("implkit audit south --checks D01,D0").count("D01,D01") == 0       # no id twice


def test_languages_and_formats_complete_from_their_choices():
    assert complete("implkit --lang ") == ["ru", "en"]
    assert complete("implkit plan x --format ") == ["text", "json"]
    assert set(complete("implkit audit run x --format ")) == {"table", "json", "csv", "md", "html"}


def test_the_installed_command_completes_through_the_environment(workspace):
    env = {**os.environ, "_IMPLKIT_COMPLETE": "bash_complete", "COMP_WORDS": "implkit drift ", "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-m", "implkit"], cwd=workspace, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.split() == ["plain,north-mill", "plain,north-shop", "plain,south"]
    env["_IMPLKIT_COMPLETE"] = "bash_source"
    script = subprocess.run([sys.executable, "-m", "implkit"], env=env, capture_output=True, text=True, timeout=60)
    assert "complete " in script.stdout and "_IMPLKIT_COMPLETE=bash_complete" in script.stdout
