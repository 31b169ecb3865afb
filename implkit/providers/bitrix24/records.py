"""Reading a Bitrix24 portal's records for the audit snapshot, mapped to the snapshot's neutral rows.

`implkit.audit.sync` drives the streams; each `read_page` is ONE HTTP
request: a `batch` of 50 chained `start=-1` list calls (`Bitrix24Api.chain_page`),
up to 2,500 rows, no row counting (reference/bitrix24-api.md §6, §7).

| stream | method | snapshot table | incremental by |
|---|---|---|---|
| users | `user.get` | users | (re-read whole) |
| pipelines | `crm.category.list` + `crm.status.list` | pipelines, stages | (re-read whole) |
| loss_reasons | (the failure stages the pipelines' answer holds: no request) | loss_reasons | (re-read whole) |
| custom_fields.* | `crm.{deal,contact,company}.userfield.list` | custom_fields | (re-read whole) |
| companies, contacts | `crm.company.list`, `crm.contact.list` (`PHONE`, `EMAIL`, `UF_*`) | companies, contacts | `>=DATE_MODIFY` |
| leads | `crm.deal.list` (deals) | leads | `>=DATE_MODIFY` |
| tasks | `crm.activity.list` (activities: «дела») | tasks | `>=LAST_UPDATED` |
| notes | `crm.activity.list`, completed calls and e-mails on deals, contacts, companies | notes (`call_out` / `call_in` / `email_out` / `email_in`: the touches D03/D06/D07 count; a planned call, not completed, is a to-do, not a touch) | `>=LAST_UPDATED` |
| events | `crm.stagehistory.list` (deals) | events (`lead_status_changed`) | id (append-only) |
| calls | `voximplant.statistic.get` (the telephony statistics: manager, type, duration, result code, CRM record, call activity) | calls | id (append-only: a record is written once the call ends) |

Calls: `voximplant.statistic.get` takes `FILTER`, `SORT` + `ORDER` and pages of 50 by `start`; the
chained pages filter `>ID` from the previous page's last id and keep `start=0` (the method page
documents offsets only, so each page is counted: dearer, never wrong). `CALL_TYPE` 1 outgoing and 4
callback are outgoing calls, 2 and 3 incoming; 5 (an informational robot call) is nobody's call and is
left out. A call is answered when `CALL_FAILED_CODE` is 200. A portal or webhook without the
`telephony` scope (or the right to view call statistics) has no calls: the stream ends empty and the
snapshot says so (`meta.calls_unavailable`).

Paging: the stream is `paged`; the page number the sync stores is the
next id to read (`last id + 1`, returned as `PageResult.next_page`), so a
killed sync resumes at the first row it had not committed. `since` is the
modification mark of an incremental pass (Unix seconds; sent to the portal
as ISO 8601 in the portal's own offset).

Neutral conventions of the snapshot (docs/snapshot.md): a deal's stage is
the stage's numeric row id, except success stages → 142 and failure stages
→ 143 (`is_open` = not won/lost); a pipeline lists one lost stage, its
first failure stage. Activities are the snapshot's tasks (what D01/T01 look
at). A portal says why a deal was lost by the failure stage it was closed in
(«Сделка провалена», «Анализ причины провала», or any failure stage an admin
adds: the close dialog offers them all): each failure stage is a loss reason
(id: the stage's numeric row id), and a lost deal's `loss_reason_id` is its
failure stage's.

Deleted records: these list methods have no "deleted since" filter, and the
REST events (`ONCRMDEALDELETE`…) reach only a handler registered before the
deletion. `live_ids()` sweeps every list for its ids alone — `select: ["ID"]`,
`start=-1`, 50 chained pages in one `batch`: 2,500 ids a request, so
ceil((n + 1) / 2,500) requests for n records (41 per 100,000) — and the sync
removes what the portal no longer lists. Activities are swept once for both
the tasks and the notes (calls) they feed.

The server's clock (`server_time()`): `time.start` of the first answer of
the sync (the users' list), so the sync's marks are compared with the
portal's timestamps, never with ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from implkit.providers.bitrix24 import mapping as b24
from implkit.providers.bitrix24.transport import Bitrix24Api, Command

WON, LOST = 142, 143  # the snapshot's won / lost stage ids
DEFAULT_OFFSET = "+03:00"  # a Russian cloud portal's time zone, until a date read tells the portal's own
OWNER_TABLES = {1: None, 2: "leads", 3: "contacts", 4: "companies"}
INN_NAMES = ("инн", "inn")
CALL, EMAIL, OUTGOING = 2, 4, 2  # crm.activity TYPE_ID of a call, of an e-mail; DIRECTION of an outgoing one
# voximplant.statistic.get CALL_TYPE: 1 outgoing, 2 incoming, 3 incoming redirected, 4 callback, 5 informational
CALL_DIRECTIONS = {1: "out", 2: "in", 3: "in", 4: "out"}
STAT_ENTITIES = {"CONTACT": "contacts", "COMPANY": "companies"}  # a LEAD is not in the snapshot (deals are)
NO_TELEPHONY = ("insufficient_scope", "access_denied", "error_method_not_found")
UF_ENTITIES = {"leads": "crm.deal", "contacts": "crm.contact", "companies": "crm.company"}


@dataclass(frozen=True)
class Stream:
    name: str
    table: str
    kind: str  # dictionary | paged
    method: str = ""
    mark: str | None = None  # the modification field an incremental pass filters by (None: ids)
    select: tuple[str, ...] = ()
    items_key: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    filter: tuple[tuple[str, Any], ...] = ()  # always applied (the calls among activities)
    mark_field: str = "updated_at"  # the row field the sync reads the mark from


@dataclass
class PageResult:
    rows: list[dict[str, Any]]
    has_next: bool
    high_water: int | None
    next_page: int | None = None  # the next id to read: the sync stores it as the stream's page


@dataclass
class B24Records:
    """Reads record pages from one portal (the RecordsReader `implkit.audit.sync` drives)."""

    api: Bitrix24Api
    portal_url: str
    offset: str = DEFAULT_OFFSET
    _stages: dict[str, int] = field(default_factory=dict)  # STATUS_ID → snapshot stage id
    _failures: dict[str, int] = field(default_factory=dict)  # failure STATUS_ID → its row id (the loss reason)
    _loss_reasons: list[dict[str, Any]] = field(default_factory=list)
    _fields: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # entity → FIELD_NAME → row
    _server_time: float | None = None  # the portal's clock at the first answer read
    calls_unavailable: str | None = None  # why the portal gave no call statistics (an error code), if it did not

    crm = "bitrix24"
    # streams the sync may read side by side: a batch takes the portal seconds to run, so two or three in
    # flight keep the 2 requests/s budget busy (the client bucket still spaces them)
    parallel_streams = 3

    @property
    def streams(self) -> list[Stream]:
        return [
            Stream("users", "users", "dictionary", "user.get"),
            Stream("pipelines", "pipelines", "dictionary", "crm.category.list"),
            Stream("loss_reasons", "loss_reasons", "dictionary", "crm.status.list"),  # read with the pipelines
            *(Stream(f"custom_fields.{e}", "custom_fields", "dictionary", f"{m}.userfield.list")
              for e, m in UF_ENTITIES.items()),
            Stream("companies", "companies", "paged", "crm.company.list", "DATE_MODIFY",
                   ("*", "UF_*", "PHONE", "EMAIL")),
            Stream("contacts", "contacts", "paged", "crm.contact.list", "DATE_MODIFY",
                   ("*", "UF_*", "PHONE", "EMAIL")),
            Stream("leads", "leads", "paged", "crm.deal.list", "DATE_MODIFY", ("*", "UF_*")),
            Stream("tasks", "tasks", "paged", "crm.activity.list", "LAST_UPDATED",
                   ("ID", "OWNER_ID", "OWNER_TYPE_ID", "TYPE_ID", "SUBJECT", "CREATED", "LAST_UPDATED", "DEADLINE",
                    "COMPLETED", "RESPONSIBLE_ID", "DIRECTION")),
            Stream("notes", "notes", "paged", "crm.activity.list", "LAST_UPDATED",
                   ("ID", "OWNER_ID", "OWNER_TYPE_ID", "DIRECTION", "AUTHOR_ID", "START_TIME", "CREATED",
                    "LAST_UPDATED", "TYPE_ID"),
                   filter=(("@TYPE_ID", [CALL, EMAIL]), ("@OWNER_TYPE_ID", [b24.DEALS, 3, 4]), ("COMPLETED", "Y"))),
            Stream("events", "events", "paged", "crm.stagehistory.list", None, items_key="items",
                   params=(("entityTypeId", b24.DEALS),), mark_field="seq"),
            Stream("calls", "calls", "paged", "voximplant.statistic.get", None, mark_field="seq"),
        ]

    def account(self) -> dict[str, Any]:
        info = b24.account_info(self.portal_url)
        return {"id": info.id, "name": info.name, "subdomain": info.subdomain}

    def remember_fields(self, rows: Iterable[dict[str, Any]]) -> None:
        """The sync hands over the custom field rows; read_page already keeps them by FIELD_NAME."""

    # --- pages ------------------------------------------------------------------------------------

    def read_page(self, stream: Stream, *, since: int | None, page: int) -> PageResult:
        if stream.kind == "dictionary":
            return PageResult(self._dictionary(stream), False, None)
        after = max(page - 1, 0)
        params: dict[str, Any] = dict(stream.params)
        filter_: dict[str, Any] = dict(stream.filter)
        if since is not None:
            if stream.mark:
                filter_[f">={stream.mark}"] = self.iso(since)
            else:  # append-only, by id: `since` is the first id of the pass
                after = max(after, since - 1)
        if stream.name == "calls":
            return self._calls_page(stream, after)
        if filter_:
            params["filter"] = filter_
        if stream.select:
            params["select"] = list(stream.select)
        page_ = self.api.chain_page(stream.method, params, after_id=after, items_key=stream.items_key)
        rows, finished = page_.rows, page_.finished
        out = [self.to_row(stream, row) for row in rows]
        # Rows come by id, not by modification time: a row edited behind the cursor during the pass is only
        # known to be newer than the sync's start. The sync never keeps a mark past that moment
        # (`server_time()`), so the next pass reads such a row again.
        marks = [r.get(stream.mark_field) for r in out if r.get(stream.mark_field) is not None]
        last = int(rows[-1]["ID"]) if rows else after
        return PageResult(out, not finished, max(marks) if marks else None, next_page=last + 1)

    def server_time(self) -> float | None:
        return self._server_time

    def _calls_page(self, stream: Stream, after: int) -> PageResult:
        from implkit.providers.bitrix24.transport import B24Error

        try:
            page_ = self.api.chain_page(stream.method, after_id=after, filter_key="FILTER",
                                        order={"SORT": "ID", "ORDER": "ASC"}, start=0)
        except B24Error as error:
            if str(error.code).lower() in NO_TELEPHONY:
                self.calls_unavailable = str(error.code)
                return PageResult([], False, None, next_page=after + 1)
            raise
        rows = [r for r in (call_row(self, item) for item in page_.rows) if r is not None]
        last = int(page_.rows[-1]["ID"]) if page_.rows else after
        return PageResult(rows, not page_.finished, max((r["seq"] for r in rows), default=None), next_page=last + 1)

    def live_ids(self) -> dict[str, set[int]]:
        """Every id the portal lists now, by snapshot table (module docstring: the deletion sweep)."""
        by_method: dict[str, set[int]] = {}
        by_table: dict[str, set[int]] = {}
        for stream in self.streams:
            if stream.kind != "paged" or not stream.mark:  # stage history: append-only, nothing to remove
                continue
            if stream.method not in by_method:  # notes are calls among the activities: one sweep serves both
                by_method[stream.method] = {int(r["ID"]) for page in self.api.export_chain(
                    stream.method, {"select": ["ID"]}) for r in page}
            by_table[stream.table] = by_method[stream.method]
        return by_table

    def _dictionary(self, stream: Stream) -> list[dict[str, Any]]:
        if stream.name == "users":
            rows, after, first = [], 0, None
            while True:  # export_chain's loop, keeping the portal's time of the sync's first answer
                page = self.api.chain_page("user.get", after_id=after, filter_key="FILTER",
                                           order={"sort": "ID", "order": "ASC"})
                first = page.started if first is None else first
                rows += page.rows
                if page.finished or not page.rows:
                    break
                after = int(page.rows[-1]["ID"])
            self._server_time = first
            self._learn_offset(rows)
            return [user_row(r) for r in rows]
        if stream.name == "pipelines":
            answer = self.api.batch([Command("categories", "crm.category.list", {"entityTypeId": b24.DEALS}),
                                     Command("statuses", "crm.status.list", {"order": {"SORT": "ASC"}})])
            for error in answer.errors.values():
                raise error
            categories = (answer.results.get("categories") or {}).get("categories") or []
            return self._pipelines(categories, list(answer.results.get("statuses") or []))
        if stream.name == "loss_reasons":  # the dictionaries are read in order: the pipelines' answer is in hand
            return list(self._loss_reasons)
        entity = stream.name.split(".", 1)[1]
        rows = self.api.result(stream.method, {"filter": {"LANG": b24.READ_LANG}}) or []
        self._fields[entity] = {str(r.get("FIELD_NAME")): r for r in rows}
        return [{"id": int(r["ID"]), "entity_type": entity, "name": b24.field_name_of(r),
                 "code": r.get("FIELD_NAME"), "type": b24.field_type_from(r), "required_statuses": []} for r in rows]

    def _pipelines(self, categories: list[dict[str, Any]], statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        self._stages, self._failures, self._loss_reasons = {}, {}, []
        for pipeline in b24.pipelines_from(categories, statuses):
            stages, lost_named = [], False
            for s in pipeline.stages:
                code = next((str(x.get("STATUS_ID")) for x in statuses if str(x["ID"]) == s.id), s.id)
                if s.kind == "won":
                    self._stages[code] = WON
                    stages.append({"id": WON, "name": s.name, "sort": s.sort, "type": 0})
                elif s.kind == "lost":
                    self._stages[code] = LOST
                    self._failures[code] = int(s.id)
                    self._loss_reasons.append({"id": int(s.id), "name": s.name})
                    if not lost_named:  # the first failure stage names the pipeline's lost stage
                        lost_named = True
                        stages.append({"id": LOST, "name": s.name, "sort": s.sort, "type": 0})
                else:
                    self._stages[code] = int(s.id)
                    stages.append({"id": int(s.id), "name": s.name, "sort": s.sort, "type": 0})
            out.append({"id": int(pipeline.id), "name": pipeline.name, "sort": pipeline.sort,
                        "is_main": pipeline.is_main, "is_archive": False, "stages": stages})
        return out

    # --- dates ------------------------------------------------------------------------------------

    def _learn_offset(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            for key in ("DATE_REGISTER", "LAST_LOGIN"):
                value = str(row.get(key) or "")
                if len(value) >= 25 and value[-6] in "+-":
                    self.offset = value[-6:]
                    return

    def iso(self, ts: int) -> str:
        """Unix seconds → the portal's ISO 8601 (its own offset: the sandbox compares dates as text)."""
        sign = -1 if self.offset.startswith("-") else 1
        hours, minutes = (int(x) for x in self.offset[1:].split(":"))
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return datetime.fromtimestamp(ts, tz).isoformat()

    # --- payload → neutral row ----------------------------------------------------------------------

    def to_row(self, stream: Stream, item: Mapping[str, Any]) -> dict[str, Any]:
        return ROW_MAPPERS[stream.name](self, item)

    def _values(self, entity: str, item: Mapping[str, Any]) -> tuple[dict[int, str], str | None]:
        """(user field values as text by field id, the INN) of a record."""
        values, inn = {}, None
        for name, definition in self._fields.get(entity, {}).items():
            value = item.get(name)
            if value in (None, "", [], False):
                continue
            text = "; ".join(str(v) for v in value) if isinstance(value, list) else str(value)
            values[int(definition["ID"])] = text
            label = b24.field_name_of(definition).strip().lower()
            if label in INN_NAMES or b24.code_of(name) == "INN":
                inn = text
        return values, inn


