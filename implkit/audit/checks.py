"""Checks as data: one YAML file per check in `audits/`, validated against a JSON schema.

A check selects the *failing records* (dbt's rule: a test is the query of
the rows that violate it); counts, shares and budgets are derived from that
set, so no check can report a number without the record ids behind it. The
evaluation is SQL over the snapshot or a named built-in (`duplicates`...).

A malformed file is bad input: the error names `file:line:col` and the key,
and that includes SQL that does not compile against the snapshot schema.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from implkit.data import audits_dir
from implkit.errors import InputError, Location, Problem
from implkit.yamlio import load_yaml, location_of, to_plain

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
                                    f"check id {check.id} is already defined in {seen[check.id]}"))
            continue
        seen[check.id] = str(path)
        checks.append(check)
    if problems:
        raise InputError(f"invalid check files in {folder}", problems)
    return sorted(checks, key=_order)


def _order(check: Check) -> tuple:
    prefix_order = "DCTIUF"
    head = prefix_order.index(check.id[0]) if check.id[0] in prefix_order else len(prefix_order)
    return head, check.id


def load_check(path: str | Path) -> Check:
    name = str(path)
    tree = load_yaml(path)
    if tree is None:
        raise InputError("empty check file", [Problem(Location(name, 1, 1), "the file is empty")])
    data = to_plain(tree)
    validator = jsonschema.Draft202012Validator(check_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise InputError("invalid check file", [
            Problem(location_of(tree, _error_path(_deepest(e)), name), _message(_deepest(e))) for e in errors])
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
                raise InputError("invalid check file", [Problem(location_of(tree, (key,), name),
                                                                f"SQL does not compile: {error}")])
    if Path(name).stem != check.id and not Path(name).stem.startswith(check.id):
        raise InputError("invalid check file", [Problem(location_of(tree, ("id",), name),
                                                        f"file name should start with the check id {check.id}")])
    return check


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For oneOf/anyOf failures, the most specific sub-error (best_match picks the relevant branch)."""
    if error.context:
        return jsonschema.exceptions.best_match(error.context)
    return error


def _error_path(error: jsonschema.ValidationError) -> tuple:
    """Where to point: the offending key itself for an unknown key, else the failing value."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set((error.schema.get("properties") or {}))
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            return (*path, extra[0])
    return path


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"unknown key ({error.message.split('(')[-1].rstrip(')')})"
    if error.validator == "oneOf":
        return "a check needs exactly one of `sql`, `builtin`, or (alone) `unsupported`"
    return error.message


def _sql_error(sql: str, check: Check) -> str | None:
    """Compile `sql` against an empty snapshot; the message if it does not (unknown table, syntax...)."""
    from implkit.audit.engine import sql_parameters
    from implkit.audit.snapshot import SCHEMA

    db = _schema_db(SCHEMA)
    params = sql_parameters(check, now=0, exempt_stage_ids=[])
    try:
        db.execute("EXPLAIN " + sql, params)
        columns = [d[0] for d in db.execute(sql, params).description or ()]  # the schema's tables are empty
    except sqlite3.Error as exc:
        return str(exc)
    if sql == check.sql and "id" not in columns:
        return f"the SELECT must return an `id` column (it returns {', '.join(columns) or 'nothing'})"
    return None


@cache
def _schema_db(schema: str) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript(schema)
    return db
