"""Leads, contacts, companies and their custom-field values; their links are in `links.py`."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import RECORD_ENTITIES, SINGULAR, UNSORTED_TYPE, WON_STATUS_ID
from implkit.sandbox.amocrm.models.base import (
    Errors, _check_type, _in_filter, _is_int, _loads, _order_sql, _range_filter, batch,
)
from implkit.sandbox.amocrm.models.pipelines import PipelinesMixin
from implkit.sandbox.amocrm.models.fields import FieldsMixin
from implkit.sandbox.amocrm.models.people import PeopleMixin
from implkit.sandbox.amocrm.models.channels import ChannelsMixin
from implkit.sandbox.amocrm.models.links import LinksMixin


RECORD_COLUMNS = {
    "leads": ("name", "price", "responsible_user_id", "group_id", "status_id", "pipeline_id", "loss_reason_id",
              "source_id", "created_by", "updated_by", "created_at", "updated_at", "closed_at", "closest_task_at",
              "is_deleted", "custom_fields_values", "score", "labor_cost"),
    "contacts": ("name", "first_name", "last_name", "responsible_user_id", "group_id", "created_by", "updated_by",
                 "created_at", "updated_at", "closest_task_at", "is_deleted", "custom_fields_values"),
    "companies": ("name", "responsible_user_id", "group_id", "created_by", "updated_by", "created_at", "updated_at",
                  "closest_task_at", "is_deleted", "custom_fields_values"),
}
RECORD_FILTERS = {  # filter key -> (column, kind): 'in' exact/list, 'range' number/date, 'text'
    "id": ("id", "in"), "name": ("name", "text"), "price": ("price", "range"), "pipeline_id": ("pipeline_id", "in"),
    "created_by": ("created_by", "in"), "updated_by": ("updated_by", "in"),
    "responsible_user_id": ("responsible_user_id", "in"), "created_at": ("created_at", "range"),
    "updated_at": ("updated_at", "range"), "closed_at": ("closed_at", "range"),
    "closest_task_at": ("closest_task_at", "range"),
}
# The keys a POST/PATCH item may carry: the documented write fields (reference §7.5) and what the official
# PHP SDK's toApi() sends (it works against live accounts). Anything else is FieldNotExpected.
_WRITABLE = {"name", "responsible_user_id", "created_by", "updated_by", "created_at", "updated_at",
             "custom_fields_values", "tags_to_add", "tags_to_delete", "_embedded", "request_id"}
RECORD_WRITABLE = {"leads": _WRITABLE | {"price", "status_id", "pipeline_id", "closed_at", "loss_reason_id",
                                         "visitor_uid"},
                   "contacts": _WRITABLE | {"first_name", "last_name"},
                   "companies": _WRITABLE}
RECORD_ORDERS = {"leads": ("created_at", "updated_at", "id"), "contacts": ("updated_at", "id"),
                 "companies": ("updated_at", "id")}
RECORD_WITH = {"leads": {"contacts", "loss_reason", "source", "source_id", "only_deleted", "catalog_elements",
                         "is_price_modified_by_robot"},
               "contacts": {"leads", "customers", "catalog_elements"},
               "companies": {"leads", "customers", "contacts", "catalog_elements"}}
TEXT_TYPES = {"text", "textarea", "url", "streetaddress"}
DATE_TYPES = {"date", "date_time", "birthday"}
SELECT_TYPES = {"select", "multiselect", "radiobutton"}
# The keys a value of each field type may carry; any other is refused with FieldNotExpected (docs/sandbox.md).
VALUE_KEYS = {**{kind: {"value"} for kind in (*TEXT_TYPES, *DATE_TYPES, "numeric", "monetary", "checkbox")},
              **{kind: {"value", "enum_id", "enum_code"} for kind in (*SELECT_TYPES, "multitext")}}


def _event_id() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode().lower()[:26]


class RecordsMixin(LinksMixin, PipelinesMixin, FieldsMixin, PeopleMixin, ChannelsMixin):
    # events -----------------------------------------------------------------------------------
    def _event(self, db, event_type: str, entity: str, entity_id: int, value_after: list | None = None,
               value_before: list | None = None) -> None:
        db.execute("INSERT INTO events (account_id, id, type, entity_id, entity_type, created_by, created_at, "
                   "value_after, value_before) VALUES (?,?,?,?,?,?,?,?,?)",
                   (self.account_id, _event_id(), event_type, entity_id, SINGULAR.get(entity, entity), self.user_id,
                    self.at, json.dumps(value_after or [], ensure_ascii=False),
                    json.dumps(value_before or [], ensure_ascii=False)))

    # custom field values ---------------------------------------------------------------------
    def _fields_index(self, entity: str) -> tuple[dict[int, dict], dict[str, dict]]:
        rows = self.rows("SELECT * FROM custom_fields WHERE account_id=? AND entity_type=?", (self.account_id, entity))
        return {r["id"]: r for r in rows}, {r["code"]: r for r in rows if r["code"]}

    def _field_values(self, errors: Errors, rid: str, entity: str, values: Any, index) -> list | None:
        """Validate `custom_fields_values` and return them as the API shows them (field_name, field_type...)."""
        if values is None:
            return None
        if not isinstance(values, list):
            errors.add(rid, "custom_fields_values", "InvalidType", "This value should be of type array.")
            return None
        by_id, by_code = index
        out = []
        for i, entry in enumerate(values):
            path = f"custom_fields_values.{i}"
            if not isinstance(entry, dict):
                errors.add(rid, path, "InvalidType", "This value should be of type array.")
                continue
            field = by_id.get(entry.get("field_id")) if "field_id" in entry else by_code.get(entry.get("field_code"))
            if field is None:
                errors.not_a_choice(rid, f"{path}.field_id" if "field_id" in entry else f"{path}.field_code")
                continue
            items = entry.get("values")
            if items is None:
                out.append({"field_id": field["id"], "values": None})
                continue
            if not isinstance(items, list):
                errors.add(rid, f"{path}.values", "InvalidType", "This value should be of type array.")
                continue
            shown = []
            for j, item in enumerate(items):
                value = self._one_value(errors, rid, f"{path}.values.{j}", field, item)
                if value is not None:
                    shown.append(value)
            out.append({"field_id": field["id"], "field_name": field["name"], "field_code": field["code"],
                        "field_type": field["type"], "values": shown})
        return out

    def _one_value(self, errors: Errors, rid: str, path: str, field: dict, item: Any) -> dict | None:
        kind = field["type"]
        if not isinstance(item, dict):
            errors.add(rid, path, "InvalidType", "This value should be of type array.")
            return None
        accepted = VALUE_KEYS.get(kind)
        unexpected = [key for key in item if accepted is not None and key not in accepted]
        for key in unexpected:   # e.g. `enum` in a multitext value (amocrm-api-php#4)
            errors.field_not_expected(rid, f"{path}.{key}")
        if unexpected:
            return None
        value = item.get("value")
        if kind in TEXT_TYPES:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                errors.add(rid, f"{path}.value", "InvalidType", "This value should be of type string.")
                return None
            return {"value": str(value)}
        if kind in ("numeric", "monetary"):
            try:
                float(value)
            except (TypeError, ValueError):
                errors.add(rid, f"{path}.value", "InvalidType", "This value should be of type numeric.")
                return None
            return {"value": str(value)}
        if kind == "checkbox":
            if not isinstance(value, bool):
                errors.add(rid, f"{path}.value", "InvalidType", "This value should be of type bool.")
                return None
            return {"value": value}
        if kind in DATE_TYPES:
            if _is_int(value):
                return {"value": value}
            if isinstance(value, str):
                try:
                    from datetime import datetime
                    return {"value": int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())}
                except ValueError:
                    pass
            errors.add(rid, f"{path}.value", "InvalidType", "This value should be a Unix timestamp or RFC 3339 date.")
            return None
        enums = _loads(field["enums"], []) or []
        enum_id, enum_code = item.get("enum_id"), item.get("enum_code")
        if kind in SELECT_TYPES:
            enum = next((e for e in enums if (enum_id is not None and e["id"] == enum_id)
                         or (enum_id is None and enum_code is not None and e.get("code") == enum_code)
                         or (enum_id is None and enum_code is None and e["value"] == value)), None)
            if enum is None:
                errors.not_a_choice(rid, f"{path}.enum_id" if enum_id is not None else
                                    f"{path}.enum_code" if enum_code is not None else f"{path}.value")
                return None
            return {"value": enum["value"], "enum_id": enum["id"], "enum_code": enum.get("code")}
        if kind == "multitext":
            if not isinstance(value, str) or not value.strip():
                errors.add(rid, f"{path}.value", "NotBlank", "This value should not be blank.")
                return None
            # a multitext option's code is its value (WORK, MOB...); no enum at all means WORK
            enum = next((e for e in enums if (enum_id is not None and e["id"] == enum_id)
                         or (enum_id is None and e["value"] == (enum_code or "WORK"))), None)
            if enum is None:
                errors.not_a_choice(rid, f"{path}.enum_id" if enum_id is not None else f"{path}.enum_code")
                return None
            return {"value": value, "enum_id": enum["id"], "enum_code": enum["value"]}
        return {k: v for k, v in item.items()}   # structured types (legal_entity, smart_address...) as given

    # models -----------------------------------------------------------------------------------
    def record_models(self, entity: str, rows: list[dict[str, Any]], with_: set[str]) -> list[dict[str, Any]]:
        links: dict[int, list[dict]] = {}
        for link in self._links_of(entity, [r["id"] for r in rows]):
            links.setdefault(link["entity_id"], []).append(link)
        tag_ids = {t for r in rows for t in _loads(r["tags"], [])}
        tags = {t["id"]: t for t in self.rows(
            f"SELECT id, name, color FROM tags WHERE account_id=? AND id IN ({','.join('?' * len(tag_ids))})",
            [self.account_id, *tag_ids])} if tag_ids else {}
        reasons = {}
        if entity == "leads" and "loss_reason" in with_:
            reasons = {r["id"]: r for r in self.rows("SELECT * FROM loss_reasons WHERE account_id=?",
                                                     (self.account_id,))}
        sources = {}
        if entity == "leads" and "source" in with_:
            sources = {r["id"]: r for r in self.rows("SELECT id, name FROM sources WHERE account_id=?",
                                                     (self.account_id,))}
        return [self._record_model(entity, r, with_, links.get(r["id"], []), tags, reasons, sources) for r in rows]

    def _ref(self, entity: str, entity_id: int, **extra: Any) -> dict[str, Any]:
        return {"id": entity_id, **extra, "_links": self.links(f"{entity}/{entity_id}")}

    def _record_model(self, entity: str, row: dict, with_: set[str], links: list[dict], tags: dict, reasons: dict,
                      sources: dict) -> dict[str, Any]:
        model: dict[str, Any] = {"id": row["id"]}
        for column in RECORD_COLUMNS[entity]:
            model[column] = row[column]
        model["is_deleted"] = bool(row["is_deleted"])
        model["custom_fields_values"] = _loads(row["custom_fields_values"]) or None
        if entity != "leads":
            model.pop("is_deleted")
        model["account_id"] = self.account_id
        if entity == "leads" and "is_price_modified_by_robot" in with_:
            model["is_price_modified_by_robot"] = False
        model["_links"] = self.links(f"{entity}/{row['id']}")
        embedded: dict[str, Any] = {"tags": [tags[t] for t in _loads(row["tags"], []) if t in tags]}
        linked = {kind: [l for l in links if l["to_entity_type"] == kind] for kind in RECORD_ENTITIES}
        if entity != "companies":
            embedded["companies"] = [self._ref("companies", l["to_entity_id"]) for l in linked["companies"]][:1]
        if entity == "leads" and "contacts" in with_:
            embedded["contacts"] = [self._ref("contacts", l["to_entity_id"], is_main=bool(l["is_main"]))
                                    for l in linked["contacts"]]
        if entity != "leads" and "leads" in with_:
            embedded["leads"] = [self._ref("leads", l["to_entity_id"]) for l in linked["leads"]]
        if entity == "companies" and "contacts" in with_:
            embedded["contacts"] = [self._ref("contacts", l["to_entity_id"]) for l in linked["contacts"]]
        if "customers" in with_ and entity != "leads":
            embedded["customers"] = []
        if "catalog_elements" in with_:
            embedded["catalog_elements"] = []
        if entity == "leads" and "loss_reason" in with_ and row["loss_reason_id"] in reasons:
            embedded["loss_reason"] = [self.loss_reason_model(reasons[row["loss_reason_id"]])]
        if entity == "leads" and "source" in with_ and row["source_id"] in sources:
            embedded["source"] = {"id": row["source_id"], "name": sources[row["source_id"]]["name"]}
        model["_embedded"] = embedded
        return model

    # reading ----------------------------------------------------------------------------------
    def _record_where(self, entity: str, filters: dict, query: str | None, with_: set[str]) -> tuple[list, list]:
        where, params = ["account_id=?", "is_deleted=?"], [self.account_id]
        params.append(1 if entity == "leads" and "only_deleted" in with_ else 0)   # deleted ones: leads only
        for key, value in (filters or {}).items():
            spec = RECORD_FILTERS.get(key)
            if key in ("price", "pipeline_id", "closed_at", "statuses") and entity != "leads":
                continue
            if key == "statuses" and isinstance(value, (list, dict)):
                items = value if isinstance(value, list) else list(value.values())
                pairs = [(int(i["pipeline_id"]), int(i["status_id"])) for i in items
                         if isinstance(i, dict) and str(i.get("pipeline_id", "")).isdigit()
                         and str(i.get("status_id", "")).isdigit()]
                where.append("(" + " OR ".join("(pipeline_id=? AND status_id=?)" for _ in pairs) + ")" if pairs else "0")
                params.extend(v for pair in pairs for v in pair)
            elif key == "custom_fields_values" and isinstance(value, dict):
                for field_id, wanted in value.items():
                    wanted_values = wanted if isinstance(wanted, list) else [wanted]
                    if isinstance(wanted, dict) and ("from" in wanted or "to" in wanted):
                        cond, cparams = [], []
                        _range_filter(cond, cparams, "CAST(json_extract(v.value, '$.value') AS REAL)", wanted)
                        match = " AND ".join(cond) or "1"
                    else:
                        match = ("(" + " OR ".join("json_extract(v.value, '$.value')=? OR "
                                                   "json_extract(v.value, '$.enum_id')=?" for _ in wanted_values) + ")")
                        cparams = [x for w in wanted_values for x in (str(w), int(w) if str(w).isdigit() else -1)]
                    where.append("EXISTS (SELECT 1 FROM json_each(custom_fields_values) cf, "
                                 "json_each(cf.value, '$.values') v WHERE json_extract(cf.value, '$.field_id')=? AND "
                                 f"{match})")
                    params.extend([int(field_id) if str(field_id).isdigit() else -1, *cparams])
            elif spec and spec[1] == "in":
                _in_filter(where, params, spec[0], value)
            elif spec and spec[1] == "range":
                _range_filter(where, params, spec[0], value)
            elif spec and spec[1] == "text":
                names = value if isinstance(value, list) else [value]
                where.append(f"name IN ({','.join('?' * len(names))})")
                params.extend(str(n) for n in names)
        if query:
            where.append("(name LIKE ? OR custom_fields_values LIKE ?)")
            params.extend([f"%{query}%", f"%{query}%"])
        return where, params

    def list_records(self, entity: str, *, filters: dict, order: dict, query: str | None, with_: set[str],
                     offset: int, count: int) -> list[dict[str, Any]]:
        where, params = self._record_where(entity, filters, query, with_)
        order_sql = "id ASC"
        if isinstance(order, dict):
            for key, direction in order.items():
                if key in RECORD_ORDERS[entity] and str(direction).lower() in ("asc", "desc"):
                    order_sql = _order_sql(key, direction)
        rows = self.rows(f"SELECT * FROM {entity} WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                         params + [count, offset])
        return self.record_models(entity, rows, with_)

    def _record_row(self, entity: str, record_id: int) -> dict[str, Any]:
        rows = self.rows(f"SELECT * FROM {entity} WHERE account_id=? AND id=?", (self.account_id, record_id))
        if not rows or rows[0]["is_deleted"]:
            raise exc.NotFound()
        return rows[0]

    def get_record(self, entity: str, record_id: int, with_: set[str]) -> dict[str, Any]:
        return self.record_models(entity, [self._record_row(entity, record_id)], with_)[0]

    # writing ----------------------------------------------------------------------------------
    def _pipelines_index(self) -> tuple[int, dict[int, list[dict]]]:
        pipelines = self.rows("SELECT id, is_main FROM pipelines WHERE account_id=? ORDER BY sort, id",
                              (self.account_id,))
        main = next((p["id"] for p in pipelines if p["is_main"]), pipelines[0]["id"] if pipelines else 0)
        statuses = {p["id"]: self._statuses(p["id"]) for p in pipelines}
        return main, statuses

    def _place_lead(self, errors: Errors, rid: str, item: dict, current: dict | None, index) -> tuple[int, int] | None:
        """(pipeline_id, status_id) for a lead: defaults to the first ordinary stage of the main pipeline."""
        main, statuses = index
        pipeline_id = item.get("pipeline_id", current["pipeline_id"] if current else None)
        status_id = item.get("status_id")
        if ("pipeline_id" in item and not _is_int(pipeline_id)) or (pipeline_id is not None
                                                                    and pipeline_id not in statuses):
            errors.not_a_choice(rid, "pipeline_id")
            return None
        if status_id is None:
            if current and ("pipeline_id" not in item or pipeline_id == current["pipeline_id"]):
                return current["pipeline_id"], current["status_id"]
            pipeline_id = pipeline_id or main
            first = next((s for s in statuses[pipeline_id] if s["type"] == 0 and s["is_editable"]), None)
            return pipeline_id, first["id"] if first else WON_STATUS_ID
        if not _is_int(status_id):
            errors.add(rid, "status_id", "InvalidType", "This value should be of type int.")
            return None
        if pipeline_id is None:
            pipeline_id = next((p for p, ss in statuses.items() if status_id not in (142, 143)
                                and any(s["id"] == status_id for s in ss)), main)
        status = next((s for s in statuses[pipeline_id] if s["id"] == status_id), None)
        if status is None or status["type"] == UNSORTED_TYPE:
            errors.not_a_choice(rid, "status_id")
            return None
        return pipeline_id, status_id

    @staticmethod
    def _check_keys(errors: Errors, rid: str, entity: str, item: dict, accepted: set[str]) -> None:
        """Refuse a key the method doesn't take (a read-modify-write that sends back `account_id` or
        `_links` fails on a real account too)."""
        for key in item:
            if key not in accepted:
                errors.field_not_expected(rid, key)

    def _check_common(self, errors: Errors, rid: str, entity: str, item: dict) -> None:
        _check_type(errors, rid, item, "name", str)
        for key in ("responsible_user_id", "created_by", "updated_by", "created_at", "updated_at"):
            _check_type(errors, rid, item, key, int)
        if "responsible_user_id" in item and _is_int(item["responsible_user_id"]) and \
                not self.user_exists(item["responsible_user_id"]):
            errors.not_a_choice(rid, "responsible_user_id")
        if entity == "leads":
            for key in ("price", "closed_at"):
                _check_type(errors, rid, item, key, int, nullable=key == "closed_at")
            if item.get("loss_reason_id") is not None and not self.rows(
                    "SELECT 1 FROM loss_reasons WHERE account_id=? AND id=?", (self.account_id, item["loss_reason_id"])):
                errors.not_a_choice(rid, "loss_reason_id")
            source = (item.get("_embedded") or {}).get("source") if isinstance(item.get("_embedded"), dict) else None
            if source is not None and self._source_id(source) is None:
                errors.not_a_choice(rid, "_embedded.source.external_id")
        if entity == "contacts":
            for key in ("first_name", "last_name"):
                _check_type(errors, rid, item, key, str)
        for key in ("tags_to_add", "tags_to_delete"):
            if key in item and (not isinstance(item[key], list) or not all(
                    isinstance(t, dict) and (_is_int(t.get("id")) or isinstance(t.get("name"), str))
                    for t in item[key])):
                errors.add(rid, key, "InvalidType", "Expected a list of {id} or {name}.")
        embedded = item.get("_embedded")
        if embedded is not None and not isinstance(embedded, dict):
            errors.add(rid, "_embedded", "InvalidType", "This value should be of type array.")
            return
        for kind in ("contacts", "companies"):
            for i, ref in enumerate((embedded or {}).get(kind) or []):
                if not isinstance(ref, dict) or not _is_int(ref.get("id")) or not self.rows(
                        f"SELECT 1 FROM {kind} WHERE account_id=? AND id=?", (self.account_id, ref.get("id"))):
                    errors.not_a_choice(rid, f"_embedded.{kind}.{i}.id")

    def _source_id(self, source: Any) -> int | None:
        """A lead names its source as `_embedded.source{external_id, type: "widget"}`."""
        if not isinstance(source, dict) or not isinstance(source.get("external_id"), str):
            return None
        rows = self.rows("SELECT id FROM sources WHERE account_id=? AND external_id=?",
                         (self.account_id, source["external_id"]))
        return rows[0]["id"] if rows else None

    def _apply_tags(self, db, entity: str, item: dict, current: list[int]) -> list[int]:
        tags = list(current)
        embedded = item.get("_embedded") or {}
        if "tags" in embedded:
            tags = self.tag_ids(db, entity, embedded["tags"] or [])
        if item.get("tags_to_add"):
            tags += [t for t in self.tag_ids(db, entity, item["tags_to_add"]) if t not in tags]
        if item.get("tags_to_delete"):
            names = {t.get("name") for t in item["tags_to_delete"]}
            ids = {t.get("id") for t in item["tags_to_delete"]}
            dropped = {r[0] for r in db.execute(
                f"SELECT id FROM tags WHERE account_id=? AND entity_type=? AND name IN ({','.join('?' * len(names))})",
                [self.account_id, entity, *names]).fetchall()} if names - {None} else set()
            tags = [t for t in tags if t not in ids and t not in dropped]
        return tags

    def add_records(self, entity: str, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        index = self._fields_index(entity)
        placement = self._pipelines_index() if entity == "leads" else None
        prepared = []
        for rid, item in items:
            self._check_keys(errors, rid, entity, item, RECORD_WRITABLE[entity])
            self._check_common(errors, rid, entity, item)
            values = self._field_values(errors, rid, entity, item.get("custom_fields_values"), index)
            place = self._place_lead(errors, rid, item, None, placement) if entity == "leads" else None
            prepared.append((rid, item, values, place))
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item, values, place in prepared:
                row = {"account_id": self.account_id, "name": item.get("name", ""),
                       "responsible_user_id": item.get("responsible_user_id", self.user_id or None),
                       "created_by": item.get("created_by", self.user_id), "updated_by": item.get("updated_by",
                                                                                                   self.user_id),
                       "created_at": item.get("created_at", self.at), "updated_at": item.get("updated_at", self.at),
                       "custom_fields_values": json.dumps([v for v in values if v["values"]], ensure_ascii=False)
                       if values else None,
                       "tags": json.dumps(self._apply_tags(db, entity, item, []))}
                if entity == "leads":
                    row.update(price=item.get("price", 0), pipeline_id=place[0], status_id=place[1],
                               loss_reason_id=item.get("loss_reason_id"),
                               source_id=self._source_id((item.get("_embedded") or {}).get("source")),
                               closed_at=item.get("closed_at", self.at if place[1] in (142, 143) else None))
                if entity == "contacts":
                    first, last = item.get("first_name", ""), item.get("last_name", "")
                    row.update(first_name=first, last_name=last,
                               name=item.get("name") or " ".join(p for p in (first, last) if p))
                columns = ", ".join(row)
                record_id = db.execute(f"INSERT INTO {entity} ({columns}) VALUES ({','.join('?' * len(row))})",
                                       list(row.values())).lastrowid
                self._event(db, f"{SINGULAR[entity]}_added", entity, record_id)
                for kind in ("contacts", "companies"):
                    for ref in (item.get("_embedded") or {}).get(kind) or []:
                        self._link(db, entity, record_id, kind, ref["id"],
                                   {"is_main": True} if ref.get("is_main") else None)
                created.append((rid, record_id))
        return [{"id": record_id, "request_id": rid, "_links": self.links(f"{entity}/{record_id}")}
                for rid, record_id in created]

    def update_records(self, entity: str, body: Any, record_id: int | None = None) -> list[dict[str, Any]]:
        if record_id is not None:
            if not isinstance(body, dict) or not body:
                raise exc.EmptyBody()
            self._record_row(entity, record_id)
            body = [{**body, "id": record_id}]
        items = batch(body)
        errors = Errors()
        index = self._fields_index(entity)
        placement = self._pipelines_index() if entity == "leads" else None
        prepared = []
        for rid, item in items:
            if not _is_int(item.get("id")):
                errors.add(rid, "id", "NotBlank", "This value should not be blank.")
                continue
            current = self.rows(f"SELECT * FROM {entity} WHERE account_id=? AND id=?", (self.account_id, item["id"]))
            if not current:
                errors.add(rid, "id", "NotFound", "Entity not found.")
                continue
            self._check_keys(errors, rid, entity, item, RECORD_WRITABLE[entity] | {"id"})
            self._check_common(errors, rid, entity, item)
            values = self._field_values(errors, rid, entity, item.get("custom_fields_values"), index)
            place = self._place_lead(errors, rid, item, current[0], placement) if entity == "leads" else None
            prepared.append((rid, item, current[0], values, place))
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item, current, values, place in prepared:
                changes: dict[str, Any] = {}
                for key in ("name", "responsible_user_id", "created_by", "created_at"):
                    if key in item:
                        changes[key] = item[key]
                if entity == "leads":
                    for key in ("price", "loss_reason_id", "closed_at"):
                        if key in item:
                            changes[key] = item[key]
                    if (item.get("_embedded") or {}).get("source") is not None:
                        changes["source_id"] = self._source_id(item["_embedded"]["source"])
                    if place != (current["pipeline_id"], current["status_id"]):
                        changes.update(pipeline_id=place[0], status_id=place[1])
                        if place[1] in (142, 143) and "closed_at" not in item:
                            changes["closed_at"] = self.at
                        self._event(db, "lead_status_changed", entity, current["id"],
                                    [{"lead_status": {"id": place[1], "pipeline_id": place[0]}}],
                                    [{"lead_status": {"id": current["status_id"], "pipeline_id": current["pipeline_id"]}}])
                if entity == "contacts":
                    for key in ("first_name", "last_name"):
                        if key in item:
                            changes[key] = item[key]
                if "responsible_user_id" in item and item["responsible_user_id"] != current["responsible_user_id"]:
                    self._event(db, "entity_responsible_changed", entity, current["id"],
                                [{"responsible_user": {"id": item["responsible_user_id"]}}],
                                [{"responsible_user": {"id": current["responsible_user_id"]}}])
                if values is not None:
                    merged = {v["field_id"]: v for v in _loads(current["custom_fields_values"], []) or []}
                    for v in values:
                        if v["values"]:
                            merged[v["field_id"]] = v
                        else:
                            merged.pop(v["field_id"], None)
                    changes["custom_fields_values"] = json.dumps(list(merged.values()), ensure_ascii=False) \
                        if merged else None
                elif "custom_fields_values" in item:
                    changes["custom_fields_values"] = None
                tags = self._apply_tags(db, entity, item, _loads(current["tags"], []))
                if tags != _loads(current["tags"], []):
                    changes["tags"] = json.dumps(tags)
                changes["updated_at"] = item.get("updated_at", self.at)
                changes["updated_by"] = item.get("updated_by", self.user_id)
                db.execute(f"UPDATE {entity} SET {', '.join(f'{k}=?' for k in changes)} WHERE account_id=? AND id=?",
                           [*changes.values(), self.account_id, current["id"]])
                for kind in ("contacts", "companies"):
                    for ref in (item.get("_embedded") or {}).get(kind) or []:
                        self._link(db, entity, current["id"], kind, ref["id"],
                                   {"is_main": True} if ref.get("is_main") else None)
                answer = {"id": current["id"]}
                if entity != "leads":   # the contacts/companies examples show the name too
                    answer["name"] = changes.get("name", current["name"])
                answer["updated_at"] = changes["updated_at"]
                if "request_id" in item:
                    answer["request_id"] = rid
                answers.append({**answer, "_links": self.links(f"{entity}/{current['id']}")})
        return answers

    def _items_on_records(self, entity: str, body: Any, record_id: int | None
                          ) -> tuple[list[tuple[str, dict]], Errors]:
        """A write body addressed to records of `entity` (`/{entity}/{id}/...` fills each item's
        entity_id; `/{entity}/...` takes it from the item), with an error for each unknown record."""
        if record_id is not None:
            self._record_row(entity, record_id)
            if isinstance(body, list):
                body = [{**i, "entity_id": record_id} if isinstance(i, dict) else i for i in body]
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            if not _is_int(item.get("entity_id")) or not self.rows(
                    f"SELECT 1 FROM {entity} WHERE account_id=? AND id=?", (self.account_id, item.get("entity_id"))):
                errors.not_a_choice(rid, "entity_id")
        return items, errors