def ts(value: Any) -> int | None:
    if not value:
        return None
    try:
        return int(datetime.fromisoformat(str(value)).timestamp())
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "", "0", 0) else None
    except (TypeError, ValueError):
        return None


def _channel(item: Mapping[str, Any], kind: str) -> list[str]:
    return [str(v.get("VALUE")) for v in item.get(kind) or () if isinstance(v, Mapping) and v.get("VALUE")]


def user_row(item: Mapping[str, Any]) -> dict[str, Any]:
    user = b24.user_from(item)
    return {"id": int(item["ID"]), "name": user.name, "email": user.email, "is_active": user.is_active,
            "is_admin": False, "group_id": _int(user.group_id), "role_id": None, "rights": {}}


def deal_row(reader: B24Records, item: Mapping[str, Any]) -> dict[str, Any]:
    fields, _ = reader._values("leads", item)
    stage = reader._stages.get(str(item.get("STAGE_ID") or ""))
    closed = str(item.get("CLOSED") or "N") == "Y"
    contact = _int(item.get("CONTACT_ID"))
    return {"id": int(item["ID"]), "name": item.get("TITLE") or "", "price": int(float(item.get("OPPORTUNITY") or 0)),
            "responsible_user_id": _int(item.get("ASSIGNED_BY_ID")), "pipeline_id": int(item.get("CATEGORY_ID") or 0),
            "status_id": stage if stage is not None else 0,
            "loss_reason_id": reader._failures.get(str(item.get("STAGE_ID") or "")) if stage == LOST else None,
            "created_by": _int(item.get("CREATED_BY_ID")), "created_at": ts(item.get("DATE_CREATE")) or 0,
            "updated_at": ts(item.get("DATE_MODIFY")) or ts(item.get("DATE_CREATE")) or 0,
            "closed_at": ts(item.get("CLOSEDATE")) if closed else None, "closest_task_at": None,
            "contacts": [{"id": contact, "is_main": True}] if contact else [],
            "company_id": _int(item.get("COMPANY_ID")), "fields": fields}


