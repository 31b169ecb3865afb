"""Checks as data: one YAML file per check in `audits/`, validated against a JSON schema.

A check selects the *failing records* (dbt's rule: a test is the query of
the rows that violate it); counts, shares and budgets are derived from that
set, so no check can report a number without the record ids behind it. The
evaluation is SQL over the snapshot or a named built-in (`duplicates`...).

A malformed file is bad input: the error names `file:line:col` and the key,
and that includes SQL that does not compile against the snapshot schema.

Check SQL only reads. It is compiled (when a file is loaded) and run (when
the audit runs) on connections that cannot write: the snapshot is opened
read-only (`mode=ro`), and an authorizer allows nothing but reading
(SELECT, column reads, functions, recursive CTEs); a statement that tries
anything else (INSERT/UPDATE/DELETE … RETURNING, ATTACH, VACUUM INTO,
PRAGMA, CREATE, a transaction) is bad input at the check file's `sql` key.
`mode=ro` alone is not enough: ATTACH and VACUUM INTO create files on a
read-only connection; the authorizer refuses them before they run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import jsonschema

from implkit.data import audits_dir
from implkit.errors import InputError, Location, Problem
from implkit.lang import say
from implkit.yamlio import load_yaml, location_of, to_plain

# A check file's problems in the user's language; jsonschema's findings through implkit.schemas, as every
# file checked against a schema.
MESSAGES = {
    "already": {"ru": "проверка {id} уже определена в {file}", "en": "check id {id} is already defined in {file}"},
    "invalid_files": {"ru": "недопустимые файлы проверок в {folder}", "en": "invalid check files in {folder}"},
    "empty": {"ru": "пустой файл проверки", "en": "empty check file"},
    "file_empty": {"ru": "файл пуст", "en": "the file is empty"},
    "invalid": {"ru": "недопустимый файл проверки", "en": "invalid check file"},
    "sql": {"ru": "SQL не компилируется: {error}", "en": "SQL does not compile: {error}"},
    "file_name": {"ru": "имя файла должно начинаться с кода проверки {id}",
                  "en": "file name should start with the check id {id}"},
    "refused": {"ru": "проверка {id} отклонена", "en": "check {id} is refused"},
    "one_of": {"ru": "проверке нужно ровно одно из: `sql`, `builtin` или (одно) `unsupported`",
               "en": "a check needs exactly one of `sql`, `builtin`, or (alone) `unsupported`"},
}

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Check:
    id: str
    name: str
    title: dict[str, str]
    severity: str
    entity: str
    why: dict[str, str]
    fix: dict[str, str]
    parameters: dict[str, Any] = field(default_factory=dict)
    threshold: dict[str, float] = field(default_factory=dict)
    sql: str | None = None
    population: str | None = None
    builtin: str | None = None
    requires: tuple[str, ...] = ()
    unsupported: dict[str, str] = field(default_factory=dict)
    samples: int = 10
    source: str = ""

    @property
    def identity(self) -> str:
        """Stable identity for history: id + entity + evaluation; titles and file moves don't change it."""
        body = json.dumps([self.id, self.entity, self.sql or self.builtin, self.parameters], sort_keys=True,
                          ensure_ascii=False, default=str)
        return f"{self.id}:{hashlib.sha256(body.encode()).hexdigest()[:12]}"

    def unsupported_reason(self, crm: str) -> str | None:
        if crm in self.unsupported:
            return self.unsupported[crm]
        if not self.sql and not self.builtin:
            return f"no evaluation for {crm} is defined yet"
        return None


@cache
def check_schema() -> dict:
    return json.loads(resources.files("implkit.audit").joinpath("check.schema.json").read_text(encoding="utf-8"))


def load_checks(directory: str | Path | None = None) -> list[Check]:
    """Every `*.yaml` in `directory` (default: the shipped audits/), sorted by id; all problems at once."""
    folder = Path(directory) if directory else audits_dir()
    files = sorted(folder.glob("*.yaml"))
    problems: list[Problem] = []
    checks: list[Check] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            check = load_check(path)
        except InputError as exc:
            problems.extend(exc.problems or [Problem(Location(str(path)), str(exc))])
            continue
        if check.id in seen:
            problems.append(Problem(Location(str(path), 1, 1, "id"),
                                    say(MESSAGES, "already", id=check.id, file=seen[check.id])))
            continue
        seen[check.id] = str(path)
        checks.append(check)
    if problems:
        raise InputError(say(MESSAGES, "invalid_files", folder=folder), problems)
    return sorted(checks, key=_order)


