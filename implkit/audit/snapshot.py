"""The per-tenant snapshot: a SQLite copy of a CRM account's data that the checks read.

Rows arrive CRM-neutral (the provider maps its payloads, see
`implkit.providers.amocrm.records`) and are normalised once, here, as they
enter: phones to E.164, e-mails to a lower-cased key, INNs to digits with a
checksum verdict, names to comparison keys. Checks then group on stored keys
and never parse a phone again. The schema is documented in docs/snapshot.md.

Each sync page is written in one transaction together with its entity's
cursor, so an interrupted sync resumes where the last committed page ended.

Why this file is long: the SQL schema of the snapshot, its version upgrades, the per-audit tables
built over it and the atomic page writes of sync are one contract with docs/snapshot.md; every
reader and writer of the file goes through this module, so the schema and the code that depends on
it change in one place.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from implkit.audit.normalize import company_key, email_key, inn_key, name_key, phone_key
from implkit.files import private_file

# 2: the `calls` table (a call with its manager, direction, outcome and duration). A version-1 snapshot
# is upgraded on open (`_migrate`): the table is created and the streams that carry calls are read
# again whole by the next sync, so calls made before the upgrade are not missing.
SCHEMA_VERSION = 2
# Streams a version-1 snapshot read without keeping their calls: amoCRM's notes (the call's params).
CALL_STREAMS_V1 = ("notes.leads", "notes.contacts", "notes.companies")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- one row per synced entity: where the next (incremental or resumed) run starts
CREATE TABLE IF NOT EXISTS sync_cursors (
    entity TEXT PRIMARY KEY,
    mode TEXT NOT NULL,               -- full | incremental
    since INTEGER,                    -- updated_at high-water mark this run filters from (NULL: full)
    next_page INTEGER NOT NULL,       -- the page to request next; 0 when the run finished
    high_water INTEGER,               -- the largest updated_at (created_at for events) seen so far
    finished_at INTEGER,              -- when the last complete pass ended
    records INTEGER NOT NULL DEFAULT 0
);

-- records to read again by id after the streams: a new link event names them (a link need not change the
-- record's updated_at). `at`: the newest such event. Emptied as they are read; kept across a killed sync.
CREATE TABLE IF NOT EXISTS sync_refresh (
    entity TEXT NOT NULL, id INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (entity, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT,
    is_active INTEGER NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0,
    group_id INTEGER, role_id INTEGER, rights TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS roles (id INTEGER PRIMARY KEY, name TEXT NOT NULL, rights TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS pipelines (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, sort INTEGER NOT NULL DEFAULT 0,
    is_main INTEGER NOT NULL DEFAULT 0, is_archive INTEGER NOT NULL DEFAULT 0
);
-- stage kind: open | unsorted | won | lost. position: 1.. in sort order among the pipeline's stages.
CREATE TABLE IF NOT EXISTS stages (
    pipeline_id INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL,
    sort INTEGER NOT NULL DEFAULT 0, kind TEXT NOT NULL, position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pipeline_id, id)
);
CREATE TABLE IF NOT EXISTS loss_reasons (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS custom_fields (
    id INTEGER PRIMARY KEY, entity_type TEXT NOT NULL, name TEXT NOT NULL, code TEXT,
    type TEXT NOT NULL, required_statuses TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE IF NOT EXISTS leads (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', price INTEGER NOT NULL DEFAULT 0,
    responsible_user_id INTEGER, pipeline_id INTEGER NOT NULL, status_id INTEGER NOT NULL,
    is_open INTEGER NOT NULL,         -- status not in (142 won, 143 lost)
    loss_reason_id INTEGER, created_by INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    closed_at INTEGER, closest_task_at INTEGER,
    main_contact_id INTEGER, company_id INTEGER
);
CREATE INDEX IF NOT EXISTS leads_open ON leads (is_open, pipeline_id, status_id);
CREATE INDEX IF NOT EXISTS leads_main_contact ON leads (main_contact_id);
-- D13 counts the open deals per (client, pipeline) in one pass over this index, without reading the table.
-- is_open last, not first: an index led by is_open would compete with leads_open for every
-- `is_open = 1` check, and SQLite without statistics (a synced snapshot has none) may pick it, reading
-- the deals in client order, one random lookup each
-- (leads_main_contact stays beside it: D11 finds the deals without a client through it, where SQLite
-- without statistics would take leads_company's deals without a company instead, most of them.)
CREATE INDEX IF NOT EXISTS leads_client ON leads (main_contact_id, pipeline_id, is_open);
CREATE INDEX IF NOT EXISTS leads_company ON leads (company_id);
-- The orders the deal checks report in, as covering indexes, so that a check reads its deals already
-- in order and never sorts (nor looks up) 700,000 rows: open deals by budget, the largest first (D01-D04,
-- ORDER BY price DESC, id), every deal by creation (D06, D07, D17, ORDER BY created_at, id). `id` is a column
-- of each, right after the sort key, so that ties come in id order from the index too. The checks name
-- them (INDEXED BY): SQLite without statistics would read the deals through leads_open and sort them.
CREATE INDEX IF NOT EXISTS leads_open_by_price ON leads
    (price DESC, id, is_open, pipeline_id, status_id, responsible_user_id, created_at) WHERE is_open = 1;
-- leads_by_created holds every deal (created_at is NOT NULL), but as a partial index only a query that
-- says `created_at IS NOT NULL` may read it: the checks that want its order say so; every other query
-- on a period of deals (analytics, effect, the feed) keeps reading the table in id order, as it did.
CREATE INDEX IF NOT EXISTS leads_by_created ON leads
    (created_at, id, pipeline_id, status_id, price, responsible_user_id, is_open) WHERE created_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS lead_contacts (
    lead_id INTEGER NOT NULL, contact_id INTEGER NOT NULL, is_main INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (lead_id, contact_id)
);
CREATE INDEX IF NOT EXISTS lead_contacts_contact ON lead_contacts (contact_id);

CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', name_key TEXT NOT NULL DEFAULT '',
    responsible_user_id INTEGER, company_id INTEGER,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_company ON contacts (company_id);
CREATE TABLE IF NOT EXISTS companies (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', name_key TEXT NOT NULL DEFAULT '',
    responsible_user_id INTEGER, inn TEXT, inn_valid INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS companies_inn ON companies (inn);
-- phones and e-mails of contacts and companies, normalised on entry
CREATE TABLE IF NOT EXISTS channels (
    entity_type TEXT NOT NULL,        -- contacts | companies
    entity_id INTEGER NOT NULL,
    kind TEXT NOT NULL,               -- phone | email
    raw TEXT NOT NULL,
    key TEXT,                         -- E.164 phone / lower-cased e-mail; NULL when nothing usable
    valid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS channels_entity ON channels (entity_type, entity_id);
-- channels by key, covering what the duplicates pass reads of them (which entity, valid): the shared keys
-- of each kind are counted in one pass over this index in key order and their holders looked up by key,
-- and the contacts holding a phone read off it, no row of the table read (when it replaced channels_key
-- (kind, key), which older snapshots lose here, the pass's reads at 1M contacts went 3.2 -> 2.3 CPU s)
DROP INDEX IF EXISTS channels_key;
CREATE INDEX IF NOT EXISTS channels_by_key ON channels (kind, key, entity_type, valid, entity_id);
-- the few invalid phones and e-mails (C06), found without reading the valid millions
CREATE INDEX IF NOT EXISTS channels_invalid ON channels (entity_type, entity_id) WHERE valid = 0;
-- custom field values (text form), for fill rates (F01) and required fields (D10)
CREATE TABLE IF NOT EXISTS field_values (
    entity_type TEXT NOT NULL, entity_id INTEGER NOT NULL, field_id INTEGER NOT NULL, value TEXT,
    PRIMARY KEY (entity_type, entity_id, field_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS field_values_field ON field_values (field_id);

CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, responsible_user_id INTEGER, entity_type TEXT, entity_id INTEGER,
    is_completed INTEGER NOT NULL, task_type_id INTEGER, text TEXT NOT NULL DEFAULT '',
    complete_till INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, result_text TEXT
);
-- a record's tasks, open or done, with their due time, read without the table (D01, D14: is there an open
-- one; D02: the earliest overdue one). It replaces tasks_entity (entity_type, entity_id, is_completed),
-- its first three columns; a snapshot made before keeps both.
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (entity_type, entity_id, is_completed, complete_till);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY, entity_type TEXT NOT NULL, entity_id INTEGER NOT NULL, note_type TEXT NOT NULL,
    created_by INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_entity ON notes (entity_type, entity_id, created_at);
-- events the checks and analytics use: stage changes, calls, messages, deletions
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, entity_type TEXT NOT NULL, entity_id INTEGER NOT NULL,
    created_by INTEGER, created_at INTEGER NOT NULL,
    pipeline_before INTEGER, status_before INTEGER, pipeline_after INTEGER, status_after INTEGER
);
CREATE INDEX IF NOT EXISTS events_entity ON events (entity_type, entity_id, created_at);
CREATE INDEX IF NOT EXISTS events_type ON events (type, created_at);
-- the stage moves deal by deal, with where each went from and to (D15 reads them all from here, in deal
-- order, never the table: through events_type, by time, a lookup each)
CREATE INDEX IF NOT EXISTS events_stage_moves ON events
    (type, entity_id, pipeline_before, status_before, pipeline_after, status_after);

-- calls as the CRM records them: amoCRM call notes (`call_in`/`call_out` and their params), Bitrix24's
-- telephony statistics (voximplant.statistic.get). user_id: the manager on the call; direction: in | out;
-- answered: a conversation took place; duration: seconds; entity: the record the call is logged on
-- (NULL when the CRM names none the snapshot holds); activity_id: Bitrix24's call activity (its owner,
-- in `tasks`, may be the deal); status: the CRM's own outcome code (amoCRM call_status 1-7, Bitrix24
-- CALL_FAILED_CODE).
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY, user_id INTEGER, direction TEXT NOT NULL, answered INTEGER NOT NULL,
    duration INTEGER NOT NULL DEFAULT 0, entity_type TEXT, entity_id INTEGER, activity_id INTEGER,
    at INTEGER NOT NULL, status TEXT
);
CREATE INDEX IF NOT EXISTS calls_at ON calls (at, user_id);

-- a deal's "touches": calls, chat messages, SMS and e-mails, with their direction (first response D06
-- counts outgoing ones; touches in the first day D07 count both; D03 counts any). A touch logged on
-- the deal's contact or company counts for the deal too, as the deal card's feed shows it to a manager.
CREATE VIEW IF NOT EXISTS touches AS
    WITH logged (entity_type, entity_id, at, direction) AS (
        SELECT entity_type, entity_id, created_at,
               CASE WHEN note_type IN ('call_out', 'sms_out', 'email_out') THEN 'out' ELSE 'in' END
          FROM notes WHERE note_type IN ('call_out', 'sms_out', 'email_out', 'call_in', 'sms_in', 'email_in')
        UNION ALL
        SELECT CASE entity_type WHEN 'lead' THEN 'leads' WHEN 'contact' THEN 'contacts'
                                WHEN 'company' THEN 'companies' END,
               entity_id, created_at, CASE WHEN type LIKE 'outgoing%' THEN 'out' ELSE 'in' END FROM events
         WHERE type IN ('outgoing_call', 'outgoing_chat_message', 'outgoing_sms',
                        'incoming_call', 'incoming_chat_message', 'incoming_sms'))
    SELECT entity_id AS lead_id, at, direction FROM logged WHERE entity_type = 'leads'
    UNION ALL
    SELECT lc.lead_id, g.at, g.direction FROM logged g JOIN lead_contacts lc ON lc.contact_id = g.entity_id
     WHERE g.entity_type = 'contacts'
    UNION ALL
    SELECT l.id, g.at, g.direction FROM logged g JOIN leads l ON l.company_id = g.entity_id
     WHERE g.entity_type = 'companies';
"""

