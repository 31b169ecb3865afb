"""The incremental sync never goes stale (amoCRM): after each scenario an incremental snapshot equals a
fresh full one of the same account at the same moment.

Scenarios a real account produces and a "clean" seed does not: a record whose `updated_at` lies in the
future (settable on write, reference/amocrm-api.md §7.5), links changed through `/link` without touching
the deal's `updated_at`, deletions.
"""

from __future__ import annotations

import pytest

from implkit.audit.checks import load_checks
from implkit.audit.engine import AuditOptions, run_checks
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.amocrm.records import AmoRecords

HOUR, YEAR = 3600, 365 * 86400


def _sync(rig, http, snapshot, **kw):
    return sync_snapshot(AmoRecords(http), snapshot, clock=rig.clock.now, requests=lambda: http.stats.total, **kw)


def _same_as_a_fresh_full_sync(rig, http, snapshot, tmp_path) -> None:
    with Snapshot(tmp_path / "fresh.sqlite") as fresh:
        _sync(rig, http, fresh, full=True)
        ours, theirs = snapshot.contents(), fresh.contents()
    for table in theirs:
        assert ours[table] == theirs[table], table


def _leads(http, n: int, **fields) -> list[int]:
    return [x["id"] for x in http.post("/api/v4/leads", json=[{"name": f"Сделка {i}", "price": 100 + i, **fields}
                                                              for i in range(n)])["_embedded"]["leads"]]


def test_an_edit_after_a_future_dated_record_reaches_the_snapshot_incrementally(sync_rig, tmp_path):
    http = sync_rig.http(rate=6.0)
    now = int(sync_rig.clock.now())
    lead_ids = _leads(http, 20)
    # an import sets updated_at a year ahead (the API lets a client write it, §7.5): it comes last in order
    http.patch("/api/v4/leads", json=[{"id": lead_ids[0], "updated_at": now + YEAR}])
    task = http.post("/api/v4/tasks", json=[{"text": "Позвонить", "complete_till": now + HOUR,
                                             "entity_id": lead_ids[1], "entity_type": "leads",
                                             "updated_at": now + YEAR}])["_embedded"]["tasks"][0]["id"]
    assert http.get(f"/api/v4/leads/{lead_ids[0]}")["updated_at"] == now + YEAR
    sync_rig.clock.advance(HOUR)
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        first = _sync(sync_rig, http, snap)
        # the mark kept for the next pass stops at the account's clock when the sync started
        assert snap.cursor("leads")["high_water"] == first.snapshot_at
        assert snap.cursor("tasks")["high_water"] == first.snapshot_at
        sync_rig.clock.advance(HOUR)
        http.patch("/api/v4/leads", json=[{"id": lead_ids[5], "price": 777}])
        http.patch("/api/v4/tasks", json=[{"id": task, "text": "Перезвонить"}])
        sync_rig.clock.advance(HOUR)
        second = _sync(sync_rig, http, snap)
        streams = {s.name: s for s in second.streams}
        assert streams["leads"].mode == "incremental"
        # the edit, and the future-dated record read again at the mark (reconciled, not skipped)
        assert streams["leads"].records == 2
        assert snap.query("SELECT price FROM leads WHERE id = ?", (lead_ids[5],))[0][0] == 777
        assert snap.query("SELECT text FROM tasks WHERE id = ?", (task,))[0][0] == "Перезвонить"
        _same_as_a_fresh_full_sync(sync_rig, http, snap, tmp_path)


def test_the_mark_is_the_accounts_clock_not_the_clients(sync_rig, tmp_path):
    """The client's clock runs an hour behind the account's: marks and "now" follow the account (Date)."""
    http = sync_rig.http(rate=6.0)
    _leads(http, 3)
    sync_rig.clock.advance(HOUR)
    started = int(sync_rig.clock.now())
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        summary = sync_snapshot(AmoRecords(http), snap, clock=lambda: sync_rig.clock.now() - HOUR)
        assert started <= summary.snapshot_at <= started + 1  # the account's Date, not the client's clock


