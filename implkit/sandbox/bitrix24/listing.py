"""Filters, orders and pages of Bitrix24 list methods, turned into SQL over the store.

Filter keys carry an operator prefix (reference/bitrix24-api.md §6): ``=`` (default), ``!``/``!=``,
``>``, ``>=``, ``<``, ``<=``, ``@`` (in), ``!@`` (not in), ``%`` (substring), ``=%``/``%=`` (LIKE
with the caller's own ``%``), ``!%``, ``!=%``/``!%=``. A value that is a list means "in". The new
API also nests groups: ``{"0": {"logic": "OR", "0": {...}, "1": {...}}}``.

Pages are fixed at 50 rows; ``start`` is the offset; ``total`` counts every matching row and
``next`` is the next offset while rows remain; ``start=-1`` switches the count off (``total: 0``,
no ``next``). Counting is what the cost model charges for (`bitrix24/__init__.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

PAGE = 50
COLUMN = re.compile(r"^[a-z_]+$")
OPERATOR = re.compile(r"^(!@|!=%|!%=|=%|%=|!%|>=|<=|!=|@|!|>|<|=|%)?(.*)$", re.S)

# (sql expression, kind) — kind is "int", "real", "text", or "list" (a JSON array: membership)
Resolved = tuple[str, str]
Resolver = Callable[[str], "Resolved | None"]


class UnknownField(LookupError):
    def __init__(self, field: str, where: str):
        super().__init__(field)
        self.field, self.where = field, where


class BadValue(ValueError):
    def __init__(self, field: str):
        super().__init__(field)
        self.field = field


def _convert(value: Any, kind: str, field: str) -> Any:
    if isinstance(value, bool):
        value = int(value)
    if kind in ("int", "real"):
        if value is None or value == "":
            return None
        try:
            return int(value) if kind == "int" and float(value).is_integer() else float(value)
        except (TypeError, ValueError):
            raise BadValue(field) from None
    if kind == "bool":
        return value in (True, 1, "1", "Y", "y", "true", "True")
    return None if value is None else str(value)


def _values(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else [value]


def where_clause(filter_: dict[str, Any], resolve: Resolver, *, strict: bool) -> tuple[str, list[Any]]:
    """SQL for a filter (AND of its keys). Unknown fields raise UnknownField when `strict`, else are ignored."""
    clauses, args = [], []
    logic = "AND"
    for key, value in filter_.items():
        if str(key).lower() == "logic":
            logic = "OR" if str(value).upper() == "OR" else "AND"
            continue
        if str(key).isdigit() and isinstance(value, dict):        # a nested group
            sql, sub = where_clause(value, resolve, strict=strict)
            if sql:
                clauses.append(f"({sql})")
                args += sub
            continue
        if str(key).startswith("::"):                              # tasks' ::SUBFILTER-PARAMS etc.
            continue
        op, name = OPERATOR.match(str(key)).groups()
        op = op or "="
        resolved = resolve(name)
        if resolved is None:
            if strict:
                raise UnknownField(name, "filter")
            continue
        expr, kind = resolved
        clause, clause_args = _condition(expr, kind, op, value, name)
        clauses.append(clause)
        args += clause_args
    return f" {logic} ".join(clauses), args


def _numeric(expr: str, kind: str) -> str:
    """Numbers kept as JSON strings compare as numbers through a cast; a plain integer column is left
    bare so SQLite can use its index (the export cursor `>ID` + `ORDER BY ID` must not sort the table)."""
    if kind in ("int", "real") and not COLUMN.match(expr):
        return f"CAST({expr} AS REAL)"
    return expr


def _condition(expr: str, kind: str, op: str, value: Any, name: str) -> tuple[str, list[Any]]:
    if kind == "list":      # membership in a JSON array column
        items = [_convert(v, "text", name) for v in _values(value)]
        marks = ", ".join("?" * len(items)) or "NULL"
        inside = f"EXISTS (SELECT 1 FROM json_each({expr}) WHERE CAST(json_each.value AS TEXT) IN ({marks}))"
        return (f"NOT {inside}" if op.startswith("!") else inside), items
    cast = _numeric(expr, kind)
    if op in ("@", "!@") or (op in ("=", "!", "!=") and isinstance(value, (list, dict))):
        items = [_convert(v, kind, name) for v in _values(value)]
        marks = ", ".join("?" * len(items)) or "NULL"
        if op.startswith("!"):
            return f"({expr} IS NULL OR {cast} NOT IN ({marks}))", items
        return f"{cast} IN ({marks})", items
    if op in ("%", "!%", "=%", "%=", "!=%", "!%="):
        pattern = f"%{value}%" if op in ("%", "!%") else str(value)
        if op.startswith("!"):
            return f"({expr} IS NULL OR {expr} NOT LIKE ?)", [pattern]
        return f"{expr} LIKE ?", [pattern]
    converted = _convert(value, kind, name)
    if op == "=":
        if converted is None or converted == "":
            return f"({expr} IS NULL OR {expr} = '')", []
        return f"{cast} = ?", [converted]
    if op in ("!", "!="):
        if converted is None or converted == "":
            return f"({expr} IS NOT NULL AND {expr} != '')", []
        return f"({expr} IS NULL OR {cast} != ?)", [converted]
    return f"{cast} {op} ?", [converted]


def order_clause(order: dict[str, Any], resolve: Resolver, *, strict: bool, default: str) -> str:
    parts = []
    for name, direction in order.items():
        resolved = resolve(str(name))
        if resolved is None:
            if strict:
                raise UnknownField(str(name), "order")
            continue
        word = str(direction).upper()
        if word not in ("ASC", "DESC"):
            if strict:
                raise UnknownField(str(name), f"direction:{direction}")
            word = "ASC"
        expr, kind = resolved
        parts.append(f"{_numeric(expr, kind)} {word}")
    ordered = {part.split()[0] for part in parts}
    tail = [key for key in default.split(", ") if key.split()[0] not in ordered]   # no "id ASC, id ASC"
    return ", ".join(parts + tail)


def parse_start(value: Any) -> int:
    """The `start` parameter: an offset, or -1 for "no count"; anything unreadable reads as 0."""
    try:
        start = int(str(value).strip()) if value not in (None, "") else 0
    except ValueError:
        return 0
    return -1 if start == -1 else max(0, start)


@dataclass
class Page:
    rows: list[Any]
    total: int | None      # None when start=-1 (the answer then says total: 0)
    next: int | None


def page(db, table: str, scope: str, scope_args: list[Any], where: str, where_args: list[Any], order: str,
         start: int, columns: str = "*") -> tuple[Page, int]:
    """One page and the number of rows counted (0 with start=-1)."""
    condition = scope + (f" AND ({where})" if where else "")
    args = scope_args + where_args
    offset = max(start, 0)
    rows = db.execute(f"SELECT {columns} FROM {table} WHERE {condition} ORDER BY {order} LIMIT {PAGE} OFFSET ?",
                      (*args, offset)).fetchall()
    if start == -1:
        return Page(rows, None, None), 0
    total = db.execute(f"SELECT count(*) FROM {table} WHERE {condition}", args).fetchone()[0]
    following = offset + PAGE
    return Page(rows, total, following if following < total else None), total