# Directum RX tenants keep their counterparty directory in tables of their own (audit/directum_schema.py)
from implkit.audit.directum_schema import DIRECTUM_SCHEMA  # noqa: E402

SCHEMA += DIRECTUM_SCHEMA

# What several checks would otherwise recompute per lead with correlated subqueries (over the `touches`
# view, three unions deep), in dependency order; `:now` is the snapshot time and `{schema}` where they go.
# A pure function of the snapshot and its time, which only sync changes: sync builds them as tables of the
# snapshot at its end (`Snapshot.build_audit_tables`) and every audit until the next sync reads them; on a
# snapshot without them for its time (an older implkit's, a half-written one) the engine builds them as
# TEMP tables of its read connection, per audit (engine._Readers.tables). A check's SQL names them like any
# table; the check compiler builds them empty (checks._schema_db).
AUDIT_TABLES: dict[str, tuple[str, ...]] = {
    # every touch of a deal (its own, its contacts', its company's), indexed for per-deal range reads
    "lead_touches": (
        "CREATE TABLE {schema}.lead_touches AS SELECT lead_id, at, direction FROM touches WHERE lead_id IS NOT NULL",
        "CREATE INDEX {schema}.lead_touches_at ON lead_touches (lead_id, at, direction)",
    ),
    # the latest thing that happened to an open or closed deal: an event, a note, a touch up to now, a
    # completed task (D03's «last activity»; the deal's creation is taken in the check)
    "lead_last_activity": (
        "CREATE TABLE {schema}.lead_last_activity (lead_id INTEGER PRIMARY KEY, at INTEGER NOT NULL)",
        """INSERT INTO {schema}.lead_last_activity SELECT lead_id, max(at) FROM (
               SELECT entity_id AS lead_id, created_at AS at FROM events WHERE entity_type = 'lead'
               UNION ALL SELECT entity_id, created_at FROM notes WHERE entity_type = 'leads'
               UNION ALL SELECT lead_id, at FROM {schema}.lead_touches WHERE at <= :now
               UNION ALL SELECT entity_id, updated_at FROM tasks WHERE entity_type = 'leads' AND is_completed = 1)
            WHERE lead_id IS NOT NULL GROUP BY lead_id""",
    ),
    # each deal's first outgoing touch at or after its creation (D06: how long the first response took)
    "lead_first_out": (
        "CREATE TABLE {schema}.lead_first_out (lead_id INTEGER PRIMARY KEY, at INTEGER NOT NULL)",
        """INSERT INTO {schema}.lead_first_out SELECT t.lead_id, min(t.at) FROM {schema}.lead_touches t
            JOIN leads l ON l.id = t.lead_id WHERE t.direction = 'out' AND t.at >= l.created_at GROUP BY t.lead_id""",
    ),
    # when a deal last entered each stage it was moved into (D04: how long it has stood in its stage)
    "lead_stage_entered": (
        "CREATE TABLE {schema}.lead_stage_entered (lead_id INTEGER NOT NULL, status_id INTEGER, at INTEGER NOT NULL,"
        " PRIMARY KEY (lead_id, status_id)) WITHOUT ROWID",
        """INSERT INTO {schema}.lead_stage_entered SELECT entity_id, status_after, max(created_at) FROM events
            WHERE entity_type = 'lead' AND type = 'lead_status_changed' AND status_after IS NOT NULL
            GROUP BY entity_id, status_after""",
    ),
}
AUDIT_TABLE_NEEDS = {"lead_last_activity": ("lead_touches",), "lead_first_out": ("lead_touches",)}
# What `meta` says of the stored ones: the snapshot time they were built for, and which definitions built
# them (a later implkit that changes one must not read tables an older one stored).
AUDIT_TABLES_AT, AUDIT_TABLES_DEFINITION = "audit_tables_at", "audit_tables_definition"
_DEFINITION = hashlib.sha256(json.dumps(AUDIT_TABLES, sort_keys=True).encode()).hexdigest()[:16]


