"""Reading an amoCRM account's records for the audit snapshot, and mapping them to neutral rows.

The audit's sync (`implkit.audit.sync`) drives the streams below page by
page; this module knows amoCRM's paths, filters and payload shapes
(reference/amocrm-api.md §6–§7.8) and nothing about SQLite.

Stream kinds:

- `dictionary` — small lists re-read whole on every sync (users, roles,
  pipelines with their stages, loss reasons, custom field definitions).
- `keyset` — leads, contacts, companies, notes: `order[updated_at]=asc` and
  `filter[updated_at][from]=MARK`; after each page the mark moves to the
  page's newest `updated_at` (inclusive, so a record sharing that second is
  read again, never skipped; the snapshot upserts by id). A record edited
  during the sync moves behind the mark and is read again later in the
  same pass — page-number paging would silently skip its neighbour.
- `paged` — tasks (`filter[updated_at]`, ordered by id) and events
  (`filter[created_at]`, append-only): a fixed filter per pass, pages by number.

Also offered to the sync: `server_time()` — the account's clock, from the
`Date` header of `GET /api/v4/account` (the mark of an incremental pass never
passes it); `read_ids()` — leads or contacts read again by id
(`filter[id][]`), for the records named by `entity_linked` /
`entity_unlinked` events: a link made through `/link` or `_embedded` need not
change a record's `updated_at` (§7.5, §7.7: the event's value is
`[{link: {entity: {type, id}}}]`, and the event sits on either side).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from implkit.http import HttpClient
from implkit.providers.amocrm.mapping import LIST_LIMIT

EVENTS_LIMIT = 100  # §6: events answer at most 100 a page
FIELDS_LIMIT = 50  # §6: custom fields answer at most 50 a page
RECORD_ENTITIES = ("leads", "contacts", "companies")
# Events the audit uses: stage changes (D04, D15, conversion), calls and messages (D06, D07), deletions
# and restores, link changes (records to read again).
EVENT_TYPES = ("lead_status_changed", "outgoing_call", "outgoing_chat_message", "outgoing_sms",
               "incoming_call", "incoming_chat_message", "incoming_sms",
               "lead_deleted", "contact_deleted", "company_deleted", "task_deleted",
               "lead_restored", "contact_restored", "company_restored",
               "entity_linked", "entity_unlinked")
LINK_EVENTS = ("entity_linked", "entity_unlinked")
# A call or SMS logged as a note also leaves an event naming that note (§7.7: note-type events carry
# `[{note: {id}}]`); the note stream already holds the touch, so such an event would count it twice.
NOTE_MIRRORS = ("incoming_call", "outgoing_call", "incoming_sms", "outgoing_sms")
PLURAL = {"lead": "leads", "contact": "contacts", "company": "companies"}
INN_NAMES = ("инн", "inn")


@dataclass(frozen=True)
class Stream:
    name: str  # cursor key, e.g. "leads", "notes.contacts"
    table: str  # snapshot table the rows go to
    kind: str  # dictionary | keyset | paged
    path: str
    embedded: str
    limit: int = LIST_LIMIT
    params: tuple[tuple[str, str], ...] = ()
    mark_filter: str = "updated_at"  # filter[...] the incremental pass uses
    mark_field: str = "updated_at"  # row field the high-water mark is taken from


@dataclass
class PageResult:
    rows: list[dict[str, Any]]
    has_next: bool
    high_water: int | None  # newest mark_field value on the page


@dataclass
class AmoRecords:
    """Reads record pages from one amoCRM account through the shared HttpClient."""

    http: HttpClient
    _fields: dict[int, dict[str, Any]] = field(default_factory=dict)
    _server_time: float | None = None

    crm = "amocrm"
    # Streams the sync may read at once: all share the HttpClient's rate limiter, so this hides the
    # server's latency without ever exceeding the limit.
    parallel_streams = 2

    @property
    def streams(self) -> list[Stream]:
        dictionaries = [
            Stream("users", "users", "dictionary", "/api/v4/users", "users", params=(("with", "role,group"),)),
            Stream("roles", "roles", "dictionary", "/api/v4/roles", "roles"),
            Stream("pipelines", "pipelines", "dictionary", "/api/v4/leads/pipelines", "pipelines"),
            Stream("loss_reasons", "loss_reasons", "dictionary", "/api/v4/leads/loss_reasons", "loss_reasons"),
            *(Stream(f"custom_fields.{e}", "custom_fields", "dictionary", f"/api/v4/{e}/custom_fields",
                     "custom_fields", limit=FIELDS_LIMIT) for e in RECORD_ENTITIES),
        ]
        # Events first: the longest stream (100 a page) runs beside all the others (parallel_streams).
        records = [
            Stream("events", "events", "paged", "/api/v4/events", "events", limit=EVENTS_LIMIT,
                   params=tuple(("filter[type][]", t) for t in EVENT_TYPES),
                   mark_filter="created_at", mark_field="created_at"),
            Stream("companies", "companies", "keyset", "/api/v4/companies", "companies"),
            Stream("contacts", "contacts", "keyset", "/api/v4/contacts", "contacts"),
            Stream("leads", "leads", "keyset", "/api/v4/leads", "leads", params=(("with", "contacts"),)),
            Stream("tasks", "tasks", "paged", "/api/v4/tasks", "tasks", params=(("order[id]", "asc"),)),
            *(Stream(f"notes.{e}", "notes", "keyset", f"/api/v4/{e}/notes", "notes") for e in RECORD_ENTITIES),
        ]
        return dictionaries + records

    def account(self) -> dict[str, Any]:
        reply = self.http.request("GET", "/api/v4/account")
        self._server_time = _http_date(reply.headers.get("date"))
        data = reply.data or {}
        return {"id": data.get("id"), "name": data.get("name"), "subdomain": data.get("subdomain")}

    def server_time(self) -> float | None:
        """The account's clock when it answered `account()` (its `Date` header), None without one."""
        return self._server_time

    def read_ids(self, table: str, ids: list[int]) -> list[dict[str, Any]]:
        """Leads or contacts read again by id (a link of theirs changed); the missing ones were deleted."""
        stream = next(s for s in self.streams if s.name == table)
        params = [("limit", LIST_LIMIT), *stream.params, *(("filter[id][]", i) for i in ids)]
        data = self.http.get(stream.path, params)
        return [self.to_row(stream, item) for item in ((data or {}).get("_embedded") or {}).get(stream.embedded) or []]

    def read_page(self, stream: Stream, *, since: int | None, page: int) -> PageResult:
        params: list[tuple[str, Any]] = [("page", page), ("limit", stream.limit), *stream.params]
        if stream.kind == "keyset":
            params.append(("order[updated_at]", "asc"))
        if since is not None and stream.kind != "dictionary":
            params.append((f"filter[{stream.mark_filter}][from]", since))
        data = self.http.get(stream.path, params)  # pairs: repeated keys such as filter[type][] survive
        items = list(((data or {}).get("_embedded") or {}).get(stream.embedded) or [])
        has_next = bool(((data or {}).get("_links") or {}).get("next"))
        rows = [self.to_row(stream, item) for item in items if not _mirrors_a_note(item)]
        marks = [row.get(stream.mark_field) for row in rows if row.get(stream.mark_field) is not None]
        return PageResult(rows, has_next, max(marks) if marks else None)

    def remember_fields(self, rows: Iterable[dict[str, Any]]) -> None:
        """Custom field definitions, read first, tell phones, e-mails and the INN apart in records."""
        self._fields.update({row["id"]: row for row in rows})

    # --- payload → neutral row -------------------------------------------------------------

    def to_row(self, stream: Stream, item: Mapping[str, Any]) -> dict[str, Any]:
        kind = stream.name.split(".")[0]
        if kind == "custom_fields":
            return field_row(stream.name.split(".")[1], item)
        if kind == "notes":
            return note_row(stream.name.split(".")[1], item)
        return ROW_MAPPERS[kind](self, item)

    def _values(self, item: Mapping[str, Any]) -> tuple[list[str], list[str], str | None, dict[int, str]]:
        """(phones, e-mails, INN, other field values as text) of a record's custom_fields_values."""
        phones, emails, inn, fields = [], [], None, {}
        for value in item.get("custom_fields_values") or ():
            field_id = value.get("field_id")
            code = (value.get("field_code") or (self._fields.get(field_id) or {}).get("code") or "").upper()
            name = (value.get("field_name") or (self._fields.get(field_id) or {}).get("name") or "").strip().lower()
            texts = [_text(v) for v in value.get("values") or ()]
            texts = [t for t in texts if t]
            if code == "PHONE":
                phones += texts
            elif code == "EMAIL":
                emails += texts
            else:
                if code == "INN" or name in INN_NAMES:
                    inn = texts[0] if texts else None
                if field_id is not None and texts:
                    fields[int(field_id)] = "; ".join(texts)
        return phones, emails, inn, fields


