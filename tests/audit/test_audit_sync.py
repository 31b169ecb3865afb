"""Sync from the sandbox into a snapshot: full, incremental, resumed, deletions, rate limit."""

from __future__ import annotations

import pytest

from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.amocrm.records import AmoRecords

HOUR = 3600


def _seed(http, contacts: int = 30) -> tuple[list[int], list[int]]:
    """Contacts with phones in mixed formats, one deal each, through the API like any client."""
    formats = ["8 (912) 345-{:02d}-{:02d}", "+7 912 345 {:02d} {:02d}", "912345{:02d}{:02d}"]
    payload = [{"name": f"Клиент {i}", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": formats[i % 3].format(i // 100, i % 100), "enum_code": "WORK"}]},
        {"field_code": "EMAIL", "values": [{"value": f"Client{i}@Example.RU", "enum_code": "WORK"}]}]}
        for i in range(contacts)]
    contact_ids = [c["id"] for batch in _batches(payload)
                   for c in http.post("/api/v4/contacts", json=batch)["_embedded"]["contacts"]]
    leads = [{"name": f"Сделка {i}", "price": 1000 + i, "_embedded": {"contacts": [{"id": cid}]}}
             for i, cid in enumerate(contact_ids)]
    lead_ids = [x["id"] for batch in _batches(leads)
                for x in http.post("/api/v4/leads", json=batch)["_embedded"]["leads"]]
    return contact_ids, lead_ids


def _batches(items: list, size: int = 50) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _sync(rig, http, snapshot, **kw):
    return sync_snapshot(AmoRecords(http), snapshot, clock=rig.clock.now, requests=lambda: http.stats.total, **kw)


def test_full_sync_stores_records_with_normalised_keys(sync_rig, tmp_path):
    http = sync_rig.http(rate=6.0)
    contact_ids, lead_ids = _seed(http)
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        summary = _sync(sync_rig, http, snap)
        assert snap.counts()["leads"] == 30 and snap.counts()["contacts"] == 30
        assert snap.snapshot_at == summary.snapshot_at
        phones = {k for (k,) in snap.query("SELECT key FROM channels WHERE kind = 'phone'")}
        assert "+79123450000" in phones and "+79123450001" in phones and len(phones) == 30
        emails = {k for (k,) in snap.query("SELECT key FROM channels WHERE kind = 'email'")}
        assert "client7@example.ru" in emails
        links = snap.query("SELECT count(*) FROM leads WHERE main_contact_id IS NOT NULL")[0][0]
        assert links == 30
        stages = {kind for (kind,) in snap.query("SELECT kind FROM stages")}
        assert stages == {"unsorted", "open", "won", "lost"}
    assert http.stats.by_status.get(429, 0) == 0
    assert summary.requests == http.stats.total
    # a dictionary counts its rows as records and its requests as pages (one page of users here)
    users = http.get("/api/v4/users", params={"limit": 250})["_embedded"]["users"]
    streams = {s.name: s for s in summary.streams}
    assert (streams["users"].mode, streams["users"].records, streams["users"].pages) == ("dictionary", len(users), 1)
    assert summary.records == sum(s.records for s in summary.streams) >= 60 + len(users)


def test_incremental_sync_requests_only_the_changed_records(sync_rig, tmp_path):
    http = sync_rig.http(rate=6.0)
    _, lead_ids = _seed(http, contacts=300)
    sync_rig.clock.advance(2 * HOUR)
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        _sync(sync_rig, http, snap)
        sync_rig.clock.advance(HOUR)
        changed = lead_ids[100:110]
        http.patch("/api/v4/leads", json=[{"id": i, "price": 77} for i in changed])
        sync_rig.clock.advance(HOUR)
        before = http.stats.total
        log_mark = sync_rig.log()[-1]["seq"]
        summary = _sync(sync_rig, http, snap)
        streams = {s.name: s for s in summary.streams}
        assert streams["leads"].mode == "incremental"
        assert streams["leads"].records == 10 and streams["leads"].pages == 1
        assert streams["contacts"].records == 0
        assert sorted(i for (i,) in snap.query("SELECT id FROM leads WHERE price = 77")) == sorted(changed)
        # one request per stream, nothing else: the sandbox's own log agrees with the client's count
        assert http.stats.total - before == len(AmoRecords(http).streams) + 1  # + GET /account
        lead_requests = [r for r in sync_rig.log(log_mark) if "/api/v4/leads?" in r["path"]]
        assert len(lead_requests) == 1


