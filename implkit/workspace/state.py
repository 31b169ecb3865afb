"""Per-tenant state: which remote object each blueprint address became, in SQLite.

`.implkit/tenants/NAME/state.db` holds, for one tenant:

- `objects`: address → remote id, plus the remote object's fingerprint at
  the last apply (so drift = live fingerprint ≠ recorded one);
- `meta`: the lineage (a UUID minted when the state is created), the serial
  (bumped by every write), the account id the state belongs to;
- `applied`: every blueprint version applied (version, hash, full text);
  the last row is "last applied";
- `history`: the previous value of every row changed or removed, with the
  serial at which it changed — the backup Terraform keeps as a file, kept
  row by row so a killed apply loses nothing.

Every write is its own committed transaction (WAL, synchronous=FULL):
apply records one row per object it creates, so a run killed after any
request resumes knowing what already exists. No secret is ever stored here:
the credentials live in the token file / keyring / environment.

`backup()` also copies the whole database to `state.db.bak` atomically
(SQLite's online backup into a temp file, then rename), for the apply
executor to call before it starts.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from implkit.errors import InputError
from implkit.files import private_file

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT
);
-- remote_id has no declared type on purpose: SQLite then keeps ints as ints and strings as strings.
CREATE TABLE IF NOT EXISTS objects (
    address     TEXT PRIMARY KEY,
    remote_id   NOT NULL,
    fingerprint TEXT,
    serial      INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applied (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    version    TEXT,
    hash       TEXT NOT NULL,
    blueprint  TEXT NOT NULL,
    serial     INTEGER NOT NULL,
    applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    serial      INTEGER NOT NULL,          -- the serial of the write that replaced this value
    action      TEXT NOT NULL,             -- record | forget
    address     TEXT NOT NULL,
    remote_id,                             -- previous value (NULL when the row was new)
    fingerprint TEXT,
    at          TEXT NOT NULL
);
"""


class AccountMismatch(InputError):
    """The state belongs to another CRM account than the one the credentials reach (exit 3, nothing written)."""


@dataclass(frozen=True)
class StateEntry:
    address: str
    remote_id: Any
    fingerprint: str | None
    serial: int
    updated_at: str


