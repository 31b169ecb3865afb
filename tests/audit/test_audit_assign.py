"""`implkit audit assign`: one CRM task per failing record and check on the responsible user, none twice,
the tasks of fixed findings closed — on the amoCRM and Bitrix24 sandboxes, with their request logs read."""

from __future__ import annotations

import contextlib
import math

import pytest

from implkit.audit import AuditOptions, load_checks
from implkit.audit.assign import (AmoTaskWriter, AssignmentStore, B24TodoWriter, apply_plan, plan_assignments,
                                  render_plan)
from implkit.audit.engine import run_checks
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.amocrm.records import AmoRecords

CHECKS = ("D08", "T01", "D01", "U02", "C11", "D02")


def _plan(path, store, crm="amocrm", close_fixed=False, only=CHECKS):
    with Snapshot(path) as snap:
        run = run_checks(snap, load_checks(), AuditOptions(crm=crm, only=only))
        return run, plan_assignments(run, snap, store, lang="ru", close_fixed=close_fixed)


def _expected(run, path):
    """(check, entity, id) → (card entity, card id, responsible) for every failing record whose responsible is
    active, from the snapshot's own rows (a task's card is its parent)."""
    with Snapshot(path) as snap:
        active = {r[0] for r in snap.query("SELECT id FROM users WHERE is_active = 1")}
        parents = {r[0]: (r[1], r[2]) for r in snap.query("SELECT id, entity_type, entity_id FROM tasks")}
    out = {}
    for result in run.results:
        if not result.ran or result.check.entity in ("users", "custom_fields") or result.check.id in ("D01", "C07"):
            continue
        for ref in result.failing:
            if ref.responsible_user_id in active:
                card = parents[ref.id] if ref.entity == "tasks" else (ref.entity, ref.id)
                out[(result.check.id, ref.entity, str(ref.id))] = (*card, ref.responsible_user_id)
    return out


