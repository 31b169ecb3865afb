"""Every file implkit writes for a tenant is 0600 and every folder 0700, whatever the umask.

The snapshot and the audit history hold customer data (names, phones, budgets); state, saved
plans, reports and token files describe the account. A workspace is walked after plan, apply,
sync and audit on both CRMs, SQLite's -wal/-shm companions included.
"""

from __future__ import annotations

import os
import stat

import pytest
from test_plan_config_truth import Tenants


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)  # the usual default: files 0644 unless implkit says otherwise
    yield
    os.umask(old)


def test_every_tenant_file_is_private_after_plan_apply_sync_and_audit(tmp_path, run_cli, loose_umask):
    tenants = Tenants(tmp_path, run_cli)
    try:
        token_file = tmp_path / "ws" / ".implkit" / "acme2.token"
        for name in ("acme", "shop"):
            assert tenants.cli("apply", name, "--yes").exit_code == 0
            saved = tenants.ws / ".implkit" / "tenants" / name / "plan.json"
            assert tenants.cli("plan", name, "-o", saved).exit_code == 0
            assert tenants.cli("sync", name).exit_code == 0
            report = tenants.ws / ".implkit" / "tenants" / name / "report.html"
            assert tenants.cli("audit", name, "--format", "html", "-o", report).exit_code in (0, 2)
        # a token file created by `tenant add` (the secret typed in) under the workspace
        added = tenants.run_cli("tenant", "add", "other", "--workspace", tenants.ws, "--provider", "amocrm",
                                "--url", "https://other.amocrm.ru", "--token-file", token_file,
                                input="not-a-real-token\n")
        assert added.exit_code == 0, added.output
    finally:
        tenants.close()

    data = tenants.ws / ".implkit"
    files = [p for p in data.rglob("*") if p.is_file()]
    folders = [data, *(p for p in data.rglob("*") if p.is_dir())]
    names = {p.name for p in files}
    # the walk did see what matters (SQLite keeps -wal/-shm while a connection is open; checked if present)
    for expected in ("state.db", "snapshot.sqlite", "audit-history.sqlite", "plan.json", "report.html",
                     "acme2.token"):
        assert expected in names, (expected, sorted(names))
    loose = {str(p.relative_to(tenants.ws)): oct(stat.S_IMODE(p.stat().st_mode))
             for p in files if stat.S_IMODE(p.stat().st_mode) != 0o600}
    assert loose == {}
    open_folders = {str(p.relative_to(tenants.ws)): oct(stat.S_IMODE(p.stat().st_mode))
                    for p in folders if stat.S_IMODE(p.stat().st_mode) != 0o700}
    assert open_folders == {}


def test_sqlite_companions_are_private_while_the_databases_are_open(tmp_path, loose_umask):
    from implkit.audit.history import History
    from implkit.audit.snapshot import Snapshot
    from implkit.workspace.state import StateStore

    state = StateStore(tmp_path / "state.db")
    state.record("pipeline.sales", "1")
    snapshot = Snapshot(tmp_path / "snapshot.sqlite")
    snapshot.set_meta(snapshot_at=1)
    history = History(tmp_path / "audit-history.sqlite")
    try:
        modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in tmp_path.iterdir()}
        assert {"state.db-wal", "state.db-shm", "snapshot.sqlite-wal", "snapshot.sqlite-shm"} <= set(modes)
        assert {name: mode for name, mode in modes.items() if mode != "0o600"} == {}
    finally:
        state.close()
        snapshot.close()
        history.close()