def _order(check: Check) -> tuple:
    prefix_order = "DCTIUF"
    head = prefix_order.index(check.id[0]) if check.id[0] in prefix_order else len(prefix_order)
    return head, check.id


_LOADED: dict[tuple[str, int, int], Check] = {}
_LOADED_LOCK = threading.Lock()


def load_check(path: str | Path) -> Check:
    """One check file, parsed and validated once while it is unchanged (cached by path, modification time
    and size: an audit, `--list` and the history each load every file of `audits/`)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return _load_check(path)
    key = (str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
    with _LOADED_LOCK:
        cached = _LOADED.get(key)
    if cached is None or cached.source != str(path):
        cached = _load_check(path)
        with _LOADED_LOCK:
            _LOADED[key] = cached
    return cached


def _load_check(path: str | Path) -> Check:
    name = str(path)
    tree = load_yaml(path)
    if tree is None:
        raise InputError(say(MESSAGES, "empty"), [Problem(Location(name, 1, 1), say(MESSAGES, "file_empty"))])
    data = to_plain(tree)
    validator = jsonschema.Draft202012Validator(check_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        from implkit.schemas import sort_problems

        raise InputError(say(MESSAGES, "invalid"), sort_problems([
            Problem(location_of(tree, path, name), message) for e in errors for path, message in _explained(e)]))
    check = Check(
        id=data["id"], name=data["name"], title=data["title"], severity=data["severity"], entity=data["entity"],
        why=data["why"], fix=data["fix"], parameters=data.get("parameters") or {},
        threshold=data.get("threshold") or {}, sql=data.get("sql"), population=data.get("population"),
        builtin=data.get("builtin"), requires=tuple(data.get("requires") or ()),
        unsupported=data.get("unsupported") or {}, samples=data.get("samples", 10), source=name)
    for key in ("sql", "population"):
        text = getattr(check, key)
        if text:
            error = _sql_error(text, check)
            if error:
                refused = error.startswith(READ_ONLY_MESSAGE)
                raise InputError(say(MESSAGES, "invalid"), [Problem(
                    location_of(tree, (key,), name), error if refused else say(MESSAGES, "sql", error=error))])
    if Path(name).stem != check.id and not Path(name).stem.startswith(check.id):
        raise InputError(say(MESSAGES, "invalid"), [Problem(location_of(tree, ("id",), name),
                                                             say(MESSAGES, "file_name", id=check.id))])
    return check


def _explained(error: jsonschema.ValidationError) -> list[tuple[tuple, str]]:
    """(path, message) for one schema finding: the check's own rule for its evaluation (sql, builtin or
    unsupported: a oneOf), else the shared explainer (implkit.schemas), which points at an unknown key itself."""
    from implkit.schemas import explain_error

    if error.validator == "oneOf" and not error.absolute_path:
        return [((), say(MESSAGES, "one_of"))]
    return list(explain_error(error))


def _sql_error(sql: str, check: Check) -> str | None:
    """Compile `sql` against an empty snapshot; the message if it does not (unknown table, syntax, a write...)."""
    from implkit.audit.snapshot import SCHEMA

    db, guard = _schema_db(SCHEMA)
    params = sql_parameters(check, now=0, exempt_stage_ids=[])
    with _SCHEMA_LOCK:
        guard.denied = None
        try:
            columns = [d[0] for d in db.execute(sql, params).description or ()]  # the schema's tables are empty
        except (sqlite3.Error, sqlite3.Warning) as exc:  # Warning: more than one statement
            return guard.explain(exc)
    if sql == check.sql and "id" not in columns:
        return f"the SELECT must return an `id` column (it returns {', '.join(columns) or 'nothing'})"
    return None


_SCHEMA_LOCK = threading.Lock()


@cache
def _schema_db(schema: str) -> tuple[sqlite3.Connection, "ReadGuard"]:
    """An empty snapshot in memory; the guard goes on after the schema is made, so checks only read it."""
    from implkit.audit.snapshot import AUDIT_TABLES, build_audit_tables

    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db.executescript(schema)
    build_audit_tables(db, AUDIT_TABLES, schema="temp", now=0)  # the shared tables, empty: checks may name them
    return db, ReadGuard().install(db)


# --- check SQL only reads -------------------------------------------------------------------------

# What reading needs. SQLITE_UPDATE of sqlite_master is the engine's own bookkeeping when a
# table-valued function (json_each, used by many checks) is first bound; user SQL cannot update
# sqlite_master without `PRAGMA writable_schema`, which is refused with every other pragma.
_READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_SCHEMA_TABLES = ("sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema")
_REFUSED_FUNCTIONS = {"load_extension"}
READ_ONLY_MESSAGE = "a check may only read the snapshot"
_ACTION_NAMES = {getattr(sqlite3, name): name.removeprefix("SQLITE_").replace("_", " ") for name in (
    "SQLITE_CREATE_INDEX", "SQLITE_CREATE_TABLE", "SQLITE_CREATE_TEMP_INDEX", "SQLITE_CREATE_TEMP_TABLE",
    "SQLITE_CREATE_TEMP_TRIGGER", "SQLITE_CREATE_TEMP_VIEW", "SQLITE_CREATE_TRIGGER", "SQLITE_CREATE_VIEW",
    "SQLITE_DELETE", "SQLITE_DROP_INDEX", "SQLITE_DROP_TABLE", "SQLITE_DROP_TEMP_INDEX", "SQLITE_DROP_TEMP_TABLE",
    "SQLITE_DROP_TEMP_TRIGGER", "SQLITE_DROP_TEMP_VIEW", "SQLITE_DROP_TRIGGER", "SQLITE_DROP_VIEW",
    "SQLITE_INSERT", "SQLITE_PRAGMA", "SQLITE_TRANSACTION", "SQLITE_UPDATE", "SQLITE_ATTACH", "SQLITE_DETACH",
    "SQLITE_ALTER_TABLE", "SQLITE_REINDEX", "SQLITE_ANALYZE", "SQLITE_CREATE_VTABLE", "SQLITE_DROP_VTABLE",
    "SQLITE_SAVEPOINT", "SQLITE_FUNCTION")}


# What the engine's own per-audit tables (snapshot.AUDIT_TABLES) need, in the temp database only, and
# only inside `ReadGuard.engine_tables()`: a check's SQL never runs there.
# (`CREATE TABLE temp.x`, as snapshot.build_audit_tables writes it, is SQLITE_CREATE_TABLE in database temp.)
_TEMP_ACTIONS = {sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_INDEX, sqlite3.SQLITE_CREATE_TABLE,
                 sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE,
                 sqlite3.SQLITE_DROP_TEMP_TABLE, sqlite3.SQLITE_DROP_TEMP_INDEX,
                 sqlite3.SQLITE_REINDEX}  # REINDEX: a new index fills itself

_FILL_ACTIONS = {sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_INSERT}


class ReadGuard:
    """An sqlite3 authorizer that allows reading only; `denied` says what it refused last."""

    def __init__(self) -> None:
        self.denied: str | None = None
        self._engine = False
        self._filling: tuple[str, str] | None = None  # (schema, table) being filled

    def install(self, db: sqlite3.Connection) -> "ReadGuard":
        db.set_authorizer(self)
        return self

    @contextmanager
    def engine_tables(self, db: sqlite3.Connection) -> Iterator[None]:
        """While the engine (never a check file) builds its shared temp tables: writes to the temp database
        allowed, `query_only` lifted (it refuses temp writes too; `mode=ro` still keeps the snapshot read-only)."""
        self._engine = True
        try:
            was = db.execute("PRAGMA query_only").fetchone()[0]
            db.execute("PRAGMA query_only=OFF")
            try:
                yield
            finally:
                db.execute(f"PRAGMA query_only={'ON' if was else 'OFF'}")
        finally:
            self._engine = False

    @contextmanager
    def filling(self, db: sqlite3.Connection, table: str, schema: str = "temp") -> Iterator[None]:
        """While a check's SQL fills the engine's table `table` with its failing records
        (`INSERT INTO <schema>.<table> <check SQL>`; the schema is `temp`, or the scratch file a second
        process fills, `engine.SCRATCH`): creating and inserting into that one table allowed, `query_only`
        lifted; the check's SQL itself still only reads."""
        with self.engine_tables(db):
            self._engine, self._filling = False, (schema, table)  # that one table, not every temp table
            try:
                yield
            finally:
                self._engine, self._filling = True, None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, database: str | None,
                 trigger: str | None) -> int:
        if self._filling and database == self._filling[0] and action in _FILL_ACTIONS and arg1 in (
                self._filling[1], "sqlite_temp_master", "sqlite_master"):
            return sqlite3.SQLITE_OK
        if self._engine and (database == "temp" and action in _TEMP_ACTIONS
                             or action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() == "query_only"
                             or action == sqlite3.SQLITE_TRANSACTION):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() not in _REFUSED_FUNCTIONS:
                return sqlite3.SQLITE_OK
        elif action in _READ_ACTIONS:
            return sqlite3.SQLITE_OK
        elif action == sqlite3.SQLITE_UPDATE and (arg1 or "").lower() in _SCHEMA_TABLES:
            return sqlite3.SQLITE_OK
        what = _ACTION_NAMES.get(action, f"action {action}")
        target = arg2 if action == sqlite3.SQLITE_FUNCTION else arg1
        self.denied = f"{what} {target}" if target else what
        return sqlite3.SQLITE_DENY

    def explain(self, exc: BaseException) -> str:
        if self.denied:
            return f"{READ_ONLY_MESSAGE}; it tries {self.denied}"
        return str(exc)