def test_amocrm_tasks_once_per_finding_and_closed_when_fixed(sync_rig, tmp_path):
    seed = pytest.importorskip("implkit.sandbox.amocrm.seed")
    truth = seed.seed_account(sync_rig.sandbox.store, sync_rig.account_id, contacts=60, seed=3,
                              now=int(sync_rig.clock.now())).ground_truth
    http = sync_rig.http()
    path = tmp_path / "snapshot.sqlite"

    def sync():
        with Snapshot(path) as snap:
            sync_snapshot(AmoRecords(http), snap, clock=sync_rig.clock.now)

    sync()
    store = AssignmentStore(tmp_path / "assignments.sqlite")
    run, plan = _plan(path, store)
    expected = _expected(run, path)
    assert len(expected) > 50 and {k[0] for k in expected} == {"D08", "T01", "C11", "D02"}  # two POSTs of <= 50
    assert {(a.check_id, a.entity, str(a.record_id)) for a in plan.create} == set(expected)
    # a user has no card to carry a task; a deal with no open task would look fixed by the audit's own task
    reasons = {(a.check_id, a.reason) for a in plan.skipped}
    assert ("U02", "у записи этого типа нет карточки для задачи") in reasons
    assert ("D01", "задача от аудита сама скрыла бы нарушение") in reasons
    assert {r for _, r in reasons} <= {"у записи этого типа нет карточки для задачи",
                                       "задача от аудита сама скрыла бы нарушение", "нет активного ответственного"}
    assert "сделка" in render_plan(plan, "ru") and "Создать задач" in render_plan(plan, "ru")

    before = sync_rig.log()[-1]["seq"]
    now = int(sync_rig.clock.now())
    created, closed = apply_plan(plan, store, AmoTaskWriter(http), due=now + 2 * 86400, at=now)
    log = sync_rig.log(before)
    # a 429 (the account's rate limit, refused before any write) may be retried; nothing else is sent
    assert {r["status"] for r in log} <= {200, 429}
    posts = [r for r in log if r["status"] == 200]
    assert created == len(expected) and closed == 0
    assert all(r["method"] == "POST" and r["path"].endswith("/api/v4/tasks") for r in log)
    assert len(posts) == math.ceil(len(expected) / 50)
    assert sum(r["entities_written"] or 0 for r in log) == len(expected)
    tasks = {int(r["task_id"]): http.get(f"/api/v4/tasks/{r['task_id']}") for r in store.open_tasks()}
    for row in store.open_tasks():
        task = tasks[int(row["task_id"])]
        entity, card, user = expected[(row["check_id"], row["entity"], row["record_id"])]
        assert (task["entity_type"], task["entity_id"], task["responsible_user_id"]) == (entity, card, user)
        assert task["complete_till"] == now + 2 * 86400 and row["check_id"] in task["text"]
    d08 = next(t for t in tasks.values() if "D08" in t["text"])
    assert "Что сделать: Сделать причину отказа обязательной" in d08["text"]

    # a second run creates nothing
    _, again = _plan(path, store)
    assert not again.create and again.already_open == len(expected)

    # fix one D08 deal through the API; the next audit no longer reports it: its task is closed
    fixed = sorted(truth["defects"]["D08"]["ids"])[0]
    reason = http.get("/api/v4/leads/loss_reasons")["_embedded"]["loss_reasons"][0]["id"]
    sync_rig.clock.advance(60)
    http.patch("/api/v4/leads", json=[{"id": fixed, "loss_reason_id": reason}])
    sync_rig.clock.advance(60)
    sync()
    _, closing = _plan(path, store, close_fixed=True)
    assert [(r["check_id"], r["record_id"]) for r in closing.close] == [("D08", str(fixed))]
    assert not closing.create
    before = sync_rig.log()[-1]["seq"]
    apply_plan(closing, store, AmoTaskWriter(http), due=now, at=now)
    patches = [r for r in sync_rig.log(before) if r["method"] == "PATCH" and r["status"] == 200]
    assert len(patches) == 1 and patches[0]["path"].endswith("/api/v4/tasks")
    task = http.get(f"/api/v4/tasks/{closing.close[0]['task_id']}")
    assert task["is_completed"] is True
    assert ("D08", "leads", str(fixed)) not in {(r["check_id"], r["entity"], r["record_id"]) for r in store.open_tasks()}
    store.close()


