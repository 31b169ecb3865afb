"""The shared state backend on PostgreSQL: state, leased locks and rotated OAuth tokens per tenant.

Each tenant of a workspace gets its own schema (`implkit_` + a hash of the
workspace id and the tenant name), holding the very tables the local SQLite
state has (so `StateStore`'s logic runs unchanged on either) plus:

- `lock`: at most one row, the holder (id, operation, user, host, pid, since)
  and `renewed_at`/`lease`. The database's clock decides whether the lease
  ran out (`renewed_at + lease < now()`), so runners on machines whose
  clocks disagree still agree on it; an expired row no longer counts as a
  lock, and the next runner replaces it in the same transaction.
- `oauth`: the tenant's rotated OAuth token pair, AES-GCM encrypted with a
  key from the environment variable the workspace names (`key_env`), the
  tenant's schema as associated data (a row copied to another tenant does not
  decrypt), and a `version` that every save must match: a compare-and-swap,
  so a runner holding an outdated pair can never overwrite a newer one.

Writes to a tenant's state are serialised across processes with a
transaction-scoped advisory lock on the schema name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from implkit.errors import ConflictError, InputError, RuntimeFailure
from implkit.lang import say
from implkit.workspace.lock import LockHeld, LockInfo, TenantLock, _pid_alive, _pid_started, _tell_broken, _user
from implkit.workspace.state import StateStore
from implkit.yamlio import atomic_write

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS objects (
    address     TEXT PRIMARY KEY,
    remote_id   JSONB NOT NULL,            -- JSON keeps amoCRM's int ids and Bitrix24's string ids apart
    fingerprint TEXT,
    serial      BIGINT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applied (
    id         BIGSERIAL PRIMARY KEY,
    version    TEXT,
    hash       TEXT NOT NULL,
    blueprint  TEXT NOT NULL,
    serial     BIGINT NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id          BIGSERIAL PRIMARY KEY,
    serial      BIGINT NOT NULL,
    action      TEXT NOT NULL,
    address     TEXT NOT NULL,
    remote_id   JSONB,
    fingerprint TEXT,
    at          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lock (
    one         BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    id          TEXT NOT NULL,
    operation   TEXT NOT NULL,
    usr         TEXT NOT NULL,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    pid_started TEXT,
    since       TEXT NOT NULL,
    renewed_at  TIMESTAMPTZ NOT NULL,
    lease       DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS oauth (
    one        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    version    BIGINT NOT NULL,
    sealed     BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

# What a runner reads about the shared state backend, in the user's language.
_MESSAGES = {
    "connect": {"ru": "хранилище состояния {url}: не удаётся подключиться ({detail})",
                "en": "state backend {url}: cannot connect ({detail})"},
    "no_key": {"ru": "рабочая папка хранит обновляемые токены OAuth в PostgreSQL, зашифрованными ключом из переменной "
                     "окружения {var}, а она не задана (у всех запусков должен быть один ключ; создайте его: "
                     "`python -c \"import secrets; print(secrets.token_urlsafe(32))\"` — и храните в хранилище "
                     "секретов)",
               "en": "the workspace keeps rotated OAuth tokens in PostgreSQL, encrypted with the key in the "
                     "environment variable {var}, which is not set (every runner needs the same key; generate one "
                     "with `python -c \"import secrets; print(secrets.token_urlsafe(32))\"` and keep it in your "
                     "secret store)"},
    "lease_ran_out": {"ru": "его аренда на {lease} с истекла без продления",
                      "en": "its lease of {lease} s ran out without renewal"},
    "wrong_key": {"ru": "токены OAuth в хранилище состояния не расшифровываются этим ключом: у всех запусков рабочей "
                        "папки в переменной key_env должен быть один и тот же ключ",
                  "en": "the OAuth tokens stored in the state backend do not decrypt with this key: every runner of "
                        "the workspace must have the same key in its key_env variable"},
}


def display_url(url: str) -> str:
    """The URL with its password masked (for every message)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str) -> Any:
    """An autocommit connection; a failure is RuntimeFailure naming the masked URL, never the password."""
    import psycopg

    from implkit.http.redact import redact

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        detail = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise RuntimeFailure(say(_MESSAGES, "connect", url=display_url(url), detail=detail)) from None


def schema_for(namespace: str, tenant: str) -> str:
    digest = hashlib.sha256(f"{namespace}/{tenant}".encode()).hexdigest()[:24]
    return f"implkit_{digest}"


def _ensure_schema(db: Any, schema: str) -> None:
    from psycopg import sql

    with db.transaction():
        # CREATE SCHEMA IF NOT EXISTS races with itself: one creator at a time
        db.execute("SELECT pg_advisory_xact_lock(hashtext('implkit-ddl'))")
        db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))


