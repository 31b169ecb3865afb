"""The plan/apply/drift/export commands end to end, over a real loopback server (uvicorn in a thread)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plan_rig import ROOT, writes

FIXTURE = Path(__file__).parent / "fixtures" / "blueprint.yaml"


class Served:
    def __init__(self, tmp_path: Path, run_cli, *, fast: bool = True, rate: float = 100.0):
        from implkit.sandbox import Sandbox, serve_in_thread

        options = {"integration_rps": 1000, "account_rps": 1000} if fast else {}
        self.sandbox = Sandbox(tmp_path / "sandbox.db", **options)
        self.sandbox.create_account("acme")
        self.token = self.sandbox.token("acme")
        self._serving = serve_in_thread(self.sandbox)
        root = self._serving.__enter__()
        self.url = root + self.sandbox.base_url("acme")
        self.ws = tmp_path / "ws"
        self.token_file = tmp_path / "acme.token"
        self.token_file.write_text(self.token + "\n")
        self.token_file.chmod(0o600)
        self.run_cli = run_cli
        assert run_cli("init", str(self.ws)).exit_code == 0
        added = run_cli("tenant", "add", "acme", "--workspace", self.ws, "--provider", "amocrm", "--url", self.url,
                        "--token-file", self.token_file, "--blueprint", FIXTURE, "--rate-limit", str(rate))
        assert added.exit_code == 0, added.output

    def cli(self, *args):
        return self.run_cli(*args, "--workspace", self.ws)

    def log(self):
        return self.sandbox.request_log("acme")

    def close(self):
        self._serving.__exit__(None, None, None)
        self.sandbox.close()


@pytest.fixture
def served(tmp_path, run_cli):
    s = Served(tmp_path, run_cli)
    yield s
    s.close()


def test_full_cycle_exit_codes_and_no_token_anywhere(served, tmp_path):
    plan = served.cli("plan", "acme")
    assert plan.exit_code == 2, plan.output
    assert "to create" in plan.output and "+ pipeline.sales" not in plan.output.splitlines()[0]
    as_json = served.cli("plan", "acme", "--json")
    data = json.loads(as_json.stdout)  # stdout holds only the JSON
    assert as_json.exit_code == 2 and data["summary"]["has_changes"]
    saved = served.cli("plan", "acme", "-o", tmp_path / "plan.json")
    assert saved.exit_code == 2
    applied = served.cli("apply", "acme", "--plan", tmp_path / "plan.json", "--yes")
    assert applied.exit_code == 0, applied.output
    assert "Apply complete" in applied.stdout
    assert "creating" in applied.stderr and "creating" not in applied.stdout  # progress on stderr
    again = served.cli("plan", "acme")
    assert again.exit_code == 0 and "No changes." in again.stdout
    before = len(served.log())
    reapplied = served.cli("apply", "acme", "--yes")
    assert reapplied.exit_code == 0 and "No changes to apply." in reapplied.stdout
    assert writes(served.log()[before:]) == []
    assert served.cli("drift", "acme").exit_code == 0
    exported = served.cli("export", "acme", "-o", tmp_path / "exported.yaml")
    assert exported.exit_code == 0, exported.output
    assert served.cli("plan", "acme", "-b", tmp_path / "exported.yaml").exit_code == 0
    # the token appears in no output, log, state, plan or exported file
    outputs = [r.output for r in (plan, as_json, saved, applied, again, reapplied, exported)]
    assert not any(served.token in text for text in outputs)
    for path in [tmp_path / "plan.json", tmp_path / "exported.yaml", *served.ws.rglob("*")]:
        if path.is_file():
            assert served.token.encode() not in path.read_bytes(), path


def test_apply_needs_yes_without_a_terminal(served):
    refused = served.cli("apply", "acme")
    assert refused.exit_code == 3 and "--yes" in refused.output
    assert writes(served.log()) == []


def test_unknown_tenant_and_bad_options_are_bad_input(served):
    assert served.cli("plan", "nobody").exit_code == 3
    assert served.cli("plan").exit_code == 3  # neither TENANT nor --all
    assert served.cli("plan", "acme", "--all").exit_code == 3


def test_rights_amocrm_cannot_take_are_refused_with_a_location(served, tmp_path):
    text = FIXTURE.read_text(encoding="utf-8").replace(
        "leads: {view: own, edit: own, add: all,", "leads: {view: own, edit: own, add: own,")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    result = served.cli("plan", "acme", "-b", bad)
    assert result.exit_code == 3
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "add: own" in l)
    assert f"bad.yaml:{line}:" in result.output and "add" in result.output
    assert served.log() == []  # refused before reading the tenant


def test_destructive_change_refused_without_allow_destroy(served, tmp_path):
    assert served.cli("apply", "acme", "--yes").exit_code == 0
    changed = tmp_path / "changed.yaml"
    changed.write_text(FIXTURE.read_text(encoding="utf-8").replace(
        "{key: budget, name: Бюджет, type: numeric", "{key: budget, name: Бюджет, type: text"), encoding="utf-8")
    before = len(served.log())
    refused = served.cli("apply", "acme", "-b", changed, "--yes")
    assert refused.exit_code == 3 and "--allow-destroy" in refused.output
    assert writes(served.log()[before:]) == []
    assert served.cli("apply", "acme", "-b", changed, "--yes", "--allow-destroy").exit_code == 0


def test_stale_saved_plan_exits_1(served, tmp_path):
    assert served.cli("plan", "acme", "-o", tmp_path / "plan.json").exit_code == 2
    import httpx

    httpx.post(served.url + "/api/v4/leads/pipelines", headers={"Authorization": f"Bearer {served.token}"},
               json=[{"name": "Ручная", "sort": 500, "is_main": False, "is_unsorted_on": True}]).raise_for_status()
    before = len(served.log())
    stale = served.cli("apply", "acme", "--plan", tmp_path / "plan.json", "--yes")
    assert stale.exit_code == 1 and "stale" in stale.output
    assert writes(served.log()[before:]) == []


def test_plan_all_prints_a_table(served):
    result = served.cli("plan", "--all")
    assert result.exit_code == 2
    assert "acme" in result.stdout and "to create" in result.stdout


@pytest.mark.slow
def test_sigkill_mid_apply_then_apply_again_finishes_without_duplicates(tmp_path, run_cli):
    s = Served(tmp_path, run_cli, rate=20.0)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "implkit", "apply", "acme", "--yes", "--workspace", str(s.ws)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 60
        while len(writes(s.log())) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert len(writes(s.log())) >= 2
        from implkit.workspace.state import StateStore

        with StateStore(s.ws / ".implkit" / "tenants" / "acme" / "state.db") as killed_state:
            recorded_at_kill = len(killed_state.get_ids())
        # the killed run's lock is reported as stale and broken explicitly, never silently
        blocked = s.cli("apply", "acme", "--yes")
        if blocked.exit_code != 0:
            assert blocked.exit_code == 1 and "acme" in blocked.output
            assert s.cli("tenant", "unlock", "acme").exit_code == 0
            assert s.cli("apply", "acme", "--yes").exit_code == 0
        assert s.cli("plan", "acme").exit_code == 0
        with StateStore(s.ws / ".implkit" / "tenants" / "acme" / "state.db") as final_state:
            # killed mid-run: some objects were recorded, not all; the second run recorded the rest
            assert 0 < recorded_at_kill < len(final_state.get_ids())
        from test_plan_sandbox import configuration

        class View:  # configuration() reads the store through rig.sandbox
            sandbox = s.sandbox
        for kind, names in configuration(View, "acme").items():
            assert all(c == 1 for c in names.values()), (kind, names)
    finally:
        s.close()


def test_state_of_another_account_is_refused_with_exit_3(served, tmp_path):
    assert served.cli("apply", "acme", "--yes").exit_code == 0
    served.sandbox.create_account("other")
    other_token = tmp_path / "other.token"
    other_token.write_text(served.sandbox.token("other"))
    other_token.chmod(0o600)
    other_url = served.url.replace("/amocrm/acme", "/amocrm/other")
    # the tenant entry now points at another account; its state still belongs to acme
    assert served.cli("tenant", "remove", "acme").exit_code == 0
    assert served.cli("tenant", "add", "acme", "--provider", "amocrm", "--url", other_url,
                      "--token-file", other_token, "--blueprint", FIXTURE).exit_code == 0
    before = len(served.sandbox.request_log("other"))
    refused = served.cli("apply", "acme", "--yes")
    assert refused.exit_code == 3
    assert "belongs to CRM account" in refused.output
    assert writes(served.sandbox.request_log("other")[before:]) == []
    assert served.cli("plan", "acme").exit_code == 3


def test_apply_all_runs_every_tenant_and_prints_a_table(served):
    result = served.cli("apply", "--all", "--yes")
    assert result.exit_code == 0, result.output
    assert "acme" in result.stdout and "Apply complete" in result.stdout
    assert served.cli("apply", "--all").exit_code == 3  # --all needs --yes
    assert served.cli("plan", "--all").exit_code == 0


def test_bad_plan_files_and_option_mixes_are_bad_input(served, tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert served.cli("apply", "acme", "--plan", garbage, "--yes").exit_code == 3
    other_kind = tmp_path / "other.json"
    other_kind.write_text(json.dumps({"kind": "something-else"}))
    assert "not an implkit plan file" in served.cli("apply", "acme", "--plan", other_kind, "--yes").output
    assert served.cli("apply", "acme", "--plan", tmp_path / "missing.json", "--yes").exit_code == 3
    assert served.cli("plan", "acme", "-o", tmp_path / "p.json").exit_code == 2
    data = json.loads((tmp_path / "p.json").read_text())
    data["schema_version"] = 99
    (tmp_path / "future.json").write_text(json.dumps(data))
    assert "schema version" in served.cli("apply", "acme", "--plan", tmp_path / "future.json", "--yes").output
    data["schema_version"] = 1
    data["tenant"] = "someone-else"
    from implkit.plan.run import _plan_checksum

    data["checksum"] = _plan_checksum(data)  # a plan genuinely made for another tenant, not an edited one
    (tmp_path / "theirs.json").write_text(json.dumps(data))
    theirs = served.cli("apply", "acme", "--plan", tmp_path / "theirs.json", "--yes")
    assert theirs.exit_code == 3 and "someone-else" in theirs.output
    assert served.cli("apply", "acme", "--plan", tmp_path / "p.json", "-b", FIXTURE, "--yes").exit_code == 3
    assert served.cli("plan", "--all", "-o", tmp_path / "x.json").exit_code == 3
    assert writes(served.log()) == []


def test_drift_before_any_apply_and_a_tenant_without_blueprint_are_bad_input(served):
    never = served.cli("drift", "acme")
    assert never.exit_code == 3 and "nothing has been applied" in never.output
    assert served.cli("tenant", "add", "bare", "--provider", "amocrm", "--url", served.url,
                      "--token-file", served.token_file, "--shares-account-with", "acme").exit_code == 0
    bare = served.cli("plan", "bare")
    assert bare.exit_code == 3 and "-b FILE" in bare.output
