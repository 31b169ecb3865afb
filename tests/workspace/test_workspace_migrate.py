"""`implkit state migrate`: a workspace of several tenants to PostgreSQL and back, verified by reading both
sides; lineage and serial keep an old copy from overwriting a newer one."""

from __future__ import annotations

import json

import pytest

from implkit.workspace import CredentialSource, Workspace
from implkit.workspace.state import StateStore

TENANTS = ("acme", "beta", "gamma", "idle")


@pytest.fixture
def ws(workspace, token_file, pg_cluster, monkeypatch):
    import uuid

    monkeypatch.setenv("IMPLKIT_STATE_URL", pg_cluster.url)
    path = workspace / "implkit.yaml"
    path.write_text(path.read_text().replace("id: ", f"id: {uuid.uuid4()}-", 1))  # this test's own namespace
    ws = Workspace.load(workspace)
    for name in TENANTS:
        ws.add_tenant(name, provider="amocrm", url=f"https://{name}.amocrm.ru",
                      credentials=CredentialSource("file", path=token_file))
    for n, name in enumerate(TENANTS[:3]):  # "idle" never had any state
        with ws.state(name) as store:
            store.bind_account(1000 + n)
            store.record("pipeline.sales", 7000 + n, f"fp-{name}")
            store.record("group.sales", f"grp_{n}")  # a Bitrix24-style string id keeps its type
            store.record("field.leads.source", 500 + n, "v1")
            store.record("field.leads.source", 500 + n, "v2")
            store.forget("group.sales")
            store.set_last_applied("1.0.0", f"sha256:{name}", f"metadata: {{name: {name}}}\n")
    return ws


def _local(ws, name):
    with StateStore(ws.root / ".implkit" / "tenants" / name / "state.db") as store:
        return store.dump()


def _shared(ws, name):
    from implkit.workspace.postgres import PgStateStore, schema_for

    with PgStateStore(ws.backend.url if ws.backend.name == "postgres" else _url(),
                      schema_for(ws.workspace_id, name), tenant=name) as store:
        return store.dump()


def _url():
    import os

    return os.environ["IMPLKIT_STATE_URL"]


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_round_trip_of_several_tenants(ws, run_cli, pg_cluster):
    before = {name: _local(ws, name) for name in TENANTS[:3]}
    moved = run_cli("state", "migrate", "--to", "postgres", "--workspace", ws.root)
    assert moved.exit_code == 0, moved.output
    assert pg_cluster.password not in moved.output and "***" in moved.output
    rows = {line.split()[0]: line.split()[1:] for line in moved.output.splitlines()[2:2 + len(TENANTS)]}
    assert rows == {"acme": ["copied", "7", "2"], "beta": ["copied", "7", "2"], "gamma": ["copied", "7", "2"],
                    "idle": ["no", "state", "0", "0"]}
    config = (ws.root / "implkit.yaml").read_text()
    assert "backend: postgres" in config and "url_env: IMPLKIT_STATE_URL" in config
    assert pg_cluster.password not in config and "postgresql://" not in config

    on_pg = Workspace.load(ws.root)
    assert on_pg.backend.name == "postgres"
    for name in TENANTS[:3]:  # read both: the copy equals the source, row for row
        assert _same(_shared(on_pg, name), before[name])
        with on_pg.state(name) as store:
            assert store.get_ids() == {"field.leads.source": 500 + TENANTS.index(name),
                                       "pipeline.sales": 7000 + TENANTS.index(name)}
            assert store.serial == 7 and store.account_id == str(1000 + TENANTS.index(name))
            assert [h["action"] for h in store.history("group.sales")] == ["record", "forget"]
    assert not on_pg.backend.has_state("idle", on_pg.tenant("idle").dir)

    with on_pg.state("beta") as store:  # a runner works on from the shared state
        store.record("pipeline.extra", 42, "fp")
    back = run_cli("state", "migrate", "--to", "local", "--workspace", ws.root)
    assert back.exit_code == 0, back.output
    on_local = Workspace.load(ws.root)
    assert on_local.backend.name == "local" and "backend: local" in (ws.root / "implkit.yaml").read_text()
    for name in TENANTS[:3]:
        assert _same(_local(on_local, name), _shared(on_pg, name))
    assert _local(on_local, "beta")["meta"]["serial"] == "8"
    rows = {line.split()[0]: line.split()[1] for line in back.output.splitlines()[2:2 + len(TENANTS)]}
    assert rows == {"acme": "unchanged", "beta": "copied", "gamma": "unchanged", "idle": "no"}