class PostgresBackend:
    """Every tenant's state, lock and OAuth tokens in one PostgreSQL database, shared by all runners."""

    name = "postgres"

    def __init__(self, url: str, *, namespace: str, key_env: str, lease: float,
                 environ: Mapping[str, str] | None = None):
        self.url = url
        self.namespace = namespace
        self.key_env = key_env
        self.lease = lease
        self._environ = os.environ if environ is None else environ

    def describe(self) -> str:
        return f"postgres ({display_url(self.url)})"

    def state(self, tenant: str, tenant_dir: Path) -> PgStateStore:
        return PgStateStore(self.url, schema_for(self.namespace, tenant), tenant=tenant, backup_dir=tenant_dir)

    def lock(self, tenant: str, tenant_dir: Path) -> PgTenantLock:
        return PgTenantLock(self.url, schema_for(self.namespace, tenant), tenant, lease=self.lease)

    def history(self, tenant: str, tenant_dir: Path) -> PgHistoryDb:
        return PgHistoryDb(self.url, schema_for(self.namespace, tenant))

    def has_state(self, tenant: str, tenant_dir: Path) -> bool:
        db = connect(self.url)
        try:
            row = db.execute("SELECT to_regclass(%s)", (schema_for(self.namespace, tenant) + ".meta",)).fetchone()
            return row[0] is not None
        finally:
            db.close()

    def token_store(self, tenant: str, seed: Any) -> PgTokenStore:
        key = self._environ.get(self.key_env)
        if not key:
            raise InputError(say(_MESSAGES, "no_key", var=self.key_env))
        store = PgTokenStore(self.url, schema_for(self.namespace, tenant), key)
        if seed is not None:
            store.seed(seed)
        return store

    def purge(self, tenant: str) -> None:
        """Drop the tenant's schema: its state, lock, OAuth tokens and audit history (tenant remove --purge)."""
        from psycopg import sql

        db = connect(self.url)
        try:
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema_for(self.namespace, tenant))))
        finally:
            db.close()

    def close(self) -> None:
        pass


def pg_dialect(sql: str) -> str:
    """SQLite SQL as PostgreSQL runs it: `?` parameters, BEGIN IMMEDIATE, INTEGER PRIMARY KEY row ids,
    64-bit integers (amounts and Unix times), BLOB as BYTEA. The one place where the two dialects are bridged, so the
    state and the audit history keep one set of statements for both backends."""
    sql = sql.replace("?", "%s").replace("BEGIN IMMEDIATE", "BEGIN")
    sql = re.sub(r"\bINTEGER PRIMARY KEY\b(?!\s*\()", "BIGSERIAL PRIMARY KEY", sql)
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql)  # e.g. the history's packed failing ids
    return re.sub(r"\bINTEGER\b", "BIGINT", sql)