def _mirrors_a_note(item: Mapping[str, Any]) -> bool:
    return item.get("type") in NOTE_MIRRORS and any(
        isinstance(v, Mapping) and isinstance(v.get("note"), Mapping) for v in item.get("value_after") or ())


def _http_date(value: str | None) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError):
        return None


def _text(value: Mapping[str, Any]) -> str:
    v = value.get("value")
    if isinstance(v, dict):  # legal_entity: the INN is its vat_id
        return str(v.get("vat_id") or v.get("name") or "")
    if v is None:
        v = value.get("enum_id") or value.get("enum_code")
    return "" if v is None else str(v).strip()


def _embedded_ids(item: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    return list(((item.get("_embedded") or {}).get(key)) or [])


def user_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    rights = dict(item.get("rights") or {})
    return {"id": item["id"], "name": item.get("name") or "", "email": item.get("email"),
            "is_active": bool(rights.get("is_active", True)), "is_admin": bool(rights.get("is_admin")),
            "group_id": rights.get("group_id"), "role_id": rights.get("role_id"), "rights": rights}


def role_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "name": item.get("name") or "", "rights": item.get("rights") or {}}


def pipeline_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "name": item.get("name") or "", "sort": item.get("sort") or 0,
            "is_main": bool(item.get("is_main")), "is_archive": bool(item.get("is_archive")),
            "stages": [{"id": s["id"], "name": s.get("name") or "", "sort": s.get("sort") or 0,
                        "type": s.get("type") or 0} for s in _embedded_ids(item, "statuses")]}