def contact_row(reader: B24Records, item: Mapping[str, Any]) -> dict[str, Any]:
    fields, _ = reader._values("contacts", item)
    name = " ".join(str(p) for p in (item.get("NAME"), item.get("SECOND_NAME"), item.get("LAST_NAME")) if p)
    return {"id": int(item["ID"]), "name": name, "responsible_user_id": _int(item.get("ASSIGNED_BY_ID")),
            "created_at": ts(item.get("DATE_CREATE")) or 0,
            "updated_at": ts(item.get("DATE_MODIFY")) or ts(item.get("DATE_CREATE")) or 0,
            "company_id": _int(item.get("COMPANY_ID")), "phones": _channel(item, "PHONE"),
            "emails": _channel(item, "EMAIL"), "fields": fields}


def company_row(reader: B24Records, item: Mapping[str, Any]) -> dict[str, Any]:
    fields, inn = reader._values("companies", item)
    return {"id": int(item["ID"]), "name": item.get("TITLE") or "",
            "responsible_user_id": _int(item.get("ASSIGNED_BY_ID")), "created_at": ts(item.get("DATE_CREATE")) or 0,
            "updated_at": ts(item.get("DATE_MODIFY")) or ts(item.get("DATE_CREATE")) or 0,
            "phones": _channel(item, "PHONE"), "emails": _channel(item, "EMAIL"), "inn": inn, "fields": fields}


