"""The incremental sync never goes stale on a Bitrix24 portal: deletions, future-dated records, a kill.

Each scenario ends by comparing the incremental snapshot with a fresh full one of the same portal.
"""

from __future__ import annotations

import json
import math

import httpx
import pytest

from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.bitrix24 import open_records
from implkit.sandbox.bitrix24.portal import iso
from implkit.sandbox.bitrix24.seed import seed_portal

DEALS = 3000  # two 2,500-row requests for the deals: a kill can fall between them
YEAR = 365 * 86400


def _seed(portal, deals: int):
    seed_portal(portal.sandbox.store, portal.account_id, deals=deals, seed=5,
                now=int(portal.sandbox.clock.now()) - 3600)
    return portal


@pytest.fixture
def seeded(portal):
    return _seed(portal, DEALS)


@pytest.fixture
def small(portal):
    return _seed(portal, 300)


def reader_of(portal, transport=None):
    return open_records(portal.base, portal.webhook, transport=transport or portal.transport)


def same_as_a_fresh_full_sync(portal, snapshot, tmp_path) -> None:
    with Snapshot(tmp_path / "fresh.sqlite") as fresh:
        sync_snapshot(reader_of(portal), fresh)
        ours, theirs = snapshot.contents(), fresh.contents()
    for table in theirs:
        assert ours[table] == theirs[table], table


def ids_of(portal, entity_type_id: int) -> list[int]:
    """Every id of a CRM entity in the portal's store, ascending (2 deals, 3 contacts)."""
    return [r[0] for r in portal.sandbox.store.query(
        "SELECT id FROM b24_crm WHERE account_id = ? AND entity_type_id = ? ORDER BY id",
        (portal.account_id, entity_type_id))]


def test_a_deal_deleted_on_the_portal_disappears_from_the_snapshot(small, tmp_path):
    seeded = small
    reader = reader_of(seeded)
    with Snapshot(tmp_path / "snap.sqlite") as snapshot:
        sync_snapshot(reader, snapshot)
        deal, contact = ids_of(seeded, 2)[7], ids_of(seeded, 3)[3]
        assert snapshot.query("SELECT count(*) FROM leads WHERE id = ?", (deal,))[0][0] == 1
        seeded.sandbox.clock.advance(3600)
        assert seeded.call("crm.deal.delete", {"id": deal})["result"] is True
        assert seeded.call("crm.contact.delete", {"id": contact})["result"] is True
        before = reader.api.http.stats.total
        summary = sync_snapshot(reader, snapshot)
        assert summary.deleted == 2
        assert snapshot.query("SELECT count(*) FROM leads WHERE id = ?", (deal,))[0][0] == 0
        assert snapshot.query("SELECT count(*) FROM lead_contacts WHERE lead_id = ?", (deal,))[0][0] == 0
        assert snapshot.query("SELECT count(*) FROM contacts WHERE id = ?", (contact,))[0][0] == 0
        # the sweep's cost: ceil((n + 1) / 2,500) requests a list, activities once for tasks and notes
        counts = snapshot.counts()
        sweep = sum(math.ceil((counts[t] + 1) / 2500) for t in ("leads", "contacts", "companies", "tasks"))
        dictionaries, streams = 5, 7  # the seventh: the call statistics
        assert reader.api.http.stats.total - before == dictionaries + streams + sweep
        same_as_a_fresh_full_sync(seeded, snapshot, tmp_path)


def _future_date(portal, deal: int, at: int) -> None:
    """A deal whose DATE_MODIFY lies in the future, as an import or a skewed server leaves one (the REST
    API itself never takes DATE_MODIFY on write: docs/sandbox.md)."""
    with portal.sandbox.store.transaction() as db:
        db.execute("UPDATE b24_crm SET date_modify = ?, data = json_set(data, '$.DATE_MODIFY', ?) "
                   "WHERE account_id = ? AND entity_type_id = 2 AND id = ?",
                   (iso(at), iso(at), portal.account_id, deal))