def loss_reason_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "name": item.get("name") or ""}


def field_row(entity: str, item: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "entity_type": entity, "name": item.get("name") or "", "code": item.get("code"),
            "type": item.get("type") or "", "required_statuses": item.get("required_statuses") or []}


def lead_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    _, _, _, fields = reader._values(item)
    companies = _embedded_ids(item, "companies")
    return {"id": item["id"], "name": item.get("name") or "", "price": item.get("price") or 0,
            "responsible_user_id": item.get("responsible_user_id"), "pipeline_id": item.get("pipeline_id"),
            "status_id": item.get("status_id"), "loss_reason_id": item.get("loss_reason_id"),
            "created_by": item.get("created_by"), "created_at": item.get("created_at"),
            "updated_at": item.get("updated_at"), "closed_at": item.get("closed_at"),
            "closest_task_at": item.get("closest_task_at"),
            "contacts": [{"id": c["id"], "is_main": bool(c.get("is_main"))} for c in _embedded_ids(item, "contacts")],
            "company_id": companies[0]["id"] if companies else None, "fields": fields}


def contact_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    phones, emails, _, fields = reader._values(item)
    companies = _embedded_ids(item, "companies")
    name = item.get("name") or " ".join(p for p in (item.get("first_name"), item.get("last_name")) if p)
    return {"id": item["id"], "name": name or "", "responsible_user_id": item.get("responsible_user_id"),
            "created_at": item.get("created_at"), "updated_at": item.get("updated_at"),
            "company_id": companies[0]["id"] if companies else None,
            "phones": phones, "emails": emails, "fields": fields}


def company_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    phones, emails, inn, fields = reader._values(item)
    return {"id": item["id"], "name": item.get("name") or "", "responsible_user_id": item.get("responsible_user_id"),
            "created_at": item.get("created_at"), "updated_at": item.get("updated_at"),
            "phones": phones, "emails": emails, "inn": inn, "fields": fields}


