"""The portal's people: users and departments (user.get, user.current, department.get)."""

from __future__ import annotations

import json
from typing import Any

from implkit.sandbox.bitrix24 import listing
from implkit.sandbox.bitrix24.models.base import ROW_COST, COUNT_COST, param, as_dict


class PeopleMixin:
    """Users and departments."""

    # --- users, departments -------------------------------------------------------------------
    USER_KINDS = {"NAME": "text", "LAST_NAME": "text", "EMAIL": "text", "USER_TYPE": "text",
                  "WORK_POSITION": "text", "UF_DEPARTMENT": "list", "IS_ONLINE": "text"}

    def user_get(self, params: dict[str, Any]) -> listing.Page:
        """All users, deactivated ones included unless the filter says ACTIVE (the docs: every user but bots,
        e-mail, open-line and replica users); filters in FILTER or at the top level (user.get.request)."""
        reserved = {"sort", "order", "start", "filter", "admin_mode", "auth"}
        filter_ = as_dict(param(params, "FILTER", {}), "filter")
        filter_ = {**{k: v for k, v in params.items() if str(k).lower() not in reserved}, **filter_}
        sort = param(params, "sort")
        direction = str(param(params, "order", "ASC") or "ASC")
        order = {str(sort): direction} if sort else {}
        return self._generic_list("b24_users", {"filter": filter_, "order": order, "start": param(params, "start", 0)},
                                  {"ID": ("id", "int"), "ACTIVE": ("active", "bool")}, json_kinds=self.USER_KINDS,
                                  default_order="id ASC", strict=False, exact=False)

    def user_current(self) -> dict[str, Any]:
        row = self.db.execute("SELECT data FROM b24_users WHERE account_id=? AND id=?",
                              (self.account_id, self.user_id)).fetchone()
        self.cost += ROW_COST
        if not row:
            return {}
        user = json.loads(row[0])
        # user.current.response prints the last activity as "2024-07-23 08:08:50" (portal time, no offset)
        user["LAST_ACTIVITY_DATE"] = str(user.get("LAST_LOGIN") or self.now_iso())[:19].replace("T", " ")
        user.pop("TIMESTAMP_X", None)
        return user

    def department_get(self, params: dict[str, Any]) -> listing.Page:
        columns = {"ID": ("id", "int"), "NAME": ("name", "text"), "SORT": ("sort", "int"),
                   "PARENT": ("parent", "int"), "UF_HEAD": ("uf_head", "int")}
        reserved = {"sort", "order", "start", "auth"}
        filter_ = {k: v for k, v in params.items() if str(k).lower() not in reserved and str(k).upper() in columns}
        sort = param(params, "sort")
        order = {str(sort): str(param(params, "order", "ASC") or "ASC")} if sort else {}
        where, args = listing.where_clause(filter_, lambda n: columns.get(n.upper()), strict=False)
        ordering = listing.order_clause(order, lambda n: columns.get(n.upper()), strict=False, default="id ASC")
        result, counted = listing.page(self.db, "b24_departments", "account_id=?", [self.account_id], where, args,
                                       ordering, listing.parse_start(param(params, "start", 0)))
        self.cost += COUNT_COST * counted + ROW_COST * len(result.rows)
        rows = []
        for r in result.rows:
            out = {"ID": str(r["id"]), "NAME": r["name"], "SORT": r["sort"]}
            if r["parent"] is not None:
                out["PARENT"] = str(r["parent"])
            if r["uf_head"] is not None:
                out["UF_HEAD"] = str(r["uf_head"])
            rows.append(out)
        result.rows = rows
        return result
