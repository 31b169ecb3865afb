"""The audit sync on a Bitrix24 portal: 2,500 rows a request, incremental, resumable, and the checks run."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from implkit.audit import AuditOptions, run_audit
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.bitrix24 import open_records
from implkit.sandbox.bitrix24.seed import seed_portal

DEALS = 3000
DICTIONARY_REQUESTS = 1 + 1 + 3  # users (one chain), pipelines (one batch), 3 user-field lists


@pytest.fixture
def seeded(portal, tmp_path):
    truth = tmp_path / "truth.json"
    seed_portal(portal.sandbox.store, portal.account_id, deals=DEALS, seed=11, ground_truth_path=truth)
    portal.truth = json.loads(truth.read_text())
    return portal


def reader_of(portal, transport=None):
    return open_records(portal.base, portal.webhook, transport=transport or portal.transport)


def rows_in_portal(portal) -> dict[str, int]:
    store = portal.sandbox.store
    one = lambda sql: store.query(sql, (portal.account_id,))[0][0]  # noqa: E731
    return {
        "leads": one("SELECT count(*) FROM b24_crm WHERE account_id=? AND entity_type_id=2"),
        "contacts": one("SELECT count(*) FROM b24_crm WHERE account_id=? AND entity_type_id=3"),
        "companies": one("SELECT count(*) FROM b24_crm WHERE account_id=? AND entity_type_id=4"),
        "tasks": one("SELECT count(*) FROM b24_activities WHERE account_id=?"),
        "notes": one("SELECT count(*) FROM b24_activities WHERE account_id=? AND owner_type_id IN (2, 3, 4) "
                     "AND CAST(json_extract(data, '$.TYPE_ID') AS INTEGER) IN (2, 4) AND completed='Y'"),
        "events": one("SELECT count(*) FROM b24_stage_history WHERE account_id=? AND entity_type_id=2"),
        # the telephony statistics: every call but an informational robot call (CALL_TYPE 5)
        "calls": one("SELECT count(*) FROM b24_call_stats WHERE account_id=? AND json_extract(data, '$.CALL_TYPE') != '5'"),
    }


def sweep_requests(expected: dict[str, int]) -> int:
    """The id-only deletion sweep after the streams: 2,500 ids a request, activities swept once."""
    return sum(math.ceil((expected[t] + 1) / 2500) for t in ("leads", "contacts", "companies", "tasks"))


def test_a_full_sync_reads_2500_rows_a_request(seeded, tmp_path):
    reader = reader_of(seeded)
    with Snapshot(tmp_path / "snap.sqlite") as snapshot:
        summary = sync_snapshot(reader, snapshot, requests=lambda: reader.api.http.stats.total)
        counts = snapshot.counts()
        assert snapshot.get_meta("crm") == "bitrix24"
    expected = rows_in_portal(seeded)
    for table, rows in expected.items():
        assert counts[table] == rows, table
    # a stream of n rows takes ceil((n + 1) / 2500) requests: the last one sees the short page
    record_requests = sum(math.ceil((n + 1) / 2500) for n in expected.values())
    assert summary.requests == DICTIONARY_REQUESTS + record_requests + sweep_requests(expected)
    assert all(r["path"].endswith("/batch") or "userfield.list" in r["path"] for r in seeded.log())


def test_the_next_sync_reads_only_what_changed(seeded, tmp_path):
    reader = reader_of(seeded)
    with Snapshot(tmp_path / "snap.sqlite") as snapshot:
        sync_snapshot(reader, snapshot)
        seeded.sandbox.clock.advance(3600)  # an hour later someone edits one deal
        deal = seeded.call("crm.deal.list", {"select": ["ID"], "start": -1})["result"][0]["ID"]
        assert seeded.call("crm.deal.update", {"id": deal, "fields": {"TITLE": "Изменённая сделка"}})["result"]
        before = reader.api.http.stats.total
        summary = sync_snapshot(reader, snapshot)
        modes = {s.name: (s.mode, s.records) for s in summary.streams}
        assert modes["leads"][0] == "incremental" and modes["leads"][1] >= 1
        assert modes["leads"][1] < 50  # only the changed deal and its second's neighbours
        # one request a stream (7 with the call statistics), and the deletion sweep
        assert reader.api.http.stats.total - before == DICTIONARY_REQUESTS + 7 + sweep_requests(rows_in_portal(seeded))
        title = snapshot.query("SELECT name FROM leads WHERE id = ?", (int(deal),))[0][0]
        assert title == "Изменённая сделка"


def test_a_killed_sync_resumes_after_the_last_committed_page(seeded, tmp_path):
    requests = {"n": 0}

    class Dies(httpx.BaseTransport):
        def handle_request(self, request):
            requests["n"] += 1
            if requests["n"] == DICTIONARY_REQUESTS + 4:  # in the middle of the contacts / deals streams
                raise KeyboardInterrupt
            return seeded.transport.handle_request(request)

    with Snapshot(tmp_path / "snap.sqlite") as snapshot:
        with pytest.raises(KeyboardInterrupt):
            sync_snapshot(reader_of(seeded, Dies()), snapshot)
        reader = reader_of(seeded)
        summary = sync_snapshot(reader, snapshot, requests=lambda: reader.api.http.stats.total)
        assert any(s.mode == "resumed" for s in summary.streams)
        counts = snapshot.counts()
    expected = rows_in_portal(seeded)
    assert all(counts[table] == rows for table, rows in expected.items())
    # streams finished before the kill are not read again; the killed one goes on from its cursor
    full = DICTIONARY_REQUESTS + sum(math.ceil((n + 1) / 2500) for n in expected.values()) + sweep_requests(expected)
    assert summary.requests < full
    assert all(s.mode == "incremental" for s in summary.streams if s.name == "companies")


def test_checks_find_the_planted_defects_on_the_bitrix24_snapshot(seeded, tmp_path):
    with Snapshot(tmp_path / "snap.sqlite") as snapshot:
        sync_snapshot(reader_of(seeded), snapshot)
        snapshot.set_meta(snapshot_at=seeded.truth["now"])
    outcome = run_audit(tmp_path / "snap.sqlite", None, tenant="acme", options=AuditOptions(crm="bitrix24"))
    defects = seeded.truth["defects"]
    for check in ("D01", "D02", "D09", "D14", "T01", "C01", "C02"):
        result = outcome.run.result(check)
        planted = set(defects[check]["ids"])
        found = {int(r.id) for r in result.failing}
        assert result.status == "fail", check
        assert planted <= found, (check, sorted(planted - found)[:5])
    # exactly the plants where nothing else qualifies
    for check in ("D01", "D09", "T01"):
        assert {int(r.id) for r in outcome.run.result(check).failing} == set(defects[check]["ids"]), check
    # what a portal's data cannot answer is said, not counted as a failure of every record
    for check in ("D08", "C08"):
        result = outcome.run.result(check)
        assert result.status == "unsupported" and not result.failing and "Bitrix24" in result.reason, check


def test_a_record_edited_behind_the_cursor_during_a_sync_is_read_by_the_next_one(seeded, tmp_path):
    """Deals come by id: deal 1 edited after its page was read, then deal N edited later still, must not
    move the mark past deal 1's edit."""
    clock = seeded.sandbox.clock
    last = int(seeded.call("crm.deal.list", {"order": {"ID": "DESC"}, "select": ["ID"], "start": -1})
               ["result"][0]["ID"])
    deal_pages = {"n": 0}

    class EditsDuringTheSync(httpx.BaseTransport):
        def handle_request(self, request):
            if b"crm.deal.list" in request.content:
                deal_pages["n"] += 1
                if deal_pages["n"] == 2:  # the first 2,500 deals are read; now people edit
                    clock.advance(30)
                    seeded.call("crm.deal.update", {"id": 1, "fields": {"TITLE": "Правка за курсором"}})
                    clock.advance(30)
                    seeded.call("crm.deal.update", {"id": last, "fields": {"TITLE": "Правка впереди"}})
            return seeded.transport.handle_request(request)

    with Snapshot(tmp_path / "snap.sqlite") as snapshot:
        sync_snapshot(reader_of(seeded, EditsDuringTheSync()), snapshot)
        title = lambda deal: snapshot.query("SELECT name FROM leads WHERE id = ?", (deal,))[0][0]  # noqa: E731
        assert title(last) == "Правка впереди" and title(1) != "Правка за курсором"
        clock.advance(600)
        sync_snapshot(reader_of(seeded), snapshot)
        assert title(1) == "Правка за курсором"
