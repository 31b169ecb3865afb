"""`implkit audit diff`: records fixed and broken through the CRM's API between two audits are reported
exactly as fixed and new; the rest as still open. Also the section every audit report carries."""

from __future__ import annotations

import csv
import io
import json

import pytest

from implkit.audit import AuditOptions, run_audit
from implkit.audit.diff import audit_diff, render_diff
from implkit.audit.history import History
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.amocrm.records import AmoRecords

HOUR = 3600


@pytest.fixture
def seeded(sync_rig, tmp_path):
    """A seeded sandbox account synced and audited once."""
    seed = pytest.importorskip("implkit.sandbox.amocrm.seed")
    truth = seed.seed_account(sync_rig.sandbox.store, sync_rig.account_id, contacts=60, seed=3,
                              now=int(sync_rig.clock.now())).ground_truth
    http = sync_rig.http()
    paths = {"snapshot": tmp_path / "snapshot.sqlite", "history": tmp_path / "history.sqlite"}

    def sync_and_audit(fmt: str = "json", lang: str = "ru"):
        with Snapshot(paths["snapshot"]) as snap:
            sync_snapshot(AmoRecords(http), snap, clock=sync_rig.clock.now)
        return run_audit(paths["snapshot"], paths["history"], tenant="acme", options=AuditOptions(), fmt=fmt,
                         lang=lang, clock=sync_rig.clock.now)

    first = sync_and_audit()
    return truth, http, paths, sync_and_audit, first


def _lost_with_reason(paths, n: int) -> list[int]:
    with Snapshot(paths["snapshot"]) as snap:
        return [r[0] for r in snap.query("SELECT id FROM leads WHERE status_id = 143 AND loss_reason_id > 0"
                                         " ORDER BY id LIMIT ?", (n,))]


def _open_tasks_due_later(paths, n: int) -> list[int]:
    with Snapshot(paths["snapshot"]) as snap:
        now = snap.snapshot_at
        return [r[0] for r in snap.query("SELECT id FROM tasks WHERE is_completed = 0 AND complete_till > ? + 86400"
                                         " ORDER BY id LIMIT ?", (now, n))]


def test_diff_reports_exactly_the_records_fixed_and_broken_through_the_api(seeded, sync_rig):
    truth, http, paths, sync_and_audit, first = seeded
    d08 = set(truth["defects"]["D08"]["ids"])
    t01 = set(truth["defects"]["T01"]["ids"])
    assert d08 and len(t01) >= 2
    first_ids = {f["id"]: {r["id"] for r in f.get("records") or ()} for f in first.report["findings"]}
    assert first_ids["D08"] == d08 and first_ids["T01"] == t01  # the audit agrees with the seeder first

    fixed_lead = sorted(d08)[0]
    broken_leads = _lost_with_reason(paths, 2)
    fixed_task = sorted(t01)[0]
    broken_task = _open_tasks_due_later(paths, 1)[0]
    reason = truth.get("loss_reasons", [None])[0] if isinstance(truth.get("loss_reasons"), list) else None
    reason = reason or http.get("/api/v4/leads/loss_reasons")["_embedded"]["loss_reasons"][0]["id"]
    sync_rig.clock.advance(60)  # a minute: no record crosses a time threshold on its own (seed 3, checked)
    http.patch("/api/v4/leads", json=[{"id": fixed_lead, "loss_reason_id": reason},
                                      *({"id": i, "loss_reason_id": None} for i in broken_leads)])
    http.patch("/api/v4/tasks", json=[{"id": fixed_task, "is_completed": True,
                                       "result": {"text": "Готово"}},
                                      {"id": broken_task, "complete_till": int(sync_rig.clock.now()) - HOUR}])
    sync_rig.clock.advance(60)
    second = sync_and_audit()

    diff = second.report["diff"]
    by_check = {c["id"]: c for c in diff["checks"]}
    assert by_check["D08"]["new"] == {"count": 2, "ids": [str(i) for i in sorted(broken_leads)]}
    assert by_check["D08"]["fixed"] == {"count": 1, "ids": [str(fixed_lead)]}
    assert by_check["D08"]["still_open"]["count"] == len(d08) - 1
    assert by_check["T01"]["new"]["ids"] == [str(broken_task)]
    assert by_check["T01"]["fixed"]["ids"] == [str(fixed_task)]
    assert by_check["T01"]["still_open"]["ids"] == [str(i) for i in sorted(t01 - {fixed_task})]
    with Snapshot(paths["snapshot"]) as snap:  # a task's deal changes with it (D01: an open deal with no task)
        parents = [r[0] for r in snap.query("SELECT entity_id FROM tasks WHERE id IN (?, ?)", (fixed_task, broken_task))]
    touched = {str(i) for i in (fixed_lead, *broken_leads, fixed_task, broken_task, *parents)}
    for check in diff["checks"]:  # nothing else moved but what the API touched
        moved = set(check["new"]["ids"]) | set(check["fixed"]["ids"])
        assert moved <= touched, (check["id"], moved - touched)
    # the same, read back by the command's own path from the history alone
    history = History(paths["history"])
    try:
        again = audit_diff(history, check_entities={"D08": "leads", "T01": "tasks"})
    finally:
        history.close()
    assert {c["id"]: c["new"] for c in again["checks"]}["D08"] == by_check["D08"]["new"]
    totals = diff["totals"]
    assert totals["new"] == sum(c["new"]["count"] for c in diff["checks"])
    # csv lists every id with its change
    rows = list(csv.reader(io.StringIO(render_diff(diff, "csv", "en", "acme"))))
    assert rows[0] == ["check", "change", "entity", "id"]
    assert sorted(r[3] for r in rows if r[0] == "D08" and r[1] == "new") == sorted(map(str, broken_leads))
    assert {(r[2]) for r in rows if r[0] == "D08"} == {"leads"}