def open_read_only(path: str | Path, *, attach: tuple[str, Path, bool] | None = None
                   ) -> tuple[sqlite3.Connection, ReadGuard]:
    """A connection on which check SQL runs: the file opened `mode=ro`, reading allowed and nothing else.
    `attach` = (schema, file, writable): an engine file of failing records attached beside the snapshot
    (written only while the engine fills a table of it: `ReadGuard.filling`)."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    if attach is not None:
        schema, file, writable = attach
        db.execute("ATTACH ? AS " + schema, (Path(file).resolve().as_uri() + ("?mode=rwc" if writable else "?mode=ro"),))
        if writable:  # scratch: rebuilt by every audit, deleted after it; a crash loses nothing to keep
            db.execute(f"PRAGMA {schema}.journal_mode=OFF")
            db.execute(f"PRAGMA {schema}.synchronous=OFF")
        db.execute(f"PRAGMA {schema}.cache_size=-20000")
    db.execute("PRAGMA query_only=ON")
    db.execute("PRAGMA cache_size=-20000")  # 100 MB page cache: checks scan big tables
    # the temp database (each check's failing records, the engine's shared tables, big sorts) on a file,
    # with a 20 MB cache of its own: at 1M + 1M, 6 million failing records held in memory took the audit
    # from 583 to 871 MB, and were no faster (the OS caches the file; it is deleted as it is opened)
    db.execute("PRAGMA temp_store=FILE")
    db.execute("PRAGMA temp.cache_size=-20000")
    return db, ReadGuard().install(db)


def check_location(check: Check, key: str | tuple[str, ...]) -> Location:
    """file:line:col of `key` (or a key path) in the check's file (the file itself when it cannot be read)."""
    path = (key,) if isinstance(key, str) else tuple(key)
    if check.source and Path(check.source).is_file():
        try:
            return location_of(load_yaml(check.source), path, check.source)
        except InputError:
            pass
    return Location(check.source or check.id, key=".".join(path))


