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
