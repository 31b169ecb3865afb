"""The sandbox's SQLite store: one file, many emulated accounts, never mixed.

Every table carries `account_id`, and every query the emulators make filters
on it, so a token of account A can never see a row of account B. Ids are
allocated from one sequence per table across accounts, as on the real
platform (an amoCRM lead id is unique platform-wide); statuses 142 and 143
are the documented exception (the same ids in every pipeline).

Timestamps are Unix seconds (UTC). JSON columns hold the documented
sub-structures (custom field values, rights, enums) as text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- one row per emulated account (amoCRM) or portal (Bitrix24)
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY,
    crm TEXT NOT NULL DEFAULT 'amocrm',          -- amocrm | bitrix24
    subdomain TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    settings TEXT NOT NULL DEFAULT '{}',         -- currency, timezone, is_unsorted_on, is_loss_reason_enabled, rate limits...
    UNIQUE (crm, subdomain)
);

-- OAuth clients (integrations), codes and tokens. Tokens are stored as given to
-- the client: this is a local emulator, not a vault.
CREATE TABLE IF NOT EXISTS oauth_clients (
    account_id INTEGER NOT NULL,
    client_id TEXT NOT NULL PRIMARY KEY,
    client_secret TEXT NOT NULL,
    redirect_uri TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_codes (
    code TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    user_id INTEGER,
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL,
    kind TEXT NOT NULL,                          -- access | refresh | long_lived | webhook
    client_id TEXT,
    user_id INTEGER,
    expires_at INTEGER,                          -- NULL: never
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_account ON tokens (account_id);

CREATE TABLE IF NOT EXISTS user_groups (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    rights TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS users (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    lang TEXT NOT NULL DEFAULT 'ru',
    is_active INTEGER NOT NULL DEFAULT 1,
    is_admin INTEGER NOT NULL DEFAULT 0,
    is_free INTEGER NOT NULL DEFAULT 0,
    group_id INTEGER,
    role_id INTEGER,
    rights TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS users_account ON users (account_id);

CREATE TABLE IF NOT EXISTS pipelines (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sort INTEGER NOT NULL DEFAULT 0,
    is_main INTEGER NOT NULL DEFAULT 0,
    is_unsorted_on INTEGER NOT NULL DEFAULT 1,
    is_archive INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pipelines_account ON pipelines (account_id);
CREATE TABLE IF NOT EXISTS statuses (
    account_id INTEGER NOT NULL,
    pipeline_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    sort INTEGER NOT NULL DEFAULT 0,
    is_editable INTEGER NOT NULL DEFAULT 1,
    color TEXT NOT NULL DEFAULT '#fffeb2',
    type INTEGER NOT NULL DEFAULT 0,             -- 0 ordinary, 1 unsorted
    descriptions TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (account_id, pipeline_id, id)
);
CREATE TABLE IF NOT EXISTS status_ids (id INTEGER PRIMARY KEY);  -- the sequence for status ids

CREATE TABLE IF NOT EXISTS custom_field_groups (
    account_id INTEGER NOT NULL,
    entity_type TEXT NOT NULL,
    id TEXT NOT NULL,                            -- string ids, as documented
    name TEXT NOT NULL,
    sort INTEGER NOT NULL DEFAULT 0,
    is_predefined INTEGER NOT NULL DEFAULT 0,
    type TEXT NOT NULL DEFAULT 'custom_field_group',
    PRIMARY KEY (account_id, entity_type, id)
);
CREATE TABLE IF NOT EXISTS custom_fields (
    account_id INTEGER NOT NULL,
    entity_type TEXT NOT NULL,                   -- leads | contacts | companies | customers
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    code TEXT,
    sort INTEGER NOT NULL DEFAULT 0,
    type TEXT NOT NULL,
    group_id TEXT,
    is_predefined INTEGER NOT NULL DEFAULT 0,
    is_deletable INTEGER NOT NULL DEFAULT 1,
    is_api_only INTEGER NOT NULL DEFAULT 0,
    required_statuses TEXT NOT NULL DEFAULT '[]',
    enums TEXT,                                  -- JSON list of {id, value, sort, code?} or NULL
    settings TEXT NOT NULL DEFAULT '{}'          -- remind, currency, ... per type
);
CREATE INDEX IF NOT EXISTS custom_fields_account ON custom_fields (account_id, entity_type);
CREATE TABLE IF NOT EXISTS enum_ids (id INTEGER PRIMARY KEY);    -- the sequence for enum ids

CREATE TABLE IF NOT EXISTS loss_reasons (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    sort INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    pipeline_id INTEGER,
    external_id TEXT,
    services TEXT NOT NULL DEFAULT '[]',
    is_default INTEGER NOT NULL DEFAULT 0,
    origin_code TEXT
);
CREATE TABLE IF NOT EXISTS tags (
    account_id INTEGER NOT NULL,
    entity_type TEXT NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    color TEXT
);
CREATE TABLE IF NOT EXISTS webhooks (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    settings TEXT NOT NULL DEFAULT '[]',
    sort INTEGER NOT NULL DEFAULT 1,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    created_by INTEGER
);

-- records ---------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS leads (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    price INTEGER NOT NULL DEFAULT 0,
    responsible_user_id INTEGER,
    group_id INTEGER NOT NULL DEFAULT 0,
    status_id INTEGER NOT NULL,
    pipeline_id INTEGER NOT NULL,
    loss_reason_id INTEGER,
    source_id INTEGER,
    created_by INTEGER NOT NULL DEFAULT 0,
    updated_by INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at INTEGER,
    closest_task_at INTEGER,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    score INTEGER,
    labor_cost INTEGER,
    custom_fields_values TEXT,                   -- JSON list or NULL, as the API shows it
    tags TEXT NOT NULL DEFAULT '[]'              -- JSON list of tag ids
);
CREATE INDEX IF NOT EXISTS leads_updated ON leads (account_id, updated_at, id);
CREATE INDEX IF NOT EXISTS leads_status ON leads (account_id, pipeline_id, status_id);

CREATE TABLE IF NOT EXISTS contacts (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    responsible_user_id INTEGER,
    group_id INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL DEFAULT 0,
    updated_by INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closest_task_at INTEGER,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    custom_fields_values TEXT,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS contacts_updated ON contacts (account_id, updated_at, id);

CREATE TABLE IF NOT EXISTS companies (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    responsible_user_id INTEGER,
    group_id INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL DEFAULT 0,
    updated_by INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closest_task_at INTEGER,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    custom_fields_values TEXT,
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS companies_updated ON companies (account_id, updated_at, id);

-- links between records: lead<->contact, lead<->company, contact<->company
CREATE TABLE IF NOT EXISTS entity_links (
    account_id INTEGER NOT NULL,
    entity_type TEXT NOT NULL,                   -- leads | contacts | companies
    entity_id INTEGER NOT NULL,
    to_entity_type TEXT NOT NULL,
    to_entity_id INTEGER NOT NULL,
    is_main INTEGER NOT NULL DEFAULT 0,          -- main contact of a lead
    metadata TEXT,
    PRIMARY KEY (account_id, entity_type, entity_id, to_entity_type, to_entity_id)
);
CREATE INDEX IF NOT EXISTS entity_links_reverse ON entity_links (account_id, to_entity_type, to_entity_id);

CREATE TABLE IF NOT EXISTS tasks (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    created_by INTEGER NOT NULL DEFAULT 0,
    updated_by INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    responsible_user_id INTEGER NOT NULL,
    group_id INTEGER NOT NULL DEFAULT 0,
    entity_id INTEGER,
    entity_type TEXT,                            -- leads | contacts | companies | customers (plural)
    is_completed INTEGER NOT NULL DEFAULT 0,
    task_type_id INTEGER NOT NULL DEFAULT 1,
    text TEXT NOT NULL,
    duration INTEGER NOT NULL DEFAULT 0,
    complete_till INTEGER NOT NULL,
    result TEXT                                  -- JSON {text} or NULL
);
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks (account_id, updated_at, id);
CREATE INDEX IF NOT EXISTS tasks_entity ON tasks (account_id, entity_type, entity_id);

CREATE TABLE IF NOT EXISTS notes (
    account_id INTEGER NOT NULL,
    id INTEGER PRIMARY KEY,
    entity_type TEXT NOT NULL,                   -- leads | contacts | companies | customers
    entity_id INTEGER NOT NULL,
    note_type TEXT NOT NULL,                     -- common, call_in, call_out, service_message, ...
    params TEXT NOT NULL DEFAULT '{}',
    responsible_user_id INTEGER,
    group_id INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL DEFAULT 0,
    updated_by INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_entity ON notes (account_id, entity_type, entity_id);

CREATE TABLE IF NOT EXISTS events (
    account_id INTEGER NOT NULL,
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,                            -- event ids are strings in the API
    type TEXT NOT NULL,                          -- lead_added, lead_status_changed, ...
    entity_id INTEGER NOT NULL,
    entity_type TEXT NOT NULL,                   -- singular: lead, contact, company, task
    created_by INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    value_after TEXT NOT NULL DEFAULT '[]',
    value_before TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS events_created ON events (account_id, created_at, seq);

CREATE TABLE IF NOT EXISTS unsorted (
    account_id INTEGER NOT NULL,
    uid TEXT PRIMARY KEY,
    source_uid TEXT,
    source_name TEXT,
    category TEXT NOT NULL,                      -- sip | forms | chats | mail
    pipeline_id INTEGER NOT NULL,
    lead_id INTEGER,
    created_at INTEGER NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}'
);

-- what became of unsorted items (accepted, declined, linked): GET /leads/unsorted/summary counts them
CREATE TABLE IF NOT EXISTS unsorted_outcomes (
    account_id INTEGER NOT NULL,
    uid TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    outcome TEXT NOT NULL,                       -- accepted | declined | linked
    created_at INTEGER NOT NULL,
    decided_at INTEGER NOT NULL
);

-- lists ordered by id within an account (the emulator's default order) page without sorting
CREATE INDEX IF NOT EXISTS leads_account_id ON leads (account_id, id);
CREATE INDEX IF NOT EXISTS contacts_account_id ON contacts (account_id, id);
CREATE INDEX IF NOT EXISTS companies_account_id ON companies (account_id, id);
CREATE INDEX IF NOT EXISTS tasks_account_id ON tasks (account_id, id);
CREATE INDEX IF NOT EXISTS notes_account_id ON notes (account_id, entity_type, id);

-- what the emulator was asked: tests and benchmarks read it
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY,
    account_id INTEGER,
    at REAL NOT NULL,                            -- Unix seconds with fraction
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    client TEXT,                                 -- client_id or token kind, never the token
    entities_written INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS request_log_account ON request_log (account_id, seq);

-- Bitrix24 portals (accounts.crm = 'bitrix24'); see implkit/sandbox/bitrix24/. Ids are per
-- portal, as on a real portal (each has its own database); `data` holds the record as the
-- legacy API shows it (UPPER_CASE keys), the columns beside it are what lists filter and sort on.
CREATE TABLE IF NOT EXISTS b24_credentials (
    account_id INTEGER NOT NULL,
    kind TEXT NOT NULL,                          -- webhook | access | refresh
    secret TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    client_id TEXT,
    scope TEXT NOT NULL DEFAULT '',
    expires_at INTEGER,                          -- NULL: never
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind, secret)
);
CREATE TABLE IF NOT EXISTS b24_sequences (
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (account_id, name)
);
CREATE TABLE IF NOT EXISTS b24_users (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE TABLE IF NOT EXISTS b24_departments (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    sort INTEGER NOT NULL DEFAULT 500,
    parent INTEGER,
    uf_head INTEGER,
    PRIMARY KEY (account_id, id)
);
CREATE TABLE IF NOT EXISTS b24_categories (
    account_id INTEGER NOT NULL,
    entity_type_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    name TEXT NOT NULL,
    sort INTEGER NOT NULL DEFAULT 500,
    is_default INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, entity_type_id, id)
);
CREATE TABLE IF NOT EXISTS b24_statuses (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    entity_id TEXT NOT NULL,                     -- DEAL_STAGE, DEAL_STAGE_3, STATUS, SOURCE, ...
    status_id TEXT NOT NULL,
    name TEXT NOT NULL,
    name_init TEXT NOT NULL DEFAULT '',
    sort INTEGER NOT NULL DEFAULT 10,
    system INTEGER NOT NULL DEFAULT 0,
    category_id INTEGER,
    color TEXT,
    semantics TEXT,                              -- NULL in progress, S success, F failure
    PRIMARY KEY (account_id, id)
);
CREATE INDEX IF NOT EXISTS b24_statuses_entity ON b24_statuses (account_id, entity_id, sort);
CREATE TABLE IF NOT EXISTS b24_userfields (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    entity_id TEXT NOT NULL,                     -- CRM_DEAL | CRM_LEAD | CRM_CONTACT | CRM_COMPANY
    field_name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE TABLE IF NOT EXISTS b24_crm (
    account_id INTEGER NOT NULL,
    entity_type_id INTEGER NOT NULL,             -- 1 lead, 2 deal, 3 contact, 4 company
    id INTEGER NOT NULL,
    category_id INTEGER,
    stage_id TEXT,
    assigned_by_id INTEGER,
    date_create TEXT,
    date_modify TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, entity_type_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS b24_activities (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    owner_type_id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    responsible_id INTEGER,
    completed TEXT NOT NULL DEFAULT 'N',
    deadline TEXT,
    start_time TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX IF NOT EXISTS b24_activities_owner ON b24_activities (account_id, owner_type_id, owner_id);
CREATE TABLE IF NOT EXISTS b24_stage_history (
    account_id INTEGER NOT NULL,
    entity_type_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    created_time TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, entity_type_id, id)
);
CREATE TABLE IF NOT EXISTS b24_tasks (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
-- telephony: calls registered by an external PBX (telephony.externalCall.register; stat_id once finished)
-- and the call statistics records (voximplant.statistic.get), `data` as the method prints it
CREATE TABLE IF NOT EXISTS b24_calls (
    account_id INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    stat_id INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, call_id)
);
CREATE TABLE IF NOT EXISTS b24_call_stats (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE TABLE IF NOT EXISTS b24_timeline_comments (
    account_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    entity_type TEXT NOT NULL,                   -- lead | deal | contact | company
    entity_id INTEGER NOT NULL,
    created TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);

-- Directum RX instances (accounts.crm = 'directum'); see implkit/sandbox/directum/. `tbl` is the
-- entity table (counterparty: companies, persons and banks share ids, as ICounterparties(id) needs;
-- contact, employee, ...); `data` the row's structural properties, `refs` its navigation ids.
CREATE TABLE IF NOT EXISTS drx_records (
    account_id INTEGER NOT NULL,
    tbl TEXT NOT NULL,
    id INTEGER NOT NULL,
    type TEXT NOT NULL,                          -- Company | Person | Bank | Contact | Employee | ...
    data TEXT NOT NULL,
    refs TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, tbl, id)
);
CREATE TABLE IF NOT EXISTS drx_logins (
    account_id INTEGER NOT NULL,
    login TEXT NOT NULL,
    password TEXT NOT NULL,                      -- a local emulator, not a vault
    PRIMARY KEY (account_id, login)
);
"""


class Store:
    """A thread-safe handle on the sandbox database.

    One connection per thread (SQLite connections are not shared across
    threads); WAL journal so readers never block the writer.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        # executescript() commits on its own, so it can't run inside transaction()
        self.db.executescript(SCHEMA)
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                       (str(SCHEMA_VERSION),))

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception. Nested use joins the outer one."""
        db = self.db
        if db.in_transaction:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict = ()) -> list[sqlite3.Row]:
        return self.db.execute(sql, params).fetchall()

    def bulk_insert(self, table: str, rows: Iterable[dict[str, Any]], *, chunk: int = 5000) -> int:
        """Insert many rows fast (one prepared statement, chunked transactions). Returns the count.

        Dict and list values are stored as JSON text. All rows must have the keys of the first row.
        """
        total = 0
        columns: list[str] | None = None
        sql = ""
        batch: list[tuple] = []

        def flush() -> None:
            if batch:
                with self.transaction() as db:
                    db.executemany(sql, batch)
                batch.clear()

        for row in rows:
            if columns is None:
                columns = list(row)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            batch.append(tuple(_to_column(row[c]) for c in columns))
            total += 1
            if len(batch) >= chunk:
                flush()
        flush()
        return total

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _to_column(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return int(value)
    return value
