"""The sandbox's one pagination helper: amoCRM's paging rules and HAL collection envelopes.

Rules (reference/amocrm-api.md §4, §6):

- `page` counts from 1, `limit` defaults to 50 (the doc's own links show
  `limit=50`); most lists accept at most 250 per page, events 100, and custom
  fields return at most 50 whatever `limit` says.
- A `limit` above the maximum is ignored: the page holds the default 50 and
  carries no `next` link, as live accounts answered (Krukov/amocrm_api#76:
  `limit=250` on events, whose maximum is 100, gave 50 events and the client,
  which follows `next`, stopped there; amocrm-api-php#210: `limit=400` on
  leads gave 50). See docs/sandbox.md.
  A non-numeric or non-positive page/limit is a 400 (validation).
- An empty page is `204 No Content` with no body.
- The last page has no `next` link.
- Which meta keys appear depends on the endpoint family (`Envelope`):
  `PAGED` (leads, contacts, companies, tasks, events, notes, tags):
  `_page` + `_links` self/next/first/prev, no total; `COUNTED` (users, roles,
  custom fields): `_total_items`, `_page`, `_page_count`, links (custom
  fields add `last`); `TOTAL_LINKED` (pipelines, sources, links):
  `_total_items` + self link; `TOTAL_ONLY` (statuses, webhooks, field
  groups): `_total_items` + `_embedded`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

DEFAULT_LIMIT = 50
MAX_LIMIT = 250


class Envelope(enum.Enum):
    PAGED = "paged"
    COUNTED = "counted"
    TOTAL_LINKED = "total_linked"
    TOTAL_ONLY = "total_only"


class PagingError(ValueError):
    """A page or limit that isn't a positive whole number: (parameter, value)."""

    def __init__(self, parameter: str, value: str):
        super().__init__(f"{parameter}={value!r} is not a positive whole number")
        self.parameter = parameter
        self.value = value


@dataclass(frozen=True)
class Page:
    page: int
    limit: int
    over_limit: bool = False   # the client asked for more than the maximum: no `next` link

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def parse_page(params: Mapping[str, str], *, max_limit: int = MAX_LIMIT, default_limit: int = DEFAULT_LIMIT,
               fixed_limit: int | None = None) -> Page:
    """Read `page` and `limit`; a `limit` above `max_limit` falls back to the default (or force `fixed_limit`,
    as custom fields do)."""
    values = {}
    for name, default in (("page", 1), ("limit", default_limit)):
        raw = params.get(name)
        if raw is None or raw == "":
            values[name] = default
            continue
        if not raw.isdigit() or int(raw) < 1:
            raise PagingError(name, raw)
        values[name] = int(raw)
    if fixed_limit is not None:
        return Page(values["page"], fixed_limit)
    if values["limit"] > max_limit:
        return Page(values["page"], default_limit, over_limit=True)
    return Page(values["page"], values["limit"])


def _href(base: str, query: list[tuple[str, str]], **override: int) -> str:
    pairs = [(k, v) for k, v in query if k not in override] + [(k, str(v)) for k, v in override.items()]
    return f"{base}?{urlencode(pairs)}" if pairs else base


def collection(key: str, items: list[dict[str, Any]], *, envelope: Envelope, self_url: str,
               query: list[tuple[str, str]] | None = None, page: Page | None = None, has_next: bool = False,
               total: int | None = None, last_link: bool = False) -> dict[str, Any] | None:
    """The HAL collection for one page, or None when it is empty (the caller answers 204)."""
    if not items:
        return None
    query = list(query or [])
    body: dict[str, Any] = {}
    if envelope is Envelope.TOTAL_ONLY:
        return {"_total_items": len(items), "_embedded": {key: items}}
    if envelope is Envelope.TOTAL_LINKED:
        return {"_total_items": len(items), "_links": {"self": {"href": _href(self_url, query)}},
                "_embedded": {key: items}}
    assert page is not None
    links = {"self": {"href": _href(self_url, query, page=page.page, limit=page.limit)}}
    if envelope is Envelope.COUNTED:
        assert total is not None
        page_count = max(1, math.ceil(total / page.limit))
        has_next = page.page < page_count
        body.update({"_total_items": total, "_page": page.page, "_page_count": page_count})
    else:
        body["_page"] = page.page
    if has_next:
        links["next"] = {"href": _href(self_url, query, page=page.page + 1, limit=page.limit)}
    if page.page > 1:
        links["first"] = {"href": _href(self_url, query, page=1, limit=page.limit)}
        links["prev"] = {"href": _href(self_url, query, page=page.page - 1, limit=page.limit)}
    if last_link and envelope is Envelope.COUNTED:
        links["last"] = {"href": _href(self_url, query, page=body["_page_count"], limit=page.limit)}
    body["_links"] = links
    body["_embedded"] = {key: items}
    return body


def page_of(fetch: Callable[[int, int], list[Any]], page: Page) -> tuple[list[Any], bool]:
    """Fetch one page with a look-ahead row: `fetch(offset, count)` → (items, has_next)."""
    rows = fetch(page.offset, page.limit + 1)
    return rows[: page.limit], len(rows) > page.limit and not page.over_limit
