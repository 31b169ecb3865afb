"""The REST methods a portal answers: name → (scope, handler). Handlers are thin: read parameters,
call the `Portal` backend, shape the `result` of their method family (reference/bitrix24-api.md §3, §8).

Method names are case-insensitive (the registry is keyed in lower case). Legacy methods read their
top-level parameters in any case (`fields`/`FIELDS`); `crm.item.*` and `crm.category.*` take the
documented camelCase names only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24.listing import Page
from implkit.sandbox.bitrix24.models import BY_NAME, ENTITIES, Portal, as_dict, param


@dataclass
class Answer:
    result: Any
    total: int | None = None      # list methods: the count (0 when start=-1)
    next: int | None = None
    listed: bool = False          # a list method: `total` always present


def _listed(page: Page, wrap: Callable[[list], Any] = lambda rows: rows) -> Answer:
    return Answer(wrap(page.rows), total=page.total or 0, next=page.next, listed=True)


Handler = Callable[[dict[str, Any], Portal], Answer]
REGISTRY: dict[str, tuple[str, Handler]] = {}


def method(name: str, scope: str = "crm"):
    def register(handler: Handler) -> Handler:
        REGISTRY[name.lower()] = (scope, handler)
        return handler
    return register


def lookup(name: str) -> tuple[str, Handler]:
    entry = REGISTRY.get(name.lower())
    if entry is None:
        raise err.MethodNotFound()
    return entry


# --- crm.category.* ------------------------------------------------------------------------------
@method("crm.category.list")
def category_list(p: dict, portal: Portal) -> Answer:
    categories = portal.category_list(param(p, "entityTypeId", exact=True))
    return Answer({"categories": categories}, total=len(categories), listed=True)


@method("crm.category.get")
def category_get(p: dict, portal: Portal) -> Answer:
    return Answer({"category": portal.category_get(param(p, "entityTypeId", exact=True), param(p, "id", exact=True))})


@method("crm.category.add")
def category_add(p: dict, portal: Portal) -> Answer:
    fields = as_dict(param(p, "fields", {}, exact=True), "fields")
    return Answer({"category": portal.category_add(param(p, "entityTypeId", exact=True), fields)})


@method("crm.category.update")
def category_update(p: dict, portal: Portal) -> Answer:
    fields = as_dict(param(p, "fields", {}, exact=True), "fields")
    return Answer({"category": portal.category_update(param(p, "entityTypeId", exact=True),
                                                      param(p, "id", exact=True), fields)})


@method("crm.category.delete")
def category_delete(p: dict, portal: Portal) -> Answer:
    portal.category_delete(param(p, "entityTypeId", exact=True), param(p, "id", exact=True))
    return Answer(None)


@method("crm.category.fields")
def category_fields(p: dict, portal: Portal) -> Answer:
    portal._check_category_type(param(p, "entityTypeId", exact=True))
    def field(ftype: str, title: str, read_only: bool = False, required: bool = False) -> dict:
        return {"type": ftype, "isRequired": required, "isReadOnly": read_only, "isImmutable": False,
                "isMultiple": False, "isDynamic": False, "title": title}
    return Answer({"fields": {"id": field("integer", "ID", True), "name": field("string", "Name", required=True),
                              "sort": field("integer", "Sort"), "entityTypeId": field("integer", "Entity type", True),
                              "isDefault": field("char", "Default")}})


# --- crm.status.* --------------------------------------------------------------------------------
@method("crm.status.list")
def status_list(p: dict, portal: Portal) -> Answer:
    rows = portal.status_list(as_dict(param(p, "order", {}), "order"), as_dict(param(p, "filter", {}), "filter"))
    return Answer(rows, total=len(rows), listed=True)


@method("crm.status.get")
def status_get(p: dict, portal: Portal) -> Answer:
    return Answer(portal.status_get(param(p, "id")))


@method("crm.status.add")
def status_add(p: dict, portal: Portal) -> Answer:
    return Answer(portal.status_add(as_dict(param(p, "fields"), "fields")))


@method("crm.status.update")
def status_update(p: dict, portal: Portal) -> Answer:
    return Answer(portal.status_update(param(p, "id"), as_dict(param(p, "fields"), "fields")))


@method("crm.status.delete")
def status_delete(p: dict, portal: Portal) -> Answer:
    return Answer(portal.status_delete(param(p, "id"), as_dict(param(p, "params", {}), "params")))


@method("crm.status.entity.types")
def status_entity_types(p: dict, portal: Portal) -> Answer:
    return Answer(portal.status_entity_types())


@method("crm.status.entity.items")
def status_entity_items(p: dict, portal: Portal) -> Answer:
    return Answer(portal.status_entity_items(str(param(p, "entityId", ""))))


# --- crm.{lead,deal,contact,company}.* and their user fields ---------------------------------------
def _register_legacy(entity_name: str) -> None:
    entity = BY_NAME[entity_name]
    prefix = f"crm.{entity_name}"

    def fields_of(p: dict) -> dict:
        return as_dict(param(p, "fields"), "fields")

    method(f"{prefix}.list")(lambda p, portal: _listed(portal.crm_list(entity, p, camel=False)))
    method(f"{prefix}.get")(lambda p, portal: Answer(portal.crm_get(entity, param(p, "id"), camel=False)))
    method(f"{prefix}.add")(lambda p, portal: Answer(portal.crm_add(entity, fields_of(p), camel=False)))
    method(f"{prefix}.update")(lambda p, portal: Answer(portal.crm_update(entity, param(p, "id"), fields_of(p),
                                                                          camel=False)))
    method(f"{prefix}.delete")(lambda p, portal: Answer(portal.crm_delete(entity, param(p, "id"), camel=False)))
    method(f"{prefix}.fields")(lambda p, portal: Answer(portal.crm_fields(entity, camel=False)))
    uf = f"{prefix}.userfield"
    method(f"{uf}.add")(lambda p, portal: Answer(portal.userfield_add(entity, fields_of(p))))
    method(f"{uf}.get")(lambda p, portal: Answer(portal.userfield_get(entity, param(p, "id"))))
    method(f"{uf}.update")(lambda p, portal: Answer(portal.userfield_update(entity, param(p, "id"), fields_of(p))))
    method(f"{uf}.delete")(lambda p, portal: Answer(portal.userfield_delete(entity, param(p, "id"))))

    def uf_list(p: dict, portal: Portal) -> Answer:
        rows = portal.userfield_list(entity, as_dict(param(p, "order", {}), "order"),
                                     as_dict(param(p, "filter", {}), "filter"))
        return Answer(rows, total=len(rows), listed=True)
    method(f"{uf}.list")(uf_list)


for _name in ("lead", "deal", "contact", "company"):
    _register_legacy(_name)


# --- crm.item.* ----------------------------------------------------------------------------------
def _item_entity(p: dict, portal: Portal):
    portal.original_uf_names = str(param(p, "useOriginalUfNames", "N", exact=True)).upper() == "Y"
    try:
        type_id = int(param(p, "entityTypeId", exact=True))
    except (TypeError, ValueError):
        raise err.B24Error("SPA not found", code="NOT_FOUND") from None
    if type_id not in ENTITIES:
        raise err.B24Error("SPA not found", code="NOT_FOUND")
    return ENTITIES[type_id]


def _item_fields(p: dict) -> dict:
    fields = param(p, "fields", {}, exact=True)
    if not isinstance(fields, dict):
        raise err.invalid_arg("Invalid value for fields")   # [unverified] text
    return fields


@method("crm.item.list")
def item_list(p: dict, portal: Portal) -> Answer:
    return _listed(portal.crm_list(_item_entity(p, portal), p, camel=True), lambda rows: {"items": rows})


@method("crm.item.get")
def item_get(p: dict, portal: Portal) -> Answer:
    return Answer({"item": portal.crm_get(_item_entity(p, portal), param(p, "id", exact=True), camel=True)})


@method("crm.item.add")
def item_add(p: dict, portal: Portal) -> Answer:
    entity = _item_entity(p, portal)
    new_id = portal.crm_add(entity, _item_fields(p), camel=True)
    return Answer({"item": portal.crm_get(entity, new_id, camel=True)})


@method("crm.item.update")
def item_update(p: dict, portal: Portal) -> Answer:
    entity = _item_entity(p, portal)
    return Answer({"item": portal.crm_update(entity, param(p, "id", exact=True), _item_fields(p), camel=True)})


@method("crm.item.delete")
def item_delete(p: dict, portal: Portal) -> Answer:
    portal.crm_delete(_item_entity(p, portal), param(p, "id", exact=True), camel=True)
    return Answer([])


@method("crm.item.fields")
def item_fields(p: dict, portal: Portal) -> Answer:
    return Answer({"fields": portal.crm_fields(_item_entity(p, portal), camel=True)})


# --- activities, history, tasks, users, departments, duplicates -------------------------------------
@method("crm.activity.list")
def activity_list(p: dict, portal: Portal) -> Answer:
    return _listed(portal.activity_list(p))


@method("crm.activity.add")
def activity_add(p: dict, portal: Portal) -> Answer:
    return Answer(portal.activity_add(as_dict(param(p, "fields"), "fields")))


@method("crm.activity.get")
def activity_get(p: dict, portal: Portal) -> Answer:
    return Answer(portal.activity_get(param(p, "id")))


@method("crm.activity.update")
def activity_update(p: dict, portal: Portal) -> Answer:
    return Answer(portal.activity_update(param(p, "id"), as_dict(param(p, "fields"), "fields")))


@method("crm.activity.delete")
def activity_delete(p: dict, portal: Portal) -> Answer:
    return Answer(portal.activity_delete(param(p, "id")))


@method("crm.activity.todo.add")
def activity_todo_add(p: dict, portal: Portal) -> Answer:
    return Answer(portal.activity_todo_add(p))


# --- telephony ------------------------------------------------------------------------------------
@method("telephony.externalCall.register", scope="telephony")
def external_call_register(p: dict, portal: Portal) -> Answer:
    return Answer(portal.external_call_register(p))


@method("telephony.externalCall.finish", scope="telephony")
def external_call_finish(p: dict, portal: Portal) -> Answer:
    return Answer(portal.external_call_finish(p))


@method("voximplant.statistic.get", scope="telephony")
def statistic_get(p: dict, portal: Portal) -> Answer:
    return _listed(portal.statistic_get(p))


# crm.timeline.comment.*: since crm 23.100.0 only a lower-case `fields` is read (the method pages)
@method("crm.timeline.comment.add")
def comment_add(p: dict, portal: Portal) -> Answer:
    return Answer(portal.comment_add(as_dict(param(p, "fields", {}, exact=True), "fields")))


@method("crm.timeline.comment.get")
def comment_get(p: dict, portal: Portal) -> Answer:
    return Answer(portal.comment_get(param(p, "id")))


@method("crm.timeline.comment.update")
def comment_update(p: dict, portal: Portal) -> Answer:
    return Answer(portal.comment_update(param(p, "id"), as_dict(param(p, "fields", {}, exact=True), "fields")))


@method("crm.timeline.comment.delete")
def comment_delete(p: dict, portal: Portal) -> Answer:
    return Answer(portal.comment_delete(param(p, "id")))


@method("crm.timeline.comment.list")
def comment_list(p: dict, portal: Portal) -> Answer:
    return _listed(portal.comment_list(p))


@method("crm.stagehistory.list")
def stagehistory_list(p: dict, portal: Portal) -> Answer:
    return _listed(portal.stagehistory_list(p), lambda rows: {"items": rows})


@method("tasks.task.list", scope="task")
def task_list(p: dict, portal: Portal) -> Answer:
    return _listed(portal.task_list(p), lambda rows: {"tasks": rows})


@method("tasks.task.add", scope="task")
def task_add(p: dict, portal: Portal) -> Answer:
    return Answer(portal.task_add(param(p, "fields")))


@method("tasks.task.get", scope="task")
def task_get(p: dict, portal: Portal) -> Answer:
    return Answer(portal.task_get(param(p, "taskId"), param(p, "select")))


@method("tasks.task.update", scope="task")
def task_update(p: dict, portal: Portal) -> Answer:
    return Answer(portal.task_update(param(p, "taskId"), param(p, "fields")))


def _register_task_status(verb: str, status: str) -> None:
    method(f"tasks.task.{verb}", scope="task")(lambda p, portal: Answer(portal.task_set_status(param(p, "taskId"),
                                                                                              status)))


for _verb, _status in (("start", "3"), ("complete", "5"), ("renew", "2"), ("defer", "6")):
    _register_task_status(_verb, _status)


@method("task.commentitem.add", scope="task")
def task_comment_add(p: dict, portal: Portal) -> Answer:
    return Answer(portal.task_comment_add(p))


@method("tasks.task.result.addFromComment", scope="task")
def task_result_add_from_comment(p: dict, portal: Portal) -> Answer:
    return Answer(portal.task_result_from_comment(param(p, "commentId")))


@method("tasks.task.result.list", scope="task")
def task_result_list(p: dict, portal: Portal) -> Answer:
    return Answer(portal.task_results(param(p, "taskId")))


@method("user.get", scope="user")
def user_get(p: dict, portal: Portal) -> Answer:
    return _listed(portal.user_get(p))


@method("user.current", scope="user")
def user_current(p: dict, portal: Portal) -> Answer:
    return Answer(portal.user_current())


@method("department.get", scope="department")
def department_get(p: dict, portal: Portal) -> Answer:
    return _listed(portal.department_get(p))


@method("crm.duplicate.findbycomm")
def duplicate_findbycomm(p: dict, portal: Portal) -> Answer:
    return Answer(portal.duplicate_findbycomm(p))


SCOPE_ALIASES = {"user": ("user", "user_brief", "user_basic")}


def scope_allows(granted: set[str], scope: str) -> bool:
    return any(s in granted for s in SCOPE_ALIASES.get(scope, (scope,)))