def _c_results(snapshot) -> dict[str, set[int]]:
    run = run_checks(snapshot, [c for c in load_checks() if c.id in ("C05", "C10")], AuditOptions())
    return {cid: {int(r.id) for r in run.result(cid).failing} for cid in ("C05", "C10")}


def test_a_link_added_by_link_changes_c05_and_c10_after_an_incremental_sync(sync_rig, tmp_path):
    http = sync_rig.http(rate=6.0)
    bare = http.post("/api/v4/contacts", json=[{"name": "Без каналов"}])["_embedded"]["contacts"][0]["id"]
    reachable = http.post("/api/v4/contacts", json=[{"name": "С телефоном", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "+7 912 000 11 22", "enum_code": "WORK"}]}]}]
                          )["_embedded"]["contacts"][0]["id"]
    company = http.post("/api/v4/companies", json=[{"name": "ООО Ромашка"}])["_embedded"]["companies"][0]["id"]
    deal = _leads(http, 1)[0]
    http.post(f"/api/v4/leads/{deal}/link", json=[{"to_entity_id": reachable, "to_entity_type": "contacts"}])
    sync_rig.clock.advance(HOUR)
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        _sync(sync_rig, http, snap)
        assert _c_results(snap) == {"C05": set(), "C10": set()}
        sync_rig.clock.advance(HOUR)
        before = http.get(f"/api/v4/leads/{deal}")["updated_at"]
        http.post(f"/api/v4/leads/{deal}/link", json=[{"to_entity_id": bare, "to_entity_type": "contacts"},
                                                      {"to_entity_id": company, "to_entity_type": "companies"}])
        assert http.get(f"/api/v4/leads/{deal}")["updated_at"] == before  # the deal itself did not change
        sync_rig.clock.advance(HOUR)
        summary = _sync(sync_rig, http, snap)
        assert summary.refreshed == 1  # the one deal, read again by id
        assert _c_results(snap) == {"C05": {bare}, "C10": {bare, reachable}}
        _same_as_a_fresh_full_sync(sync_rig, http, snap, tmp_path)

        # linked from the other side (the contact's /link): the event sits on the contact
        sync_rig.clock.advance(HOUR)
        http.post(f"/api/v4/contacts/{reachable}/link", json=[{"to_entity_id": company,
                                                               "to_entity_type": "companies"}])
        http.post(f"/api/v4/leads/{deal}/unlink", json=[{"to_entity_id": bare, "to_entity_type": "contacts"}])
        sync_rig.clock.advance(HOUR)
        _sync(sync_rig, http, snap)
        assert _c_results(snap) == {"C05": set(), "C10": set()}
        _same_as_a_fresh_full_sync(sync_rig, http, snap, tmp_path)
        # nothing left queued: the next sync reads nothing again
        assert _sync(sync_rig, http, snap).refreshed == 0


def test_a_link_made_while_the_full_sync_runs_is_read_again(sync_rig, tmp_path):
    """The deal's page was read before the link; the link event comes later in the same sync."""
    http = sync_rig.http(rate=6.0)
    contact = http.post("/api/v4/contacts", json=[{"name": "Поздний"}])["_embedded"]["contacts"][0]["id"]
    deal = _leads(http, 1)[0]
    sync_rig.clock.advance(HOUR)

    class LinksAfterTheLeads(AmoRecords):
        def read_page(self, stream, *, since, page):
            result = super().read_page(stream, since=since, page=page)
            if stream.name == "leads":
                http.post(f"/api/v4/leads/{deal}/link", json=[{"to_entity_id": contact, "to_entity_type": "contacts"}])
            return result

    with Snapshot(tmp_path / "snap.sqlite") as snap:
        reader = LinksAfterTheLeads(http)
        reader.parallel_streams = 1  # events are read first: the link must come after them
        type(reader).streams = property(lambda self: sorted(AmoRecords.streams.fget(self),
                                                            key=lambda s: s.name == "events"))
        sync_snapshot(reader, snap, clock=sync_rig.clock.now)
        assert snap.query("SELECT contact_id FROM lead_contacts WHERE lead_id = ?", (deal,))[0][0] == contact
        _same_as_a_fresh_full_sync(sync_rig, http, snap, tmp_path)


