"""The account handle every endpoint family builds on, and request validation helpers."""

from __future__ import annotations

import json
from typing import Any

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm.models.constants import DEFAULT_ENTITY_NAMES, DEFAULT_GROUP, MAX_BATCH, TASK_TYPES
from implkit.sandbox.store import Store


def _loads(value: Any, default: Any = None) -> Any:
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


class AccountBase:
    """The account handle every part of `AmoAccount` builds on. `base` is the absolute account URL for links."""

    def __init__(self, store: Store, account_id: int, base: str, at: int, *, user_id: int | None = None):
        self.store = store
        self.account_id = account_id
        self.base = base.rstrip("/")
        self.at = at
        self.user_id = user_id or 0

    # helpers -------------------------------------------------------------------------------
    def href(self, path: str) -> str:
        return f"{self.base}/api/v4/{path}"

    def links(self, path: str) -> dict[str, Any]:
        return {"self": {"href": self.href(path)}}

    def rows(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self.store.query(sql, params)]

    # account -------------------------------------------------------------------------------
    def account(self, with_: set[str]) -> dict[str, Any]:
        row = self.rows("SELECT * FROM accounts WHERE id=?", (self.account_id,))[0]
        s = _loads(row["settings"], {})
        body: dict[str, Any] = {
            "id": row["id"], "name": row["name"], "subdomain": row["subdomain"],
            "current_user_id": self.user_id or s.get("admin_user_id"), "country": s.get("country", "RU"),
            "customers_mode": s.get("customers_mode", "disabled"), "is_unsorted_on": s.get("is_unsorted_on", True),
            "is_loss_reason_enabled": s.get("is_loss_reason_enabled", True),
            "is_helpbot_enabled": s.get("is_helpbot_enabled", False),
            "is_technical_account": s.get("is_technical_account", True),
            "contact_name_display_order": s.get("contact_name_display_order", 1),
            "uuid": s.get("uuid"), "currency": s.get("currency", "RUB"),
            "currency_symbol": s.get("currency_symbol", "₽"),
        }
        if "amojo_id" in with_:
            body["amojo_id"] = s.get("amojo_id")
        if "uuid" in with_:
            body["uuid"] = s.get("uuid")
        if "version" in with_:
            body["version"] = s.get("version", 16)
        if "is_api_filter_enabled" in with_:
            body["is_api_filter_enabled"] = s.get("is_api_filter_enabled", True)
        if "drive_url" in with_:
            body["drive_url"] = "https://drive-b.amocrm.ru"
        if "entity_names" in with_:
            body["entity_names"] = s.get("entity_names", DEFAULT_ENTITY_NAMES)
        body["_links"] = self.links("account")
        embedded: dict[str, Any] = {}
        if "amojo_rights" in with_:
            embedded["amojo_rights"] = {"can_direct": True, "can_create_groups": True}
        if "users_groups" in with_:
            groups = self.rows("SELECT id, name FROM user_groups WHERE account_id=? ORDER BY id", (self.account_id,))
            embedded["users_groups"] = [DEFAULT_GROUP] + [{"id": g["id"], "name": g["name"], "uuid": None}
                                                          for g in groups]
        if "task_types" in with_:
            embedded["task_types"] = TASK_TYPES
        if "datetime_settings" in with_:
            embedded["datetime_settings"] = {
                "date_pattern": "d.m.Y H:i", "short_date_pattern": "d.m.Y", "short_time_pattern": "H:i",
                "date_formant": "d.m.Y", "time_format": "H:i:s", "timezone": s.get("timezone", "Europe/Moscow"),
                "timezone_offset": s.get("timezone_offset", "+03:00")}
        if embedded:
            body["_embedded"] = embedded
        return body


# --- request validation ------------------------------------------------------------------

class Errors:
    """Per-item validation errors, keyed by request_id as the API reports them."""

    def __init__(self) -> None:
        self.items: dict[str, list[dict[str, str]]] = {}

    def add(self, request_id: str, path: str, code: str, detail: str) -> None:
        self.items.setdefault(request_id, []).append({"code": code, "path": path, "detail": detail})

    def not_a_choice(self, request_id: str, path: str) -> None:
        """The documented error for a value outside the allowed set (an unknown id, type or colour)."""
        self.add(request_id, path, "NotSupportedChoice", "The value you selected is not a valid choice.")

    def field_not_expected(self, request_id: str, path: str) -> None:
        """A key the method doesn't take: the real API's answer (amocrm-api-php#4, Krukov/amocrm_api#68)."""
        self.add(request_id, path, "FieldNotExpected", "This field was not expected.")

    def raise_if_any(self) -> None:
        if self.items:
            raise exc.ValidationFailed(self.items)


def batch(body: Any, *, limit: int = MAX_BATCH, allow_object: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """A write body as [(request_id, item)]: an array of objects (or one object where the method takes it).

    Empty → 400 "Request data can not be empty"; more than `limit` items → 422 "Limit N per page".
    `request_id` is the client's string, else the item's index as a string.
    """
    if body is None or body == [] or body == {}:
        raise exc.EmptyBody()
    if isinstance(body, dict) and allow_object:
        body = [body]
    if not isinstance(body, list):
        raise exc.validation_error("0", "", "InvalidType", "This value should be of type array.")
    if len(body) > limit:
        raise exc.LimitExceeded(limit)
    errors = Errors()
    out = []
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            errors.add(str(index), "", "InvalidType", "This value should be of type object.")
            continue
        request_id = item.get("request_id")
        out.append((str(request_id) if request_id is not None else str(index), item))
    errors.raise_if_any()
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_type(errors: Errors, rid: str, item: dict, key: str, kind: type | tuple, *, required: bool = False,
                nullable: bool = False) -> bool:
    """Record an error when item[key] is missing (if required) or of the wrong type; True when usable."""
    if key not in item:
        if required:
            errors.add(rid, key, "NotBlank", "This value should not be blank.")
        return False
    value = item[key]
    if value is None and nullable:
        return True
    ok = _is_int(value) if kind is int else isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if not ok or (isinstance(value, str) and required and not value.strip()):
        name = {int: "int", str: "string", bool: "bool", list: "array", dict: "array"}.get(kind, "valid")
        errors.add(rid, key, "InvalidType" if not ok else "NotBlank",
                   f"This value should be of type {name}." if not ok else "This value should not be blank.")
        return False
    return True


def _range_filter(where: list[str], params: list, column: str, value: Any) -> None:
    """`filter[x]=TS` (one value) or `filter[x][from]=…&[to]=…`, as documented for dates and numbers."""
    if isinstance(value, dict):
        if str(value.get("from", "")).lstrip("-").isdigit():
            where.append(f"{column} >= ?")
            params.append(int(value["from"]))
        if str(value.get("to", "")).lstrip("-").isdigit():
            where.append(f"{column} <= ?")
            params.append(int(value["to"]))
    elif isinstance(value, list):
        _in_filter(where, params, column, value)
    elif str(value).lstrip("-").isdigit():
        where.append(f"{column} = ?")
        params.append(int(value))


def _order_sql(key: str, direction: str) -> str:
    """ORDER BY for `order[key]=direction`, ties broken by id (stable pages)."""
    direction = direction.upper()
    return f"id {direction}" if key == "id" else f"{key} {direction}, id {direction}"


def _in_filter(where: list[str], params: list, column: str, value: Any) -> None:
    values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
    ids = [int(v) for v in values if str(v).lstrip("-").isdigit()]
    where.append(f"{column} IN ({','.join('?' * len(ids))})" if ids else "0")
    params.extend(ids)
