"""`implkit demo`: the whole chain against the sandbox, and the folder it owns."""

from __future__ import annotations

import re
import shlex

import pytest

from implkit.demo import MARKER, _fresh_demo_folder
from implkit.errors import InputError


@pytest.mark.slow
def test_the_demo_runs_the_whole_chain_on_both_crms(run_cli, tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--contacts", "150")
    assert result.exit_code == 0, result.output[-3000:]
    for name in ("answers.yaml", "blueprint.yaml", "spec.html", "spec.docx",
                 "audit-demo-amo.html", "audit-demo-b24.html"):
        assert (out / name).stat().st_size > 0, name
    # re-plan on each CRM: nothing to change (the seeded accounts keep stages the blueprint does not
    # describe, which plan lists and leaves alone)
    assert sum(1 for line in result.output.splitlines() if line.startswith("No changes.")) == 2
    assert "429" not in result.output
    # every line is for a person: no object's repr such as SeedSummary(account_id=2, …)
    assert not [line for line in result.output.splitlines() if re.search(r"\b[A-Z]\w*\(\w+=", line)]
    assert sum(1 for line in result.output.splitlines() if line.startswith("seeded demo-")) == 2
    # where each tenant's secret comes from is shown as a command, and the secret itself is not
    token = (out / "workspace" / ".implkit" / "demo-amo.token").read_text().strip()
    assert token not in result.output
    commands = [line for line in result.output.splitlines() if "$ implkit sandbox" in line or "; implkit sandbox" in line]
    assert sum(" sandbox token demo-amo " in c for c in commands) == 1
    assert sum(" sandbox bitrix24 webhook demo-b24 " in c for c in commands) == 1
    for command in commands:   # each printed sandbox command is one the CLI accepts as written
        words = shlex.split(command.split("implkit ", 1)[1].split(" >", 1)[0].rstrip(")"))
        assert _parses(words), command
    # the last lines say how to bring the stopped sandbox back: `sandbox serve --db` takes the port the
    # workspace's tenants name (tests/sandbox/test_sandbox_restart.py restarts one)
    from implkit.sandbox.server import last_port
    from implkit.sandbox.store import Store
    from implkit.workspace.core import Workspace

    restart = [line.strip() for line in result.output.splitlines() if line.strip().startswith("implkit sandbox serve --db")]
    assert len(restart) == 1 and _parses(shlex.split(restart[0])[1:])
    port = last_port(Store(shlex.split(restart[0])[-1]))
    assert f" {port}:" in result.output   # the message names the port
    urls = {tenant.url for tenant in Workspace.load(out / "workspace").tenants()}
    assert len(urls) == 2 and all(url.startswith(f"http://127.0.0.1:{port}/") for url in urls)


def _parses(words: list[str]) -> bool:
    import click

    from implkit.cli import cli

    group, ctx = cli, None
    while isinstance(group, click.Group) and words and not words[0].startswith("-"):
        ctx = group.make_context(group.name or "implkit", [], resilient_parsing=True, parent=ctx)
        group = group.get_command(ctx, words.pop(0))
        if group is None:
            return False
    group.make_context(group.name, list(words), parent=ctx)   # raises on an unknown option or a missing value
    return True


def test_a_previous_demo_folder_is_emptied(tmp_path):
    out = tmp_path / "demo"
    _fresh_demo_folder(out)
    (out / "workspace").mkdir()
    (out / "workspace" / "implkit.yaml").write_text("version: 1\n")
    _fresh_demo_folder(out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER]


def test_a_folder_the_demo_did_not_make_is_refused_and_kept(tmp_path, run_cli):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not made by `implkit demo`"):
        _fresh_demo_folder(mine)
    result = run_cli("demo", "--out", mine)
    assert result.exit_code == 3
    assert (mine / "notes.txt").read_text() == "keep me"
