"""`implkit sandbox bitrix24 ...`: everything the demo does to a portal, from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx

from implkit.sandbox.store import Store


def test_create_seed_webhook_oauth_app(run_cli, tmp_path):
    db, truth, hook, app = (tmp_path / n for n in ("s.db", "truth.json", "hook.txt", "app.json"))
    created = run_cli("sandbox", "bitrix24", "create", "acme", "--db", db, "--enterprise")
    assert created.exit_code == 0 and "/bitrix24/acme" in created.output and "enterprise" in created.output
    seeded = run_cli("sandbox", "bitrix24", "seed", "acme", "--db", db, "--deals", "120", "--seed", "3",
                     "--ground-truth", truth)
    assert seeded.exit_code == 0, seeded.output
    ground = json.loads(truth.read_text())
    assert ground["portal"] == "acme" and ground["counts"]["deals"] == 120
    assert Store(db).query("SELECT count(*) FROM b24_crm WHERE entity_type_id=2")[0][0] == 120
    printed = run_cli("sandbox", "bitrix24", "webhook", "acme", "--db", db, "--url", "http://127.0.0.1:9")
    assert printed.exit_code == 0
    secrets = [r["secret"] for r in Store(db).query("SELECT secret FROM b24_credentials WHERE kind='webhook' ORDER BY rowid")]
    assert printed.output.strip() == f"http://127.0.0.1:9/bitrix24/acme/rest/1/{secrets[0]}/"
    masked = run_cli("sandbox", "bitrix24", "webhook", "acme", "--db", db, "--secret-file", hook)
    assert masked.exit_code == 0 and "/rest/1/***/" in masked.output
    secrets = [r["secret"] for r in Store(db).query("SELECT secret FROM b24_credentials WHERE kind='webhook' ORDER BY rowid")]
    assert hook.read_text().strip() == f"1/{secrets[1]}" and secrets[1] not in masked.output
    assert oct(hook.stat().st_mode & 0o777) == "0o600"
    installed = run_cli("sandbox", "bitrix24", "oauth-app", "acme", "--db", db, "-o", app)
    assert installed.exit_code == 0
    tokens = json.loads(app.read_text())
    assert tokens["client_endpoint"] == "/bitrix24/acme/rest/" and tokens["access_token"] not in installed.output
    printed_app = run_cli("sandbox", "bitrix24", "oauth-app", "acme", "--db", db, "--client-id", "local.other")
    assert json.loads(printed_app.output)["client_id"] == "local.other"


def test_bad_input_is_exit_3_and_writes_nothing(run_cli, tmp_path):
    db = tmp_path / "s.db"
    missing = run_cli("sandbox", "bitrix24", "webhook", "acme", "--db", tmp_path / "none.db")
    assert missing.exit_code == 3 and "none.db" in missing.output and not (tmp_path / "none.db").exists()
    bad_name = run_cli("sandbox", "bitrix24", "create", "Bad_Name", "--db", db)
    assert bad_name.exit_code == 3 and "Bad_Name" in bad_name.output
    assert run_cli("sandbox", "bitrix24", "create", "acme", "--db", db).exit_code == 0
    again = run_cli("sandbox", "bitrix24", "create", "acme", "--db", db)
    assert again.exit_code == 3 and "already exists" in again.output
    unknown = run_cli("sandbox", "bitrix24", "webhook", "other", "--db", db)
    assert unknown.exit_code == 3 and "'other'" in unknown.output
    no_user = run_cli("sandbox", "bitrix24", "webhook", "acme", "--db", db, "--user", "42")
    assert no_user.exit_code == 3 and "--user" in no_user.output
    assert Store(db).query("SELECT count(*) FROM b24_credentials")[0][0] == 0
    assert run_cli("sandbox", "bitrix24", "seed", "acme", "--db", db, "--deals", "5").exit_code == 0
    twice = run_cli("sandbox", "bitrix24", "seed", "acme", "--db", db, "--deals", "5")
    assert twice.exit_code == 3 and "already has CRM records" in twice.output
    assert Store(db).query("SELECT count(*) FROM b24_crm WHERE entity_type_id=2")[0][0] == 5
    faults = run_cli("sandbox", "bitrix24", "serve", "--db", db, "--port", "0", "--faults", "drop=3")
    assert faults.exit_code == 3 and "--faults" in faults.output
    portal = run_cli("sandbox", "bitrix24", "serve", "--db", db, "--port", "0", "--portal", "Bad_Name")
    assert portal.exit_code == 3 and "--portal" in portal.output


def test_serve_answers_the_seeded_portal_over_tcp(run_cli, tmp_path):
    db, hook, truth = tmp_path / "s.db", tmp_path / "hook.txt", tmp_path / "truth.json"
    run_cli("sandbox", "bitrix24", "seed", "acme", "--db", db, "--deals", "60", "--seed", "5", "--ground-truth", truth)
    run_cli("sandbox", "bitrix24", "webhook", "acme", "--db", db, "--secret-file", hook)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "implkit", "sandbox", "bitrix24", "serve", "--db", str(db),
                                "--port", "0", "--portal", "second"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while not any(line.startswith("stop with") for line in lines) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        output = "\n".join(lines)
        assert "/bitrix24/acme" in output and "/bitrix24/second" in output, output
        assert hook.read_text().strip().split("/")[1] not in output                 # no secret announced
        base = next(line.split()[1] for line in lines if line.startswith("acme:"))
        body = httpx.post(f"{base}/rest/{hook.read_text().strip()}/crm.deal.list", json={"select": ["ID"]}).json()
        assert body["total"] == json.loads(truth.read_text())["counts"]["deals"] == 60
        refused = httpx.post(f"{base}/rest/1/not-the-secret/crm.deal.list")
        assert refused.status_code == 401 and refused.json()["error"] == "INVALID_CREDENTIALS"
    finally:
        process.terminate()
        process.wait(10)
