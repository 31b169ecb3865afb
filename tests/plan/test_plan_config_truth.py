"""plan, drift and the audit's F02/U01 agree on what differs from the blueprint, on amoCRM and Bitrix24.

One comparison (implkit.plan.diff.plan) serves all three: `drift` prints it, `sync` stores it in the
snapshot and F02/U01 count it. A stage someone adds to a managed pipeline through the API is shown
by plan (left alone, exit 0), by drift (exit 2) and by F02 — the same stage, by the same address.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from implkit.data import blueprints_dir

PRESET = blueprints_dir() / "presets" / "retail.yaml"


class Tenants:
    """A loopback sandbox with a fresh amoCRM account `acme` and a fresh Bitrix24 portal `shop`."""

    def __init__(self, tmp_path: Path, run_cli):
        from implkit.sandbox import Sandbox, serve_in_thread

        self.sandbox = Sandbox(tmp_path / "sandbox.db", integration_rps=1000, account_rps=1000)
        self.sandbox.create_account("acme")
        self.sandbox.create_portal("shop")
        self._serving = serve_in_thread(self.sandbox)
        self.root = self._serving.__enter__()
        user, secret = self.sandbox.webhook_url("shop").rstrip("/").split("/")[-2:]
        self.webhook = f"{user}/{secret}"
        self.env = {"ACME_TOKEN": self.sandbox.token("acme"), "SHOP_WEBHOOK": self.webhook}
        self.ws = tmp_path / "ws"
        self.run_cli = run_cli
        assert run_cli("init", str(self.ws)).exit_code == 0
        for name, provider, url, var in (("acme", "amocrm", self.root + self.sandbox.base_url("acme"), "ACME_TOKEN"),
                                         ("shop", "bitrix24", f"{self.root}/bitrix24/shop", "SHOP_WEBHOOK")):
            added = self.cli("tenant", "add", name, "--provider", provider, "--url", url, "--token-env", var,
                             "--blueprint", PRESET)
            assert added.exit_code == 0, added.output

    def cli(self, *args):
        return self.run_cli(*args, "--workspace", self.ws, env=self.env)

    def state_id(self, tenant: str, address: str) -> str:
        from implkit.workspace import Workspace

        state = Workspace.discover(self.ws).state(tenant)
        try:
            return str(state.get_ids()[address])
        finally:
            state.close()

    def add_stage(self, tenant: str, pipeline_address: str, name: str) -> str:
        """Add a stage by hand (through the API, as an admin clicking in the CRM would); its id."""
        pid = self.state_id(tenant, pipeline_address)
        if tenant == "acme":
            with httpx.Client(base_url=self.root + self.sandbox.base_url("acme"),
                              headers={"Authorization": f"Bearer {self.env['ACME_TOKEN']}"}) as client:
                answer = client.post(f"/api/v4/leads/pipelines/{pid}/statuses",
                                     json=[{"name": name, "sort": 5000, "color": "#fffeb2"}])
                answer.raise_for_status()
                return str(answer.json()["_embedded"]["statuses"][0]["id"])
        entity = "DEAL_STAGE" if pid == "0" else f"DEAL_STAGE_{pid}"
        prefix = "" if pid == "0" else f"C{pid}:"
        with httpx.Client(base_url=f"{self.root}/bitrix24/shop/rest/{self.webhook}") as client:
            stages = client.post("/crm.status.list", json={"filter": {"ENTITY_ID": entity}}).json()["result"]
            last = max(int(s["SORT"]) for s in stages if not s.get("SEMANTICS"))  # before the final stages
            answer = client.post("/crm.status.add", json={"fields": {
                "ENTITY_ID": entity, "STATUS_ID": f"{prefix}BY_HAND", "NAME": name, "SORT": last + 1}})
            answer.raise_for_status()
            return str(answer.json()["result"])

    def audit(self, tenant: str) -> dict[str, dict]:
        synced = self.cli("sync", tenant)
        assert synced.exit_code == 0, synced.output
        report = self.cli("audit", tenant, "--checks", "F02,U01", "--format", "json")
        assert report.exit_code in (0, 2), report.output
        return {f["id"]: f for f in json.loads(report.output)["findings"]}

    def close(self):
        self._serving.__exit__(None, None, None)
        self.sandbox.close()


@pytest.fixture
def tenants(tmp_path, run_cli):
    t = Tenants(tmp_path, run_cli)
    yield t
    t.close()


def _f02_addresses(finding: dict) -> list[str]:
    return sorted(d["address"] for d in finding["details"]["differences"])


def _drift_json(tenants, tenant):
    result = tenants.cli("drift", tenant, "--json")
    return result.exit_code, json.loads(result.output)


@pytest.mark.parametrize("tenant", ["acme", "shop"])
def test_after_apply_plan_drift_and_the_audit_all_say_nothing_differs(tenants, tenant):
    applied = tenants.cli("apply", tenant, "--yes")
    assert applied.exit_code == 0, applied.output
    plan = tenants.cli("plan", tenant, "--json")
    assert plan.exit_code == 0, plan.output
    data = json.loads(plan.output)
    assert data["changes"] == [] and data["unmanaged"] == []
    code, drift = _drift_json(tenants, tenant)
    assert code == 0 and drift["drift"] == [] and drift["unmanaged"] == []
    findings = tenants.audit(tenant)
    assert findings["F02"]["status"] == "pass" and findings["F02"]["count"] == 0
    assert findings["F02"]["population"] > 0  # it did compare something
    if tenant == "shop":
        assert findings["U01"]["status"] == "unsupported"  # Bitrix24 has no REST method for roles
    else:
        assert findings["U01"]["status"] == "pass" and findings["U01"]["count"] == 0
        assert findings["U01"]["population"] == 2  # the preset's two roles were compared


@pytest.mark.parametrize("tenant", ["acme", "shop"])
def test_a_stage_added_by_hand_is_the_same_finding_in_plan_drift_and_f02(tenants, tenant):
    assert tenants.cli("apply", tenant, "--yes").exit_code == 0
    stage_id = tenants.add_stage(tenant, "pipeline.orders", "Добавлен руками")
    expected = f"pipeline.orders.stage.#{stage_id}"

    plan = tenants.cli("plan", tenant, "--json")
    assert plan.exit_code == 0, plan.output  # left alone: apply would write nothing
    assert [u["address"] for u in json.loads(plan.output)["unmanaged"]] == [expected]
    text = tenants.cli("plan", tenant).output
    assert "Not described in the blueprint (1)" in text and "Добавлен руками" in text

    code, drift = _drift_json(tenants, tenant)
    assert code == 2
    assert [u["address"] for u in drift["unmanaged"]] == [expected] and drift["drift"] == []

    findings = tenants.audit(tenant)
    assert findings["F02"]["status"] == "fail" and _f02_addresses(findings["F02"]) == [expected]

    pruned = tenants.cli("plan", tenant, "--prune", "--json")
    stages = [c["address"] for c in json.loads(pruned.output)["changes"] if c["kind"] == "stage"]
    assert stages == [expected]  # (a fresh amoCRM account's own pipeline is pruned too: not a container)
    assert tenants.cli("apply", tenant, "--prune", "--allow-destroy", "--yes").exit_code == 0
    assert _drift_json(tenants, tenant)[0] == 0
    assert tenants.audit(tenant)["F02"]["count"] == 0


def test_role_rights_changed_by_hand_are_u01_and_drift_alike(tenants):
    assert tenants.cli("apply", "acme", "--yes").exit_code == 0
    role_id = tenants.state_id("acme", "role.manager")
    with httpx.Client(base_url=tenants.root + tenants.sandbox.base_url("acme"),
                      headers={"Authorization": f"Bearer {tenants.env['ACME_TOKEN']}"}) as client:
        role = client.get(f"/api/v4/roles/{role_id}").json()
        rights = role["rights"]
        rights["leads"]["export"] = "A" if rights["leads"].get("export") != "A" else "D"
        client.patch(f"/api/v4/roles/{role_id}", json={"rights": rights}).raise_for_status()
    code, drift = _drift_json(tenants, "acme")
    assert code == 2 and [d["address"] for d in drift["drift"]] == ["role.manager"]
    findings = tenants.audit("acme")
    assert _f02_addresses(findings["U01"]) == ["role.manager"]
    assert findings["F02"]["count"] == 0  # the role is U01's, not counted twice