def activity_row(reader: B24Records, item: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": int(item["ID"]), "responsible_user_id": _int(item.get("RESPONSIBLE_ID")),
            "entity_type": OWNER_TABLES.get(_int(item.get("OWNER_TYPE_ID")) or 0),
            "entity_id": _int(item.get("OWNER_ID")), "is_completed": str(item.get("COMPLETED") or "N") == "Y",
            "task_type_id": _int(item.get("TYPE_ID")), "text": item.get("SUBJECT") or "",
            "complete_till": ts(item.get("DEADLINE")), "created_at": ts(item.get("CREATED")) or 0,
            "updated_at": ts(item.get("LAST_UPDATED")) or ts(item.get("CREATED")) or 0, "result_text": None}


def touch_row(reader: B24Records, item: Mapping[str, Any]) -> dict[str, Any]:
    """A completed call or e-mail on a deal, contact or company, as the snapshot's note: the `touches` view
    (D03, D06, D07) counts these, those on a contact or company for its deals."""
    outgoing = _int(item.get("DIRECTION")) == OUTGOING
    kind = "email" if _int(item.get("TYPE_ID")) == EMAIL else "call"
    at = ts(item.get("START_TIME")) or ts(item.get("CREATED")) or 0
    return {"id": int(item["ID"]), "entity_type": OWNER_TABLES.get(_int(item.get("OWNER_TYPE_ID")) or 0) or "leads",
            "entity_id": _int(item.get("OWNER_ID")), "note_type": f"{kind}_{'out' if outgoing else 'in'}",
            "created_by": _int(item.get("AUTHOR_ID")), "created_at": at,
            "updated_at": ts(item.get("LAST_UPDATED")) or at}