def build_audit_tables(db: sqlite3.Connection, names: Iterable[str], *, schema: str, now: int) -> None:
    """Build the shared tables `names` (in dependency order) into `schema` ("main": stored; "temp": one
    connection's own)."""
    for name in names:
        for statement in AUDIT_TABLES[name]:
            db.execute(statement.format(schema=schema), {"now": now} if ":now" in statement else {})


def stored_audit_tables(db: sqlite3.Connection, now: int) -> bool:
    """Whether the snapshot on `db` holds the shared tables, built by these definitions for time `now`."""
    keys = (AUDIT_TABLES_AT, AUDIT_TABLES_DEFINITION)
    meta = dict(db.execute("SELECT key, value FROM main.meta WHERE key IN (?, ?)", keys).fetchall())
    return meta.get(AUDIT_TABLES_AT) == str(now) and meta.get(AUDIT_TABLES_DEFINITION) == _DEFINITION


# Snapshot tables per synced entity (what `delete` removes and `counts` reports).
RECORD_TABLES = ("users", "roles", "pipelines", "stages", "loss_reasons", "custom_fields",
                 "leads", "contacts", "companies", "tasks", "notes", "events", "calls")
WON, LOST = 142, 143


class Snapshot:
    """A handle on one tenant's snapshot file."""

    def __init__(self, path: str | Path, *, reader: bool = False):
        """Open (creating or upgrading the schema), or with `reader=True` only open: the extra read
        connections of a parallel audit must not touch the schema under each other's queries."""
        self.path = Path(path)
        if not reader:
            private_file(self.path)  # customer data: 0600 before SQLite opens it (its -wal/-shm inherit it)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-100000")  # 100 MB page cache per connection: checks scan big tables
        self.db.execute("PRAGMA temp_store=MEMORY")
        if reader:
            return
        # Views are recreated so that a newer definition wins; in one transaction, so that another
        # connection reading the view never finds it missing between the drop and the create.
        self.db.executescript(f"BEGIN IMMEDIATE; DROP VIEW IF EXISTS touches; {SCHEMA}; COMMIT;")
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older snapshot to SCHEMA_VERSION (the tables themselves are created by SCHEMA).
        A new file starts at the current version; one without the row is version 1."""
        with self.transaction() as db:
            fresh = db.execute("SELECT count(*) FROM meta").fetchone()[0] == 0
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = SCHEMA_VERSION if fresh else int(row[0]) if row else 1
            if version < 2:
                # The notes a version-1 sync read kept no call params: forget those streams' cursors, so the
                # next sync reads them whole (a full pass upserts by id) and fills `calls`.
                db.execute(f"DELETE FROM sync_cursors WHERE entity IN ({','.join('?' * len(CALL_STREAMS_V1))})",
                           CALL_STREAMS_V1)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; nested use in one thread joins the outer one. Sync writes pages
        of several streams from several threads through this one connection: the lock serialises them."""
        with self._lock:
            if self.db.in_transaction:
                yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")

    # --- meta -----------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, **values: Any) -> None:
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(k, str(v)) for k, v in values.items() if v is not None])

    @property
    def snapshot_at(self) -> int | None:
        """The moment the last complete sync started: every check's "now"."""
        value = self.get_meta("snapshot_at")
        return int(value) if value else None

    # --- cursors --------------------------------------------------------------
    def cursor(self, entity: str) -> sqlite3.Row | None:
        with self._lock:
            return self.db.execute("SELECT * FROM sync_cursors WHERE entity = ?", (entity,)).fetchone()

    def _save_cursor(self, db: sqlite3.Connection, entity: str, **fields: Any) -> None:
        current = db.execute("SELECT * FROM sync_cursors WHERE entity = ?", (entity,)).fetchone()
        row = dict(current) if current else {"entity": entity, "mode": "full", "since": None, "next_page": 1,
                                             "high_water": None, "finished_at": None, "records": 0}
        row.update(fields)
        db.execute("INSERT OR REPLACE INTO sync_cursors (entity, mode, since, next_page, high_water, finished_at,"
                   " records) VALUES (:entity, :mode, :since, :next_page, :high_water, :finished_at, :records)", row)

    def start_pass(self, entity: str, *, mode: str, since: int | None) -> None:
        with self.transaction() as db:
            self._save_cursor(db, entity, mode=mode, since=since, next_page=1, records=0)

    def finish_pass(self, entity: str, *, at: int) -> None:
        with self.transaction() as db:
            self._save_cursor(db, entity, next_page=0, finished_at=at)

    def write_page(self, table: str, rows: list[dict[str, Any]], *, cursor: str, next_page: int,
                   high_water: int | None, since: Any = ..., replace_all: bool = False) -> None:
        """Store one page of records into `table` and advance the stream's `cursor`, atomically."""
        with self.transaction() as db:
            _stale(db)
            if replace_all:  # small dictionaries (users, pipelines...) are re-read whole every run
                _clear(db, table)
            WRITERS[table](db, rows)
            current = db.execute("SELECT high_water, records FROM sync_cursors WHERE entity = ?",
                                 (cursor,)).fetchone()
            mark = max(filter(None, (high_water, current["high_water"] if current else None)), default=None)
            fields = {"next_page": next_page, "high_water": mark,
                      "records": (current["records"] if current else 0) + len(rows)}
            if since is not ...:
                fields["since"] = since
            self._save_cursor(db, cursor, **fields)

    def pending_refresh(self, *, fresh_tables: set[str], before: int) -> dict[str, set[int]]:
        """Records queued by link events, by table. Those of a table read whole in this sync, by an event
        older than `before` (when that read began), already show the change: they are dropped here."""
        with self.transaction() as db:
            marks = ",".join("?" * len(fresh_tables)) or "NULL"
            db.execute(f"DELETE FROM sync_refresh WHERE entity IN ({marks}) AND at < ?", [*fresh_tables, before])
            queued: dict[str, set[int]] = {}
            for entity, record_id in db.execute("SELECT entity, id FROM sync_refresh"):
                queued.setdefault(entity, set()).add(record_id)
        return queued

    def write_refreshed(self, table: str, rows: list[dict[str, Any]], ids: Iterable[int]) -> None:
        """Store records read again by id and take them (found or not: deleted) off the queue, atomically."""
        ids = list(ids)
        with self.transaction() as db:
            _stale(db)
            if rows:
                WRITERS[table](db, rows)
            for chunk in _chunks(ids, 500):
                db.execute(f"DELETE FROM sync_refresh WHERE entity = ? AND id IN ({','.join('?' * len(chunk))})",
                           [table, *chunk])

    def derive(self) -> None:
        """Columns the CRM derives from other records without touching the record's `updated_at`
        (amoCRM's `closest_task_at` moves when a task is added or done): computed here from the
        snapshot's own tables after each sync, so an incremental snapshot equals a full one and both
        CRMs have them."""
        with self.transaction() as db:
            _stale(db)
            db.execute("UPDATE leads SET closest_task_at = (SELECT min(t.complete_till) FROM tasks t"
                       " WHERE t.entity_type = 'leads' AND t.entity_id = leads.id AND t.is_completed = 0)")

    def build_audit_tables(self, now: int) -> None:
        """The audit's shared tables (AUDIT_TABLES) as tables of the snapshot, for snapshot time `now`, replacing
        any earlier ones, and `meta` saying for which time and definitions: sync's end, after `derive`, so
        every audit until the next sync reads them instead of building them (at 1M + 1M: 2.5 CPU s here,
        once; the checks of each audit 21.7 -> 19.9 CPU s). Any later write to the snapshot takes the mark away (`_stale`) until this runs again."""
        with self.transaction() as db:
            for name in reversed(AUDIT_TABLES):  # (dropping a table drops its index)
                db.execute(f"DROP TABLE IF EXISTS main.{name}")
            build_audit_tables(db, AUDIT_TABLES, schema="main", now=now)
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(AUDIT_TABLES_AT, str(now)), (AUDIT_TABLES_DEFINITION, _DEFINITION)])

    def analyze(self) -> None:
        """Statistics for SQLite's planner (ANALYZE), after each sync: with them the audit's checks take
        14% less CPU at 1M + 1M (39.3 -> 33.8 s, bench/audit_scale.py on one snapshot with and without),
        for about a second of sync at that size. The checks are written not to need them (a snapshot of
        an older implkit has none until its next sync)."""
        self.db.execute("ANALYZE")

    def delete(self, entity: str, ids: Iterable[int]) -> int:
        """Remove records the CRM reports deleted (with everything hanging off them)."""
        ids = list(ids)
        if not ids:
            return 0
        with self.transaction() as db:
            _stale(db)
            for chunk in _chunks(ids, 500):
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM {entity} WHERE id IN ({marks})", chunk)
                if entity in ("contacts", "companies"):
                    db.execute(f"DELETE FROM channels WHERE entity_type = ? AND entity_id IN ({marks})",
                               [entity, *chunk])
                if entity in ("leads", "contacts", "companies"):
                    db.execute(f"DELETE FROM field_values WHERE entity_type = ? AND entity_id IN ({marks})",
                               [entity, *chunk])
                if entity == "leads":
                    db.execute(f"DELETE FROM lead_contacts WHERE lead_id IN ({marks})", chunk)
        return len(ids)

    # --- reading --------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        return {t: self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in RECORD_TABLES}

    def contents(self) -> dict[str, list[tuple]]:
        """Every data table's rows, sorted: two snapshots of one account at one moment compare equal
        whichever way they were filled (an incremental run against a fresh full one). Sync bookkeeping
        (meta, cursors, the refresh queue) is left out."""
        tables = [*RECORD_TABLES, "lead_contacts", "channels", "field_values"]
        with self._lock:
            return {t: sorted((tuple(row) for row in self.db.execute(f"SELECT * FROM {t}")), key=repr) for t in tables}

    def query(self, sql: str, params: dict | tuple = ()) -> list[sqlite3.Row]:
        return self.db.execute(sql, params).fetchall()

    def insert(self, entity: str, rows: list[dict[str, Any]]) -> None:
        """Write neutral rows directly (tests, benchmarks, imports): the same path sync uses."""
        with self.transaction() as db:
            _stale(db)
            WRITERS[entity](db, rows)


