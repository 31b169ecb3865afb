"""StateStore: ids, fingerprints, serial/lineage, history, account binding, durability across a kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from implkit.errors import InputError
from implkit.workspace import AccountMismatch


@pytest.fixture
def state(stores):
    store = stores.open("t")
    yield store
    store.close()


def test_record_get_forget(state):
    state.record("pipeline.sales", 7001, "fp-a")
    state.record("pipeline.sales.stage.new", 142, "fp-b")
    state.record("group.sales", "grp_3")  # Bitrix24-style string ids keep their type
    assert state.get_ids() == {"group.sales": "grp_3", "pipeline.sales": 7001, "pipeline.sales.stage.new": 142}
    assert state.fingerprints()["pipeline.sales"] == "fp-a"
    assert state.forget("pipeline.sales.stage.new") is True
    assert state.forget("pipeline.sales.stage.new") is False
    assert "pipeline.sales.stage.new" not in state.get_ids()


def test_serial_counts_writes_and_noops_do_not(state):
    assert state.serial == 0
    state.record("a", 1, "x")
    state.record("a", 1, "x")  # same value: nothing written
    assert state.serial == 1
    state.record("a", 1, "y")
    state.forget("a")
    assert state.serial == 3


def test_history_keeps_every_previous_value(state):
    state.record("field.leads.source", 10, "v1")
    state.record("field.leads.source", 10, "v2")
    state.forget("field.leads.source")
    history = state.history("field.leads.source")
    assert [(h["action"], h["remote_id"], h["fingerprint"]) for h in history] == [
        ("record", None, None), ("record", 10, "v1"), ("forget", 10, "v2")]
    assert [h["serial"] for h in history] == [1, 2, 3]


def test_lineage_is_stable_per_state_and_unique_between_states(stores):
    first = stores.open("a")
    lineage = first.lineage
    first.close()
    again = stores.open("a")
    other = stores.open("b")
    assert again.lineage == lineage and len(lineage) == 36
    assert other.lineage != lineage
    again.close()
    other.close()


def test_account_binding(state):
    assert state.account_id is None
    state.bind_account(31415)
    state.bind_account("31415")  # same account: fine
    serial = state.serial
    with pytest.raises(AccountMismatch) as err:
        state.bind_account(27182)
    assert isinstance(err.value, InputError) and err.value.exit_code == 3
    assert "31415" in str(err.value) and "27182" in str(err.value)
    assert state.account_id == "31415" and state.serial == serial  # nothing written


def test_last_applied(state):
    assert state.last_applied() is None
    state.set_last_applied("1.0.0", "sha256:aa", "metadata: {version: 1.0.0}\n")
    state.set_last_applied("1.1.0", "sha256:bb", "metadata: {version: 1.1.0}\n")
    last = state.last_applied()
    assert (last.version, last.hash, last.blueprint) == ("1.1.0", "sha256:bb", "metadata: {version: 1.1.0}\n")
    assert [v.version for v in state.applied_versions()] == ["1.0.0", "1.1.0"]


def test_backup_is_a_consistent_copy(state):
    state.record("a", 1)
    path = state.backup()
    state.record("b", 2)
    assert path.stat().st_mode & 0o777 == 0o600
    if state.backend == "local":
        assert path.name == "state.db.bak"
        rows = sqlite3.connect(path).execute("SELECT address FROM objects").fetchall()
        assert rows == [("a",)]
        assert state.path.stat().st_mode & 0o777 == 0o600
    else:  # the shared state's backup is a JSON copy in the tenant's local folder
        assert path.name == "state.json.bak"
        assert [row[0] for row in json.loads(path.read_text())["objects"]] == ["a"]


def test_bad_records_are_refused(state):
    with pytest.raises(ValueError):
        state.record("", 1)
    with pytest.raises(ValueError):
        state.record("a", None)
    assert state.serial == 0


def test_each_record_survives_kill_9(stores):
    """An apply killed after N creates resumes knowing all N (each record is committed on return)."""
    code = textwrap.dedent(f"""
        import os, signal
        s = {stores.code("t")}
        s.bind_account(99)
        for i in range(5):
            s.record(f"pipeline.p{{i}}", 1000 + i, f"fp{{i}}")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    reopened = stores.open("t")
    assert reopened.get_ids() == {f"pipeline.p{i}": 1000 + i for i in range(5)}
    assert reopened.account_id == "99" and reopened.serial == 6
    reopened.close()


def test_two_processes_recording_at_once_lose_nothing(stores):
    stores.open("t").close()
    code = textwrap.dedent("""
        import sys
        s = %s
        for i in range(40):
            s.record(f"{sys.argv[1]}.{i}", i)
    """) % stores.code("t")
    procs = [subprocess.Popen([sys.executable, "-c", code, name]) for name in ("a", "b")]
    assert [p.wait() for p in procs] == [0, 0]
    final = stores.open("t")
    assert len(final.get_ids()) == 80 and final.serial == 80
    final.close()


def test_workspace_state_lives_under_the_tenant(workspace, token_file):
    from implkit.workspace import CredentialSource, Workspace

    ws = Workspace.load(workspace)
    ws.add_tenant("acme", provider="amocrm", url="https://acme.amocrm.ru",
                  credentials=CredentialSource("file", path=token_file))
    state = ws.state("acme")
    state.record("pipeline.sales", 1)
    assert state.path == workspace / ".implkit" / "tenants" / "acme" / "state.db"
    state.close()
    assert os.stat(workspace / ".implkit" / "tenants" / "acme").st_mode & 0o077 == 0
