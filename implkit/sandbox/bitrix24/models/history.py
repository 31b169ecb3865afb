"""What happened, as lists: activities, stage history, tasks (crm.activity.list,
crm.stagehistory.list, tasks.task.list); activities are written in `timeline.py`, tasks in `tasks.py`."""

from __future__ import annotations

from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24 import listing
from implkit.sandbox.bitrix24.naming import snake_to_camel
from implkit.sandbox.bitrix24.models.base import ENTITIES, param, as_dict


class HistoryMixin:
    """Lists of activities, stage history and tasks."""

    # --- activities, stage history, tasks --------------------------------------------------------------
    ACTIVITY_KINDS = {"TYPE_ID": "int", "PROVIDER_ID": "text", "PROVIDER_TYPE_ID": "text", "SUBJECT": "text",
                      "CREATED": "text", "LAST_UPDATED": "text", "END_TIME": "text", "STATUS": "int",
                      "PRIORITY": "int", "DIRECTION": "int", "AUTHOR_ID": "int", "EDITOR_ID": "int"}

    def activity_list(self, params: dict[str, Any]) -> listing.Page:
        columns = {"ID": ("id", "int"), "OWNER_TYPE_ID": ("owner_type_id", "int"), "OWNER_ID": ("owner_id", "int"),
                   "RESPONSIBLE_ID": ("responsible_id", "int"), "COMPLETED": ("completed", "text"),
                   "DEADLINE": ("deadline", "text"), "START_TIME": ("start_time", "text")}
        result = self._generic_list("b24_activities", params, columns, json_kinds=self.ACTIVITY_KINDS,
                                    default_order="start_time ASC, id ASC", strict=False, exact=False)
        select = param(params, "select", [])
        select = list(select.values()) if isinstance(select, dict) else select if isinstance(select, list) else []
        wanted = [str(s).upper() for s in select if s not in ("", None, "*")]
        everything = not select or "*" in select       # '*': every field but the two that must be named
        rows = []
        for record in result.rows:
            if everything:
                record = {k: v for k, v in record.items() if k not in ("COMMUNICATIONS", "FILES") or k in wanted}
            elif wanted:
                record = {k: v for k, v in record.items() if k in wanted or k == "ID"}
            rows.append(record)
        result.rows = rows
        return result

    def stagehistory_list(self, params: dict[str, Any]) -> listing.Page:
        type_id = param(params, "entityTypeId", None, exact=True)
        try:
            type_id = int(type_id)
        except (TypeError, ValueError):
            raise err.B24Error("Entity type is not supported", code="ENTITY_TYPE_NOT_SUPPORTED") from None
        if type_id not in (1, 2):
            name = ENTITIES[type_id].upper if type_id in ENTITIES else str(type_id)
            raise err.B24Error(f"{name} entity is not supported", code=0)
        stage_key = "STATUS_ID" if type_id == 1 else "STAGE_ID"
        kinds = {"TYPE_ID": "int", "CATEGORY_ID": "int", "STAGE_SEMANTIC_ID": "text", stage_key: "text"}
        columns = {"ID": ("id", "int"), "OWNER_ID": ("owner_id", "int"), "CREATED_TIME": ("created_time", "text")}
        result = self._generic_list("b24_stage_history", params, columns, json_kinds=kinds, default_order="id ASC",
                                    strict=True, exact=True, scope="account_id=? AND entity_type_id=?",
                                    scope_args=[self.account_id, type_id])
        select = param(params, "select", [], exact=True)
        wanted = [str(s).upper() for s in (select if isinstance(select, list) else []) if s not in ("", "*")]
        if wanted:
            result.rows = [{k: v for k, v in r.items() if k in wanted} for r in result.rows]
        return result

    TASK_KINDS = {"title": "text", "status": "int", "deadline": "text", "createdDate": "text",
                  "changedDate": "text", "closedDate": "text", "responsibleId": "int", "createdBy": "int",
                  "priority": "int", "groupId": "int", "ufCrmTask": "list", "realStatus": "int"}

    def task_list(self, params: dict[str, Any]) -> listing.Page:
        columns = {"ID": ("id", "int")}
        result = self._generic_list("b24_tasks", params, columns, json_kinds=self.TASK_KINDS,
                                    default_order="id DESC", strict=False, exact=False,
                                    key_of=lambda n: snake_to_camel(n) if n.isupper() else n)
        select = param(params, "select", [])
        select = list(select.values()) if isinstance(select, dict) else select if isinstance(select, list) else []
        extra = as_dict(param(params, "params", {}), "params")
        result.rows = [self.present_task(r, select, params=extra) for r in result.rows]
        return result