def _stale(db: sqlite3.Connection) -> None:
    """A write to the snapshot's records: the stored audit tables no longer follow from them (a sync killed
    half-way, an import) until sync's end builds them again; until then the engine builds its own."""
    db.execute("DELETE FROM meta WHERE key = ?", (AUDIT_TABLES_AT,))


# --- writers: neutral rows → tables, normalising on the way in -----------------------


def _write_users(db: sqlite3.Connection, rows: list[dict]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO users VALUES (:id, :name, :email, :is_active, :is_admin, :group_id, :role_id,"
        " :rights)",
        [{"email": None, "is_admin": False, "group_id": None, "role_id": None, **r,
          "rights": json.dumps(r.get("rights") or {}, ensure_ascii=False)} for r in rows])


def _write_roles(db: sqlite3.Connection, rows: list[dict]) -> None:
    db.executemany("INSERT OR REPLACE INTO roles VALUES (:id, :name, :rights)",
                   [{**r, "rights": json.dumps(r.get("rights") or {}, ensure_ascii=False)} for r in rows])


def _write_pipelines(db: sqlite3.Connection, rows: list[dict]) -> None:
    for p in rows:
        db.execute("INSERT OR REPLACE INTO pipelines VALUES (?, ?, ?, ?, ?)",
                   (p["id"], p["name"], p.get("sort", 0), int(bool(p.get("is_main"))),
                    int(bool(p.get("is_archive")))))
        db.execute("DELETE FROM stages WHERE pipeline_id = ?", (p["id"],))
        stages = sorted(p.get("stages") or (), key=lambda s: (s.get("sort", 0), s["id"]))
        db.executemany("INSERT INTO stages VALUES (?, ?, ?, ?, ?, ?)",
                       [(p["id"], s["id"], s["name"], s.get("sort", 0), stage_kind(s), pos)
                        for pos, s in enumerate(stages, start=1)])


def stage_kind(stage: dict) -> str:
    if stage["id"] == WON:
        return "won"
    if stage["id"] == LOST:
        return "lost"
    return "unsorted" if stage.get("type") == 1 else "open"


def _write_loss_reasons(db: sqlite3.Connection, rows: list[dict]) -> None:
    db.executemany("INSERT OR REPLACE INTO loss_reasons VALUES (:id, :name)", rows)


def _write_custom_fields(db: sqlite3.Connection, rows: list[dict]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO custom_fields VALUES (:id, :entity_type, :name, :code, :type, :required_statuses)",
        [{"code": None, **r, "required_statuses": json.dumps(r.get("required_statuses") or [])} for r in rows])


def _write_leads(db: sqlite3.Connection, rows: list[dict]) -> None:
    ids = [r["id"] for r in rows]
    _forget_children(db, "leads", ids)
    db.executemany(
        "INSERT OR REPLACE INTO leads VALUES (:id, :name, :price, :responsible_user_id, :pipeline_id, :status_id,"
        " :is_open, :loss_reason_id, :created_by, :created_at, :updated_at, :closed_at, :closest_task_at,"
        " :main_contact_id, :company_id)",
        [_lead_row(r) for r in rows])
    db.executemany("INSERT OR REPLACE INTO lead_contacts VALUES (?, ?, ?)",
                   [(r["id"], c["id"], int(bool(c.get("is_main")))) for r in rows for c in r.get("contacts") or ()])
    _write_field_values(db, "leads", rows)


def _lead_row(r: dict) -> dict:
    contacts = r.get("contacts") or ()
    main = next((c["id"] for c in contacts if c.get("is_main")), contacts[0]["id"] if contacts else None)
    return {"name": "", "price": 0, "responsible_user_id": None, "loss_reason_id": None, "created_by": None,
            "closed_at": None, "closest_task_at": None, "company_id": None, **r,
            "price": r.get("price") or 0, "is_open": int(r["status_id"] not in (WON, LOST)),
            "main_contact_id": main}


def _write_contacts(db: sqlite3.Connection, rows: list[dict]) -> None:
    ids = [r["id"] for r in rows]
    _forget_children(db, "contacts", ids)
    db.executemany(
        "INSERT OR REPLACE INTO contacts VALUES (:id, :name, :name_key, :responsible_user_id, :company_id,"
        " :created_at, :updated_at)",
        [{"responsible_user_id": None, "company_id": None, **r, "name": r.get("name") or "",
          "name_key": name_key(r.get("name"))} for r in rows])
    _write_channels(db, "contacts", rows)
    _write_field_values(db, "contacts", rows)


def _write_companies(db: sqlite3.Connection, rows: list[dict]) -> None:
    ids = [r["id"] for r in rows]
    _forget_children(db, "companies", ids)
    out = []
    for r in rows:
        inn = inn_key(r.get("inn"))
        out.append({"responsible_user_id": None, **r, "name": r.get("name") or "",
                    "name_key": company_key(r.get("name")), "inn": inn.key, "inn_valid": int(inn.valid)})
    db.executemany(
        "INSERT OR REPLACE INTO companies VALUES (:id, :name, :name_key, :responsible_user_id, :inn, :inn_valid,"
        " :created_at, :updated_at)", out)
    _write_channels(db, "companies", rows)
    _write_field_values(db, "companies", rows)


def _write_channels(db: sqlite3.Connection, entity: str, rows: list[dict]) -> None:
    values = []
    for r in rows:
        for raw in filter(None, r.get("phones") or ()):
            k = phone_key(raw)
            values.append((entity, r["id"], "phone", str(raw), k.key, int(k.valid)))
        for raw in filter(None, r.get("emails") or ()):
            k = email_key(raw)
            values.append((entity, r["id"], "email", str(raw), k.key, int(k.valid)))
    db.executemany("INSERT INTO channels VALUES (?, ?, ?, ?, ?, ?)", values)


def _write_field_values(db: sqlite3.Connection, entity: str, rows: list[dict]) -> None:
    db.executemany("INSERT OR REPLACE INTO field_values VALUES (?, ?, ?, ?)",
                   [(entity, r["id"], int(field_id), None if value is None else str(value))
                    for r in rows for field_id, value in (r.get("fields") or {}).items()
                    if value not in (None, "", [])])


def _forget_children(db: sqlite3.Connection, entity: str, ids: list[int]) -> None:
    """Drop what hangs off records about to be rewritten (an update replaces their phones, links, fields)."""
    for chunk in _chunks(ids, 500):
        marks = ",".join("?" * len(chunk))
        if entity in ("contacts", "companies"):
            db.execute(f"DELETE FROM channels WHERE entity_type = ? AND entity_id IN ({marks})", [entity, *chunk])
        if entity == "leads":
            db.execute(f"DELETE FROM lead_contacts WHERE lead_id IN ({marks})", chunk)
        db.execute(f"DELETE FROM field_values WHERE entity_type = ? AND entity_id IN ({marks})", [entity, *chunk])


def _write_tasks(db: sqlite3.Connection, rows: list[dict]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO tasks VALUES (:id, :responsible_user_id, :entity_type, :entity_id, :is_completed,"
        " :task_type_id, :text, :complete_till, :created_at, :updated_at, :result_text)",
        [{"responsible_user_id": None, "entity_type": None, "entity_id": None, "task_type_id": 1, "text": "",
          "complete_till": None, "result_text": None, **r, "is_completed": int(bool(r.get("is_completed")))}
         for r in rows])


def _write_notes(db: sqlite3.Connection, rows: list[dict]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO notes VALUES (:id, :entity_type, :entity_id, :note_type, :created_by, :created_at,"
        " :updated_at)", [{"created_by": None, **{k: v for k, v in r.items() if k != "call"}} for r in rows])
    # a call note (amoCRM) carries its call: the call is logged on the note's record, at the note's time
    _write_calls(db, [{"id": f"note:{r['id']}", "entity_type": r["entity_type"], "entity_id": r["entity_id"],
                       "at": r["created_at"], **r["call"]} for r in rows if r.get("call")])


def _write_calls(db: sqlite3.Connection, rows: list[dict]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO calls VALUES (:id, :user_id, :direction, :answered, :duration, :entity_type,"
        " :entity_id, :activity_id, :at, :status)",
        [{"user_id": None, "entity_type": None, "entity_id": None, "activity_id": None, "status": None, **r,
          "answered": int(bool(r["answered"])), "duration": int(r.get("duration") or 0)} for r in rows])


def _write_events(db: sqlite3.Connection, rows: list[dict]) -> None:
    # A link event seen for the first time queues the records it names (`refresh`: [(table, id)]) to be
    # read again; one read again before (the same event on a later page or pass) queues nothing.
    linking = [r for r in rows if r.get("refresh")]
    if linking:
        known = set()
        for chunk in _chunks([r["id"] for r in linking], 500):
            known |= {i for (i,) in db.execute(
                f"SELECT id FROM events WHERE id IN ({','.join('?' * len(chunk))})", chunk)}
        db.executemany("INSERT INTO sync_refresh VALUES (?, ?, ?) ON CONFLICT (entity, id) DO UPDATE"
                       " SET at = max(at, excluded.at)",
                       [(table, record_id, r["created_at"]) for r in linking if r["id"] not in known
                        for table, record_id in r["refresh"]])
    _chain_stages(db, rows)
    db.executemany(
        "INSERT OR REPLACE INTO events VALUES (:id, :type, :entity_type, :entity_id, :created_by, :created_at,"
        " :pipeline_before, :status_before, :pipeline_after, :status_after)",
        [{"created_by": None, "pipeline_before": None, "status_before": None, "pipeline_after": None,
          "status_after": None, **r} for r in rows])


def _chain_stages(db: sqlite3.Connection, rows: list[dict]) -> None:
    """A stage entry that names only where the deal went (`chain`: Bitrix24's stage history) gets where
    it came from: the deal's previous entry, earlier on this page or already in the snapshot. Kept
    here, not in the reader's memory, so that an incremental or resumed pass fills it as a full one does.
    Entries of one second are ordered by id length, then id (`stagehistory:9` before `stagehistory:10`)."""
    last: dict[int, tuple] = {}
    for row in rows:
        if not row.get("chain"):
            continue
        entity = row["entity_id"]
        if entity not in last:
            found = db.execute(
                "SELECT pipeline_after, status_after FROM events WHERE entity_type = :kind AND entity_id = :entity"
                " AND type = 'lead_status_changed' AND (created_at < :at OR (created_at = :at AND"
                " (length(id) < length(:id) OR (length(id) = length(:id) AND id < :id))))"
                " ORDER BY created_at DESC, length(id) DESC, id DESC LIMIT 1",
                {"kind": row["entity_type"], "entity": entity, "at": row["created_at"], "id": row["id"]}).fetchone()
            last[entity] = tuple(found) if found else (None, None)
        row["pipeline_before"], row["status_before"] = last[entity]
        last[entity] = (row.get("pipeline_after"), row.get("status_after"))


WRITERS = {
    "users": _write_users, "roles": _write_roles, "pipelines": _write_pipelines,
    "loss_reasons": _write_loss_reasons, "custom_fields": _write_custom_fields,
    "leads": _write_leads, "contacts": _write_contacts, "companies": _write_companies,
    "tasks": _write_tasks, "notes": _write_notes, "events": _write_events, "calls": _write_calls,
}


def _clear(db: sqlite3.Connection, entity: str) -> None:
    db.execute(f"DELETE FROM {entity}")
    if entity == "pipelines":
        db.execute("DELETE FROM stages")


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
