"""The audit history in the workspace's state backend: on PostgreSQL it is shared by every runner, so a trend
spans audits made on different machines (each runner keeps its own snapshot: snapshots are local caches)."""

from __future__ import annotations

import shutil
import uuid

import pytest

from audit_support import build_snapshot

from implkit.workspace import CredentialSource, init_workspace


def _runner(folder, workspace_id: str, backend: str):
    """One runner's checkout of the workspace (same implkit.yaml id) with its own synced snapshot."""
    ws = init_workspace(folder)
    path = folder / "implkit.yaml"
    text = path.read_text().replace(f"id: {ws.workspace_id}", f"id: {workspace_id}")
    if backend == "postgres":
        text += "state: {backend: postgres}\n"
    path.write_text(text)
    from implkit.workspace import Workspace

    ws = Workspace.load(folder)
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    snap = build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {
        "leads": [{"id": 1, "status_id": 143}, {"id": 2, "status_id": 143, "loss_reason_id": 4}]})
    snap.close()
    return folder


@pytest.fixture(params=["local", "postgres"])
def backend(request, monkeypatch):
    if request.param == "postgres":
        monkeypatch.setenv("IMPLKIT_STATE_URL", request.getfixturevalue("pg_cluster").url)
    return request.param


def test_history_keeps_every_audit_on_either_backend(run_cli, tmp_path, backend):
    ws = _runner(tmp_path / "ws", str(uuid.uuid4()), backend)
    for _ in range(3):
        assert run_cli("audit", "acme", "--workspace", ws, "--checks", "D08").exit_code == 2
    result = run_cli("audit", "history", "acme", "--workspace", ws)
    assert result.exit_code == 0, result.output
    d08 = next(line for line in result.output.splitlines() if line.startswith("D08"))
    assert d08.split()[1:] == ["1!", "1!", "1!"]
    local_file = ws / ".implkit" / "tenants" / "acme" / "audit-history.sqlite"
    assert local_file.exists() is (backend == "local")


def test_two_runners_share_one_history_on_postgres(run_cli, tmp_path, pg_cluster, monkeypatch):
    monkeypatch.setenv("IMPLKIT_STATE_URL", pg_cluster.url)
    workspace_id = str(uuid.uuid4())
    laptop = _runner(tmp_path / "laptop", workspace_id, "postgres")
    ci = _runner(tmp_path / "ci", workspace_id, "postgres")
    assert run_cli("audit", "acme", "--workspace", laptop, "--checks", "D08").exit_code == 2
    assert run_cli("audit", "acme", "--workspace", ci, "--checks", "D08").exit_code == 2
    shutil.rmtree(laptop / ".implkit" / "tenants" / "acme")  # the laptop's snapshot is gone: history is not
    result = run_cli("audit", "history", "acme", "--workspace", laptop)
    d08 = next(line for line in result.output.splitlines() if line.startswith("D08"))
    assert d08.split()[1:] == ["1!", "1!"]  # both runners' audits in one trend
    other = _runner(tmp_path / "other", str(uuid.uuid4()), "postgres")  # another workspace sees none of it
    assert "no audits kept yet" in run_cli("audit", "history", "acme", "--workspace", other).output
