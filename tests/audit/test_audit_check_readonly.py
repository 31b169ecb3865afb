"""Check SQL only reads: a check that writes, attaches or sets a pragma is bad input, and nothing changes.

Each statement is fed twice: in a check file (refused when the file is loaded, before any
snapshot is opened) and as a check built in code that skips loading (refused when it runs).
Either way the snapshot's bytes are the same afterwards and no file appears.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import pytest

from implkit.audit.checks import load_checks
from implkit.audit.engine import AuditOptions, run_checks
from implkit.data import audits_dir
from implkit.errors import InputError

WRITES = {
    "delete_returning": "DELETE FROM leads RETURNING id",
    "update_returning": "UPDATE leads SET price = 0 RETURNING id",
    "insert": "INSERT INTO leads (id, pipeline_id, status_id, is_open, created_at, updated_at)"
              " VALUES (99, 100, 11, 1, 0, 0) RETURNING id",
    "cte_delete": "WITH x AS (SELECT 1) DELETE FROM tasks RETURNING id",
    "attach": "ATTACH DATABASE '{tmp}/stolen.db' AS stolen",
    "vacuum_into": "VACUUM INTO '{tmp}/copy.db'",
    "pragma_write": "PRAGMA user_version = 7",
    "pragma_journal": "PRAGMA journal_mode = DELETE",
    "pragma_function": "SELECT name AS id FROM pragma_table_info('leads')",
    "create_temp": "CREATE TEMP TABLE t AS SELECT id FROM leads",
    "begin": "BEGIN IMMEDIATE",
    "two_statements": "SELECT id FROM leads; DELETE FROM leads",
    "load_extension": "SELECT load_extension('{tmp}/evil') AS id",
}
RECORDS = {"leads": [{"id": 1, "status_id": 143}, {"id": 2}],
           "tasks": [{"id": 9, "entity_type": "leads", "entity_id": 2}]}


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_check_file_that_writes_is_refused_at_its_sql_key(name, tmp_path):
    folder = tmp_path / "checks"
    folder.mkdir()
    text = (audits_dir() / "D08.yaml").read_text(encoding="utf-8")
    sql = WRITES[name].format(tmp=tmp_path)
    head, _, _ = text.partition("sql: |")
    path = folder / "D08.yaml"
    path.write_text(head + "sql: |\n  " + sql + "\n", encoding="utf-8")
    line = head.count("\n") + 1
    before = _files(tmp_path)
    with pytest.raises(InputError) as caught:
        load_checks(folder)
    message = str(caught.value)
    assert f"{path}:{line}:1: sql:" in message, message
    if name != "two_statements":
        assert "may only read" in message, message
    assert _files(tmp_path) == before  # ATTACH and VACUUM INTO made no file


@pytest.mark.parametrize("key", ["sql", "population"])
@pytest.mark.parametrize("name", sorted(WRITES))
def test_a_check_that_writes_is_refused_when_it_runs_and_the_snapshot_is_unchanged(make_snapshot, tmp_path, name,
                                                                                   key):
    snap = make_snapshot(RECORDS)
    snap.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before_files, before_bytes = _files(tmp_path), _digest(snap.path)
    before_rows = snap.counts()
    check = next(c for c in load_checks() if c.id == "D08")
    check = dataclasses.replace(check, **{key: WRITES[name].format(tmp=tmp_path)})
    with pytest.raises(InputError) as caught:
        run_checks(snap, [check], AuditOptions(), workers=1)
    assert f"{audits_dir() / 'D08.yaml'}:" in str(caught.value)
    assert f" {key}:" in str(caught.value)
    assert snap.counts() == before_rows
    snap.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _digest(snap.path) == before_bytes
    assert snap.db.execute("PRAGMA user_version").fetchone()[0] == 0
    assert snap.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert _files(tmp_path) == before_files


def test_reading_checks_still_run_in_parallel_on_read_only_connections(make_snapshot):
    snap = make_snapshot(RECORDS)
    run = run_checks(snap, load_checks(), AuditOptions(), workers=3)
    assert [r.id for r in run.result("D08").failing] == [1]
    assert [r.id for r in run.result("D01").failing] == []  # deal 2 has an open task; deal 1 is closed


def test_the_cli_refuses_a_writing_check_with_exit_3_and_writes_no_history(run_cli, tmp_path):
    from audit_support import build_snapshot

    from implkit.workspace import CredentialSource, init_workspace

    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", RECORDS).close()
    folder = tmp_path / "checks"
    shutil.copytree(audits_dir(), folder)
    path = folder / "D08.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("SELECT l.id, l.price AS budget", "DELETE FROM leads RETURNING id --", 1),
                    encoding="utf-8")
    result = run_cli("audit", "acme", "--workspace", tmp_path / "ws", "--checks-dir", folder)
    assert result.exit_code == 3, result.output
    assert f"{path}:" in result.output and "may only read" in result.output and "DELETE leads" in result.output
    assert "Traceback" not in result.output
    assert not (ws.tenant_dir("acme") / "audit-history.sqlite").exists()
