"""A failing record, as every check reports it.

Its own module, below the engine and the built-in checks (config_drift, duplicates...), so that
they can build results without importing the engine that runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True, slots=True)  # slots: a check on a million records holds a million of these
class RecordRef:
    entity: str
    id: int | str
    budget: int = 0
    responsible_user_id: int | None = None
    value: Any = None  # what failed (a date, a phone as stored, a count), from the SQL's `value` column


def grouped_by_entity(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, list[Any]]]:
    """(entity, id) pairs → each entity with its ids, in the order the entities first come."""
    grouped: dict[str, list[Any]] = {}
    for entity, record_id in pairs:
        grouped.setdefault(entity, []).append(record_id)
    return list(grouped.items())


def joined_ids(joined: str | None) -> Any:
    """SQLite's `group_concat` of integer ids (None when there were none) as a numpy int64 array: one string
    parsed in C, ten times faster than fetching a row per id."""
    import numpy as np

    return np.fromstring(joined, dtype=np.int64, sep=",") if joined else np.empty(0, dtype=np.int64)