def test_every_report_format_carries_the_section(seeded, sync_rig):
    *_, sync_and_audit, first = seeded
    assert first.report["diff"]["before"] is None
    sync_rig.clock.advance(60)
    for fmt, heading in (("table", "Изменения с прошлого аудита"), ("md", "## Изменения с прошлого аудита"),
                         ("html", "<h2>Изменения с прошлого аудита")):
        text = sync_and_audit(fmt=fmt).text
        assert heading in text and "Новых: 0, исправлено: 0" in text
    english = sync_and_audit(fmt="md", lang="en").text
    assert "## Changes since the previous audit" in english and "New: 0, fixed: 0" in english
    report = json.loads(sync_and_audit(fmt="json").text)
    assert report["diff"]["totals"]["new"] == 0 and report["diff"]["totals"]["still_open"] > 0


def test_diff_command(run_cli, tmp_path):
    """`implkit audit diff` on a workspace: no history, one audit, two audits with one record fixed."""
    from audit_support import build_snapshot

    from implkit.workspace import CredentialSource, init_workspace

    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    path = ws.tenant_dir("acme") / "snapshot.sqlite"
    build_snapshot(path, {"leads": [{"id": 1, "status_id": 143}, {"id": 2, "status_id": 143}]}).close()
    where = ("--workspace", tmp_path / "ws")
    none = run_cli("audit", "diff", "acme", *where)
    assert none.exit_code == 0 and "Аудитов ещё нет" in none.output
    assert run_cli("audit", "acme", *where, "--checks", "D08").exit_code == 2
    once = run_cli("audit", "diff", "acme", *where, "--lang", "en")
    assert once.exit_code == 0 and "first audit" in once.output
    path.unlink()
    build_snapshot(path, {"leads": [{"id": 1, "status_id": 143, "loss_reason_id": 5}, {"id": 2, "status_id": 143},
                                    {"id": 3, "status_id": 143}]}).close()
    run_cli("audit", "acme", *where, "--checks", "D08")
    result = run_cli("audit", "diff", "acme", *where, "--format", "json")
    assert result.exit_code == 2  # something new
    d08 = json.loads(result.output)["checks"][0]
    assert (d08["id"], d08["new"]["ids"], d08["fixed"]["ids"], d08["still_open"]["ids"]) == ("D08", ["3"], ["1"], ["2"])
    table = run_cli("audit", "diff", "acme", *where).output
    assert "D08" in table and "новые" in table
    assert run_cli("audit", "diff", "nobody", *where).exit_code == 3