def test_an_older_copy_never_overwrites_a_newer_one(ws, run_cli):
    assert run_cli("state", "migrate", "--to", "postgres", "--workspace", ws.root).exit_code == 0
    on_pg = Workspace.load(ws.root)
    assert run_cli("state", "migrate", "--to", "local", "--workspace", ws.root).exit_code == 0
    # the shared copy moves on (a runner still configured for postgres), the local one stays at serial 7
    with on_pg.state("acme") as store:
        store.record("pipeline.extra", 42, "fp")
        store.record("pipeline.more", 43, "fp")
    shared_before = {name: _shared(on_pg, name) for name in TENANTS[:3]}
    refused = run_cli("state", "migrate", "--to", "postgres", "--workspace", ws.root)
    assert refused.exit_code == 1
    assert "serial 9 there, serial 7 here" in refused.output and "'acme'" in refused.output
    assert "Traceback" not in refused.output
    assert "backend: local" in (ws.root / "implkit.yaml").read_text()  # not switched
    for name in TENANTS[:3]:
        assert _same(_shared(on_pg, name), shared_before[name])  # nothing written
    assert Workspace.load(ws.root).lock_info("acme") is None  # the locks were released


def test_another_lineage_on_the_target_is_refused(ws, run_cli):
    from implkit.workspace.postgres import PgStateStore, schema_for

    with PgStateStore(_url(), schema_for(ws.workspace_id, "gamma"), tenant="gamma") as other:
        other.record("pipeline.sales", 1, "someone else's")  # another state of gamma, not a copy
        lineage = other.lineage
    refused = run_cli("state", "migrate", "--to", "postgres", "--workspace", ws.root)
    assert refused.exit_code == 1 and "another state" in refused.output and lineage in refused.output
    assert "backend: postgres" not in (ws.root / "implkit.yaml").read_text()


@pytest.mark.parametrize("args", [
    ("--to", "mysql"),
    ("--to", "local", "--url-env", "X"),
    ("--to", "postgres", "--url-env", "X", "--url-keyring", "a/b"),
])
def test_bad_migrate_options_are_bad_input(ws, run_cli, args):
    result = run_cli("state", "migrate", *args, "--workspace", ws.root)
    assert result.exit_code == 3
    assert "state:" not in (ws.root / "implkit.yaml").read_text()


def test_migrating_to_where_it_already_is_is_bad_input(ws, run_cli):
    result = run_cli("state", "migrate", "--to", "local", "--workspace", ws.root)
    assert result.exit_code == 3 and "nothing to migrate" in result.output


def test_missing_url_variable_writes_nothing(ws, run_cli, monkeypatch):
    monkeypatch.delenv("IMPLKIT_STATE_URL")
    result = run_cli("state", "migrate", "--to", "postgres", "--workspace", ws.root)
    assert result.exit_code == 3 and "IMPLKIT_STATE_URL" in result.output
    assert "state:" not in (ws.root / "implkit.yaml").read_text()


def test_migrate_waits_for_a_running_command_then_gives_up_naming_it(ws, run_cli):
    import subprocess
    import sys
    import textwrap

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from implkit.workspace import Workspace
        with Workspace.load(sys.argv[1]).lock("beta", "apply"):
            print("locked", flush=True)
            time.sleep(60)
    """), str(ws.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        refused = run_cli("state", "migrate", "--to", "postgres", "--lock-timeout", "0.2", "--workspace", ws.root)
        assert refused.exit_code == 1 and f"pid {holder.pid}" in refused.output and "'beta'" in refused.output
        assert "state:" not in (ws.root / "implkit.yaml").read_text()
        assert Workspace.load(ws.root).lock_info("acme") is None  # the locks it had taken were released
    finally:
        holder.kill()
        holder.wait()
