"""A Directum RX tenant end to end over a real loopback server: sandbox instance → tenant add →
plan (manual rows only, exit 2) → apply (writes nothing, says why) → drift → sync → audit, whose
X-checks find exactly the seeded defects (precision and recall 1.0 against the seeder's ground truth).

The password must appear in no output, plan, state, snapshot or workspace file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from implkit.data import blueprints_dir
from implkit.sandbox.directum.seed import seed_instance

PRESET = blueprints_dir() / "presets" / "retail.yaml"


@pytest.fixture
def served(tmp_path, run_cli):
    from implkit.sandbox import Sandbox, serve_in_thread

    sandbox = Sandbox(tmp_path / "sandbox.db")
    created = sandbox.create_directum("rx")
    truth = seed_instance(sandbox.store, created["id"], companies=45, persons=12, seed=11)
    with serve_in_thread(sandbox) as root:
        ws = tmp_path / "ws"
        env = {"RX_CREDENTIALS": f"{created['login']}:{created['password']}"}
        assert run_cli("init", str(ws)).exit_code == 0
        added = run_cli("tenant", "add", "rx", "--workspace", ws, "--provider", "directum",
                        "--url", f"{root}/directum/rx/Integration", "--token-env", "RX_CREDENTIALS",
                        "--blueprint", PRESET, env=env)
        assert added.exit_code == 0, added.output

        def cli(*args):
            return run_cli(*args, "--workspace", ws, env=env)

        yield cli, created, ws, sandbox, truth
    sandbox.close()


def _all_text(ws: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in ws.rglob("*") if p.is_file())


def test_directum_tenant_end_to_end(served, tmp_path):
    cli, created, ws, sandbox, truth = served
    outputs = []

    plan = cli("plan", "rx", "--json")
    outputs.append(plan.output)
    assert plan.exit_code == 2, plan.output
    body = json.loads(plan.output)
    assert body["changes"] == [] and body["manual"]
    addresses = {row["address"] for row in body["manual"]}
    assert any(a.startswith("pipeline.") for a in addresses) and any(a.startswith("field.") for a in addresses)
    assert "manual.directum.endpoint" in addresses or "directum.endpoint" in addresses
    text_plan = cli("plan", "rx")
    outputs.append(text_plan.output)
    assert "DDS" in text_plan.output

    before = sandbox.store.query("SELECT count(*) FROM request_log WHERE method <> 'GET'")[0][0]
    applied = cli("apply", "rx", "--yes")
    outputs.append(applied.output)
    assert applied.exit_code == 0 and "Nothing was written" in applied.output, applied.output
    assert sandbox.store.query("SELECT count(*) FROM request_log WHERE method <> 'GET'")[0][0] == before == 0
    drift = cli("drift", "rx")
    outputs.append(drift.output)
    assert drift.exit_code == 0, drift.output

    exported = tmp_path / "exported.yaml"
    done = cli("export", "rx", "-o", exported)
    outputs.append(done.output + exported.read_text(encoding="utf-8"))
    assert done.exit_code == 0, done.output
    text = exported.read_text(encoding="utf-8")
    assert "#   ICompanies (Sungero.IntegrationService.Models.Generated.Parties.ICompanyDto):" in text
    assert "TRRC" in text and "pipelines" not in text
    replanned = cli("plan", "rx", "-b", exported, "--json")
    assert json.loads(replanned.output)["changes"] == []

    synced = cli("sync", "rx")
    outputs.append(synced.output)
    assert synced.exit_code == 0, synced.output
    assert "full read" in synced.output
    logged = sandbox.store.query("SELECT path, status FROM request_log WHERE client IS NOT NULL "
                                 "AND path LIKE '%/odata/I%'")
    requests = int(synced.output.split(" requests")[0].rsplit(", ", 1)[1])
    assert requests == len([r for r in logged if "ICounterparties" in r["path"] or "IContacts" in r["path"]
                            or "IEmployees" in r["path"]])
    assert all("%24filter=Id+gt+" in r["path"] or "$filter=Id gt" in r["path"] for r in logged)
    assert {r["status"] for r in logged} <= {200, 204}

    audited = cli("audit", "rx", "--format", "json")
    outputs.append(audited.output)
    assert audited.exit_code == 2, audited.output
    report = json.loads(audited.output)
    findings = {f["id"]: f for f in report["findings"]}
    for check_id, planted in truth["defects"].items():
        finding = findings[check_id]
        assert finding["status"] == "fail", (check_id, finding)
        # all failing records: the examples are capped, so ask the snapshot-side count too
        assert finding["count"] == len(planted["ids"]), (check_id, finding["count"], len(planted["ids"]))
    unplanted = [cid for cid, f in findings.items() if cid.startswith("X") and cid not in truth["defects"]]
    assert all(findings[c]["status"] == "pass" for c in unplanted)
    assert all(f["status"] == "unsupported" for cid, f in findings.items() if not cid.startswith("X"))
    dup = findings["X01"]["details"]["duplicate_groups"]
    assert {(g["keep"], *g["merge"]) for g in dup} <= {tuple(g) for g in truth["defects"]["X01"]["groups"]}

    assert created["password"] not in "\n".join(outputs)
    assert created["password"] not in _all_text(ws)


def test_precision_and_recall_are_one(served):
    """Every failing id equals the planted ids, check by check (not only the counts)."""
    from implkit.audit import SNAPSHOT_FILE
    from implkit.audit.checks import load_checks
    from implkit.audit.engine import AuditOptions, run_checks
    from implkit.audit.snapshot import Snapshot

    cli, created, ws, sandbox, truth = served
    assert cli("sync", "rx").exit_code == 0
    snapshot_path = next(ws.rglob(SNAPSHOT_FILE))
    with Snapshot(snapshot_path) as snapshot:
        run = run_checks(snapshot, [c for c in load_checks() if c.id.startswith("X")],
                         AuditOptions(crm="directum"), workers=1)
    for result in run.results:
        found = {r.id for r in result.failing}
        planted = set(truth["defects"].get(result.check.id, {"ids": []})["ids"])
        true_positive = len(found & planted)
        precision = true_positive / len(found) if found else 1.0
        recall = true_positive / len(planted) if planted else 1.0
        assert (precision, recall) == (1.0, 1.0), (result.check.id, sorted(found - planted), sorted(planted - found))


def test_bad_credentials_and_url(served, run_cli, tmp_path):
    cli, created, ws, sandbox, truth = served
    wrong = run_cli("sync", "rx", "--workspace", ws, env={"RX_CREDENTIALS": f"{created['login']}:nope"})
    assert wrong.exit_code == 1 and "401" in wrong.output and "nope" not in wrong.output
    malformed = run_cli("sync", "rx", "--workspace", ws, env={"RX_CREDENTIALS": "no-colon"})
    assert malformed.exit_code == 3 and "LOGIN:PASSWORD" in malformed.output
    piped = run_cli("tenant", "add", "rx2", "--workspace", ws, "--provider", "directum", "--url",
                    "https://rx.example/Integration", "--keyring", input="no-colon\n")
    assert piped.exit_code == 3 and "rx2" not in (ws / "implkit.yaml").read_text()
