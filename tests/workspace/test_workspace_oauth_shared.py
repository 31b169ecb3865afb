"""Rotated OAuth tokens in the shared state backend: encrypted at rest, saved by compare-and-swap, and two
processes refreshing at once keep the integration authorised (amoCRM refresh tokens are single-use)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

import httpx
import pytest

from implkit.errors import InputError
from implkit.http.auth import TokenSet
from implkit.workspace import CredentialSource, Workspace


@pytest.fixture
def pg_env(pg_cluster, monkeypatch):
    monkeypatch.setenv("IMPLKIT_STATE_URL", pg_cluster.url)
    monkeypatch.setenv("IMPLKIT_STATE_KEY", "k-" + uuid.uuid4().hex)
    return pg_cluster


def _stores(pg_cluster, key: str = "key-one"):
    from implkit.workspace.postgres import PgTokenStore, schema_for

    schema = schema_for(uuid.uuid4().hex, "acme")
    return schema, (lambda k=key: PgTokenStore(pg_cluster.url, schema, k))


def test_compare_and_swap_refuses_a_save_from_an_outdated_read(pg_cluster):
    from implkit.workspace.postgres import TokenRaceLost

    _schema, store = _stores(pg_cluster)
    a, b = store(), store()
    a.seed(TokenSet("access-0-aaaaaaaa", "refresh-0-rrrrrrrr", 100.0))
    assert a.load().refresh_token == "refresh-0-rrrrrrrr"
    assert b.load().refresh_token == "refresh-0-rrrrrrrr"  # both read version 1
    a.save(TokenSet("access-1-aaaaaaaa", "refresh-1-rrrrrrrr", 200.0))
    with pytest.raises(TokenRaceLost) as err:
        b.save(TokenSet("access-2-aaaaaaaa", "refresh-2-rrrrrrrr", 300.0))  # would overwrite a newer pair
    assert "version 1" in str(err.value) and "refresh-" not in str(err.value)
    assert b.load() == TokenSet("access-1-aaaaaaaa", "refresh-1-rrrrrrrr", 200.0)  # re-read: the newer pair
    b.save(TokenSet("access-2-aaaaaaaa", "refresh-2-rrrrrrrr", 300.0))  # now from the current version
    assert store().load().refresh_token == "refresh-2-rrrrrrrr" and a.swaps == 2 and b.swaps == 1  # a: the seed, then one rotation


def test_tokens_are_sealed_at_rest_and_need_the_workspace_key(pg_cluster):
    import psycopg

    schema, store = _stores(pg_cluster)
    store().seed(TokenSet("access-0-SEEKRIT1", "refresh-0-SEEKRIT2", 100.0))
    with psycopg.connect(pg_cluster.url) as db:
        dumped = db.execute(f'SELECT row_to_json(o)::text FROM "{schema}".oauth o').fetchone()[0]
        sealed = bytes(db.execute(f'SELECT sealed FROM "{schema}".oauth').fetchone()[0])
    assert "SEEKRIT" not in dumped and b"SEEKRIT" not in sealed  # the database alone does not reveal them
    with pytest.raises(InputError, match="same key"):
        store("another-key").load()


def test_pg_workspace_without_the_key_is_bad_input(workspace, pg_cluster, monkeypatch):
    monkeypatch.setenv("IMPLKIT_STATE_URL", pg_cluster.url)
    monkeypatch.delenv("IMPLKIT_STATE_KEY", raising=False)
    monkeypatch.setenv("ACME_SECRET", "client-secret-0123456789")
    token_file = workspace / ".implkit" / "acme.token.json"
    token_file.write_text(json.dumps({"access_token": "a" * 20, "refresh_token": "r" * 20, "expires_at": 1}))
    token_file.chmod(0o600)
    path = workspace / "implkit.yaml"
    path.write_text(path.read_text() + "state: {backend: postgres}\n")
    ws = Workspace.load(workspace)
    ws.add_tenant("acme", provider="amocrm", url="https://acme.amocrm.ru",
                  credentials=CredentialSource("file", path=token_file), client_id="cid",
                  client_secret_env="ACME_SECRET")
    with pytest.raises(InputError, match="IMPLKIT_STATE_KEY"):
        ws.credentials("acme")


_RUNNER = textwrap.dedent("""
    import json, sys, time
    import httpx
    from pathlib import Path
    from implkit.workspace import Workspace

    root, api, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    ws = Workspace.load(root)
    creds = ws.credentials("acme")
    auth = creds.auth(token_url=ws.tenant("acme").url + "/oauth2/access_token")
    stale = {"Authorization": "Bearer " + creds.tokens.access_token}
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.002)
    auth.refresh(stale)  # both runners were told their access token died: both want to refresh now
    answer = httpx.get(api, headers=auth.headers())
    print(json.dumps({"status": answer.status_code, "refreshes": auth.refreshes}), flush=True)