def test_an_edit_after_a_future_dated_deal_reaches_the_snapshot(small, tmp_path):
    seeded = small
    clock = seeded.sandbox.clock
    deals = ids_of(seeded, 2)
    _future_date(seeded, deals[-1], int(clock.now()) + YEAR)
    reader = reader_of(seeded)
    with Snapshot(tmp_path / "snap.sqlite") as snapshot:
        first = sync_snapshot(reader, snapshot)
        assert snapshot.cursor("leads")["high_water"] <= first.snapshot_at
        clock.advance(3600)
        assert seeded.call("crm.deal.update", {"id": deals[10], "fields": {"TITLE": "Правка после будущего"}})["result"]
        clock.advance(60)
        summary = sync_snapshot(reader, snapshot)
        assert {s.name: s.records for s in summary.streams}["leads"] == 2  # the edit + the future-dated one
        assert snapshot.query("SELECT name FROM leads WHERE id = ?", (deals[10],))[0][0] == "Правка после будущего"
        same_as_a_fresh_full_sync(seeded, snapshot, tmp_path)


def test_a_killed_sync_resumes_from_its_cursor_not_from_zero(seeded, tmp_path):
    """Killed after the first 2,500 deals: the next run asks for the rest only. A deal edited behind the
    cursor while the sync lay dead is read by the following sync (the mark stops at the first start)."""
    clock = seeded.sandbox.clock
    deals = ids_of(seeded, 2)
    deal_requests = {"n": 0}

    class Dies(httpx.BaseTransport):
        def handle_request(self, request):
            if b"crm.deal.list" in request.content:
                deal_requests["n"] += 1
                if deal_requests["n"] == 2:
                    raise KeyboardInterrupt  # the process is killed on the second deals request
            return seeded.transport.handle_request(request)

    class Counts(httpx.BaseTransport):
        def __init__(self):
            self.deal_bodies: list[dict] = []

        def handle_request(self, request):
            if b"crm.deal.list" in request.content:
                self.deal_bodies.append(json.loads(request.content))
            return seeded.transport.handle_request(request)

    with Snapshot(tmp_path / "snap.sqlite") as snapshot:
        with pytest.raises(KeyboardInterrupt):
            sync_snapshot(reader_of(seeded, Dies()), snapshot)
        cursor = snapshot.cursor("leads")
        assert cursor["next_page"] == 2501 and cursor["records"] == 2500
        clock.advance(600)  # while it lies dead, someone edits deals behind and ahead of the cursor
        assert seeded.call("crm.deal.update", {"id": deals[1], "fields": {"TITLE": "Правка за курсором"}})["result"]
        clock.advance(60)
        assert seeded.call("crm.deal.update", {"id": deals[-1], "fields": {"TITLE": "Правка впереди"}})["result"]
        counts = Counts()
        summary = sync_snapshot(reader_of(seeded, counts), snapshot)
        streams = {s.name: s for s in summary.streams}
        assert streams["leads"].mode == "resumed" and streams["leads"].pages == 1
        assert streams["leads"].records == DEALS - 2500
        # one deals request in the resumed pass (starting after deal 2,500), then the id-only sweep
        assert len(counts.deal_bodies) == 1 + math.ceil((DEALS + 1) / 2500)
        first = counts.deal_bodies[0]["cmd"]["c0"]
        assert f"filter[%3EID]={deals[2499]}&" in first  # after the last deal committed, not from zero
        assert snapshot.query("SELECT count(*) FROM leads")[0][0] == DEALS
        clock.advance(600)
        sync_snapshot(reader_of(seeded), snapshot)
        titles = dict(snapshot.query("SELECT id, name FROM leads WHERE id IN (?, ?)", (deals[1], deals[-1])))
        assert titles == {deals[1]: "Правка за курсором", deals[-1]: "Правка впереди"}
        same_as_a_fresh_full_sync(seeded, snapshot, tmp_path)
