"""Two tenants on one CRM account: refused unless declared, and then prune spares the other's objects.

Before, `tenant add second` with the URL and token of `first` succeeded silently, and
`apply second --prune --allow-destroy` deleted first's roles and fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plan_rig import writes

from implkit.data import blueprints_dir

FIXTURE = Path(__file__).parent / "fixtures" / "blueprint.yaml"
OTHER = blueprints_dir() / "presets" / "retail.yaml"


class Account:
    def __init__(self, tmp_path: Path, run_cli):
        from implkit.sandbox import Sandbox, serve_in_thread

        self.sandbox = Sandbox(tmp_path / "sandbox.db", integration_rps=1000, account_rps=1000)
        self.sandbox.create_account("acme")
        self._serving = serve_in_thread(self.sandbox)
        self.root = self._serving.__enter__()
        self.url = self.root + self.sandbox.base_url("acme")
        self.ws = tmp_path / "ws"
        self.env = {"ACME_TOKEN": self.sandbox.token("acme")}
        self.run_cli = run_cli
        assert run_cli("init", str(self.ws)).exit_code == 0
        first = self.cli("tenant", "add", "first", "--provider", "amocrm", "--url", self.url,
                         "--token-env", "ACME_TOKEN", "--blueprint", FIXTURE)
        assert first.exit_code == 0, first.output

    def cli(self, *args):
        return self.run_cli(*args, "--workspace", self.ws, env=self.env)

    def config(self) -> str:
        return (self.ws / "implkit.yaml").read_text()

    def close(self):
        self._serving.__exit__(None, None, None)
        self.sandbox.close()


@pytest.fixture
def account(tmp_path, run_cli):
    a = Account(tmp_path, run_cli)
    yield a
    a.close()


@pytest.mark.parametrize("spelling", ["{url}", "{url}/", "{upper}"])
def test_a_second_tenant_on_the_same_url_is_refused_before_anything_is_written(account, spelling):
    url = spelling.format(url=account.url, upper=account.url.replace("/amocrm/acme", "/AMOCRM/ACME"))
    before = account.config()
    refused = account.cli("tenant", "add", "second", "--provider", "amocrm", "--url", url, "--token-env",
                          "ACME_TOKEN", "--blueprint", OTHER)
    assert refused.exit_code == 3, refused.output
    assert "already reaches this account" in refused.output and "--shares-account-with first" in refused.output
    assert "Traceback" not in refused.output
    assert account.config() == before  # nothing written


def test_declaring_an_unknown_tenant_as_the_sharer_is_bad_input(account):
    before = account.config()
    refused = account.cli("tenant", "add", "second", "--provider", "amocrm", "--url", account.url,
                          "--token-env", "ACME_TOKEN", "--shares-account-with", "nobody")
    assert refused.exit_code == 3 and "nobody" in refused.output
    assert account.config() == before


def test_another_url_reaching_a_bound_account_is_refused_by_account_id(account):
    """localhost vs 127.0.0.1: URLs differ, the account is the same; once `first` is bound, `second` is refused."""
    assert account.cli("apply", "first", "--yes").exit_code == 0
    alias = account.url.replace("127.0.0.1", "localhost")
    added = account.cli("tenant", "add", "second", "--provider", "amocrm", "--url", alias,
                        "--token-env", "ACME_TOKEN", "--blueprint", OTHER)
    assert added.exit_code == 0, added.output  # the URL alone cannot tell
    before = len(account.sandbox.request_log("acme"))
    for command in (("plan", "second"), ("apply", "second", "--yes", "--prune", "--allow-destroy")):
        refused = account.cli(*command)
        assert refused.exit_code == 3, refused.output
        assert "already bound to CRM account" in refused.output
    assert writes(account.sandbox.request_log("acme")[before:]) == []


def test_a_declared_sharer_never_prunes_what_the_first_tenant_manages(account):
    assert account.cli("apply", "first", "--yes").exit_code == 0
    added = account.cli("tenant", "add", "second", "--provider", "amocrm", "--url", account.url,
                        "--token-env", "ACME_TOKEN", "--blueprint", OTHER, "--shares-account-with", "first")
    assert added.exit_code == 0, added.output
    assert "shares_account_with: first" in account.config()

    from implkit.workspace import Workspace

    from implkit.plan.diff import kind_of

    state = Workspace.discover(account.ws).state("first")
    first_ids = {(kind_of(a), str(r)) for a, r in state.get_ids().items() if kind_of(a)}
    state.close()
    assert first_ids

    plan = account.cli("plan", "second", "--prune", "--json")
    assert plan.exit_code == 2, plan.output
    deletions = [c for c in json.loads(plan.output)["changes"] if c["action"] == "delete"]
    assert deletions  # prune does delete something: what neither tenant manages
    assert not [c for c in deletions if (c["kind"], str(c["remote_id"])) in first_ids]
    # nor does it adopt (and then change) first's objects by name: it makes its own
    changes = json.loads(plan.output)["changes"]
    assert not [c for c in changes if c["action"] == "update" and (c["kind"], str(c["remote_id"])) in first_ids]
    applied = account.cli("apply", "second", "--yes", "--prune", "--allow-destroy")
    assert applied.exit_code == 0, applied.output
    # first's objects are all still there, untouched but for the one thing two blueprints on one
    # account cannot both have: the main pipeline
    again = account.cli("plan", "first", "--json")
    left = [(c["action"], c["address"], [d["attr"] for d in c["diffs"]]) for c in json.loads(again.output)["changes"]]
    assert left in ([], [("update", "pipeline.sales", ["is_main"])]), left


def test_a_workspace_file_naming_an_unknown_sharer_is_refused_with_its_location(account):
    text = account.config().replace("    blueprint:", "    shares_account_with: ghost\n    blueprint:", 1)
    (account.ws / "implkit.yaml").write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "shares_account_with" in row)
    refused = account.cli("plan", "first")
    assert refused.exit_code == 3, refused.output
    assert f"implkit.yaml:{line}:" in refused.output and "ghost" in refused.output
    assert "Traceback" not in refused.output