""")


def test_two_processes_refreshing_at_once_stay_authorised(workspace, pg_env, tmp_path):
    from implkit.sandbox import Sandbox, serve_in_thread

    sandbox = Sandbox(tmp_path / "sandbox.db", integration_rps=1000, account_rps=1000)
    try:
        sandbox.create_account("acme")
        client = sandbox.oauth_client("acme")
        with serve_in_thread(sandbox) as root:
            url = root + sandbox.base_url("acme")
            pair = httpx.post(f"{url}/oauth2/access_token", json={
                "client_id": client["client_id"], "client_secret": client["client_secret"],
                "grant_type": "authorization_code", "code": client["code"],
                "redirect_uri": client["redirect_uri"]}).json()
            token_file = workspace / ".implkit" / "acme.token.json"
            token_file.write_text(json.dumps({"access_token": pair["access_token"],
                                              "refresh_token": pair["refresh_token"],
                                              "expires_at": time.time() + pair["expires_in"]}))
            token_file.chmod(0o600)
            os.environ["ACME_SECRET"] = client["client_secret"]
            path = workspace / "implkit.yaml"
            path.write_text(path.read_text() + "state: {backend: postgres}\n")
            ws = Workspace.load(workspace)
            ws.add_tenant("acme", provider="amocrm", url=url, credentials=CredentialSource("file", path=token_file),
                          client_id=client["client_id"], client_secret_env="ACME_SECRET",
                          redirect_uri=client["redirect_uri"])
            go = tmp_path / "go"
            runners = [subprocess.Popen([sys.executable, "-c", _RUNNER, str(workspace), f"{url}/api/v4/account",
                                         str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                       for _ in range(2)]
            try:
                for runner in runners:
                    assert runner.stdout.readline().strip() == "ready", runner.stderr.read()
                go.touch()
                results = []
                for runner in runners:
                    out, err = runner.communicate(timeout=120)
                    assert runner.returncode == 0, err
                    results.append(json.loads(out.strip().splitlines()[-1]))
            finally:  # a runner that failed leaves the other waiting for `go` forever: never leave it behind
                for runner in runners:
                    if runner.poll() is None:
                        runner.kill()
                        runner.wait()
            assert [r["status"] for r in results] == [200, 200]  # neither lost its authorisation
            # one refresh grant was spent: the runner that waited adopted the new pair instead of burning it
            grants = [r for r in sandbox.request_log("acme") if r["path"].endswith("/oauth2/access_token")]
            assert sorted(r["refreshes"] for r in results) == [0, 1]
            assert [r["status"] for r in grants] == [200, 200]  # the code exchange, then one refresh
            # the backend holds the live pair: a third runner can still refresh with it
            again = Workspace.load(workspace).credentials("acme")
            assert again.tokens.refresh_token != pair["refresh_token"]
            auth = again.auth(token_url=url + "/oauth2/access_token")
            auth.refresh({"Authorization": "Bearer " + again.tokens.access_token})
            assert httpx.get(f"{url}/api/v4/account", headers=auth.headers()).status_code == 200
            assert json.loads(token_file.read_text())["refresh_token"] == pair["refresh_token"]  # file only seeded
    finally:
        os.environ.pop("ACME_SECRET", None)
        sandbox.close()


def test_runners_creating_a_new_tenants_stores_at_once_all_succeed(pg_cluster):
    """A tenant's first runs, started together, each create its token and lock tables: CREATE TABLE IF NOT
    EXISTS alone races with itself in PostgreSQL (a duplicate pg_type row), so each creation waits its turn."""
    import threading

    from implkit.workspace.postgres import PgTenantLock, PgTokenStore, schema_for

    for attempt in range(20):  # a fresh schema each time: the race is in creating, not in finding, the tables
        schema = schema_for(f"race-{uuid.uuid4().hex[:8]}", "acme")
        start, failures, opened = threading.Barrier(8), [], []

        def open_stores(index: int) -> None:
            start.wait()
            try:
                opened.append(PgTokenStore(pg_cluster.url, schema, "key-one") if index % 2
                              else PgTenantLock(pg_cluster.url, schema, "acme", lease=30))
            except Exception as exc:  # noqa: BLE001 (what a runner would have died of)
                failures.append(repr(exc))

        threads = [threading.Thread(target=open_stores, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for store in opened:
            store.close()
        assert failures == [] and len(opened) == 8, failures
