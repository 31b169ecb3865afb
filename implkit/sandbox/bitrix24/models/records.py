"""CRM records: leads, deals, contacts, companies, in both dialects (crm.<entity>.*, crm.item.*),
and the duplicate search by phone or e-mail (crm.duplicate.findbycomm)."""

from __future__ import annotations

import json
import re
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24 import listing
from implkit.sandbox.bitrix24.fieldspec import FIELDS
from implkit.sandbox.bitrix24.naming import snake_to_camel
from implkit.sandbox.bitrix24.portal import next_ids
from implkit.sandbox.bitrix24.models.base import (ROW_COST, COUNT_COST, WRITE_COST, EntityType, ENTITIES, BY_NAME,
                                                  SPEC, INT_TYPES, MULTIFIELDS, NEW_RECORD_DEFAULTS, GET_ONLY,
                                                  legacy_value, typed_value, param, as_dict, positive_id)


class RecordsMixin:
    """Records of leads, deals, contacts and companies; duplicates by communication."""

    # --- CRM records ---------------------------------------------------------------------------------
    def _resolver(self, entity: EntityType, *, camel: bool):
        spec = SPEC[entity.type_id]
        ufs = self._uf_types(entity)
        camel_to_legacy = {snake_to_camel(n): n for n in list(spec) + list(ufs)} if camel else {}
        columns = {"ID": ("id", "int"), "CATEGORY_ID": ("category_id", "int"),
                   "ASSIGNED_BY_ID": ("assigned_by_id", "int"), "DATE_CREATE": ("date_create", "text"),
                   "DATE_MODIFY": ("date_modify", "text")}
        if entity.stage_field:
            columns[entity.stage_field] = ("stage_id", "text")

        def resolve(name: str):
            legacy = camel_to_legacy.get(name, name if not camel or name in ufs else
                                         name.upper() if name.upper() in spec else None)
            if legacy is None:
                return None
            if legacy in columns:
                return columns[legacy]
            if legacy in MULTIFIELDS and legacy in spec:
                return (f"(SELECT json_group_array(json_extract(m.value, '$.VALUE')) FROM "
                        f"json_each(b24_crm.data, '$.{legacy}') AS m)", "list")
            if legacy in spec:
                ftype = spec[legacy][1]
                kind = "int" if ftype in INT_TYPES else "real" if ftype == "double" else "text"
                if spec[legacy][5]:
                    kind = "list"
                return f"json_extract(b24_crm.data, '$.\"{legacy}\"')", kind
            if legacy in ufs:
                utype, multiple = ufs[legacy]
                kind = "list" if multiple else "int" if utype in ("integer", "enumeration", "employee") else \
                    "real" if utype == "double" else "text"
                return f"json_extract(b24_crm.data, '$.\"{legacy}\"')", kind
            return None
        return resolve, camel_to_legacy

    def crm_list(self, entity: EntityType, params: dict[str, Any], *, camel: bool) -> listing.Page:
        exact = camel
        filter_ = as_dict(param(params, "filter", {}, exact=exact), "filter")
        order = as_dict(param(params, "order", {}, exact=exact), "order")
        select = param(params, "select", [], exact=exact)
        select = list(select.values()) if isinstance(select, dict) else select if isinstance(select, list) else [select]
        start = listing.parse_start(param(params, "start", 0, exact=exact))
        resolve, _ = self._resolver(entity, camel=camel)
        try:
            where, args = listing.where_clause(filter_, resolve, strict=camel)
            ordering = listing.order_clause(order, resolve, strict=camel, default="id ASC")
        except listing.UnknownField as unknown:
            if unknown.where == "filter":
                raise err.invalid_arg(f"Invalid filter: field '{unknown.field}' is not allowed in filter") from None
            if unknown.where.startswith("direction:"):
                raise err.invalid_arg(f"Invalid order: allowed sort directions are ASC, DESC. But got "
                                      f"'{unknown.where.split(':', 1)[1]}' for field '{unknown.field}'") from None
            raise err.invalid_arg(f"Invalid order: field '{unknown.field}' is not allowed in order") from None
        except listing.BadValue as bad:
            if camel:
                raise err.invalid_arg(f"Invalid filter: field '{bad.field}' has invalid value") from None
            raise err.legacy("Failed to get list. General error.") from None
        result, counted = listing.page(self.db, "b24_crm", "account_id=? AND entity_type_id=?",
                                       [self.account_id, entity.type_id], where, args, ordering, start,
                                       columns="data")
        self.cost += COUNT_COST * counted + ROW_COST * len(result.rows)
        records = [json.loads(r[0]) for r in result.rows]
        result.rows = [self._present(entity, rec, select, camel=camel) for rec in records]
        return result

    def _present(self, entity: EntityType, record: dict[str, Any], select: list[Any], *, camel: bool,
                 single: bool = False) -> dict[str, Any]:
        """A record for output. Legacy get: every single-valued field, multi-fields that have values, user
        fields. Legacy list: `select` names, `*` (standard single-valued fields), `UF_*` (user fields);
        no select = `*` + `UF_*`. crm.item: camelCase, real numbers; `fm` (phones, e-mails) only with `*`."""
        spec = SPEC[entity.type_id]
        ufs = self._uf_types(entity)
        wanted = [str(s) for s in select if s not in (None, "")]
        if camel:
            legacy_names = {snake_to_camel(n): n for n in list(spec) + list(ufs)}
            wanted = [legacy_names.get(w, w.upper() if w.upper() in spec else w) for w in wanted]
        standard = [n for n, row in spec.items() if not row[5]]
        if single or not wanted:
            names = standard + list(ufs) + ([n for n in MULTIFIELDS if record.get(n)] if single and not camel else [])
            if single and not camel:
                names += [n for n in GET_ONLY if n in record]
        else:
            names = (standard if "*" in wanted else []) + (list(ufs) if "UF_*" in wanted or (camel and "*" in wanted)
                                                          else [])
            names += [w for w in wanted if w in spec or w in ufs]
        if camel and entity.type_id == 2 and (single or not wanted or "*" in wanted or "CONTACT_IDS" in wanted):
            names.append("CONTACT_IDS")
        if camel:
            names = [n for n in names if n not in MULTIFIELDS]
        out: dict[str, Any] = {"ID": record.get("ID")} if not camel else {"id": typed_value(record.get("ID"), "integer")}
        for name in dict.fromkeys(names):
            if name == "ID":
                continue
            value = record.get(name)
            if name == "CONTACT_IDS" and value is None:
                value = []
            if name in MULTIFIELDS:
                out[name] = value or []
                continue
            if camel:
                ftype = spec[name][1] if name in spec else ufs.get(name, ("string", False))[0]
                key = name if self.original_uf_names and name in ufs else snake_to_camel(name)
                out[key] = typed_value(value, "integer" if ftype in ("enumeration", "employee") else ftype)
            else:
                out[name] = value
        if camel and (single or "*" in wanted):
            out["fm"] = [{"id": int(v["ID"]), "valueType": v["VALUE_TYPE"], "value": v["VALUE"],
                          "typeId": v["TYPE_ID"]} for kind in MULTIFIELDS for v in record.get(kind) or []]
        return out

    def _record(self, entity: EntityType, record_id: Any) -> dict[str, Any] | None:
        number = positive_id(record_id)
        if number is None:
            return None
        row = self.db.execute("SELECT data FROM b24_crm WHERE account_id=? AND entity_type_id=? AND id=?",
                              (self.account_id, entity.type_id, number)).fetchone()
        return json.loads(row[0]) if row else None

    def crm_get(self, entity: EntityType, record_id: Any, *, camel: bool) -> dict[str, Any]:
        if not camel and positive_id(record_id) is None:
            raise err.bad_id()
        record = self._record(entity, record_id)
        if record is None:
            raise err.element_not_found() if camel else err.not_found_legacy()
        self.cost += ROW_COST
        return self._present(entity, record, ["*"] if camel else [], camel=camel, single=True)

    def _from_camel(self, entity: EntityType, fields: dict[str, Any]) -> dict[str, Any]:
        spec, ufs = SPEC[entity.type_id], self._uf_types(entity)
        legacy_names = {snake_to_camel(n): n for n in list(spec) + list(ufs)}
        out = {}
        for key, value in fields.items():
            name = legacy_names.get(key)
            if name is None and key.upper() in ufs:
                name = key.upper()
            if name is not None:
                out[name] = value
        if "fm" in fields and isinstance(fields["fm"], list):
            for item in fields["fm"]:
                if isinstance(item, dict) and item.get("typeId") in MULTIFIELDS:
                    out.setdefault(item["typeId"], []).append({"VALUE": item.get("value"),
                                                              "VALUE_TYPE": item.get("valueType", "WORK")})
        return out

    def _first_stage_flag(self, category_id: int, stage: str) -> str:
        stages = self.stages(category_id)
        return "Y" if stages and stages[0]["status_id"] == stage else "N"

    def _stage_for(self, category_id: int, wanted: Any, current: str | None = None) -> tuple[str, str]:
        """(STAGE_ID, STAGE_SEMANTIC_ID) for a deal: the wanted stage if the pipeline has it, else the first
        stage of the same semantics as the current one, else the pipeline's first stage."""
        stages = self.stages(category_id)
        by_code = {s["status_id"]: s for s in stages}
        if wanted in by_code:
            stage = by_code[wanted]
        else:
            semantics = None
            if current is not None:
                row = self.db.execute("SELECT semantics FROM b24_statuses WHERE account_id=? AND status_id=? AND "
                                      "entity_id LIKE 'DEAL_STAGE%'", (self.account_id, current)).fetchone()
                semantics = row[0] if row else None
            stage = next((s for s in stages if s["semantics"] == semantics), stages[0] if stages else
                         {"status_id": "NEW", "semantics": None})
        return stage["status_id"], stage["semantics"] or "P"

    def _apply_fields(self, entity: EntityType, record: dict[str, Any], fields: dict[str, Any], *,
                      creating: bool, allow_category: bool) -> None:
        spec, ufs = SPEC[entity.type_id], self._uf_types(entity)
        for name, value in fields.items():
            if name in MULTIFIELDS and name in spec:
                record[name] = self._multifield(name, record.get(name) or [], value)
                continue
            if name in ufs:
                utype, multiple = ufs[name]
                if multiple:
                    values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) \
                        else [value]
                    record[name] = [str(v) for v in values if v not in (None, "")]
                else:
                    record[name] = None if value in (None, "") else str(value)
                continue
            row = spec.get(name)
            if row is None or (row[3] and name not in ("CONTACT_ID",)):
                continue      # unknown and read-only fields are ignored, as the portal does
            if name == "CATEGORY_ID" and not creating and not allow_category:
                continue      # CATEGORY_ID is immutable through crm.deal.update (the docs move deals with crm.item)
            if name == "CONTACT_IDS":
                values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) \
                    else [value]
                record["CONTACT_IDS"] = [int(v) for v in values if positive_id(v)]
                record["CONTACT_ID"] = str(record["CONTACT_IDS"][0]) if record["CONTACT_IDS"] else None
                continue
            record[name] = legacy_value(value, row[1])
        if entity.type_id == 2 and "CONTACT_ID" in fields and "CONTACT_IDS" not in fields:
            record["CONTACT_IDS"] = [int(record["CONTACT_ID"])] if positive_id(record.get("CONTACT_ID")) else []
        for kind in ("PHONE", "EMAIL"):
            if kind in spec and "HAS_" + kind in spec:
                record["HAS_" + kind] = "Y" if record.get(kind) else "N"

    def _multifield(self, kind: str, current: list[dict], changes: Any) -> list[dict]:
        """ID + value replaces, ID + DELETE:Y (or an empty VALUE, or ID alone) deletes, no ID adds."""
        items = [dict(i) for i in current]
        changes = list(changes.values()) if isinstance(changes, dict) else changes if isinstance(changes, list) else []
        with self.store.transaction() as db:
            for change in changes:
                if not isinstance(change, dict):
                    continue
                value = change.get("VALUE")
                item_id = str(change.get("ID") or "")
                if item_id:
                    match = next((i for i in items if i["ID"] == item_id), None)
                    if match is None:
                        continue
                    if str(change.get("DELETE", "N")).upper() == "Y" or not value:
                        items.remove(match)
                    else:
                        match["VALUE"] = str(value)
                        match["VALUE_TYPE"] = str(change.get("VALUE_TYPE") or match["VALUE_TYPE"])
                    continue
                if not value:
                    continue
                items.append({"ID": str(next_ids(db, self.account_id, "fm")),
                              "VALUE_TYPE": str(change.get("VALUE_TYPE") or "WORK"), "VALUE": str(value),
                              "TYPE_ID": kind})
        return items

    def crm_add(self, entity: EntityType, fields: dict[str, Any], *, camel: bool) -> int:
        if camel:
            fields = self._from_camel(entity, fields)
        now = self.now_iso()
        user = str(self.user_id)
        record: dict[str, Any] = {"ASSIGNED_BY_ID": user, "CREATED_BY_ID": user, "MODIFY_BY_ID": user,
                                  "DATE_CREATE": now, "DATE_MODIFY": now, "OPENED": "Y"}
        if entity.type_id in (1, 2):
            record.update(OPPORTUNITY="0.00", CURRENCY_ID="RUB", IS_MANUAL_OPPORTUNITY="N", MOVED_TIME=now,
                          MOVED_BY_ID=user)
        record.update(NEW_RECORD_DEFAULTS.get(entity.type_id, {}))
        self._apply_fields(entity, record, fields, creating=True, allow_category=True)
        if entity.type_id == 2:
            category = int(record.get("CATEGORY_ID") or 0)
            if not self.db.execute("SELECT 1 FROM b24_categories WHERE account_id=? AND entity_type_id=2 AND id=?",
                                   (self.account_id, category)).fetchone():
                category = 0
            record["CATEGORY_ID"] = str(category)
            record["STAGE_ID"], record["STAGE_SEMANTIC_ID"] = self._stage_for(category, record.get("STAGE_ID"))
            record["CLOSED"] = "N" if record["STAGE_SEMANTIC_ID"] == "P" else "Y"
            record.setdefault("CONTACT_IDS", [])
            # read-only members the portal fills (crm.deal.get.response prints them): new while in the
            # pipeline's first stage [inference], the last activity is the creation itself
            record["IS_NEW"] = self._first_stage_flag(category, record["STAGE_ID"])
        spec = SPEC[entity.type_id]
        if "LAST_ACTIVITY_TIME" in spec:
            record.update(LAST_ACTIVITY_TIME=now, LAST_ACTIVITY_BY=user)
        if entity.type_id == 1:
            statuses = {s["status_id"]: s for s in self.lead_statuses()}
            status = statuses.get(record.get("STATUS_ID")) or next(iter(statuses.values()))
            record["STATUS_ID"], record["STATUS_SEMANTIC_ID"] = status["status_id"], status["semantics"] or "P"
        with self.store.transaction() as db:
            new_id = next_ids(db, self.account_id, f"crm{entity.type_id}")
            record["ID"] = str(new_id)
            self._write(db, entity, new_id, record)
            if entity.stage_field:
                self._history(db, entity, new_id, 1, record)
        self.cost += WRITE_COST
        return new_id

    def _write(self, db, entity: EntityType, record_id: int, record: dict[str, Any]) -> None:
        db.execute("INSERT OR REPLACE INTO b24_crm (account_id, entity_type_id, id, category_id, stage_id, "
                   "assigned_by_id, date_create, date_modify, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (self.account_id, entity.type_id, record_id,
                    int(record["CATEGORY_ID"]) if record.get("CATEGORY_ID") not in (None, "") else None,
                    record.get(entity.stage_field) if entity.stage_field else None,
                    positive_id(record.get("ASSIGNED_BY_ID")), record.get("DATE_CREATE"), record.get("DATE_MODIFY"),
                    json.dumps(record, ensure_ascii=False)))

    def _history(self, db, entity: EntityType, owner_id: int, type_id: int, record: dict[str, Any]) -> None:
        history_id = next_ids(db, self.account_id, "stagehistory")
        stage = record[entity.stage_field]
        semantic = record.get("STAGE_SEMANTIC_ID") or record.get("STATUS_SEMANTIC_ID") or "P"
        item = {"ID": history_id, "TYPE_ID": type_id, "OWNER_ID": owner_id, "CREATED_TIME": self.now_iso(),
                "CATEGORY_ID": int(record.get("CATEGORY_ID") or 0) if entity.type_id == 2 else None,
                "STAGE_SEMANTIC_ID": semantic, ("STAGE_ID" if entity.type_id == 2 else "STATUS_ID"): stage}
        if entity.type_id == 1:
            item.pop("CATEGORY_ID")
        db.execute("INSERT INTO b24_stage_history (account_id, entity_type_id, id, owner_id, created_time, data) "
                   "VALUES (?, ?, ?, ?, ?, ?)", (self.account_id, entity.type_id, history_id, owner_id,
                                                 item["CREATED_TIME"], json.dumps(item)))

    def crm_update(self, entity: EntityType, record_id: Any, fields: dict[str, Any], *, camel: bool) -> dict | bool:
        if not camel and positive_id(record_id) is None:
            raise err.bad_id()
        record = self._record(entity, record_id)
        if record is None:
            raise err.element_not_found() if camel else err.not_found_legacy()
        if camel:
            fields = self._from_camel(entity, fields)
        before_stage = record.get(entity.stage_field) if entity.stage_field else None
        before_category = record.get("CATEGORY_ID")
        self._apply_fields(entity, record, fields, creating=False, allow_category=camel)
        record["DATE_MODIFY"], record["MODIFY_BY_ID"] = self.now_iso(), str(self.user_id)
        if entity.type_id == 2:
            category = int(record.get("CATEGORY_ID") or 0)
            wanted = record.get("STAGE_ID")
            stage, semantic = self._stage_for(category, wanted, current=before_stage)
            record["STAGE_ID"], record["STAGE_SEMANTIC_ID"] = stage, semantic
            record["CLOSED"] = "N" if semantic == "P" else "Y"
            record["IS_NEW"] = self._first_stage_flag(category, stage)
        if entity.type_id == 1 and record.get("STATUS_ID") != before_stage:
            statuses = {s["status_id"]: s for s in self.lead_statuses()}
            status = statuses.get(record.get("STATUS_ID")) or statuses.get(before_stage)
            record["STATUS_ID"], record["STATUS_SEMANTIC_ID"] = status["status_id"], status["semantics"] or "P"
        moved = entity.stage_field and (record.get(entity.stage_field) != before_stage
                                        or record.get("CATEGORY_ID") != before_category)
        if moved:
            record["MOVED_TIME"], record["MOVED_BY_ID"] = self.now_iso(), str(self.user_id)
        with self.store.transaction() as db:
            self._write(db, entity, int(record["ID"]), record)
            if moved:
                self._history(db, entity, int(record["ID"]), 2, record)
        self.cost += WRITE_COST
        if camel:
            return self._present(entity, record, ["*"], camel=True, single=True)
        return True

    def crm_delete(self, entity: EntityType, record_id: Any, *, camel: bool) -> bool:
        if not camel and positive_id(record_id) is None:
            raise err.bad_id()
        record = self._record(entity, record_id)
        if record is None:
            raise err.element_not_found() if camel else err.not_found_legacy()
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_crm WHERE account_id=? AND entity_type_id=? AND id=?",
                       (self.account_id, entity.type_id, int(record["ID"])))
        self.cost += WRITE_COST
        return True

    def crm_fields(self, entity: EntityType, *, camel: bool) -> dict[str, Any]:
        out = {}
        for name, ftype, required, read_only, immutable, multiple, status_type, title, extra in FIELDS[entity.type_id]:
            entry = {"type": ftype, "isRequired": required, "isReadOnly": read_only, "isImmutable": immutable,
                     "isMultiple": multiple, "isDynamic": False}
            if status_type:
                entry["statusType"] = status_type
            entry["title"] = title
            entry.update(extra)
            if camel:
                entry["upperName"] = name
            out[snake_to_camel(name) if camel else name] = entry
        for uf in self._userfields(entity.uf_entity):
            labels = {k: (uf.get(k) or {}).get("ru") or (uf.get(k) or {}).get("en") or uf["FIELD_NAME"]
                      for k in ("LIST_COLUMN_LABEL", "EDIT_FORM_LABEL", "LIST_FILTER_LABEL")}
            entry = {"type": uf["USER_TYPE_ID"], "isRequired": uf["MANDATORY"] == "Y", "isReadOnly": False,
                     "isImmutable": False, "isMultiple": uf["MULTIPLE"] == "Y", "isDynamic": True,
                     "title": uf["FIELD_NAME"], "listLabel": labels["LIST_COLUMN_LABEL"],
                     "formLabel": labels["EDIT_FORM_LABEL"], "filterLabel": labels["LIST_FILTER_LABEL"],
                     "settings": uf["SETTINGS"]}
            if uf["USER_TYPE_ID"] == "enumeration":
                entry["items"] = [{"ID": i["ID"], "VALUE": i["VALUE"]} for i in uf.get("LIST", [])]
            if camel:
                entry["upperName"] = uf["FIELD_NAME"]
            out[snake_to_camel(uf["FIELD_NAME"]) if camel else uf["FIELD_NAME"]] = entry
        self.cost += ROW_COST * len(out) / 10
        return out

    def duplicate_findbycomm(self, params: dict[str, Any]) -> dict[str, list[int]] | list:
        kind = str(param(params, "type", "") or "").upper()
        if not kind:
            raise err.B24Error("Parameter 'type' is required.", code="Communication type is not defined")
        if kind not in ("EMAIL", "PHONE"):
            raise err.B24Error(f"Communication type '{kind}' is not supported in current context",
                               code="Communication type is not defined")
        values = param(params, "values")
        values = list(values.values()) if isinstance(values, dict) else values if isinstance(values, list) else \
            [values] if values else []
        if not values:
            raise err.B24Error("Parameter 'values' is required.", code="Communication values is not defined")
        values = values[:20]
        keys = {_comm_key(kind, str(v)) for v in values} - {""}
        entity_type = str(param(params, "entity_type", "") or "").upper()
        types = [BY_NAME[entity_type.lower()]] if entity_type.lower() in BY_NAME and entity_type != "DEAL" else \
            [ENTITIES[1], ENTITIES[3], ENTITIES[4]]
        result: dict[str, list[int]] = {}
        for entity in types:
            rows = self.db.execute(
                f"SELECT b24_crm.id, json_extract(m.value, '$.VALUE') FROM b24_crm, json_each(b24_crm.data, '$.{kind}') "
                "AS m WHERE b24_crm.account_id=? AND b24_crm.entity_type_id=?", (self.account_id, entity.type_id))
            ids, scanned = [], 0
            for record_id, value in rows:
                scanned += 1
                if _comm_key(kind, str(value)) in keys:
                    ids.append(record_id)
            self.cost += COUNT_COST * scanned
            ids = sorted(set(ids))
            if ids:
                result[entity.upper] = ids
            if len(ids) >= 20:
                break   # later types are not returned once one type has 20 matches
        return result or []


def _comm_key(kind: str, value: str) -> str:
    """Duplicate search compares exact communications: digits of a phone (extension dropped), a lower-cased
    e-mail [inference: the docs say extensions are ignored, nothing about formats]."""
    if kind == "PHONE":
        value = re.split(r"(?i)\s*(?:доб|ext|#)", value)[0]
        return re.sub(r"\D", "", value)
    return value.strip().lower()
