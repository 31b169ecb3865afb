"""Telephony: calls with their duration and outcome, as an external PBX reports them and the call
statistics list them.

Methods (official docs, repository bitrix24/b24restdocs, api-reference/telephony/):

- ``telephony.externalCall.register`` — a call starts: answers ``CALL_ID``, ``CRM_CREATED_LEAD``,
  ``CRM_CREATED_ENTITIES``, ``CRM_ENTITY_TYPE``, ``CRM_ENTITY_ID``; ``TYPE`` 1 outgoing, 2 incoming,
  3 incoming with redirection, 4 callback, 5 informational; ``CRM_ENTITY_TYPE`` CONTACT, COMPANY or LEAD.
- ``telephony.externalCall.finish`` — the call ends: ``DURATION`` seconds (default 0), ``STATUS_CODE``
  (default 200 when DURATION > 0, else 304); saves the statistics record and logs the call as a CRM
  activity (TYPE_ID 2, PROVIDER_ID VOXIMPLANT_CALL); answers the record (``CALL_STATUS`` 1 for a
  conversation, else 0; ``CRM_ACTIVITY_ID``; ``INCOMING`` = the call type).
- ``voximplant.statistic.get`` — the statistics records: ``FILTER`` (operators ``! >= > <= < = %``),
  ``SORT`` (a field name) and ``ORDER`` (ASC/DESC), ``start`` (pages of 50).

Both externalCall methods "work only in the context of an application": an incoming webhook is refused
with ``WRONG_AUTH_TYPE``. Where the docs are silent ([inference]): the call activity is owned by the
CRM record the call names (no deal binding is invented); an answered call's activity is completed, a
missed incoming call's activity is left open, due at the call's start (the manager's call-back); its
DIRECTION is 2 for outgoing and callback calls, 1 otherwise; START_TIME is the call's start and END_TIME
its start plus its duration; ``start=-1`` in ``voximplant.statistic.get`` skips the count as it does in
the CRM lists.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24 import listing
from implkit.sandbox.bitrix24.portal import iso, next_ids
from implkit.sandbox.bitrix24.models.timeline import empty_record, portal_time

CALL_TYPES = (1, 2, 3, 4, 5)
OUTGOING_TYPES = (1, 4)
ENTITY_TYPES = {"LEAD": 1, "CONTACT": 3, "COMPANY": 4}
STATUS_CODES = ("200", "304", "603", "603-S", "403", "404", "486", "484", "503", "480", "402", "423", "OTHER")
# voximplant.statistic.get: the filterable fields (the method page's table), as stored in the record
STAT_FIELDS = {"ID": "int", "CALL_ID": "text", "EXTERNAL_CALL_ID": "text", "CALL_CATEGORY": "text",
               "PORTAL_USER_ID": "int", "PORTAL_NUMBER": "text", "PHONE_NUMBER": "text", "CALL_TYPE": "int",
               "CALL_DURATION": "int", "CALL_START_DATE": "text", "CALL_VOTE": "int", "COST": "real",
               "COST_CURRENCY": "text", "CALL_FAILED_CODE": "text", "CALL_FAILED_REASON": "text",
               "CRM_ENTITY_TYPE": "text", "CRM_ENTITY_ID": "int", "CRM_ACTIVITY_ID": "int", "REST_APP_ID": "int",
               "REST_APP_NAME": "text", "SESSION_ID": "int", "COMMENT": "text", "RECORD_DURATION": "int"}
WRONG_AUTH = ("WRONG_AUTH_TYPE", "Current authorization type is denied for this method")


def core_error(text: str) -> err.B24Error:
    return err.B24Error(text, code="ERROR_CORE", status=400)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class TelephonyMixin:
    """Calls of one portal (mixed into `models.Portal`, which says whether the caller is an application)."""

    app_context = False

    def _require_app(self) -> None:
        if not self.app_context:
            raise err.B24Error(WRONG_AUTH[1], code=WRONG_AUTH[0], status=400)

    def _active_user(self, user_id: Any) -> int:
        number = _int(user_id)
        row = None if number is None else self.db.execute(
            "SELECT active FROM b24_users WHERE account_id=? AND id=?", (self.account_id, number)).fetchone()
        if row is None or not row[0]:
            raise core_error("User is not found or is not active")
        return number

    def external_call_register(self, p: dict[str, Any]) -> dict[str, Any]:
        self._require_app()
        if p.get("USER_ID") in (None, "") and p.get("USER_PHONE_INNER") in (None, ""):
            raise core_error("USER_ID or USER_PHONE_INNER should be set")
        call_type = _int(p.get("TYPE"))
        if call_type not in CALL_TYPES:
            raise core_error("Unknown TYPE")
        start = self.now_iso()
        if p.get("CALL_START_DATE") not in (None, ""):
            start = portal_time(p["CALL_START_DATE"])
            if start is None:
                raise core_error("CALL_START_DATE should be in the ISO-8601 format")
        phone = "".join(ch for ch in str(p.get("PHONE_NUMBER") or "") if ch.isdigit())
        if not phone:
            raise core_error("Unsupported phone number format")
        user = self._active_user(p.get("USER_ID"))
        entity_type = str(p.get("CRM_ENTITY_TYPE") or "").upper() or None
        entity_id = _int(p.get("CRM_ENTITY_ID"))
        if entity_type not in ENTITY_TYPES or not entity_id or not self._owner_exists(ENTITY_TYPES[entity_type],
                                                                                          entity_id):
            entity_type, entity_id = None, None
        call_id = f"externalCall.{secrets.token_hex(16)}.{int(self.at)}"
        with self.store.transaction() as db:
            db.execute("INSERT INTO b24_calls (account_id, call_id, data) VALUES (?, ?, ?)",
                       (self.account_id, call_id, json.dumps({
                           "USER_ID": user, "PHONE_NUMBER": str(p.get("PHONE_NUMBER")), "TYPE": call_type,
                           "CALL_START_DATE": start, "CRM_ENTITY_TYPE": entity_type, "CRM_ENTITY_ID": entity_id,
                           "EXTERNAL_CALL_ID": p.get("EXTERNAL_CALL_ID"), "LINE_NUMBER": p.get("LINE_NUMBER")})))
        self.cost += self.WRITE_COST
        return {"CALL_ID": call_id, "CRM_CREATED_LEAD": None, "CRM_CREATED_ENTITIES": [],
                "CRM_ENTITY_TYPE": entity_type, "CRM_ENTITY_ID": entity_id}

    def external_call_finish(self, p: dict[str, Any]) -> dict[str, Any]:
        self._require_app()
        call_id = p.get("CALL_ID")
        if not isinstance(call_id, str):
            raise err.B24Error("CALL_ID must be a string", code="INVALID_ARGUMENT", status=400)
        if p.get("USER_ID") in (None, "") and p.get("USER_PHONE_INNER") in (None, ""):
            raise core_error("USER_ID or USER_PHONE_INNER should be set")
        row = self.db.execute("SELECT data, stat_id FROM b24_calls WHERE account_id=? AND call_id=?",
                              (self.account_id, call_id)).fetchone()
        if row is None or row[1] is not None:
            raise core_error("Call is not found (call should be registered prior to finishing)")
        call = json.loads(row[0])
        user = self._active_user(p.get("USER_ID"))
        duration = max(0, _int(p.get("DURATION")) or 0)
        code = str(p.get("STATUS_CODE") or ("200" if duration > 0 else "304"))
        code = code if code in STATUS_CODES else "OTHER"
        answered = code == "200"
        with self.store.transaction() as db:
            activity_id = None
            if call["CRM_ENTITY_TYPE"]:
                activity_id = self._call_activity(db, call, user, duration, answered)
            stat_id = next_ids(db, self.account_id, "call_stat")
            record = {"ID": str(stat_id), "PORTAL_USER_ID": str(user), "PORTAL_NUMBER": str(call["LINE_NUMBER"] or ""),
                      "PHONE_NUMBER": call["PHONE_NUMBER"], "CALL_ID": call_id,
                      "EXTERNAL_CALL_ID": call["EXTERNAL_CALL_ID"], "CALL_CATEGORY": "external", "CALL_LOG": None,
                      "CALL_DURATION": str(duration), "CALL_START_DATE": call["CALL_START_DATE"],
                      "CALL_RECORD_URL": None, "CALL_VOTE": _text(p.get("VOTE")),
                      "COST": f"{float(p.get('COST') or 0):.4f}", "COST_CURRENCY": str(p.get("COST_CURRENCY") or ""),
                      "CALL_FAILED_CODE": code, "CALL_FAILED_REASON": str(p.get("FAILED_REASON") or ""),
                      "CRM_ENTITY_TYPE": call["CRM_ENTITY_TYPE"] or "",
                      "CRM_ENTITY_ID": _text(call["CRM_ENTITY_ID"]), "CRM_ACTIVITY_ID": _text(activity_id),
                      "REST_APP_ID": None, "REST_APP_NAME": None, "TRANSCRIPT_ID": None, "TRANSCRIPT_PENDING": "N",
                      "SESSION_ID": None, "REDIAL_ATTEMPT": None, "COMMENT": None, "RECORD_DURATION": None,
                      "RECORD_FILE_ID": None, "CALL_TYPE": str(call["TYPE"])}
            db.execute("INSERT INTO b24_call_stats (account_id, id, data) VALUES (?, ?, ?)",
                       (self.account_id, stat_id, json.dumps(record, ensure_ascii=False)))
            db.execute("UPDATE b24_calls SET stat_id=? WHERE account_id=? AND call_id=?",
                       (stat_id, self.account_id, call_id))
        self.cost += self.WRITE_COST
        return {"CALL_ID": call_id, "EXTERNAL_CALL_ID": call["EXTERNAL_CALL_ID"], "PORTAL_USER_ID": user,
                "PHONE_NUMBER": call["PHONE_NUMBER"], "PORTAL_NUMBER": str(call["LINE_NUMBER"] or ""),
                "INCOMING": str(call["TYPE"]), "CALL_DURATION": duration, "CALL_START_DATE": {},
                "CALL_STATUS": 1 if answered else 0, "CALL_VOTE": _int(p.get("VOTE")) or 0,
                "COST": float(p.get("COST") or 0), "COST_CURRENCY": str(p.get("COST_CURRENCY") or ""),
                "CALL_FAILED_CODE": code, "CALL_FAILED_REASON": str(p.get("FAILED_REASON") or ""),
                "REST_APP_ID": None, "REST_APP_NAME": None, "CRM_ACTIVITY_ID": activity_id, "COMMENT": None,
                "CRM_ENTITY_TYPE": call["CRM_ENTITY_TYPE"] or "", "CRM_ENTITY_ID": call["CRM_ENTITY_ID"],
                "ID": stat_id}

    def _call_activity(self, db, call: dict[str, Any], user: int, duration: int, answered: bool) -> int:
        """The CRM activity a finished call is logged as (module docstring: the [inference] parts)."""
        activity_id = next_ids(db, self.account_id, "activity")
        record = empty_record(activity_id, at=self.now_iso(), user=str(user))
        outgoing = call["TYPE"] in OUTGOING_TYPES
        start = call["CALL_START_DATE"]
        end = iso(datetime.fromisoformat(start).timestamp() + duration)
        done = answered or outgoing
        record.update(OWNER_ID=str(call["CRM_ENTITY_ID"]), OWNER_TYPE_ID=str(ENTITY_TYPES[call["CRM_ENTITY_TYPE"]]),
                      TYPE_ID="2", PROVIDER_ID="VOXIMPLANT_CALL", PROVIDER_TYPE_ID="CALL",
                      SUBJECT=("Исходящий звонок " if outgoing else "Входящий звонок ") + call["PHONE_NUMBER"],
                      START_TIME=start, END_TIME=end, DEADLINE=start, COMPLETED="Y" if done else "N",
                      STATUS="2" if done else "1", DIRECTION="2" if outgoing else "1", RESPONSIBLE_ID=str(user))
        record["COMMUNICATIONS"] = [{"ID": "1", "TYPE": "PHONE", "VALUE": call["PHONE_NUMBER"],
                                     "ENTITY_ID": record["OWNER_ID"], "ENTITY_TYPE_ID": record["OWNER_TYPE_ID"]}]
        self._write_activity(db, record)
        return activity_id

    def statistic_get(self, p: dict[str, Any]) -> listing.Page:
        """voximplant.statistic.get: FILTER, SORT + ORDER, start."""
        filter_ = p.get("FILTER") if isinstance(p.get("FILTER"), dict) else {}
        sort = str(p.get("SORT") or "")
        order = {sort: str(p.get("ORDER") or "ASC")} if sort and sort.upper() != "CALL_TYPE" else {}
        start = listing.parse_start(p.get("start", 0))

        def resolve(name: str):
            kind = STAT_FIELDS.get(name.upper())
            if kind is None:
                return None
            if name.upper() == "ID":
                return "id", "int"
            return f"json_extract(b24_call_stats.data, '$.\"{name.upper()}\"')", kind
        try:
            where, args = listing.where_clause(filter_, resolve, strict=False)
            ordering = listing.order_clause(order, resolve, strict=False, default="id ASC")
        except listing.BadValue as bad:
            raise err.invalid_arg(f"Invalid filter: field '{bad.field}' has invalid value") from None
        result, counted = listing.page(self.db, "b24_call_stats", "account_id=?", [self.account_id], where, args,
                                       ordering, start, columns="data")
        self.cost += self.ROW_COST * len(result.rows) + self.COUNT_COST * counted
        result.rows = [json.loads(r[0]) for r in result.rows]
        return result


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