class Interrupt(Exception):
    pass


class FlakyReader:
    """Delegates to AmoRecords; raises after `fail_after` pages of `stream`, like a killed process."""

    def __init__(self, inner, stream: str, fail_after: int):
        self.inner, self.stream, self.fail_after = inner, stream, fail_after
        self.calls: list[tuple[str, int | None, int]] = []
        self.crm = inner.crm

    @property
    def streams(self):
        return self.inner.streams

    def account(self):
        return self.inner.account()

    def remember_fields(self, rows):
        self.inner.remember_fields(rows)

    def read_page(self, stream, *, since, page):
        self.calls.append((stream.name, since, page))
        if stream.name == self.stream and sum(1 for c in self.calls if c[0] == self.stream) > self.fail_after:
            raise Interrupt()
        return self.inner.read_page(stream, since=since, page=page)


def test_interrupted_sync_resumes_after_the_last_committed_page(sync_rig, tmp_path):
    http = sync_rig.http(rate=6.0)
    for _ in range(3):  # 3 × 250 leads, at three different seconds
        http.post("/api/v4/leads", json=[{"name": "x", "price": 1} for _ in range(250)])
        sync_rig.clock.advance(10)
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        flaky = FlakyReader(AmoRecords(http), "leads", fail_after=2)
        with pytest.raises(Interrupt):
            sync_snapshot(flaky, snap, clock=sync_rig.clock.now)
        assert snap.snapshot_at is None  # never complete: no "now" for checks yet
        committed = snap.query("SELECT count(*) FROM leads")[0][0]
        assert committed == 500
        cursor = snap.cursor("leads")
        assert cursor["next_page"] == 2 and cursor["since"] is not None
        resumed = FlakyReader(AmoRecords(http), "none", fail_after=0)
        summary = sync_snapshot(resumed, snap, clock=sync_rig.clock.now)
        leads_calls = [c for c in resumed.calls if c[0] == "leads"]
        # starts from the committed mark and page, not from the beginning
        assert leads_calls[0] == ("leads", cursor["since"], cursor["next_page"])
        assert len(leads_calls) == 1  # the third batch was the last page
        assert {s.name: s.mode for s in summary.streams}["leads"] == "resumed"
        assert snap.query("SELECT count(*) FROM leads")[0][0] == 750
        assert snap.snapshot_at is not None


def test_deletion_events_remove_records(tmp_path):
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        snap.insert("leads", [{"id": 1, "pipeline_id": 1, "status_id": 2, "created_at": 10, "updated_at": 10},
                              {"id": 2, "pipeline_id": 1, "status_id": 2, "created_at": 10, "updated_at": 50}])
        snap.insert("events", [{"id": "a", "type": "lead_deleted", "entity_type": "lead", "entity_id": 1,
                                "created_at": 20},
                               {"id": "b", "type": "lead_deleted", "entity_type": "lead", "entity_id": 2,
                                "created_at": 20}])
        from implkit.audit.sync import _reconcile_deletions

        assert _reconcile_deletions(snap) == 1
        # lead 2 changed after its deletion event: restored, kept
        assert [i for (i,) in snap.query("SELECT id FROM leads")] == [2]


def test_a_snapshot_refuses_another_account(sync_rig, tmp_path):
    from implkit.errors import ConflictError

    http = sync_rig.http(rate=6.0)
    with Snapshot(tmp_path / "snap.sqlite") as snap:
        snap.set_meta(account_id=999999)
        with pytest.raises(ConflictError):
            _sync(sync_rig, http, snap)