@dataclass(frozen=True)
class AppliedVersion:
    version: str | None
    hash: str
    blueprint: str
    serial: int
    applied_at: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StateStore:
    """One tenant's state database. Safe to share between threads; every write is durable on return."""

    backend = "local"

    def __init__(self, path: str | os.PathLike):
        self.path = private_file(path)  # 0600 before SQLite opens it: its -wal/-shm inherit the mode
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._create(_SCHEMA)
        os.chmod(self.path, 0o600)

    def _create(self, schema: str) -> None:
        """Create the tables and mint the lineage (once): the same for every backend."""
        with self._write():
            for statement in _statements(schema):
                self._x(statement)
            if self._meta("lineage") is None:
                self._set_meta("lineage", str(uuid.uuid4()))
                self._set_meta("serial", "0")
                self._set_meta("schema_version", str(SCHEMA_VERSION))
                self._set_meta("created_at", _now())

    @property
    def where(self) -> str:
        """Where this state lives, for messages (never a secret)."""
        return str(self.path)

    # ---- identity ------------------------------------------------------------------------------

    @property
    def lineage(self) -> str:
        return self._meta("lineage") or ""

    @property
    def serial(self) -> int:
        return int(self._meta("serial") or 0)

    @property
    def account_id(self) -> str | None:
        """The CRM account this state belongs to (None until the first apply binds it)."""
        return self._meta("account_id")

    def bind_account(self, account_id: int | str) -> None:
        """Bind the state to an account on first use; refuse another account with AccountMismatch."""
        account_id = str(account_id)
        with self._write():
            bound = self._meta("account_id")
            if bound == account_id:
                return
            if bound is not None:
                raise AccountMismatch(
                    f"this tenant's state belongs to CRM account {bound}, but its credentials reach account "
                    f"{account_id}; refusing to apply to another account (check the tenant's URL and token, "
                    "or register the other account as its own tenant)")
            self._set_meta("account_id", account_id)
            self._bump()

    # ---- objects -------------------------------------------------------------------------------

    def get_ids(self) -> dict[str, Any]:
        """address → remote id, for every object implkit created or adopted."""
        with self._lock:
            return dict(self._x("SELECT address, remote_id FROM objects ORDER BY address"))

    def fingerprints(self) -> dict[str, str | None]:
        """address → fingerprint of the remote object at its last apply."""
        with self._lock:
            return dict(self._x("SELECT address, fingerprint FROM objects ORDER BY address"))

    def entries(self) -> list[StateEntry]:
        with self._lock:
            rows = self._x(
                "SELECT address, remote_id, fingerprint, serial, updated_at FROM objects ORDER BY address")
            return [StateEntry(*row) for row in rows]

    def get(self, address: str) -> StateEntry | None:
        with self._lock:
            row = self._x("SELECT address, remote_id, fingerprint, serial, updated_at FROM objects "
                                   "WHERE address = ?", (address,)).fetchone()
        return StateEntry(*row) if row else None

    def record(self, address: str, remote_id: int | str, fingerprint: str | None = None) -> None:
        """Map `address` to `remote_id` (durable on return); the previous value goes to history."""
        if not address:
            raise ValueError("empty address")
        if remote_id is None or remote_id == "":
            raise ValueError(f"empty remote id for {address}")
        with self._write():
            previous = self._x("SELECT remote_id, fingerprint FROM objects WHERE address = ?",
                                        (address,)).fetchone()
            if previous is not None and previous == (remote_id, fingerprint):
                return  # nothing changes: no serial bump, so a no-op apply leaves the state as it was
            serial = self._bump()
            self._x("INSERT INTO history (serial, action, address, remote_id, fingerprint, at) "
                             "VALUES (?, 'record', ?, ?, ?, ?)",
                             (serial, address, *self._enc_row(previous), _now()))
            self._x(
                "INSERT INTO objects (address, remote_id, fingerprint, serial, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(address) DO UPDATE SET remote_id = excluded.remote_id, "
                "fingerprint = excluded.fingerprint, serial = excluded.serial, updated_at = excluded.updated_at",
                (address, self._enc(remote_id), fingerprint, serial, _now()))

    def forget(self, address: str) -> bool:
        """Drop an address (its object was deleted or pruned); return whether it was there."""
        with self._write():
            previous = self._x("SELECT remote_id, fingerprint FROM objects WHERE address = ?",
                                        (address,)).fetchone()
            if previous is None:
                return False
            serial = self._bump()
            self._x("INSERT INTO history (serial, action, address, remote_id, fingerprint, at) "
                             "VALUES (?, 'forget', ?, ?, ?, ?)", (serial, address, *self._enc_row(previous), _now()))
            self._x("DELETE FROM objects WHERE address = ?", (address,))
            return True

    def history(self, address: str | None = None) -> list[dict[str, Any]]:
        """Previous values, oldest first (for one address, or all)."""
        sql = "SELECT serial, action, address, remote_id, fingerprint, at FROM history"
        args: tuple = ()
        if address is not None:
            sql += " WHERE address = ?"
            args = (address,)
        with self._lock:
            rows = self._x(sql + " ORDER BY id", args).fetchall()
        keys = ("serial", "action", "address", "remote_id", "fingerprint", "at")
        return [dict(zip(keys, row)) for row in rows]

    # ---- applied blueprint versions ------------------------------------------------------------

    def last_applied(self) -> AppliedVersion | None:
        with self._lock:
            row = self._x("SELECT version, hash, blueprint, serial, applied_at FROM applied "
                                   "ORDER BY id DESC LIMIT 1").fetchone()
        return AppliedVersion(*row) if row else None

    def set_last_applied(self, version: str | None, hash: str, blueprint_text: str) -> None:
        """Record that this blueprint (version, content hash, full text) is now applied."""
        with self._write():
            serial = self._bump()
            self._x("INSERT INTO applied (version, hash, blueprint, serial, applied_at) "
                             "VALUES (?, ?, ?, ?, ?)", (version, hash, blueprint_text, serial, _now()))

    def applied_versions(self) -> list[AppliedVersion]:
        with self._lock:
            rows = self._x("SELECT version, hash, blueprint, serial, applied_at FROM applied "
                                    "ORDER BY id").fetchall()
        return [AppliedVersion(*row) for row in rows]

    # ---- whole-file backup ---------------------------------------------------------------------

    def backup(self) -> Path:
        """Copy the database to `state.db.bak` atomically (temp file + rename); return its path."""
        target = self.path.with_name(self.path.name + ".bak")
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with self._lock:
            dest = sqlite3.connect(tmp)
            try:
                self._db.backup(dest)
            finally:
                dest.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
        return target

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the whole state as data (migration between backends, JSON backups) --------------------

    def dump(self) -> dict[str, Any]:
        """Everything this state holds, as plain data (no secret is ever in it)."""
        with self._lock:
            meta = dict(self._x("SELECT key, value FROM meta ORDER BY key"))
            objects = [list(row) for row in self._x(
                "SELECT address, remote_id, fingerprint, serial, updated_at FROM objects ORDER BY address")]
            applied = [list(row) for row in self._x(
                "SELECT version, hash, blueprint, serial, applied_at FROM applied ORDER BY id")]
            history = [list(row) for row in self._x(
                "SELECT serial, action, address, remote_id, fingerprint, at FROM history ORDER BY id")]
        return {"meta": meta, "objects": objects, "applied": applied, "history": history}

    def restore(self, data: dict[str, Any]) -> None:
        """Replace this state with `data` (from `dump()`, of any backend) in one transaction."""
        with self._write():
            for table in ("meta", "objects", "applied", "history"):
                self._x(f"DELETE FROM {table}")
            for key, value in data["meta"].items():
                self._set_meta(key, value)
            for address, remote_id, fingerprint, serial, updated_at in data["objects"]:
                self._x("INSERT INTO objects (address, remote_id, fingerprint, serial, updated_at) "
                        "VALUES (?, ?, ?, ?, ?)", (address, self._enc(remote_id), fingerprint, serial, updated_at))
            for row in data["applied"]:
                self._x("INSERT INTO applied (version, hash, blueprint, serial, applied_at) VALUES (?, ?, ?, ?, ?)",
                        tuple(row))
            for serial, action, address, remote_id, fingerprint, at in data["history"]:
                self._x("INSERT INTO history (serial, action, address, remote_id, fingerprint, at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (serial, action, address, self._enc(remote_id), fingerprint, at))

    # ---- internals (what a backend overrides: the connection, transactions, remote id encoding) --

    def _x(self, sql: str, args: tuple = ()) -> Any:
        """Execute one statement; returns a cursor."""
        return self._db.execute(sql, args)

    def _begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def _end(self, *, failed: bool) -> None:
        self._db.execute("ROLLBACK" if failed else "COMMIT")

    def _enc(self, remote_id: Any) -> Any:
        """A remote id as a statement parameter (SQLite keeps ints and strings apart by itself)."""
        return remote_id

    def _enc_row(self, previous: tuple | None) -> tuple:
        remote_id, fingerprint = previous or (None, None)
        return (None if remote_id is None else self._enc(remote_id)), fingerprint

    def _write(self) -> _Transaction:
        return _Transaction(self)

    def _meta(self, key: str) -> str | None:
        with self._lock:
            row = self._x("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._x("INSERT INTO meta (key, value) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def _bump(self) -> int:
        serial = int(self._meta("serial") or 0) + 1
        self._set_meta("serial", str(serial))
        return serial


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT under the store's lock (ROLLBACK on error): one durable write."""

    def __init__(self, store: StateStore):
        self.store = store

    def __enter__(self) -> None:
        self.store._lock.acquire()
        try:
            self.store._begin()
        except BaseException:
            self.store._lock.release()
            raise

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self.store._end(failed=exc_type is not None)
        finally:
            self.store._lock.release()


def _statements(script: str) -> list[str]:
    """Split the schema into statements (executescript would commit our open transaction)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
