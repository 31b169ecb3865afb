"""Handlers of the amoCRM emulator: parse a `Call`, ask the `AmoAccount` backend, wrap a `Result`."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm import models
from implkit.sandbox.amocrm.decode import Call, Result
from implkit.sandbox.amocrm.paging import MAX_LIMIT, Envelope, collection, page_of, parse_page


# -- OAuth (plain application/json, not HAL) --------------------------------------------------
async def oauth_access_token(request: Request) -> Response:
    gateway = request.app.state.sandbox
    context = request.scope["sandbox"]
    raw = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict((await request.form()).items())
        else:
            form = json.loads(raw) if raw.strip() else {}
        if not isinstance(form, dict):
            raise ValueError
    except ValueError:
        return JSONResponse({"title": "Bad Request", "status": 400, "detail": "Request body is not valid JSON",
                             "hint": "Send a JSON object"}, status_code=400)
    try:
        answer = await run_in_threadpool(models.exchange_token, gateway.store, context["account_id"], form,
                                         at=gateway.now(), host=request.url.netloc)
    except exc.AmoError as error:
        return JSONResponse(error.body(), status_code=error.status)
    return JSONResponse(answer)


async def oauth_current_subdomain(request: Request) -> Response:
    """The moved-account lookup, reached at the `api_domain` claim of the access token."""
    gateway = request.app.state.sandbox
    try:
        answer = await run_in_threadpool(models.current_subdomain, gateway.store,
                                         request.headers.get("x-refresh-token"), at=gateway.now())
    except exc.AmoError as error:
        return JSONResponse(error.body(), status_code=error.status)
    return JSONResponse(answer)


# -- account ----------------------------------------------------------------------------------
def get_account(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.account(call.with_))


# -- helpers ----------------------------------------------------------------------------------
def _id(call: Call, name: str = "id") -> int:
    return int(call.path_params[name])


def _filters(call: Call) -> dict:
    value = call.params.get("filter")
    return value if isinstance(value, dict) else {}


def _order(call: Call) -> dict:
    value = call.params.get("order")
    return value if isinstance(value, dict) else {}


def _paged(call: Call, key: str, fetch, *, max_limit: int = MAX_LIMIT) -> Result:
    """A PAGED list (leads, contacts, companies, tasks, events, notes, tags): look-ahead for `next`."""
    page = parse_page(call.flat_params, max_limit=max_limit)
    items, has_next = page_of(fetch, page)
    return Result(collection(key, items, envelope=Envelope.PAGED, self_url=call.self_url, query=call.query,
                             page=page, has_next=has_next))


def _counted(call: Call, key: str, total: int, fetch, *, max_limit: int = MAX_LIMIT,
             last_link: bool = False) -> Result:
    page = parse_page(call.flat_params, max_limit=max_limit)
    items = fetch(page.offset, page.limit)
    return Result(collection(key, items, envelope=Envelope.COUNTED, self_url=call.self_url, query=call.query,
                             page=page, total=total, last_link=last_link))


def _written(key: str, items: list, call: Call, status: int = 200, *, total: bool = False,
             links: bool = True) -> Result:
    """The answer of a batch write, enveloped as the docs show it per family: records answer
    `_links` + `_embedded`; configuration answers `_total_items` (+ `_links` for pipelines and sources)."""
    body: dict = {"_total_items": len(items)} if total else {}
    if links:
        body["_links"] = {"self": {"href": call.self_url}}
    body["_embedded"] = {key: items}
    return Result(body, status=status, written=len(items))


def _entity(call: Call) -> str:
    return call.path_params["entity"]


# -- pipelines and statuses ---------------------------------------------------------------------
def list_pipelines(call: Call, amo: models.AmoAccount) -> Result:
    return Result(collection("pipelines", amo.list_pipelines(), envelope=Envelope.TOTAL_LINKED,
                             self_url=call.self_url))


def add_pipelines(call: Call, amo: models.AmoAccount) -> Result:
    return _written("pipelines", amo.add_pipelines(call.body), call, total=True)


def get_pipeline(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_pipeline(_id(call)))


def _echo_request_id(model: dict, call: Call) -> dict:
    """Single-object PATCH answers carry a request_id (the doc examples show one)."""
    request_id = call.body.get("request_id", "0") if isinstance(call.body, dict) else "0"
    return {**model, "request_id": str(request_id)}


def update_pipeline(call: Call, amo: models.AmoAccount) -> Result:
    return Result(_echo_request_id(amo.update_pipeline(_id(call), call.body), call), written=1)


def delete_pipeline(call: Call, amo: models.AmoAccount) -> Result:
    amo.delete_pipeline(_id(call))
    return Result(None, status=204, written=1)


def list_statuses(call: Call, amo: models.AmoAccount) -> Result:
    statuses = amo.list_statuses(_id(call, "pipeline_id"), descriptions="descriptions" in call.with_)
    return Result(collection("statuses", statuses, envelope=Envelope.TOTAL_ONLY, self_url=call.self_url))


def add_statuses(call: Call, amo: models.AmoAccount) -> Result:
    return _written("statuses", amo.add_statuses(_id(call, "pipeline_id"), call.body), call, total=True,
                    links=False)


def get_status(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_status(_id(call, "pipeline_id"), _id(call),
                                 descriptions=True))


def update_status(call: Call, amo: models.AmoAccount) -> Result:
    return Result(_echo_request_id(amo.update_status(_id(call, "pipeline_id"), _id(call), call.body), call), written=1)


def delete_status(call: Call, amo: models.AmoAccount) -> Result:
    moved = amo.delete_status(_id(call, "pipeline_id"), _id(call))
    return Result(None, status=204, written=1 + moved)


# -- custom fields and groups --------------------------------------------------------------------
FIELDS_PAGE = 50   # "returns up to 50 fields per request"; the doc's own example pages by limit=2


def list_fields(call: Call, amo: models.AmoAccount) -> Result:
    entity = _entity(call)
    types = _filters(call).get("type")
    types = types if isinstance(types, list) else [types] if isinstance(types, str) else None
    return _counted(call, "custom_fields", amo.count_fields(entity, types),
                    lambda offset, count: amo.list_fields(entity, types, _order(call), offset, count),
                    max_limit=FIELDS_PAGE, last_link=True)


def get_field(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_field(_entity(call), _id(call)))


def add_fields(call: Call, amo: models.AmoAccount) -> Result:
    return _written("custom_fields", amo.add_fields(_entity(call), call.body), call, status=201, total=True,
                    links=False)


def update_fields(call: Call, amo: models.AmoAccount) -> Result:
    field_id = _id(call) if "id" in call.path_params else None
    fields = amo.update_fields(_entity(call), call.body, field_id)
    if field_id is not None:
        return Result(fields[0], status=201, written=1)
    return _written("custom_fields", fields, call, status=201, total=True, links=False)


def delete_field(call: Call, amo: models.AmoAccount) -> Result:
    touched = amo.delete_field(_entity(call), _id(call))
    return Result(None, status=204, written=1 + touched)


def list_groups(call: Call, amo: models.AmoAccount) -> Result:
    return Result(collection("custom_field_groups", amo.list_groups(_entity(call)), envelope=Envelope.TOTAL_ONLY,
                             self_url=call.self_url))


def get_group(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_group(_entity(call), call.path_params["group_id"]))


def add_groups(call: Call, amo: models.AmoAccount) -> Result:
    return _written("custom_field_groups", amo.add_groups(_entity(call), call.body), call, status=201,
                    total=True, links=False)


def update_group(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.update_group(_entity(call), call.path_params["group_id"], call.body), written=1)


def delete_group(call: Call, amo: models.AmoAccount) -> Result:
    amo.delete_group(_entity(call), call.path_params["group_id"])
    return Result(None, status=204, written=1)


# -- users, roles, loss reasons ------------------------------------------------------------------
def list_users(call: Call, amo: models.AmoAccount) -> Result:
    return _counted(call, "users", amo.count_users(),
                    lambda offset, count: amo.list_users(call.with_, offset, count))


def get_user(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_user(_id(call), call.with_))


def add_users(call: Call, amo: models.AmoAccount) -> Result:
    return _written("users", amo.add_users(call.body), call, total=True, links=False)


def list_roles(call: Call, amo: models.AmoAccount) -> Result:
    return _counted(call, "roles", amo.count_roles(),
                    lambda offset, count: amo.list_roles(call.with_, offset, count))


def get_role(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_role(_id(call), call.with_))


def add_roles(call: Call, amo: models.AmoAccount) -> Result:
    return _written("roles", amo.add_roles(call.body), call, total=True, links=False)


def update_role(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.update_role(_id(call), call.body), written=1)


def delete_role(call: Call, amo: models.AmoAccount) -> Result:
    amo.delete_role(_id(call))
    return Result(None, status=204, written=1)


def list_loss_reasons(call: Call, amo: models.AmoAccount) -> Result:
    return _paged(call, "loss_reasons", amo.list_loss_reasons)


def get_loss_reason(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_loss_reason(_id(call)))


# -- sources, tags, webhooks ----------------------------------------------------------------------
def list_sources(call: Call, amo: models.AmoAccount) -> Result:
    return Result(collection("sources", amo.list_sources(), envelope=Envelope.TOTAL_LINKED, self_url=call.self_url))


def get_source(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_source(_id(call)))


def add_sources(call: Call, amo: models.AmoAccount) -> Result:
    return _written("sources", amo.add_sources(call.body), call, total=True)


def update_sources(call: Call, amo: models.AmoAccount) -> Result:
    source_id = _id(call) if "id" in call.path_params else None
    sources = amo.update_sources(call.body, source_id)
    return Result(sources[0], written=1) if source_id is not None else _written("sources", sources, call, total=True)


def delete_sources(call: Call, amo: models.AmoAccount) -> Result:
    if "id" in call.path_params:
        ids = [_id(call)]
        amo.get_source(ids[0])
    else:
        body = call.body
        if not isinstance(body, list) or not body:
            raise exc.EmptyBody()
        ids = [item.get("id") for item in body if isinstance(item, dict)]
    return Result(None, status=204, written=amo.delete_sources(ids))


def list_tags(call: Call, amo: models.AmoAccount) -> Result:
    entity = _entity(call)
    return _paged(call, "tags", lambda offset, count: amo.list_tags(entity, _filters(call),
                                                                    call.flat_params.get("query"), offset, count))


def add_tags(call: Call, amo: models.AmoAccount) -> Result:
    return _written("tags", amo.add_tags(_entity(call), call.body), call, total=True, links=False)


def list_webhooks(call: Call, amo: models.AmoAccount) -> Result:
    destination = _filters(call).get("destination")
    return Result(collection("webhooks", amo.list_webhooks(destination if isinstance(destination, str) else None),
                             envelope=Envelope.TOTAL_ONLY, self_url=call.self_url))


def add_webhook(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.add_webhook(call.body), status=201, written=1)


def delete_webhook(call: Call, amo: models.AmoAccount) -> Result:
    amo.delete_webhook(call.body)
    return Result(None, status=204, written=1)


# -- leads, contacts, companies, links -------------------------------------------------------------
def list_records(call: Call, amo: models.AmoAccount) -> Result:
    entity = _entity(call)
    with_ = call.with_ & models.RECORD_WITH[entity]
    return _paged(call, entity, lambda offset, count: amo.list_records(
        entity, filters=_filters(call), order=_order(call), query=call.flat_params.get("query"), with_=with_,
        offset=offset, count=count))


def get_record(call: Call, amo: models.AmoAccount) -> Result:
    entity = _entity(call)
    return Result(amo.get_record(entity, _id(call), call.with_ & models.RECORD_WITH[entity]))


def add_records(call: Call, amo: models.AmoAccount) -> Result:
    entity = _entity(call)
    return _written(entity, amo.add_records(entity, call.body), call)


def update_records(call: Call, amo: models.AmoAccount) -> Result:
    entity = _entity(call)
    if "id" in call.path_params:
        answer = amo.update_records(entity, call.body, _id(call))[0]
        return Result(answer, written=1)
    return _written(entity, amo.update_records(entity, call.body), call)


def list_links(call: Call, amo: models.AmoAccount) -> Result:
    entity = _entity(call)
    filters = _filters(call)
    to_types = filters.get("to_entity_type")
    to_types = to_types if isinstance(to_types, list) else [to_types] if isinstance(to_types, str) else None
    if "id" in call.path_params:
        links = amo.list_links(entity, [_id(call)], to_types, with_entity=False)
    else:
        ids = filters.get("entity_id")
        ids = ids if isinstance(ids, list) else list(ids.values()) if isinstance(ids, dict) else [ids] if ids else []
        if not ids:
            raise exc.validation_error("0", "filter.entity_id", "NotBlank", "This value should not be blank.")
        links = amo.list_links(entity, [int(i) for i in ids if str(i).isdigit()], to_types, with_entity=True)
    return Result(collection("links", links, envelope=Envelope.TOTAL_LINKED, self_url=call.self_url,
                             query=call.query))


def link(call: Call, amo: models.AmoAccount) -> Result:
    record_id = _id(call) if "id" in call.path_params else None
    links, written = amo.link(_entity(call), call.body, record_id)
    return Result({"_total_items": len(links), "_links": {"self": {"href": call.self_url}},
                   "_embedded": {"links": links}}, written=written)


def unlink(call: Call, amo: models.AmoAccount) -> Result:
    record_id = _id(call) if "id" in call.path_params else None
    return Result(None, status=204, written=amo.unlink(_entity(call), call.body, record_id))


# -- tasks, notes, events ----------------------------------------------------------------------
def list_tasks(call: Call, amo: models.AmoAccount) -> Result:
    return _paged(call, "tasks", lambda offset, count: amo.list_tasks(_filters(call), _order(call), offset, count))


def get_task(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_task(_id(call)))


def add_tasks(call: Call, amo: models.AmoAccount) -> Result:
    return _written("tasks", amo.add_tasks(call.body), call)


def update_tasks(call: Call, amo: models.AmoAccount) -> Result:
    if "id" in call.path_params:
        return Result(amo.update_tasks(call.body, _id(call))[0], written=1)
    return _written("tasks", amo.update_tasks(call.body), call)


def list_notes(call: Call, amo: models.AmoAccount) -> Result:
    entity = _entity(call)
    entity_id = _id(call, "entity_id") if "entity_id" in call.path_params else None
    return _paged(call, "notes", lambda offset, count: amo.list_notes(entity, entity_id, _filters(call), _order(call),
                                                                      offset, count))


def get_note(call: Call, amo: models.AmoAccount) -> Result:
    entity_id = _id(call, "entity_id") if "entity_id" in call.path_params else None
    return Result(amo.get_note(_entity(call), _id(call), entity_id))


def add_notes(call: Call, amo: models.AmoAccount) -> Result:
    entity_id = _id(call, "entity_id") if "entity_id" in call.path_params else None
    return _written("notes", amo.add_notes(_entity(call), call.body, entity_id), call)


def update_notes(call: Call, amo: models.AmoAccount) -> Result:
    entity_id = _id(call, "entity_id") if "entity_id" in call.path_params else None
    if "id" in call.path_params:
        return Result(amo.update_notes(_entity(call), call.body, _id(call), entity_id)[0], written=1)
    return _written("notes", amo.update_notes(_entity(call), call.body), call)


EVENTS_MAX_LIMIT = 100


def list_events(call: Call, amo: models.AmoAccount) -> Result:
    return _paged(call, "events", lambda offset, count: amo.list_events(_filters(call), offset, count),
                  max_limit=EVENTS_MAX_LIMIT)


def get_event(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_event(call.path_params["event_id"]))


def event_types(call: Call, amo: models.AmoAccount) -> Result:
    return Result(collection("events_types", amo.event_types(call.flat_params.get("language_code", "ru")),
                             envelope=Envelope.TOTAL_LINKED, self_url=call.self_url, query=call.query))


# -- unsorted ----------------------------------------------------------------------------------
def list_unsorted(call: Call, amo: models.AmoAccount) -> Result:
    return _paged(call, "unsorted", lambda offset, count: amo.list_unsorted(_filters(call), _order(call), offset,
                                                                            count))


def get_unsorted(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.get_unsorted(call.path_params["uid"]))


def add_unsorted(call: Call, amo: models.AmoAccount) -> Result:
    return _written("unsorted", amo.add_unsorted(call.path_params["category"], call.body), call, total=True,
                    links=False)


def accept_unsorted(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.accept_unsorted(call.path_params["uid"], call.body), written=1)


def decline_unsorted(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.decline_unsorted(call.path_params["uid"]), written=1)


def link_unsorted(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.link_unsorted(call.path_params["uid"], call.body), written=1)


def unsorted_summary(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.unsorted_summary(_filters(call)), media_type="application/hal+json")


def add_complex(call: Call, amo: models.AmoAccount) -> Result:
    """A bare array, not a HAL collection (POST_leads_complex.response)."""
    answers = amo.add_complex(call.body)
    written = len(answers) + sum(bool(a["contact_id"]) + bool(a["company_id"]) for a in answers)
    return Result(answers, written=written)
