"""Sync: pull a tenant's records into its snapshot, incrementally and resumably.

For each stream the provider's records reader offers (users, pipelines…,
leads, contacts, companies, tasks, notes, events):

- a *dictionary* is re-read whole and replaces its table in one transaction;
- a *keyset* or *paged* stream reads from its cursor: the first run reads
  everything, the next ones only what changed since the high-water mark of
  the last complete pass (`filter[updated_at][from]`, events by
  `created_at`). Each page is written together with the stream's cursor in
  one transaction, so a sync killed at any point resumes at the page after
  the last one committed.

The stored mark never passes the CRM's clock at the moment the sync started
(`reader.server_time()`: amoCRM's `Date` header, the `time` of a Bitrix24
answer): a record whose `updated_at` lies in the future (clock skew, an
import or an API write that sets it) would otherwise hold the mark there
and hide every later edit. Records at or after that moment are read again
by the next pass, and upserted.

Changes that leave a record's `updated_at` alone are reconciled after the
streams:

- links (amoCRM `entity_linked` / `entity_unlinked`: linking a contact to a
  deal need not touch the deal) — the events writer queues the records
  named in new link events (`sync_refresh`), and the reader reads them
  again by id;
- deletions — from the deletion events the CRM keeps (amoCRM: `lead_deleted`,
  `contact_deleted`, `company_deleted`, `task_deleted`; v4 has no "deleted
  since" list for contacts, companies or tasks), or, where the CRM keeps no
  such event (Bitrix24), from an id-only sweep of every list
  (`reader.live_ids()`): ids in the snapshot that the CRM no longer lists
  are removed.

Requests go through the provider's HttpClient: its rate limiter keeps the
sync under the tenant's limit, and its counters are reported. The snapshot
time ("now" for every check) is the moment the sync started, recorded once
every stream has finished.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Callable, Protocol

from implkit.audit.snapshot import Snapshot
from implkit.terminal import Tick
from implkit.lang import count_noun, say

# What a sync tells while it runs and when it ends, in the user's language (the Directum sync and the
# `sync` command word theirs from here too).
MESSAGES = {
    "done": {"ru": "синхронизация завершена: {records} на {pages}, {requests}",
             "en": "sync done: {records} in {pages}, {requests}"},
    "page": {"ru": "{stream}: страница {page}, {records}", "en": "{stream}: page {page}, {records}"},
    "page_mode": {"ru": "{stream}: страница {page} ({mode}), {records}", "en": "{stream}: page {page} ({mode}), {records}"},
    "refreshed": {"ru": "{table}: перечитано {records} (изменились связи)",
                  "en": "{table}: {records} read again (links changed)"},
    "full_read": {"ru": "{stream}: {records} на {pages} (полное чтение)",
                  "en": "{stream}: {records} in {pages} (full read)"},
    "full": {"ru": "полностью", "en": "full"},
    "incremental": {"ru": "изменения", "en": "incremental"},
    "resumed": {"ru": "продолжение", "en": "resumed"},
    "dictionary": {"ru": "справочник", "en": "dictionary"},
}
RECORDS = (("запись", "записи", "записей"), ("records", "records"))  # English has always printed "1 records"
PAGES = (("странице", "страницах", "страницах"), ("pages", "pages"))
REQUESTS = (("запрос", "запроса", "запросов"), ("requests", "requests"))


def mode_word(mode: str) -> str:
    """A pass's mode (full, incremental, resumed, dictionary) as the reader calls it."""
    return say(MESSAGES, mode) if mode in MESSAGES else mode

DELETION_EVENTS = {"lead_deleted": "leads", "contact_deleted": "contacts", "company_deleted": "companies",
                   "task_deleted": "tasks"}
RESTORE_EVENTS = {"lead_deleted": "lead_restored", "contact_deleted": "contact_restored",
                  "company_deleted": "company_restored"}