def run_check_sql(db: sqlite3.Connection, guard: ReadGuard, check: Check, key: str,
                  params: dict[str, Any], *, sql: str | None = None) -> sqlite3.Cursor:
    """Execute the check's `sql` or `population` (or `sql`, the engine's query around it) on a guarded
    connection; a refused write is bad input at `key`."""
    guard.denied = None
    try:
        return db.execute(sql if sql is not None else getattr(check, key), params)
    except (sqlite3.Error, sqlite3.Warning) as exc:
        if guard.denied or isinstance(exc, sqlite3.Warning) or "one statement" in str(exc):
            raise InputError(say(MESSAGES, "refused", id=check.id), [Problem(check_location(check, key),
                                                                        guard.explain(exc))]) from None
        raise


def sql_parameters(check: Check, *, now: int, exempt_stage_ids: list[int],
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Named parameters a check's SQL sees: `:now`, `:exempt_stage_ids` (JSON) and every check parameter."""
    params: dict[str, Any] = {}
    for key, value in {**check.parameters, **(overrides or {})}.items():
        params[key] = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value
    params["now"] = now
    params["exempt_stage_ids"] = json.dumps(exempt_stage_ids)
    return params


def sql_columns(check: Check) -> tuple[str, ...]:
    """The columns the check's `sql` returns (compiled against the empty schema, as when it was loaded)."""
    from implkit.audit.snapshot import SCHEMA

    db, guard = _schema_db(SCHEMA)
    params = sql_parameters(check, now=0, exempt_stage_ids=[])
    with _SCHEMA_LOCK:
        guard.denied = None
        return tuple(d[0] for d in db.execute(check.sql, params).description or ())