def task_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    result = item.get("result") or {}
    return {"id": item["id"], "responsible_user_id": item.get("responsible_user_id"),
            "entity_type": item.get("entity_type") or None, "entity_id": item.get("entity_id") or None,
            "is_completed": bool(item.get("is_completed")), "task_type_id": item.get("task_type_id"),
            "text": item.get("text") or "", "complete_till": item.get("complete_till"),
            "created_at": item.get("created_at"), "updated_at": item.get("updated_at"),
            "result_text": result.get("text") if isinstance(result, dict) else None}


# params.call_status of a call note (amoCRM "Calls" API, the note's params): 1 left a voice message, 2 call
# back later, 3 not in, 4 talked, 5 wrong number, 6 no answer, 7 busy. Only 4 is a conversation.
CALL_TALKED = 4


def note_row(entity: str, item: Mapping[str, Any]) -> dict[str, Any]:
    note_type = item.get("note_type") or ""
    params = item.get("params") if isinstance(item.get("params"), Mapping) else {}
    if note_type == "call_in" and "duration" in params and not params.get("duration"):
        note_type = "call_missed"  # an incoming call with no conversation: C13 looks for the call back
    row = {"id": item["id"], "entity_type": entity, "entity_id": item.get("entity_id"),
           "note_type": note_type, "created_by": item.get("created_by"),
           "created_at": item.get("created_at"), "updated_at": item.get("updated_at") or item.get("created_at")}
    if item.get("note_type") in ("call_in", "call_out"):
        row["call"] = call_of(item, params)
    return row


def call_of(item: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The call a call note records: its manager (`call_responsible` when it is a user id — integrations
    may put a name there — else the note's responsible user, else its author), direction, outcome
    (`call_status` when given, else a non-zero `duration`) and duration in seconds."""
    duration = _seconds(params.get("duration"))
    status = _seconds(params.get("call_status"))
    user = params.get("call_responsible")
    user = user if isinstance(user, int) and not isinstance(user, bool) else (
        int(user) if isinstance(user, str) and user.isdigit() else None)
    return {"user_id": user or item.get("responsible_user_id") or item.get("created_by"),
            "direction": "in" if item.get("note_type") == "call_in" else "out",
            "answered": status == CALL_TALKED if status else duration > 0, "duration": duration,
            "status": str(status) if status else None}


def _seconds(value: Any) -> int:
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return 0


def event_row(reader: AmoRecords, item: Mapping[str, Any]) -> dict[str, Any]:
    row = {"id": str(item["id"]), "type": item.get("type") or "", "entity_type": item.get("entity_type") or "",
           "entity_id": item.get("entity_id"), "created_by": item.get("created_by"),
           "created_at": item.get("created_at")}
    if row["type"] == "lead_status_changed":
        before, after = _lead_status(item.get("value_before")), _lead_status(item.get("value_after"))
        row.update(pipeline_before=before[0], status_before=before[1], pipeline_after=after[0], status_after=after[1])
    if row["type"] in LINK_EVENTS:
        row["refresh"] = link_refresh(item)
    return row


def link_refresh(item: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The snapshot record holding a changed link: the lead of a lead–contact or lead–company link (its
    contacts and company), the contact of a contact–company link (its company)."""
    sides = {item.get("entity_type"): item.get("entity_id")}
    for value in (item.get("value_after") or []) + (item.get("value_before") or []):
        linked = ((value or {}).get("link") or {}).get("entity") or {}
        if linked.get("type") and linked.get("id") is not None:
            sides.setdefault(linked["type"], linked["id"])
    for holder in ("lead", "contact"):
        if sides.get(holder) is not None and len(sides) > 1:
            return [(PLURAL[holder], int(sides[holder]))]
    return []


def _lead_status(values: Any) -> tuple[int | None, int | None]:
    for value in values or ():
        status = (value or {}).get("lead_status")
        if status:
            return status.get("pipeline_id"), status.get("id")
    return None, None


ROW_MAPPERS = {"users": user_row, "roles": role_row, "pipelines": pipeline_row, "loss_reasons": loss_reason_row,
               "leads": lead_row, "contacts": contact_row, "companies": company_row, "tasks": task_row,
               "events": event_row}