class RecordsReader(Protocol):
    crm: str
    streams: list

    def account(self) -> dict[str, Any]: ...

    def read_page(self, stream: Any, *, since: int | None, page: int) -> Any: ...

    def remember_fields(self, rows: list[dict[str, Any]]) -> None: ...

    # Optional: `server_time() -> float | None` (the CRM's clock at its earliest answer of this sync),
    # `read_ids(table, ids) -> list[rows]` (records read again by id: link changes) and
    # `live_ids() -> dict[table, set[int]] | None` (an id-only sweep: deletions where no event tells).


@dataclass
class StreamSummary:
    name: str
    mode: str  # full | incremental | resumed | dictionary
    # keyword-only: `whole` was once inserted before `pages`, and positional callers silently swapped the counts
    _: KW_ONLY
    whole: bool = False  # this sync read the stream whole (a full pass, or the rest of a resumed one)
    pages: int = 0
    records: int = 0


@dataclass
class SyncSummary:
    snapshot_at: int
    streams: list[StreamSummary] = field(default_factory=list)
    deleted: int = 0
    refreshed: int = 0  # records read again by id because a link of theirs changed
    requests: int = 0

    @property
    def records(self) -> int:
        return sum(s.records for s in self.streams)

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.streams)


Progress = Callable[[Tick | str], None]   # a stream's count so far (a bar on a terminal), or a note