def call_row(reader: B24Records, item: Mapping[str, Any]) -> dict[str, Any] | None:
    """A call statistics record (voximplant.statistic.get) as the snapshot's call; None for a robot's call."""
    direction = CALL_DIRECTIONS.get(_int(item.get("CALL_TYPE")) or 0)
    if direction is None:
        return None
    at = ts(item.get("CALL_START_DATE")) or 0
    entity = STAT_ENTITIES.get(str(item.get("CRM_ENTITY_TYPE") or "").upper())
    return {"id": f"stat:{item['ID']}", "seq": int(item["ID"]), "user_id": _int(item.get("PORTAL_USER_ID")),
            "direction": direction, "answered": str(item.get("CALL_FAILED_CODE") or "") == "200",
            "duration": max(0, _int(item.get("CALL_DURATION")) or 0),
            "entity_type": entity, "entity_id": _int(item.get("CRM_ENTITY_ID")) if entity else None,
            "activity_id": _int(item.get("CRM_ACTIVITY_ID")), "at": at,
            "status": str(item.get("CALL_FAILED_CODE") or "") or None}


def history_row(reader: B24Records, item: Mapping[str, Any]) -> dict[str, Any]:
    owner = int(item.get("OWNER_ID") or 0)
    pipeline = _int(item.get("CATEGORY_ID")) or 0
    stage = reader._stages.get(str(item.get("STAGE_ID") or ""))
    # An entry says only where the deal went; where it came from is its previous entry, which the
    # snapshot fills in (`chain`) whether that entry is on this page or was read by an earlier pass.
    return {"id": f"stagehistory:{item['ID']}", "seq": int(item["ID"]), "type": "lead_status_changed",
            "entity_type": "lead", "entity_id": owner, "created_by": None,
            "created_at": ts(item.get("CREATED_TIME")) or 0, "chain": True,
            "pipeline_after": pipeline, "status_after": stage}


ROW_MAPPERS = {"companies": company_row, "contacts": contact_row, "leads": deal_row, "tasks": activity_row,
               "notes": touch_row, "events": history_row, "calls": call_row}