@contextlib.contextmanager
def _seeded_portal(tmp_path):
    """A seeded Bitrix24 sandbox portal synced into a snapshot: (portal, ground truth, reader, snapshot path,
    sync() to sync it again), closed afterwards."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "providers_b24"))
    from b24p_rig import Portal

    from implkit.providers.bitrix24 import open_records
    from implkit.sandbox.bitrix24.seed import seed_portal

    portal = Portal(tmp_path)
    try:
        truth = seed_portal(portal.sandbox.store, portal.account_id, deals=300, seed=5).ground_truth
        reader = open_records(portal.base, portal.webhook, transport=portal.transport)
        path = tmp_path / "snapshot.sqlite"

        def sync():
            with Snapshot(path) as snap:
                sync_snapshot(reader, snap)
                snap.set_meta(snapshot_at=truth["now"])

        sync()
        yield portal, truth, reader, path, sync
    finally:
        portal.close()


def test_bitrix24_todos_once_per_finding_and_closed_when_fixed(tmp_path):
    with _seeded_portal(tmp_path) as (portal, truth, reader, path, sync):
        store = AssignmentStore(tmp_path / "assignments.sqlite")
        only = ("D03", "T01", "D02")
        run, plan = _plan(path, store, crm="bitrix24", only=only)
        expected = _expected(run, path)
        assert len(expected) > 3
        assert {(a.check_id, a.entity, str(a.record_id)) for a in plan.create} == set(expected)
        before = portal.last_seq()
        created, _ = apply_plan(plan, store, B24TodoWriter(reader.api), due=truth["now"] + 86400, at=truth["now"])
        log = portal.log(before)
        assert created == len(expected)
        # refused requests (the portal's rate limit) are retried; the ones answered are the batches
        assert [r["path"].rsplit("/", 1)[-1] for r in log if r["status"] == 200] == \
            ["batch"] * math.ceil(len(expected) / 50)
        from implkit.providers.bitrix24.transport import Command

        # read back through the paced API (the portal's 2/s limit refuses a burst of direct calls)
        rows = store.open_tasks()
        got = reader.api.batch([Command(f"g{i}", "crm.activity.get", {"id": int(r["task_id"])})
                                for i, r in enumerate(rows)])
        assert not got.errors
        for i, row in enumerate(rows):
            activity = got.results[f"g{i}"]
            entity, card, user = expected[(row["check_id"], row["entity"], row["record_id"])]
            owner_type = {"leads": "2", "contacts": "3", "companies": "4"}[entity]
            assert (activity["OWNER_TYPE_ID"], activity["OWNER_ID"], activity["RESPONSIBLE_ID"]) == \
                (owner_type, str(card), str(user))
            assert activity["PROVIDER_ID"] == "CRM_TODO" and row["check_id"] in activity["DESCRIPTION"]
        _, again = _plan(path, store, crm="bitrix24", only=only)
        assert not again.create and again.already_open == len(expected)

        # a finding fixed in the portal: its to-do is completed
        d02 = next(r for r in store.open_tasks() if r["check_id"] == "D02")
        tracked = {r["task_id"] for r in store.open_tasks()}
        done = []
        for activity in portal.call("crm.activity.list", {"filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": d02["owner_id"],
                                                                     "COMPLETED": "N"}})["result"]:
            if activity["ID"] not in tracked:  # the seller does the overdue work, not the audit's to-do
                portal.call("crm.activity.update", {"id": activity["ID"], "fields": {"COMPLETED": "Y"}})
                done.append(activity["ID"])
        assert done
        sync()
        _, closing = _plan(path, store, crm="bitrix24", only=only, close_fixed=True)
        overdue_done = {("T01", i) for i in done} & {(r["check_id"], r["record_id"]) for r in store.open_tasks()}
        assert {(r["check_id"], r["record_id"]) for r in closing.close} == {("D02", d02["record_id"])} | overdue_done
        before = portal.last_seq()
        apply_plan(closing, store, B24TodoWriter(reader.api), due=truth["now"], at=truth["now"])
        assert [r["path"].rsplit("/", 1)[-1] for r in portal.log(before) if r["status"] == 200] == ["batch"]
        activity = reader.api.result("crm.activity.get", {"id": int(d02["task_id"])})
        assert activity["COMPLETED"] == "Y"
        store.close()


def test_assign_command_plan_then_yes_then_nothing(run_cli, tmp_path):
    """The command a curator types against a served sandbox: exit 2 with a plan, --yes writes, a rerun is 0."""
    seed = pytest.importorskip("implkit.sandbox.amocrm.seed")
    from implkit.sandbox import Sandbox, serve_in_thread
    from implkit.workspace import CredentialSource, init_workspace

    sandbox = Sandbox(tmp_path / "sandbox.db")
    seed.seed_account(sandbox.store, sandbox.create_account("shop"), contacts=40, seed=2)
    with serve_in_thread(sandbox) as root:
        ws = init_workspace(tmp_path / "ws")
        ws.add_tenant("shop", provider="amocrm", url=root + sandbox.base_url("shop"),
                      credentials=CredentialSource("env", var="SHOP_TOKEN"))
        token = sandbox.token("shop")
        env = {"SHOP_TOKEN": token}
        where = ("--workspace", tmp_path / "ws")
        assert run_cli("sync", "shop", *where, env=env).exit_code == 0
        writes = lambda: [r for r in sandbox.request_log("shop") if r["method"] in ("POST", "PATCH")]  # noqa: E731
        before = len(writes())
        plan = run_cli("audit", "assign", "shop", *where, "--checks", "D08,T01", env=env)
        assert plan.exit_code == 2 and "создать" in plan.stdout and "--yes" in plan.stderr
        assert len(writes()) == before  # a plan writes nothing
        applied = run_cli("audit", "assign", "shop", *where, "--checks", "D08,T01", "--yes", "--lang", "en", env=env)
        assert applied.exit_code == 0 and "Tasks created:" in applied.stderr
        made = [r for r in writes()[before:] if r["path"].endswith("/api/v4/tasks")]
        assert len(made) == 1 and made[0]["entities_written"] == plan.stdout.count("создать")
        seen = len(sandbox.request_log("shop"))
        again = run_cli("audit", "assign", "shop", *where, "--checks", "D08,T01", env=env)
        assert again.exit_code == 0 and "создать" not in again.stdout
        # the rerun reads the tasks it made back (GET /api/v4/tasks, 50 ids a request) and writes nothing
        reread = sandbox.request_log("shop")[seen:]
        assert reread and {(r["method"], r["path"].split("?")[0].rsplit("/", 1)[-1]) for r in reread} == {("GET", "tasks")}
        assert token not in plan.output + applied.output + again.output
    sandbox.close()


@pytest.mark.parametrize("args, message", [
    (("--due", "soon"), "--due"),
    (("--checks", "Z99"), "unknown check"),
])
def test_assign_bad_input_exits_3_and_writes_nothing(run_cli, tmp_path, args, message):
    from audit_support import build_snapshot

    from implkit.workspace import CredentialSource, init_workspace

    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {"leads": [{"id": 1, "status_id": 143}]}).close()
    result = run_cli("audit", "assign", "acme", "--workspace", tmp_path / "ws", *args)
    assert result.exit_code == 3 and message in result.output
    assert not (ws.tenant_dir("acme") / "assignments.sqlite").exists()


def test_amocrm_tasks_closed_by_the_seller_are_read_back(sync_rig, tmp_path):
    """A task the seller completes in amoCRM is no longer open: read back (GETs only) before planning, listed
    as closed by the seller; its finding gets a new task only while the audit still reports it."""
    from implkit.sandbox.amocrm import seed
    truth = seed.seed_account(sync_rig.sandbox.store, sync_rig.account_id, contacts=60, seed=3,
                              now=int(sync_rig.clock.now())).ground_truth
    http = sync_rig.http()
    path = tmp_path / "snapshot.sqlite"

    def sync():
        with Snapshot(path) as snap:
            sync_snapshot(AmoRecords(http), snap, clock=sync_rig.clock.now)

    sync()
    store = AssignmentStore(tmp_path / "assignments.sqlite")
    writer = AmoTaskWriter(http)
    only = ("D08", "T01")
    _, plan = _plan(path, store, only=only)
    now = int(sync_rig.clock.now())
    apply_plan(plan, store, writer, due=now + 86400, at=now)
    made = {r["record_id"]: r["task_id"] for r in store.open_tasks()}
    # one deal lost without a reason (D08) the seller fixes; one overdue task (T01) the seller leaves overdue
    fixed = next(r["record_id"] for r in store.open_tasks() if r["check_id"] == "D08")
    still = next(r["record_id"] for r in store.open_tasks() if r["check_id"] == "T01")
    assert str(truth["defects"]["D08"]["ids"][0]) == fixed
    reason = http.get("/api/v4/leads/loss_reasons")["_embedded"]["loss_reasons"][0]["id"]
    sync_rig.clock.advance(60)
    http.patch("/api/v4/leads", json=[{"id": int(fixed), "loss_reason_id": reason}])  # the seller fixes one deal
    http.patch("/api/v4/tasks", json=[{"id": int(made[r]), "is_completed": True, "result": {"text": "Сделано"}}
                                      for r in (still, fixed)])  # and closes both tasks
    sync_rig.clock.advance(60)
    sync()

    before = sync_rig.log()[-1]["seq"]
    closed = writer.completed([r["task_id"] for r in store.open_tasks()])
    assert closed == {made[still], made[fixed]}
    assert {r["method"] for r in sync_rig.log(before)} == {"GET"}  # reading back writes nothing
    _, again = _plan(path, store, only=only, close_fixed=True)
    assert not again.create  # without the read-back both look open
    with Snapshot(path) as snap:
        run = run_checks(snap, load_checks(), AuditOptions(crm="amocrm", only=only))
        replan = plan_assignments(run, snap, store, lang="ru", close_fixed=True, closed_in_crm=closed)
    assert {(r["record_id"], r["still_failing"]) for r in replan.closed_by_seller} == {(still, True), (fixed, False)}
    assert [(a.check_id, str(a.record_id)) for a in replan.create] == [("T01", still)]
    assert replan.close == [] and replan.already_open == len(made) - 2
    text = render_plan(replan, "ru")
    assert "закрыта в CRM, нарушение осталось: новая задача" in text and "Закрыто продавцами в CRM: 2" in text

    before = sync_rig.log()[-1]["seq"]
    created, closed_now = apply_plan(replan, store, writer, due=now + 86400, at=now)
    assert (created, closed_now) == (1, 0)
    writes = [r for r in sync_rig.log(before) if r["status"] == 200]
    assert [(r["method"], r["path"].rsplit("/", 1)[-1], r["entities_written"]) for r in writes] == [("POST", "tasks", 1)]
    open_now = {r["record_id"]: r["task_id"] for r in store.open_tasks()}
    assert fixed not in open_now and open_now[still] != made[still]
    store.close()


def test_bitrix24_todos_closed_by_the_seller_are_read_back(tmp_path):
    with _seeded_portal(tmp_path) as (portal, truth, reader, path, sync):
        store = AssignmentStore(tmp_path / "assignments.sqlite")
        writer = B24TodoWriter(reader.api)
        _, plan = _plan(path, store, crm="bitrix24", only=("D03",))
        apply_plan(plan, store, writer, due=truth["now"] + 86400, at=truth["now"])
        rows = store.open_tasks()
        assert len(rows) >= 2
        done = rows[0]["task_id"]
        portal.call("crm.activity.update", {"id": done, "fields": {"COMPLETED": "Y"}})  # the seller's click
        before = portal.last_seq()
        closed = writer.completed([r["task_id"] for r in rows])
        assert closed == {str(done)}
        assert [r["path"].rsplit("/", 1)[-1] for r in portal.log(before) if r["status"] == 200] == ["batch"]
        with Snapshot(path) as snap:
            run = run_checks(snap, load_checks(), AuditOptions(crm="bitrix24", only=("D03",)))
            replan = plan_assignments(run, snap, store, lang="en", closed_in_crm=closed)
        # the seller closed the to-do but the deal is still stale: a new to-do, and the report says why
        assert [(r["task_id"], r["still_failing"]) for r in replan.closed_by_seller] == [(done, True)]
        assert [(a.check_id, str(a.record_id)) for a in replan.create] == [("D03", rows[0]["record_id"])]
        assert "closed in the CRM, still failing: a new task" in render_plan(replan, "en")
        store.close()


def test_assign_refused_by_the_blueprint(run_cli, tmp_path):
    """`audit: {assign: false}` in the tenant's blueprint: exit 3 naming the setting's file:line:column,
    no request sent, nothing written."""
    from audit_support import build_snapshot

    from implkit.workspace import CredentialSource, init_workspace

    blueprint = tmp_path / "bp.yaml"
    blueprint.write_text("apiVersion: implkit/v1\nkind: Blueprint\nmetadata: {name: shop, version: 1.0.0}\n"
                         "audit:\n  assign: false\n", encoding="utf-8")
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme", blueprint=str(blueprint),
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {"leads": [{"id": 1, "status_id": 143}]}).close()
    for args in ((), ("--yes",)):
        result = run_cli("audit", "assign", "acme", "--workspace", tmp_path / "ws", *args, env={"ACME_TOKEN": "t"})
        assert result.exit_code == 3, result.output
        assert f"{blueprint}:5:3" in result.output and "audit.assign: false" in result.output
        assert "Traceback" not in result.output
    assert not (ws.tenant_dir("acme") / "assignments.sqlite").exists()
    english = run_cli("audit", "assign", "acme", "--workspace", tmp_path / "ws", "--lang", "en")
    assert english.exit_code == 3 and "no tasks are created in this CRM" in english.output
