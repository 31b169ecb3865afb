"""Statuses, stages and pipelines (crm.status.*, crm.category.*)."""

from __future__ import annotations

import re
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24 import listing
from implkit.sandbox.bitrix24.portal import next_ids, stage_entity, stage_prefix, insert_stages, DEAL_STAGES
from implkit.sandbox.bitrix24.models.base import ROW_COST, WRITE_COST, STAGE_CODE, STAGE_DIRECTORY, php_int, positive_id


class PipelinesMixin:
    """Stages of leads and deals, the status directories, and deal pipelines (categories)."""

    # --- statuses and pipelines ---------------------------------------------------------------------
    def stages(self, category_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT status_id, semantics, sort FROM b24_statuses WHERE account_id=? AND entity_id=? ORDER BY sort, id",
            (self.account_id, stage_entity(category_id)))]

    def lead_statuses(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT status_id, semantics, sort FROM b24_statuses WHERE account_id=? AND entity_id='STATUS' "
            "ORDER BY sort, id", (self.account_id,))]

    def _status_row(self, status_id: Any) -> dict[str, Any]:
        number = positive_id(status_id)
        if number is None:
            raise err.invalid_identifier()
        rows = self.db.execute("SELECT * FROM b24_statuses WHERE account_id=? AND id=?",
                               (self.account_id, number)).fetchall()
        if not rows:
            raise err.legacy("Status is not found.")
        return dict(rows[0])

    def _status_out(self, row: dict[str, Any], failure_ids: set[int]) -> dict[str, Any]:
        out = {"ID": str(row["id"]), "ENTITY_ID": row["entity_id"], "STATUS_ID": row["status_id"],
               "NAME": row["name"], "NAME_INIT": row["name_init"], "SORT": str(row["sort"]),
               "SYSTEM": "Y" if row["system"] else "N",
               "CATEGORY_ID": None if row["category_id"] is None else str(row["category_id"]),
               "COLOR": row["color"], "SEMANTICS": row["semantics"]}
        if STAGE_DIRECTORY.match(row["entity_id"]):
            semantics = {"S": "success", "F": "failure" if row["id"] in failure_ids else "apology"}
            out["EXTRA"] = {"SEMANTICS": semantics.get(row["semantics"] or "", "process"), "COLOR": row["color"]}
        return out

    def _first_failures(self) -> set[int]:
        return {r[0] for r in self.db.execute(
            "SELECT min(id) FROM b24_statuses WHERE account_id=? AND semantics='F' GROUP BY entity_id",
            (self.account_id,))}

    def status_list(self, order: dict, filter_: dict) -> list[dict[str, Any]]:
        columns = {"ID": ("id", "int"), "ENTITY_ID": ("entity_id", "text"), "STATUS_ID": ("status_id", "text"),
                   "NAME": ("name", "text"), "SORT": ("sort", "int"), "SYSTEM": ("CASE system WHEN 1 THEN 'Y' "
                                                                                 "ELSE 'N' END", "text"),
                   "CATEGORY_ID": ("category_id", "int"), "SEMANTICS": ("semantics", "text"),
                   "COLOR": ("color", "text")}
        where, args = listing.where_clause(filter_, lambda n: columns.get(n.upper()), strict=False)
        ordering = listing.order_clause(order, lambda n: columns.get(n.upper()), strict=False,
                                        default="sort ASC, id ASC")
        rows = self.db.execute(f"SELECT * FROM b24_statuses WHERE account_id=?{' AND (' + where + ')' if where else ''}"
                               f" ORDER BY {ordering}", (self.account_id, *args)).fetchall()
        failures = self._first_failures()
        self.cost += ROW_COST * len(rows)
        return [self._status_out(dict(r), failures) for r in rows]

    def status_get(self, status_id: Any) -> dict[str, Any]:
        self.cost += ROW_COST
        return self._status_out(self._status_row(status_id), self._first_failures())

    def _directories(self) -> set[str]:
        entities = {r[0] for r in self.db.execute("SELECT DISTINCT entity_id FROM b24_statuses WHERE account_id=?",
                                                  (self.account_id,))}
        entities |= {stage_entity(r[0]) for r in self.db.execute(
            "SELECT id FROM b24_categories WHERE account_id=? AND entity_type_id=2", (self.account_id,))}
        return entities | {"INDUSTRY", "EMPLOYEES", "HONORIFIC", "CALL_LIST"}

    def status_add(self, fields: dict[str, Any]) -> int:
        missing = [f"The field {k} is required." for k in ("ENTITY_ID", "STATUS_ID") if not fields.get(k)]
        if missing:
            raise err.legacy(", ".join(missing))
        entity_id = str(fields["ENTITY_ID"])
        if entity_id not in self._directories():
            raise err.legacy("Specified entity type is not supported.")
        if not str(fields.get("NAME") or "").strip():
            raise err.legacy("The field Title is required.")
        code = str(fields["STATUS_ID"])
        category_id = int(entity_id.rsplit("_", 1)[1]) if re.match(r"^DEAL_STAGE_\d+$", entity_id) else None
        if STAGE_DIRECTORY.match(entity_id):
            prefix = stage_prefix(category_id or 0)
            bare = code[len(prefix):] if prefix and code.startswith(prefix) else code
            limit = 21 if entity_id == "STATUS" else 22
            if not STAGE_CODE.match(bare) or len(prefix + bare) > limit:
                raise err.legacy("Error on creating status.")   # [unverified] which text the id rules give
            code = prefix + bare
        elif len(code) > 50:
            raise err.legacy("Error on creating status.")
        sort = php_int(fields.get("SORT"), 10)
        semantics = str(fields.get("SEMANTICS") or "").upper() or None
        if semantics not in (None, "F"):
            semantics = None      # one success stage per pipeline: another S is read as in-progress [inference]
        with self.store.transaction() as db:
            if db.execute("SELECT 1 FROM b24_statuses WHERE account_id=? AND entity_id=? AND status_id=?",
                          (self.account_id, entity_id, code)).fetchone():
                raise err.core("The specified status ID already exists.")
            # the error table states this rule "for the DEAL_STAGE directory"; its own example adds SORT 70
            # to DEAL_STAGE_1, so other pipelines are not held to it [inference]
            if entity_id == "DEAL_STAGE" and semantics != "F":
                success = db.execute("SELECT sort FROM b24_statuses WHERE account_id=? AND entity_id=? AND "
                                     "semantics='S'", (self.account_id, entity_id)).fetchone()
                if success and sort > success[0]:
                    raise err.legacy("Cannot create more stages after the final stage because the final successful "
                                     "stage already exists. Try using sort order values less than that of the final "
                                     "stage.")
            new_id = next_ids(db, self.account_id, "status")
            db.execute("INSERT INTO b24_statuses (account_id, id, entity_id, status_id, name, name_init, sort, system, "
                       "category_id, color, semantics) VALUES (?, ?, ?, ?, ?, '', ?, 0, ?, ?, ?)",
                       (self.account_id, new_id, entity_id, code, str(fields["NAME"]), sort, category_id,
                        fields.get("COLOR"), semantics))
        self.cost += WRITE_COST
        return new_id

    def status_update(self, status_id: Any, fields: dict[str, Any]) -> bool:
        row = self._status_row(status_id)
        changes = {"name": fields.get("NAME", row["name"]), "sort": php_int(fields.get("SORT"), row["sort"]),
                   "color": fields.get("COLOR", row["color"])}
        # ENTITY_ID, STATUS_ID, CATEGORY_ID and SEMANTICS are immutable after creation: ignored
        with self.store.transaction() as db:
            db.execute("UPDATE b24_statuses SET name=?, sort=?, color=? WHERE account_id=? AND id=?",
                       (changes["name"], changes["sort"], changes["color"], self.account_id, row["id"]))
        self.cost += WRITE_COST
        return True

    def status_delete(self, status_id: Any, params: dict[str, Any]) -> bool:
        row = self._status_row(status_id)
        if row["system"] and str(params.get("FORCED", "N")).upper() != "Y":
            raise err.legacy('CRM System Status can be deleted only if parameter FORCED is specified and equal '
                             'to "Y".')
        if STAGE_DIRECTORY.match(row["entity_id"]):
            type_id, category = (1, None) if row["entity_id"] == "STATUS" else (2, row["category_id"] or 0)
            used = self.db.execute(
                "SELECT 1 FROM b24_crm WHERE account_id=? AND entity_type_id=? AND stage_id=?"
                + (" AND category_id=?" if category is not None else "") + " LIMIT 1",
                (self.account_id, type_id, row["status_id"], *([category] if category is not None else []))).fetchone()
            if used:
                raise err.legacy("There are active items in this status.")
            group = self.db.execute(
                "SELECT count(*) FROM b24_statuses WHERE account_id=? AND entity_id=? AND "
                "coalesce(semantics, '')=coalesce(?, '')", (self.account_id, row["entity_id"], row["semantics"])).fetchone()
            if group[0] <= 1:   # a pipeline keeps one stage per group (in progress, success, failure) [text: inference]
                raise err.legacy("Error on deleting status.")
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_statuses WHERE account_id=? AND id=?", (self.account_id, row["id"]))
        self.cost += WRITE_COST
        return True

    def status_entity_items(self, entity_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT name, sort, status_id FROM b24_statuses WHERE account_id=? AND entity_id=? "
                               "ORDER BY sort, id", (self.account_id, entity_id)).fetchall()
        self.cost += ROW_COST * len(rows)
        return [{"NAME": r["name"], "SORT": r["sort"], "STATUS_ID": r["status_id"]} for r in rows]   # SORT: a number

    DIRECTORY_NAMES = {"STATUS": "Стадии лидов", "SOURCE": "Источники", "CONTACT_TYPE": "Тип контакта",
                       "COMPANY_TYPE": "Тип компании", "EMPLOYEES": "Кол-во сотрудников", "INDUSTRY": "Сфера деятельности",
                       "DEAL_TYPE": "Тип сделки", "HONORIFIC": "Обращения", "CALL_LIST": "Статусы обзвона"}

    def status_entity_types(self) -> list[dict[str, Any]]:
        """The directories, with SEMANTIC_INFO for stage sets (crm.status.entity.types.response; its quirks
        kept: CATEGORY_ID is 0 for DEAL_STAGE and a string for DEAL_STAGE_<id>)."""
        def semantic_info(entity_id: str) -> dict[str, Any]:
            rows = self.db.execute("SELECT status_id, semantics FROM b24_statuses WHERE account_id=? AND entity_id=? "
                                   "ORDER BY sort, id", (self.account_id, entity_id)).fetchall()
            first = lambda semantics: next((r[0] for r in rows if r[1] == semantics), "")   # noqa: E731
            return {"START_FIELD": rows[0][0] if rows else "", "FINAL_SUCCESS_FIELD": first("S"),
                    "FINAL_UNSUCCESS_FIELD": first("F"), "FINAL_SORT": 0}
        out = [{"ID": "STATUS", "NAME": self.DIRECTORY_NAMES["STATUS"], "SEMANTIC_INFO": semantic_info("STATUS"),
                "ENTITY_TYPE_ID": 1}]
        out += [{"ID": key, "NAME": self.DIRECTORY_NAMES[key]} for key in ("SOURCE", "CONTACT_TYPE", "COMPANY_TYPE",
                                                                          "EMPLOYEES", "INDUSTRY", "DEAL_TYPE")]
        for row in self.db.execute("SELECT id, name FROM b24_categories WHERE account_id=? AND entity_type_id=2 "
                                   "ORDER BY id DESC", (self.account_id,)).fetchall():
            entity_id = stage_entity(row[0])
            if row[0] == 0:
                out.append({"ID": entity_id, "NAME": "Стадии сделки", "SEMANTIC_INFO": semantic_info(entity_id),
                            "FIELD_ATTRIBUTE_SCOPE": "", "ENTITY_TYPE_ID": 2, "CATEGORY_ID": 0})
            else:
                out.append({"ID": entity_id, "NAME": f"Стадии сделки ({row[1]})", "PARENT_ID": "DEAL_STAGE",
                            "SEMANTIC_INFO": semantic_info(entity_id), "PREFIX": f"C{row[0]}",
                            "FIELD_ATTRIBUTE_SCOPE": f"category_{row[0]}", "ENTITY_TYPE_ID": 2,
                            "CATEGORY_ID": str(row[0])})
        out += [{"ID": key, "NAME": self.DIRECTORY_NAMES[key]} for key in ("HONORIFIC", "CALL_LIST")]
        self.cost += ROW_COST * len(out)
        return out

    # --- categories (crm.category.*) -------------------------------------------------------------
    def _check_category_type(self, entity_type_id: Any) -> int:
        try:
            type_id = int(entity_type_id)
        except (TypeError, ValueError):
            raise err.B24Error("SPA not found", code="NOT_FOUND") from None
        if type_id == 1:
            raise err.entity_type_not_supported("LEAD")
        if type_id not in (2, 3, 4):
            raise err.B24Error("SPA not found", code="NOT_FOUND")
        return type_id

    @staticmethod
    def _category_out(row) -> dict[str, Any]:
        out = {"id": row["id"], "name": row["name"], "sort": row["sort"], "entityTypeId": row["entity_type_id"],
               "isDefault": "Y" if row["is_default"] else "N"}
        if not row["is_default"]:   # the doc example prints these two only on non-default pipelines
            out.update(originId="", originatorId="")
        return out

    def category_list(self, entity_type_id: Any) -> list[dict[str, Any]]:
        type_id = self._check_category_type(entity_type_id)
        rows = self.db.execute("SELECT * FROM b24_categories WHERE account_id=? AND entity_type_id=? "
                               "ORDER BY sort, id", (self.account_id, type_id)).fetchall()
        self.cost += ROW_COST * len(rows)
        return [self._category_out(r) for r in rows]

    def _category_row(self, type_id: int, category_id: Any):
        try:
            number = int(category_id)
        except (TypeError, ValueError):
            raise err.element_not_found() from None
        rows = self.db.execute("SELECT * FROM b24_categories WHERE account_id=? AND entity_type_id=? AND id=?",
                               (self.account_id, type_id, number)).fetchall()
        if not rows:
            raise err.element_not_found()
        return rows[0]

    def category_get(self, entity_type_id: Any, category_id: Any) -> dict[str, Any]:
        self.cost += ROW_COST
        return self._category_out(self._category_row(self._check_category_type(entity_type_id), category_id))

    def category_add(self, entity_type_id: Any, fields: dict[str, Any]) -> dict[str, Any]:
        type_id = self._check_category_type(entity_type_id)
        name = str(fields.get("name") or "").strip()
        if not name:
            raise err.B24Error("Field 'NAME' is required", code=0)
        sort = max(0, php_int(fields.get("sort"), 500))
        with self.store.transaction() as db:
            category_id = next_ids(db, self.account_id, "category")
            db.execute("INSERT INTO b24_categories (account_id, entity_type_id, id, name, sort, is_default) "
                       "VALUES (?, ?, ?, ?, ?, 0)", (self.account_id, type_id, category_id, name[:255], sort))
            if type_id == 2:   # a new deal pipeline gets the default stage set at once [unverified exact set]
                insert_stages(db, self.account_id, stage_entity(category_id), category_id, stage_prefix(category_id),
                              DEAL_STAGES)
        self.cost += WRITE_COST
        return self._category_out(self._category_row(type_id, category_id))

    def category_update(self, entity_type_id: Any, category_id: Any, fields: dict[str, Any]) -> dict[str, Any]:
        type_id = self._check_category_type(entity_type_id)
        row = self._category_row(type_id, category_id)
        name = str(fields.get("name", row["name"]) or "").strip()
        if not name:
            raise err.B24Error("Field 'NAME' is required", code=0)
        sort = max(0, php_int(fields.get("sort"), row["sort"]))
        with self.store.transaction() as db:   # isDefault of deal pipelines cannot change: ignored
            db.execute("UPDATE b24_categories SET name=?, sort=? WHERE account_id=? AND entity_type_id=? AND id=?",
                       (name[:255], sort, self.account_id, type_id, row["id"]))
        self.cost += WRITE_COST
        return self._category_out(self._category_row(type_id, row["id"]))

    def category_delete(self, entity_type_id: Any, category_id: Any) -> None:
        type_id = self._check_category_type(entity_type_id)
        row = self._category_row(type_id, category_id)
        if row["is_default"]:
            raise err.B24Error("Default deal category cannot be deleted", code=0)
        if self.db.execute("SELECT 1 FROM b24_crm WHERE account_id=? AND entity_type_id=? AND category_id=? LIMIT 1",
                           (self.account_id, type_id, row["id"])).fetchone():
            raise err.B24Error(f"Deals related to the funnel {row['name']} found", code=0)
        with self.store.transaction() as db:
            db.execute("DELETE FROM b24_categories WHERE account_id=? AND entity_type_id=? AND id=?",
                       (self.account_id, type_id, row["id"]))
            db.execute("DELETE FROM b24_statuses WHERE account_id=? AND entity_id=?",
                       (self.account_id, stage_entity(row["id"])))
        self.cost += WRITE_COST
