"""The Integration Service's limits: no request rate is documented; the one limit the service shows is its
guard against big unfiltered reads.

reference/directum-rx.md §3, §7.2: an unfiltered read of more entities than the server's threshold answers
400 «Превышено максимальное количество сущностей в запросе. Используйте фильтрацию.» (observed by two
independent clients; `errors.TooManyEntities`). The threshold is an installation setting the vendor does
not publish: 1000 here, per instance (`create_instance(max_entities=...)`). No rate limit (requests per
second) is documented or reported for the Integration Service, so none is emulated (docs/sandbox.md).
"""

from __future__ import annotations

from typing import Any

DEFAULT_MAX_ENTITIES = 1000


def over_entity_cap(settings: dict[str, Any], options: dict[str, str], count: int) -> bool:
    """True when a read without `$filter` would return more entities than the instance allows."""
    return "$filter" not in options and count > settings.get("max_entities", DEFAULT_MAX_ENTITIES)