def sync_snapshot(reader: RecordsReader, snapshot: Snapshot, *, full: bool = False, web_url: str | None = None,
                  progress: Progress = lambda message: None, clock: Callable[[], float] = time.time,
                  requests: Callable[[], int] = lambda: 0) -> SyncSummary:
    """Bring `snapshot` up to date with the account behind `reader`."""
    account = reader.account()
    known = snapshot.get_meta("account_id")
    if known and account.get("id") is not None and str(account["id"]) != known:
        from implkit.errors import ConflictError

        raise ConflictError(f"the snapshot {snapshot.path} belongs to account {known}, "
                            f"but the tenant answers as account {account['id']}")
    snapshot.set_meta(account_id=account.get("id"), subdomain=account.get("subdomain"), crm=reader.crm,
                      web_url=web_url)
    if full:
        with snapshot.transaction() as db:
            db.execute("DELETE FROM sync_cursors")

    dictionaries: dict[str, list[dict[str, Any]]] = {}
    read: list[StreamSummary] = []
    for stream in reader.streams:
        if stream.kind == "dictionary":
            rows, pages = _read_all(reader, stream, progress)
            dictionaries.setdefault(stream.table, []).extend(rows)
            read.append(StreamSummary(stream.name, "dictionary", pages=pages, records=len(rows)))
            if stream.table == "custom_fields":
                reader.remember_fields(rows)
    with snapshot.transaction():
        for table, rows in dictionaries.items():
            snapshot.write_page(table, rows, cursor=table, next_page=0, high_water=None, replace_all=True)

    # The CRM's clock, not ours: marks are compared with the CRM's timestamps. Known once the account and
    # the dictionaries have answered, which is before any record is read.
    server_time = getattr(reader, "server_time", lambda: None)()
    started = int(server_time if server_time is not None else clock())
    summary = SyncSummary(snapshot_at=started, streams=read)
    pending_start = snapshot.get_meta("sync_started_at")
    if pending_start is None:
        snapshot.set_meta(sync_started_at=started)
    else:  # resuming an interrupted sync: its "now", and the cap of its marks, is when it first started
        summary.snapshot_at = int(pending_start)
    cap = summary.snapshot_at

    # A reader that says so has its streams read side by side: one stream's request is in flight while
    # another's page is written, so every slot of the shared rate limiter is used. Order is kept.
    record_streams = [s for s in reader.streams if s.kind != "dictionary"]
    workers = max(1, int(getattr(reader, "parallel_streams", 1)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
        summary.streams.extend(pool.map(lambda s: _sync_stream(reader, snapshot, s, progress, cap),
                                        record_streams))

    summary.refreshed = _refresh_linked(reader, snapshot, summary.streams, cap, progress)
    summary.deleted = _reconcile_deletions(snapshot, now=cap) + _sweep_deletions(reader, snapshot, progress)
    snapshot.derive()
    # what the audit reads per deal, for the time recorded below (a killed sync leaves them marked for no time)
    snapshot.build_audit_tables(summary.snapshot_at)
    snapshot.analyze()
    # a CRM that would not give its call statistics (Bitrix24 without the telephony scope): the calls report says so
    unavailable = getattr(reader, "calls_unavailable", None)
    with snapshot.transaction() as db:
        db.execute("DELETE FROM meta WHERE key = 'calls_unavailable'")
    snapshot.set_meta(snapshot_at=summary.snapshot_at, last_sync_requests=requests(), calls_unavailable=unavailable)
    with snapshot.transaction() as db:
        db.execute("DELETE FROM meta WHERE key = 'sync_started_at'")
    summary.requests = requests()
    progress(say(MESSAGES, "done", records=count_noun(summary.records, *RECORDS),
                 pages=count_noun(summary.pages, *PAGES), requests=count_noun(summary.requests, *REQUESTS)))
    return summary


def _read_all(reader: RecordsReader, stream: Any, progress: Progress) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        result = reader.read_page(stream, since=None, page=page)
        rows.extend(result.rows)
        progress(Tick(stream.name, len(rows), text=say(MESSAGES, "page", stream=stream.name, page=page,
                                                       records=count_noun(len(rows), *RECORDS))))
        if not result.has_next or not result.rows:
            return rows, page
        page += 1


def _sync_stream(reader: RecordsReader, snapshot: Snapshot, stream: Any, progress: Progress,
                 cap: int) -> StreamSummary:
    """`cap`: the CRM's time when this sync (first) started; the stored mark never passes it."""
    cursor = snapshot.cursor(stream.name)
    if cursor is not None and cursor["next_page"]:
        mode, since, page = "resumed", cursor["since"], cursor["next_page"]
    elif cursor is not None and cursor["finished_at"] is not None:
        mode, since, page = "incremental", _next_mark(cursor["high_water"], cursor["finished_at"]), 1
        snapshot.start_pass(stream.name, mode="incremental", since=since)
    else:
        mode, since, page = "full", None, 1
        snapshot.start_pass(stream.name, mode="full", since=None)
    summary = StreamSummary(stream.name, mode, whole=mode == "full" or (mode == "resumed" and cursor["mode"] == "full"))
    # The next page is requested as soon as this one's cursor is known, and this one is written while
    # it is in flight: the rate limit, not the local work, bounds the sync. Cursors still advance in order.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sync-{stream.name}") as fetcher:
        return _page_loop(reader, snapshot, stream, progress, cap, summary, fetcher, since, page, mode)


def _page_loop(reader: RecordsReader, snapshot: Snapshot, stream: Any, progress: Progress, cap: int,
               summary: StreamSummary, fetcher: ThreadPoolExecutor, since: int | None, page: int,
               mode: str) -> StreamSummary:
    pending = fetcher.submit(reader.read_page, stream, since=since, page=page)
    while True:
        result = pending.result()
        summary.pages += 1
        summary.records += len(result.rows)
        # a reader with its own page cursor (Bitrix24: the next id to read) says where the next page starts
        next_since, next_page = since, getattr(result, "next_page", None) or page + 1
        if stream.kind == "keyset" and result.high_water is not None and (since is None or result.high_water > since):
            # The mark moved: read again from it. If the whole page sits in that one second, this page
            # *is* the first page from the new mark, so go on with the second (bulk imports share a second).
            same_second = all(row.get(stream.mark_field) == result.high_water for row in result.rows)
            next_since, next_page = result.high_water, 2 if same_second else 1
        done = not result.has_next or not result.rows
        if not done:
            pending = fetcher.submit(reader.read_page, stream, since=next_since, page=next_page)
        # In the pass the mark may run ahead (a future-dated record is simply the last one in order); what
        # is kept for the next pass stops at `cap`, so that pass reads again from there instead of from
        # next year. `next_since` (this pass's own position) is not capped: resuming goes on where it was.
        kept = None if result.high_water is None else min(result.high_water, cap)
        snapshot.write_page(stream.table, result.rows, cursor=stream.name, next_page=0 if done else next_page,
                            since=next_since, high_water=kept)
        progress(Tick(stream.name, summary.records,
                      text=say(MESSAGES, "page_mode", stream=stream.name, page=summary.pages, mode=mode_word(mode),
                               records=count_noun(summary.records, *RECORDS))))
        if done:
            snapshot.finish_pass(stream.name, at=cap)
            return summary
        since, page = next_since, next_page


# How far a client clock may be off the CRM's: below this age a record's second is still "open".
CLOCK_MARGIN = 60


def _next_mark(high_water: int | None, last_started: int) -> int | None:
    """Where an incremental pass starts. After the newest record already read, unless that second may
    still gain records (it is within CLOCK_MARGIN of when the last pass started): then inclusive,
    re-reading that second's records rather than risking one edited just after we read it."""
    if high_water is None:
        return None
    return high_water + 1 if high_water < last_started - CLOCK_MARGIN else high_water


def _reconcile_deletions(snapshot: Snapshot, *, now: int | None = None) -> int:
    """Remove records whose deletion event is in the snapshot (and was not followed by a restore).

    A record edited after its deletion event was restored first, so it stays. A record whose
    `updated_at` lies beyond `now` (future-dated) says nothing about when it was really last touched:
    its deletion event counts unless a restore event follows it."""
    deleted = 0
    for event_type, table in DELETION_EVENTS.items():
        restored = RESTORE_EVENTS.get(event_type, "")
        ids = [row[0] for row in snapshot.db.execute(
            f"SELECT DISTINCT e.entity_id FROM events e JOIN {table} r ON r.id = e.entity_id"
            " WHERE e.type = :deleted AND (e.created_at >= r.updated_at OR (r.updated_at > :now AND NOT EXISTS ("
            "   SELECT 1 FROM events x WHERE x.type = :restored AND x.entity_id = e.entity_id"
            "      AND x.created_at >= e.created_at)))",
            {"deleted": event_type, "restored": restored, "now": now if now is not None else 2 ** 62})]
        deleted += snapshot.delete(table, ids)
    return deleted


def _refresh_linked(reader: RecordsReader, snapshot: Snapshot, streams: list[StreamSummary], cap: int,
                    progress: Progress) -> int:
    """Read again the records whose links changed (queued in `sync_refresh` by new link events).

    A record read in this sync's own full pass (resumed or not: every page was read after the sync
    first started) already shows every link made before that start; only later link events need it
    read again."""
    read_ids = getattr(reader, "read_ids", None)
    if read_ids is None:
        return 0
    fresh = {s.name for s in streams if s.whole}
    refreshed = 0
    for table, ids in snapshot.pending_refresh(fresh_tables=fresh, before=cap).items():
        for chunk in _chunks(sorted(ids), REFRESH_CHUNK):
            rows = read_ids(table, chunk)
            snapshot.write_refreshed(table, rows, chunk)
            refreshed += len(rows)
        progress(say(MESSAGES, "refreshed", table=table, records=count_noun(len(ids), *RECORDS)))
    return refreshed


REFRESH_CHUNK = 50  # ids a request: `filter[id][]` fifty times keeps the URL far below 8 KB


def _sweep_deletions(reader: RecordsReader, snapshot: Snapshot, progress: Progress) -> int:
    """Where the CRM keeps no deletion event (Bitrix24), compare the snapshot's ids with the CRM's."""
    live_ids = getattr(reader, "live_ids", None)
    if live_ids is None:
        return 0
    deleted = 0
    for table, alive in (live_ids() or {}).items():
        known = {row[0] for row in snapshot.db.execute(f"SELECT id FROM {table}")}
        gone = sorted(known - alive)
        deleted += snapshot.delete(table, gone)
        if gone:
            progress(f"{table}: {len(gone)} deleted in the CRM, removed")
    return deleted


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]
