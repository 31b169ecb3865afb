"""`implkit sandbox ...` commands, and the control API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from implkit.sandbox.store import Store


def test_serve_refuses_a_non_loopback_host(run_cli):
    result = run_cli("sandbox", "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 3
    assert "--host" in result.output and "--allow-remote" in result.output


def test_serve_rejects_a_bad_fault_spec_and_account_name(run_cli):
    bad = run_cli("sandbox", "serve", "--port", "0", "--faults", "drop=3")
    assert bad.exit_code == 3 and "--faults" in bad.output and "drop=3" in bad.output
    name = run_cli("sandbox", "serve", "--port", "0", "--account", "Bad_Name")
    assert name.exit_code == 3 and "--account" in name.output


@pytest.mark.parametrize("latency", ["fast", "150-50ms", "-5ms", "1h"])
def test_serve_rejects_a_bad_latency(run_cli, latency):
    result = run_cli("sandbox", "serve", "--port", "0", "--latency", latency)
    assert result.exit_code == 3 and "--latency" in result.output and "Traceback" not in result.output


def test_serve_rejects_a_rate_tolerance_out_of_range(run_cli):
    result = run_cli("sandbox", "serve", "--port", "0", "--rate-tolerance", "2000")
    assert result.exit_code == 3 and "--rate-tolerance" in result.output


def test_create_account_then_token(run_cli, tmp_path):
    db = tmp_path / "s.db"
    created = run_cli("sandbox", "create-account", "shop", "--db", db)
    assert created.exit_code == 0 and "/amocrm/shop" in created.output
    assert run_cli("sandbox", "create-account", "shop", "--db", db).exit_code == 3      # exists already
    token = run_cli("sandbox", "token", "shop", "--db", db)
    assert token.exit_code == 0
    printed = token.output.strip()
    rows = Store(db).query("SELECT token FROM tokens WHERE kind='long_lived'")
    assert [r["token"] for r in rows] == [printed]


def test_token_needs_an_existing_database_and_account(run_cli, tmp_path):
    missing = run_cli("sandbox", "token", "shop", "--db", tmp_path / "none.db")
    assert missing.exit_code == 3 and "none.db" in missing.output
    db = tmp_path / "s.db"
    run_cli("sandbox", "create-account", "shop", "--db", db)
    unknown = run_cli("sandbox", "token", "other", "--db", db)
    assert unknown.exit_code == 3 and "other" in unknown.output


def test_seed_calls_the_seed_helper(run_cli, tmp_path):
    pytest.importorskip("implkit.sandbox.amocrm.seed", reason="the seed helper is written by another engineer")
    db = tmp_path / "s.db"
    result = run_cli("sandbox", "seed", "shop", "--db", db, "--contacts", "20", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert Store(db).query("SELECT count(*) FROM contacts")[0][0] >= 20
    again = run_cli("sandbox", "seed", "shop", "--db", db, "--contacts", "20")
    assert again.exit_code == 3 and "shop" in again.output          # refuses to seed twice


def test_serve_announces_urls_and_how_to_get_a_token_but_no_token(tmp_path, run_cli):
    db = tmp_path / "s.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "implkit", "sandbox", "serve", "--port", "0", "--db", str(db),
                                "--account", "north", "--account", "south"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        deadline = time.monotonic() + 20
        while not any(line.startswith("stop with") for line in lines) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        output = "\n".join(lines)
        assert "/amocrm/north" in output and "/amocrm/south" in output
        assert "implkit sandbox token SUBDOMAIN --db" in output and "/_sandbox/SUBDOMAIN/token" in output
        assert "answers take 50-150 ms" in output and "tolerance 50 ms" in output  # serve's realistic defaults
        assert Store(db).query("SELECT count(*) FROM tokens")[0][0] == 0                    # none issued, none shown
        base = next(line.split()[1] for line in lines if line.startswith("north:"))
        token = run_cli("sandbox", "token", "north", "--db", db).output.strip()
        answer = httpx.get(f"{base}/api/v4/account", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["subdomain"] == "north"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert process.returncode == 0


def test_control_api_accounts_tokens_log_and_reset(harness):
    control = harness.client()
    created = control.post("/_sandbox/accounts", json={"subdomain": "gamma", "name": "Гамма"})
    assert created.status_code == 201 and created.json()["base_path"] == "/amocrm/gamma"
    assert control.post("/_sandbox/accounts", json={"subdomain": "gamma"}).status_code == 400
    assert control.post("/_sandbox/accounts", json={"subdomain": "Not Valid"}).status_code == 400
    assert [a["subdomain"] for a in control.get("/_sandbox/accounts").json()] == ["gamma"]
    token = control.post("/_sandbox/gamma/token").json()["access_token"]
    api = harness.client("gamma", token)
    lead = api.post("/leads", json=[{"name": "x"}]).json()["_embedded"]["leads"][0]["id"]
    log = control.get("/_sandbox/gamma/requests").json()
    assert [(e["method"], e["status"], e["entities_written"]) for e in log] == [("POST", 200, 1)]
    assert control.get("/_sandbox/gamma/requests", params={"since": log[-1]["seq"]}).json() == []
    assert control.get("/_sandbox/gamma/requests", params={"since": "x"}).status_code == 400
    wiped = control.post("/_sandbox/gamma/reset", params={"data": "1"})
    assert wiped.status_code == 200 and wiped.json()["data_reset"] is True
    assert control.get("/_sandbox/gamma/requests").json() == []
    assert api.get(f"/leads/{lead}").status_code == 404                # data gone, token still valid
    assert api.get("/account").json()["name"] == "Гамма"
    assert len(api.get("/leads/pipelines").json()["_embedded"]["pipelines"]) == 1
    assert control.post("/_sandbox/nobody/token").status_code == 404


def test_control_api_clock_expires_tokens(harness):
    harness.sandbox.create_account("alpha")
    info = harness.client().post("/_sandbox/alpha/oauth").json()
    assert {"client_id", "client_secret", "redirect_uri", "code"} <= set(info)
    pair = harness.client("alpha", api=False).post("/oauth2/access_token", json={
        "client_id": info["client_id"], "client_secret": info["client_secret"], "grant_type": "authorization_code",
        "code": info["code"], "redirect_uri": info["redirect_uri"]}).json()
    api = harness.client("alpha", pair["access_token"])
    assert api.get("/account").status_code == 200
    assert harness.client().post("/_sandbox/clock", json={"advance": 86401}).status_code == 200
    assert api.get("/account").status_code == 401


def test_seed_refuses_zero_contacts(run_cli, tmp_path):
    result = run_cli("sandbox", "seed", "shop", "--db", tmp_path / "s.db", "--contacts", "0")
    assert result.exit_code == 3 and "--contacts" in result.output


def test_control_api_rejects_bad_bodies(harness):
    harness.sandbox.create_account("alpha")
    control = harness.client()
    assert control.put("/_sandbox/alpha/faults", json={"spec": "drop=0.1", "seed": "x"}).status_code == 400
    assert control.put("/_sandbox/alpha/faults", content=b"{oops").status_code == 400
    assert control.post("/_sandbox/accounts", content=b"[1]").status_code == 400
    assert control.post("/_sandbox/clock", json={"advance": "soon"}).status_code == 400
    assert control.get("/_sandbox/nowhere").status_code == 404


def test_another_emulator_can_be_mounted_beside_amocrm(harness):
    from starlette.responses import PlainTextResponse

    async def other(scope, receive, send):
        await PlainTextResponse(f"other:{scope['path']}")(scope, receive, send)

    harness.sandbox.app.mount("/bitrix24", other)
    answer = harness.client().get("/bitrix24/portal/rest/profile.json")
    assert answer.status_code == 200 and answer.text.startswith("other:")
    assert harness.client().get("/_sandbox/accounts").status_code == 200