class PgStateStore(StateStore):
    """StateStore on a tenant's PostgreSQL schema: same tables, same logic, shared by every runner."""

    backend = "postgres"

    def __init__(self, url: str, schema: str, *, tenant: str, backup_dir: Path | None = None):
        self.url = url
        self.schema = schema
        self.tenant = tenant
        self.path = (backup_dir or Path(".")) / "state.json"  # only backups are written here
        self._lock = threading.RLock()
        self._db = connect(url)
        _ensure_schema(self._db, schema)
        self._create(_PG_SCHEMA)

    @property
    def where(self) -> str:
        return f"{display_url(self.url)} (schema {self.schema})"

    def backup(self) -> Path:
        """The whole state as JSON in the tenant's local folder (`state.json.bak`, 0600, atomic)."""
        target = self.path.with_name(self.path.name + ".bak")
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, json.dumps(self.dump(), ensure_ascii=False, indent=1), mode=0o600)
        return target

    def _x(self, sql: str, args: tuple = ()) -> Any:
        return self._db.execute(pg_dialect(sql), args)

    def _begin(self) -> None:
        self._db.execute("BEGIN")
        try:
            self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _end(self, *, failed: bool) -> None:
        self._db.execute("ROLLBACK" if failed else "COMMIT")

    def _enc(self, remote_id: Any) -> Any:
        from psycopg.types.json import Jsonb

        return Jsonb(remote_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PgHistoryDb:
    """What implkit.audit.history.History needs of a sqlite3 connection, on the tenant's schema: the audit
    history of every runner in one place (for trends and `audit diff` across runners)."""

    def __init__(self, url: str, schema: str):
        self._db = connect(url)
        _ensure_schema(self._db, schema)

    def execute(self, sql: str, args: Any = ()) -> Any:
        return self._db.execute(pg_dialect(sql), tuple(args))

    def executemany(self, sql: str, rows: Any) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(pg_dialect(sql), list(rows))

    def executescript(self, script: str) -> None:
        from implkit.workspace.state import _statements

        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(hashtext('implkit-ddl'))")
            for statement in _statements(script):
                self._db.execute(pg_dialect(statement))

    def close(self) -> None:
        self._db.close()


# ---- locks ------------------------------------------------------------------------------------------

_LOCK_COLUMNS = ("id, operation, usr, host, pid, pid_started, since, extract(epoch FROM renewed_at), lease, "
                 "renewed_at + lease * interval '1 second' < now()")


class PgTenantLock(TenantLock):
    """The tenant's lock row, with a lease the database's clock enforces (see the module docstring).

    `hold()`/`acquire()` are TenantLock's (waiting, --lock-timeout, renewal
    every lease/4, messages); only how the lock is read and written differs.
    A holder killed on this machine leaves its row until the lease runs out —
    or until `--break-stale-lock` / `tenant unlock` sees its pid is gone.
    """

    def __init__(self, url: str, schema: str, tenant: str, *, lease: float):
        super().__init__(Path(f"postgres:{schema}"), tenant, lease=lease)
        self.url = url
        self.schema = schema
        self._db = connect(url)
        _ensure_schema(self._db, schema)
        _ensure_table(self._db, "lock")
        self._guard = threading.Lock()

    def _row(self, row: tuple | None) -> LockInfo | None:
        if row is None or row[9]:
            return None  # no lock, or its lease ran out: it does not count any more
        return LockInfo(id=row[0], operation=row[1], user=row[2], host=row[3], pid=row[4], pid_started=row[5],
                        since=row[6], renewed=float(row[7]), lease=float(row[8]))

    def read(self) -> LockInfo | None:
        with self._guard:
            return self._row(self._db.execute(f"SELECT {_LOCK_COLUMNS} FROM lock").fetchone())

    def try_acquire(self, operation: str) -> LockInfo | None:
        import psycopg

        me = LockInfo(id=uuid.uuid4().hex, operation=operation, user=_user(), host=socket.gethostname(),
                      pid=os.getpid(), pid_started=_pid_started(os.getpid()),
                      since=datetime.now(timezone.utc).isoformat(timespec="seconds"), lease=self.lease)
        expired: LockInfo | None = None
        with self._guard:
            try:
                with self._db.transaction():
                    row = self._db.execute(f"SELECT {_LOCK_COLUMNS} FROM lock FOR UPDATE").fetchone()
                    if row is not None:
                        if not row[9]:
                            return None  # held, lease running
                        self._db.execute("DELETE FROM lock WHERE id = %s", (row[0],))
                        expired = LockInfo(id=row[0], operation=row[1], user=row[2], host=row[3], pid=row[4],
                                           pid_started=row[5], since=row[6], lease=float(row[8]))
                    renewed = self._db.execute(
                        "INSERT INTO lock (id, operation, usr, host, pid, pid_started, since, renewed_at, lease) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, now(), %s) RETURNING extract(epoch FROM renewed_at)",
                        (me.id, me.operation, me.user, me.host, me.pid, me.pid_started, me.since, me.lease),
                    ).fetchone()[0]
            except psycopg.errors.UniqueViolation:
                return None  # another runner inserted first
        if expired is not None:
            _tell_broken(self.tenant)(expired, say(_MESSAGES, "lease_ran_out", lease=f"{expired.lease:g}"))
        return LockInfo(**{**asdict(me), "renewed": float(renewed)})

    def release(self, info: LockInfo) -> None:
        with self._guard:
            self._db.execute("DELETE FROM lock WHERE id = %s", (info.id,))

    def renew(self, info: LockInfo) -> bool:
        import psycopg

        with self._guard:
            try:
                return self._db.execute("UPDATE lock SET renewed_at = now() WHERE id = %s",
                                        (info.id,)).rowcount == 1
            except psycopg.Error as exc:
                # A dropped connection: reconnect for the next beat (the lease allows three missed ones),
                # and report it as the missed renewal TenantLock's heartbeat already tolerates.
                try:
                    self._db.close()
                    self._db = connect(self.url)
                    _ensure_schema(self._db, self.schema)
                except Exception:
                    pass
                raise OSError(f"lease renewal failed ({type(exc).__name__})") from None

    def _stale_reason(self, holder: LockInfo, break_stale: bool) -> str | None:
        # The lease is the database's business (an expired row is no lock at all). Before it runs out, only
        # --break-stale-lock looks further: a holder on this machine whose process is gone.
        if break_stale and holder.host == socket.gethostname() and not _pid_alive(holder.pid):
            return f"process {holder.pid} is no longer running"
        return None

    def _break(self, stale: LockInfo) -> bool:
        with self._guard:
            return self._db.execute("DELETE FROM lock WHERE id = %s", (stale.id,)).rowcount == 1

    def unlock(self, *, force: bool = False) -> LockInfo | None:
        holder = self.read()
        if holder is None:
            with self._guard:  # an expired row: clear it so `tenant list` stops showing it
                self._db.execute("DELETE FROM lock")
            return None
        if not force and holder.host == socket.gethostname() and _pid_alive(holder.pid):
            raise LockHeld(self.tenant, holder)
        self._break(holder)
        return holder

    def close(self) -> None:
        self._db.close()


def _table_ddl(table: str) -> str:
    """One table's CREATE statement from _PG_SCHEMA (a lock or token store may come before any state)."""
    start = _PG_SCHEMA.index(f"CREATE TABLE IF NOT EXISTS {table} ")
    return _PG_SCHEMA[start:_PG_SCHEMA.index(");", start) + 2]


def _ensure_table(db: Any, table: str) -> None:
    """Create one of _PG_SCHEMA's tables if missing. CREATE TABLE IF NOT EXISTS races with itself as
    CREATE SCHEMA does (two runners' first token refresh: "duplicate key value violates unique constraint
    pg_type_typname_nsp_index"), so under the same advisory lock, one creator at a time."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(hashtext('implkit-ddl'))")
        db.execute(_table_ddl(table))


# ---- OAuth tokens: encrypted, rotated by compare-and-swap ------------------------------------------

class TokenRaceLost(ConflictError):
    """Another runner rotated the tenant's OAuth tokens first (exit 1); re-read them instead."""


class PgTokenStore:
    """A TokenStore (implkit.http.auth) in the tenant's `oauth` row.

    `load()` remembers the row's version; `save()` succeeds only if the row
    still has it (compare-and-swap) and raises TokenRaceLost otherwise.
    `locked()` holds a session advisory lock across load → refresh → save,
    so OAuth2Session's refresh is one runner at a time across machines, and
    the runner that waited re-reads the new pair instead of spending the
    dead refresh token.
    """

    def __init__(self, url: str, schema: str, key: str):
        self.url = url
        self.schema = schema
        self._aad = schema.encode()
        self._key = hashlib.sha256(b"implkit-oauth-at-rest\0" + key.encode()).digest()
        self._db = connect(url)
        _ensure_schema(self._db, schema)
        _ensure_table(self._db, "oauth")
        self._version: int | None = None
        self._guard = threading.RLock()
        self.swaps = 0  # successful saves (for tests and stats)

    def _seal(self, data: dict[str, Any]) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        return nonce + AESGCM(self._key).encrypt(nonce, json.dumps(data).encode(), self._aad)

    def _open(self, sealed: bytes) -> dict[str, Any]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            plain = AESGCM(self._key).decrypt(bytes(sealed[:12]), bytes(sealed[12:]), self._aad)
        except InvalidTag:
            raise InputError(say(_MESSAGES, "wrong_key")) from None
        return json.loads(plain)

    def load(self) -> Any:
        from implkit.http.auth import TokenSet

        with self._guard:
            row = self._db.execute("SELECT version, sealed FROM oauth").fetchone()
            if row is None:
                self._version = None
                return None
            self._version = int(row[0])
            data = self._open(row[1])
        return TokenSet(access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                        expires_at=data.get("expires_at"))

    def save(self, tokens: Any) -> None:
        with self._guard:
            sealed = self._seal(tokens.to_dict())
            if self._version is None:
                done = self._db.execute("INSERT INTO oauth (version, sealed) VALUES (1, %s) "
                                        "ON CONFLICT (one) DO NOTHING", (sealed,)).rowcount
                expected = 0
            else:
                expected = self._version
                done = self._db.execute("UPDATE oauth SET version = version + 1, sealed = %s, updated_at = now() "
                                        "WHERE version = %s", (sealed, expected)).rowcount
            if done != 1:
                raise TokenRaceLost(f"the OAuth tokens were rotated by another runner meanwhile (this runner "
                                    f"read version {expected}); re-read them instead of overwriting")
            self._version = expected + 1
            self.swaps += 1

    def seed(self, tokens: Any) -> None:
        """Store the credential source's pair if the backend has none yet (the first runner brings it)."""
        with self._guard:
            if self.load() is None:
                try:
                    self.save(tokens)
                except TokenRaceLost:
                    self.load()  # another runner seeded first: its pair stands

    @contextmanager
    def locked(self) -> Iterator[None]:
        conn = connect(self.url)
        try:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (self.schema + "/oauth",))
            yield
        finally:
            conn.close()  # ends the session, which releases its advisory lock

    def close(self) -> None:
        self._db.close()