def test_a_deleted_future_dated_record_is_removed(tmp_path):
    """Its updated_at (next year) is after the deletion event, yet nothing restored it."""
    from implkit.audit.sync import _reconcile_deletions

    with Snapshot(tmp_path / "snap.sqlite") as snap:
        snap.insert("leads", [{"id": 1, "pipeline_id": 1, "status_id": 2, "created_at": 10, "updated_at": 10 ** 10},
                              {"id": 2, "pipeline_id": 1, "status_id": 2, "created_at": 10, "updated_at": 10 ** 10}])
        snap.insert("events", [{"id": "a", "type": "lead_deleted", "entity_type": "lead", "entity_id": 1,
                                "created_at": 20},
                               {"id": "b", "type": "lead_deleted", "entity_type": "lead", "entity_id": 2,
                                "created_at": 20},
                               {"id": "c", "type": "lead_restored", "entity_type": "lead", "entity_id": 2,
                                "created_at": 30}])
        assert _reconcile_deletions(snap, now=100) == 1
        assert [i for (i,) in snap.query("SELECT id FROM leads")] == [2]


def test_a_resumed_full_sync_reads_no_record_again_for_links_older_than_its_start(sync_rig, tmp_path):
    """Every lead created with its contact leaves an `entity_linked` event: a first sync, killed and
    resumed, must not read them all again by id (each page was read after the sync first started)."""
    http = sync_rig.http(rate=6.0)
    contacts = [c["id"] for part in range(2) for c in http.post(
        "/api/v4/contacts", json=[{"name": f"К {part}.{i}"} for i in range(200)])["_embedded"]["contacts"]]
    for chunk in (contacts[:200], contacts[200:]):  # 400 leads: two pages, at two seconds
        http.post("/api/v4/leads", json=[{"name": "x", "_embedded": {"contacts": [{"id": c}]}} for c in chunk])
        sync_rig.clock.advance(10)
    sync_rig.clock.advance(HOUR)

    class DiesOnTheSecondLeadsPage(AmoRecords):
        pages = 0

        def read_page(self, stream, *, since, page):
            if stream.name == "leads":
                type(self).pages += 1
                if type(self).pages == 2:
                    raise KeyboardInterrupt
            return super().read_page(stream, since=since, page=page)

    with Snapshot(tmp_path / "snap.sqlite") as snap:
        reader = DiesOnTheSecondLeadsPage(http)
        reader.parallel_streams = 1
        with pytest.raises(KeyboardInterrupt):
            sync_snapshot(reader, snap, clock=sync_rig.clock.now)
        summary = _sync(sync_rig, http, snap)
        assert {s.name: s.mode for s in summary.streams}["leads"] == "resumed"
        assert summary.refreshed == 0
        assert snap.query("SELECT count(*) FROM lead_contacts")[0][0] == 400
        _same_as_a_fresh_full_sync(sync_rig, http, snap, tmp_path)


def test_a_call_logged_as_a_note_is_one_touch_not_two(sync_rig, tmp_path):
    """amoCRM logs a call note and an `outgoing_call` event naming it (§7.7 `[{note: {id}}]`): D07 counts
    touches, so the sync keeps the note and leaves the mirroring event out."""
    http = sync_rig.http(rate=6.0)
    deal = _leads(http, 1)[0]
    for _ in range(2):
        http.post("/api/v4/leads/notes", json=[{"entity_id": deal, "note_type": "call_out",
                                                "params": {"uniq": "a", "duration": 30, "source": "t", "phone": "1"}}])
        sync_rig.clock.advance(60)
    events = http.get("/api/v4/events", {"filter[type][]": "outgoing_call"})["_embedded"]["events"]
    assert len(events) == 2 and all(e["value_after"][0]["note"]["id"] for e in events)
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        _sync(sync_rig, http, snap)
        assert snap.query("SELECT count(*) FROM touches WHERE lead_id = ?", (deal,))[0][0] == 2
        assert snap.query("SELECT count(*) FROM events WHERE type = 'outgoing_call'")[0][0] == 0
