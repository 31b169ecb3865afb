"""amoCRM's behaviour over the sandbox store: accounts, auth, configuration, records.

`bootstrap_account` creates an account as amoCRM does on sign-up;
`issue_long_lived_token` and the OAuth functions hand out credentials;
`AmoAccount` is the backend of one account: every method filters on its
account id and returns the documented models as plain dicts (HAL `_links`
included), or raises an `AmoError` from `exceptions.py`. `responses.py`
only parses requests and serialises what these methods return.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from typing import Any

from implkit.sandbox.amocrm import exceptions as exc
from implkit.sandbox.store import Store

# --- documented constants --------------------------------------------------------

WON_STATUS_ID = 142
LOST_STATUS_ID = 143
UNSORTED_TYPE = 1
MAX_PIPELINES = 50
MAX_STATUSES = 100                  # per pipeline, the 3 system ones included
MAX_BATCH = 250                     # items per POST/PATCH
MAX_USERS_PER_POST = 10
MAX_USERS_FOR_POST = 100            # POST /users is refused beyond this many users
MAX_WEBHOOKS = 100
MAX_SOURCES = 100
MAX_STATUS_DESCRIPTIONS = 3

STATUS_COLOURS = (
    "#fffeb2", "#fffd7f", "#fff000", "#ffeab2", "#ffdc7f", "#ffce5a", "#ffdbdb", "#ffc8c8", "#ff8f92",
    "#d6eaff", "#c1e0ff", "#98cbff", "#ebffb1", "#deff81", "#87f2c0", "#f9deff", "#f3beff", "#ccc8f9",
    "#eb93ff", "#f2f3f4", "#e6e8ea",
)
TAG_COLOURS = (
    "EBEBEB", "D0D0D0", "F2DDF7", "D1A4DC", "FF8F92", "FFC8C8", "C7DB8C", "DDEBB5", "8699DA", "AABDFF",
    "FFCE5A", "FFE193", "90CDB0", "C6F4DE", "A9A5D7", "D8D5FF", "86C0FC", "832161", "6A0F49", "0C7C59",
    "10599D", "9D2B32", "247BA0",
)
FIELD_TYPES = {
    "leads": {"text", "numeric", "checkbox", "select", "multiselect", "date", "url", "date_time", "textarea",
              "radiobutton", "streetaddress", "smart_address", "birthday", "legal_entity", "tracking_data",
              "chained_list", "monetary", "file"},
    "contacts": {"text", "numeric", "checkbox", "select", "multiselect", "date", "url", "date_time", "textarea",
                 "radiobutton", "streetaddress", "multitext", "smart_address", "birthday", "legal_entity",
                 "monetary", "file"},
    "companies": {"text", "numeric", "checkbox", "select", "multiselect", "date", "url", "date_time",
                  "textarea", "radiobutton", "streetaddress", "multitext", "smart_address", "birthday",
                  "legal_entity", "monetary", "file"},
}
ENUM_FIELD_TYPES = {"select", "multiselect", "radiobutton", "multitext", "smart_address"}
RIGHT_VALUES = {"A", "G", "M", "D"}
TASK_TYPES = [
    {"id": 1, "name": "Связаться", "color": None, "icon_id": None, "code": "FOLLOW_UP"},
    {"id": 2, "name": "Встреча", "color": None, "icon_id": None, "code": "MEETING"},
]
DEFAULT_GROUP = {"id": 0, "name": "Отдел продаж", "uuid": None}

ACCESS_TOKEN_LIFETIME = 86400                 # 1 day
REFRESH_TOKEN_LIFETIME = 90 * 86400           # 3 months
AUTH_CODE_LIFETIME = 20 * 60                  # 20 minutes
LONG_LIVED_DEFAULT_LIFETIME = 5 * 365 * 86400  # the longest a user may pick

FULL_ENTITY_RIGHTS = {"view": "A", "edit": "A", "add": "A", "delete": "A", "export": "A"}

# What a new account gets (amoCRM's sign-up defaults, as the doc examples show them).
DEFAULT_PIPELINE_NAME = "Воронка"
DEFAULT_STATUSES = [  # (name, sort, colour); the unsorted stage and 142/143 are added around them
    ("Первичный контакт", 20, "#99ccff"),
    ("Переговоры", 30, "#ffff99"),
    ("Принимают решение", 40, "#ffcc66"),
    ("Согласование договора", 50, "#ffcccc"),
]
UNSORTED_STATUS = ("Неразобранное", 10, "#c1c1c1")
WON_STATUS = ("Успешно реализовано", 10000, "#CCFF66")
LOST_STATUS = ("Закрыто и не реализовано", 11000, "#D5D8DB")
PHONE_ENUMS = ("WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER")
EMAIL_ENUMS = ("WORK", "PRIV", "OTHER")
PREDEFINED_GROUPS = {
    "leads": [("default", "Основное", "custom_field_group", 0), ("statistic", "Статистика", "linked_group", 2)],
    "contacts": [("default", "Основное", "custom_field_group", 0)],
    "companies": [("default", "Основное", "custom_field_group", 0)],
}
PREDEFINED_FIELDS = {  # (code, name, type, sort, enum values)
    "contacts": [("PHONE", "Телефон", "multitext", 4, PHONE_ENUMS), ("EMAIL", "Email", "multitext", 6, EMAIL_ENUMS),
                 ("POSITION", "Должность", "text", 2, ())],
    "companies": [("PHONE", "Телефон", "multitext", 4, PHONE_ENUMS), ("EMAIL", "Email", "multitext", 6, EMAIL_ENUMS),
                  ("WEB", "Web", "url", 8, ()), ("ADDRESS", "Адрес", "textarea", 10, ())],
}
STATUS_ID_FLOOR = 10_000_000   # status ids are 8-digit on the real platform; 142/143 must never be allocated


def now() -> int:
    return int(time.time())


# --- id sequences ------------------------------------------------------------------

def allocate_status_id(db) -> int:
    """The next status id, platform-wide (statuses are keyed by (pipeline, id), so the table can't allocate)."""
    floor = db.execute("SELECT max(id) FROM status_ids").fetchone()[0] or STATUS_ID_FLOOR
    return db.execute("INSERT INTO status_ids (id) VALUES (?)", (floor + 1,)).lastrowid


def allocate_enum_id(db) -> int:
    return db.execute("INSERT INTO enum_ids DEFAULT VALUES").lastrowid


# --- accounts ------------------------------------------------------------------------

def bootstrap_account(store: Store, subdomain: str, name: str | None = None) -> int:
    """Create an account as amoCRM does on sign-up and return its id.

    The account gets: one admin user; the main pipeline «Воронка» with its
    unsorted stage (type 1), four ordinary stages and the system stages
    142/143; the predefined field groups; contacts' PHONE, EMAIL, POSITION
    and companies' PHONE, EMAIL, WEB, ADDRESS.
    """
    if not subdomain or not subdomain.replace("-", "").isalnum() or subdomain != subdomain.lower():
        raise ValueError(f"invalid subdomain {subdomain!r}: lower-case letters, digits and '-' only")
    created = now()
    settings = {
        "country": "RU", "currency": "RUB", "currency_symbol": "₽", "timezone": "Europe/Moscow",
        "timezone_offset": "+03:00", "customers_mode": "disabled", "is_unsorted_on": True,
        "is_loss_reason_enabled": True, "is_helpbot_enabled": False, "is_technical_account": True,
        "is_api_filter_enabled": True, "contact_name_display_order": 1, "uuid": str(uuid.uuid4()),
        "amojo_id": str(uuid.uuid4()), "version": 16,
    }
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM accounts WHERE crm='amocrm' AND subdomain=?", (subdomain,)).fetchone():
            raise ValueError(f"account {subdomain!r} already exists")
        account_id = db.execute(
            "INSERT INTO accounts (crm, subdomain, name, created_at, settings) VALUES ('amocrm', ?, ?, ?, ?)",
            (subdomain, name or subdomain, created, json.dumps(settings, ensure_ascii=False))).lastrowid
        admin_rights = {"leads": FULL_ENTITY_RIGHTS, "contacts": FULL_ENTITY_RIGHTS,
                        "companies": FULL_ENTITY_RIGHTS, "tasks": {"edit": "A", "delete": "A"},
                        "mail_access": True, "catalog_access": True, "status_rights": None}
        admin_id = db.execute(
            "INSERT INTO users (account_id, name, email, lang, is_active, is_admin, rights) "
            "VALUES (?, 'Администратор', ?, 'ru', 1, 1, ?)",
            (account_id, f"admin@{subdomain}.example", json.dumps(admin_rights))).lastrowid
        settings["admin_user_id"] = admin_id
        db.execute("UPDATE accounts SET settings=? WHERE id=?", (json.dumps(settings, ensure_ascii=False), account_id))
        create_pipeline_rows(db, account_id, DEFAULT_PIPELINE_NAME, sort=1, is_main=True, is_unsorted_on=True,
                             statuses=[{"name": n, "sort": s, "color": c} for n, s, c in DEFAULT_STATUSES])
        for entity, groups in PREDEFINED_GROUPS.items():
            for group_id, group_name, group_type, sort in groups:
                db.execute("INSERT INTO custom_field_groups (account_id, entity_type, id, name, sort, is_predefined, type)"
                           " VALUES (?, ?, ?, ?, ?, 1, ?)", (account_id, entity, group_id, group_name, sort, group_type))
        for entity, fields in PREDEFINED_FIELDS.items():
            for code, field_name, field_type, sort, enum_values in fields:
                enums = [{"id": allocate_enum_id(db), "value": v, "sort": 2 * (i + 1)}
                         for i, v in enumerate(enum_values)] or None
                db.execute("INSERT INTO custom_fields (account_id, entity_type, name, code, sort, type, "
                           "is_predefined, is_deletable, enums) VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?)",
                           (account_id, entity, field_name, code, sort, field_type,
                            json.dumps(enums, ensure_ascii=False) if enums else None))
    return account_id


def create_pipeline_rows(db, account_id: int, name: str, *, sort: int, is_main: bool, is_unsorted_on: bool,
                         statuses: list[dict[str, Any]], won_name: str | None = None,
                         lost_name: str | None = None) -> int:
    """Insert a pipeline with its system stages around `statuses` ({name, sort, color}); returns its id."""
    pipeline_id = db.execute(
        "INSERT INTO pipelines (account_id, name, sort, is_main, is_unsorted_on) VALUES (?, ?, ?, ?, ?)",
        (account_id, name, sort, int(is_main), int(is_unsorted_on))).lastrowid
    rows = [(allocate_status_id(db), UNSORTED_STATUS[0], UNSORTED_STATUS[1], 0, UNSORTED_STATUS[2], UNSORTED_TYPE)]
    rows += [(allocate_status_id(db), s["name"], s["sort"], 1, s.get("color") or STATUS_COLOURS[0], 0)
             for s in statuses]
    rows += [(WON_STATUS_ID, won_name or WON_STATUS[0], WON_STATUS[1], 0, WON_STATUS[2], 0),
             (LOST_STATUS_ID, lost_name or LOST_STATUS[0], LOST_STATUS[1], 0, LOST_STATUS[2], 0)]
    db.executemany("INSERT INTO statuses (account_id, pipeline_id, id, name, sort, is_editable, color, type) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [(account_id, pipeline_id, *row) for row in rows])
    return pipeline_id


def account_by_subdomain(store: Store, subdomain: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM accounts WHERE crm='amocrm' AND subdomain=?", (subdomain,))
    return dict(rows[0]) if rows else None


# --- credentials ---------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any]) -> str:
    """A JWT-shaped token, as amoCRM issues (clients may read `exp` and `api_domain`); the signature is random."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "RS256", "jti": claims["jti"]}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(secrets.token_bytes(64))}"


def _admin_id(db, account_id: int) -> int | None:
    row = db.execute("SELECT id FROM users WHERE account_id=? AND is_admin=1 ORDER BY id LIMIT 1",
                     (account_id,)).fetchone()
    return row[0] if row else None


def _issue(db, account_id: int, kind: str, lifetime: int | None, *, issued_at: int, client_id: str | None = None,
           user_id: int | None = None) -> str:
    jti = secrets.token_hex(20)
    expires = issued_at + lifetime if lifetime else None
    if kind == "refresh":
        token = "def50200" + secrets.token_hex(160)   # refresh tokens are opaque strings on the real platform
    else:
        token = _jwt({"aud": client_id or "long_lived", "jti": jti, "iat": issued_at, "nbf": issued_at,
                      "exp": expires, "sub": str(user_id or ""), "account_id": account_id,
                      "scopes": ["crm", "files", "files_delete", "notifications", "push_notifications"]})
    db.execute("INSERT INTO tokens (token, account_id, kind, client_id, user_id, expires_at, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?)", (token, account_id, kind, client_id, user_id, expires, issued_at))
    return token


def issue_long_lived_token(store: Store, account_id: int, *, lifetime: int = LONG_LIVED_DEFAULT_LIFETIME,
                           issued_at: int | None = None) -> str:
    """A long-lived token of a private integration (no refresh token), acting as the account's admin."""
    with store.transaction() as db:
        return _issue(db, account_id, "long_lived", lifetime, issued_at=issued_at or now(),
                      client_id=None, user_id=_admin_id(db, account_id))


def register_oauth_client(store: Store, account_id: int, redirect_uri: str = "https://example.com/oauth") -> dict:
    """An integration installed in the account: returns {client_id, client_secret, redirect_uri}."""
    client = {"client_id": str(uuid.uuid4()), "client_secret": secrets.token_urlsafe(48), "redirect_uri": redirect_uri}
    with store.transaction() as db:
        db.execute("INSERT INTO oauth_clients (account_id, client_id, client_secret, redirect_uri) VALUES (?, ?, ?, ?)",
                   (account_id, client["client_id"], client["client_secret"], redirect_uri))
    return client


def issue_auth_code(store: Store, account_id: int, client_id: str, *, issued_at: int | None = None) -> str:
    """What the consent screen would redirect with: a code valid 20 minutes, for one exchange."""
    code = "def50200" + secrets.token_hex(120)
    with store.transaction() as db:
        db.execute("INSERT INTO auth_codes (code, account_id, client_id, user_id, expires_at) VALUES (?, ?, ?, ?, ?)",
                   (code, account_id, client_id, _admin_id(db, account_id), (issued_at or now()) + AUTH_CODE_LIFETIME))
    return code


def exchange_token(store: Store, account_id: int, form: dict[str, Any], *, at: int) -> dict[str, Any]:
    """POST /oauth2/access_token: both grants; a refresh token works once (rotation)."""
    for key in ("client_id", "client_secret", "grant_type", "redirect_uri"):
        if not form.get(key):
            raise exc.OAuthError(400, f"The request is missing a required parameter: {key}",
                                 f"Check the `{key}` parameter")
    with store.transaction() as db:
        client = db.execute("SELECT * FROM oauth_clients WHERE client_id=? AND account_id=?",
                            (str(form["client_id"]), account_id)).fetchone()
        if client is None or not secrets.compare_digest(client["client_secret"], str(form["client_secret"])):
            raise exc.OAuthError(401, "Client authentication failed", "Check client_id and client_secret")
        if client["redirect_uri"] != form["redirect_uri"]:
            raise exc.OAuthError(400, "The redirect_uri does not match the registered one", "Check redirect_uri")
        grant = form["grant_type"]
        if grant == "authorization_code":
            row = db.execute("SELECT * FROM auth_codes WHERE code=? AND account_id=? AND client_id=?",
                             (str(form.get("code") or ""), account_id, client["client_id"])).fetchone()
            if row is None or row["used"] or row["expires_at"] < at:
                raise exc.OAuthError(400, "Authorization code has expired or was already used",
                                     "Authorization code has been revoked")
            db.execute("UPDATE auth_codes SET used=1 WHERE code=?", (row["code"],))
            user_id = row["user_id"]
        elif grant == "refresh_token":
            row = db.execute("SELECT * FROM tokens WHERE token=? AND account_id=? AND kind='refresh' AND client_id=?",
                             (str(form.get("refresh_token") or ""), account_id, client["client_id"])).fetchone()
            if row is None or row["revoked"] or (row["expires_at"] is not None and row["expires_at"] < at):
                raise exc.OAuthError(400, "The refresh token is invalid.", "Token has been revoked")
            db.execute("UPDATE tokens SET revoked=1 WHERE token=?", (row["token"],))
            user_id = row["user_id"]
        else:
            raise exc.OAuthError(400, "The authorization grant type is not supported by the authorization server.",
                                 "Check the `grant_type` parameter")
        access = _issue(db, account_id, "access", ACCESS_TOKEN_LIFETIME, issued_at=at,
                        client_id=client["client_id"], user_id=user_id)
        refresh = _issue(db, account_id, "refresh", REFRESH_TOKEN_LIFETIME, issued_at=at,
                         client_id=client["client_id"], user_id=user_id)
    return {"token_type": "Bearer", "expires_in": ACCESS_TOKEN_LIFETIME, "server_time": at,
            "access_token": access, "refresh_token": refresh}


def authenticate(store: Store, account_id: int, authorization: str | None, *, at: int) -> dict[str, Any]:
    """The token row behind an `Authorization: Bearer` header for this account, or 401."""
    if not authorization or not authorization.startswith("Bearer "):
        raise exc.Unauthorized()
    token = authorization[len("Bearer "):].strip()
    rows = store.query("SELECT * FROM tokens WHERE token=? AND kind IN ('access', 'long_lived')", (token,))
    if not rows:
        raise exc.Unauthorized()
    row = dict(rows[0])
    if row["account_id"] != account_id or row["revoked"] or (row["expires_at"] is not None and row["expires_at"] <= at):
        raise exc.Unauthorized()
    return row


def expire_tokens(store: Store, account_id: int, *, at: int) -> int:
    """Make every live access/long-lived token of the account expire now (fault `expire_token_after`)."""
    with store.transaction() as db:
        return db.execute("UPDATE tokens SET expires_at=? WHERE account_id=? AND kind IN ('access', 'long_lived') "
                          "AND revoked=0 AND (expires_at IS NULL OR expires_at>?)", (at, account_id, at)).rowcount


def token_fingerprint(token: str) -> str:
    """What a log may show of a token: a short hash, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


# --- the backend of one account ----------------------------------------------------------

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
            body["entity_names"] = s.get("entity_names", {"leads": {"ru": {"gender": "f", "plural_form": {
                "default": "сделки"}, "singular_form": {"default": "сделка"}}}})
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


# --- pipelines and statuses ------------------------------------------------------------------

class PipelinesMixin(AccountBase):
    def _pipeline_row(self, pipeline_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM pipelines WHERE account_id=? AND id=?", (self.account_id, pipeline_id))
        if not rows:
            raise exc.NotFound("Pipeline not found")
        return rows[0]

    def status_model(self, row: dict[str, Any], *, descriptions: bool = False) -> dict[str, Any]:
        model = {"id": row["id"], "name": row["name"], "sort": row["sort"], "is_editable": bool(row["is_editable"]),
                 "pipeline_id": row["pipeline_id"], "color": row["color"], "type": row["type"],
                 "account_id": self.account_id,
                 "_links": self.links(f"leads/pipelines/{row['pipeline_id']}/statuses/{row['id']}")}
        if descriptions:
            model["descriptions"] = _loads(row["descriptions"], [])
        return model

    def _statuses(self, pipeline_id: int) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM statuses WHERE account_id=? AND pipeline_id=? ORDER BY sort, id",
                         (self.account_id, pipeline_id))

    def pipeline_model(self, row: dict[str, Any], *, descriptions: bool = False) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "sort": row["sort"], "is_main": bool(row["is_main"]),
                "is_unsorted_on": bool(row["is_unsorted_on"]), "is_archive": bool(row["is_archive"]),
                "account_id": self.account_id, "_links": self.links(f"leads/pipelines/{row['id']}"),
                "_embedded": {"statuses": [self.status_model(s, descriptions=descriptions)
                                           for s in self._statuses(row["id"])]}}

    def list_pipelines(self) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM pipelines WHERE account_id=? ORDER BY sort, id", (self.account_id,))
        return [self.pipeline_model(r) for r in rows]

    def get_pipeline(self, pipeline_id: int) -> dict[str, Any]:
        return self.pipeline_model(self._pipeline_row(pipeline_id))

    def _check_colour(self, errors: Errors, rid: str, path: str, colour: Any) -> None:
        if colour is not None and (not isinstance(colour, str) or colour.lower() not in STATUS_COLOURS):
            errors.add(rid, path, "NotSupportedChoice", "The value you selected is not a valid choice.")

    def _check_status_items(self, errors: Errors, rid: str, statuses: list, prefix: str | None) -> None:
        """Validate status items; paths are `{prefix}{i}.key` inside a pipeline, plain `key` for a batch item."""
        for i, status in enumerate(statuses):
            path = f"{prefix}{i}." if prefix is not None else ""
            if not isinstance(status, dict):
                errors.add(rid, path.rstrip("."), "InvalidType", "This value should be of type array.")
                continue
            if status.get("id") in (WON_STATUS_ID, LOST_STATUS_ID):
                _check_type(errors, rid, status, "name", str, required=True)
                continue
            for key, kind in (("name", str), ("sort", int)):
                local = Errors()
                _check_type(local, rid, status, key, kind, required=True)
                for error in local.items.get(rid, []):
                    errors.add(rid, path + error["path"], error["code"], error["detail"])
            self._check_colour(errors, rid, f"{path}color", status.get("color"))
            self._check_descriptions(errors, rid, f"{path}descriptions", status.get("descriptions"))

    def _check_descriptions(self, errors: Errors, rid: str, path: str, descriptions: Any) -> None:
        if descriptions is None:
            return
        if not isinstance(descriptions, list) or len(descriptions) > MAX_STATUS_DESCRIPTIONS:
            errors.add(rid, path, "InvalidType", f"At most {MAX_STATUS_DESCRIPTIONS} descriptions, one per level.")
            return
        for j, d in enumerate(descriptions):
            if not isinstance(d, dict) or d.get("level") not in ("newbie", "candidate", "master") or \
                    len(str(d.get("description", ""))) > 1000:
                errors.add(rid, f"{path}.{j}", "NotSupportedChoice", "The value you selected is not a valid choice.")

    def add_pipelines(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            _check_type(errors, rid, item, "name", str, required=True)
            _check_type(errors, rid, item, "sort", int, required=True)
            _check_type(errors, rid, item, "is_main", bool, required=True)
            _check_type(errors, rid, item, "is_unsorted_on", bool, required=True)
            statuses = (item.get("_embedded") or {}).get("statuses") or []
            if not isinstance(statuses, list):
                errors.add(rid, "_embedded.statuses", "InvalidType", "This value should be of type array.")
                continue
            self._check_status_items(errors, rid, statuses, "_embedded.statuses.")
            if len([s for s in statuses if isinstance(s, dict) and s.get("id") not in (142, 143)]) + 3 > MAX_STATUSES:
                errors.add(rid, "_embedded.statuses", "TooMany", f"At most {MAX_STATUSES} statuses per pipeline.")
        errors.raise_if_any()
        count = self.store.query("SELECT count(*) FROM pipelines WHERE account_id=?", (self.account_id,))[0][0]
        if count + len(items) > MAX_PIPELINES:
            raise exc.Unprocessable(f"Limit {MAX_PIPELINES} pipelines per account")
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                statuses = (item.get("_embedded") or {}).get("statuses") or []
                names = {s["id"]: s["name"] for s in statuses if s.get("id") in (WON_STATUS_ID, LOST_STATUS_ID)}
                if item["is_main"]:
                    db.execute("UPDATE pipelines SET is_main=0 WHERE account_id=?", (self.account_id,))
                pipeline_id = create_pipeline_rows(
                    db, self.account_id, item["name"], sort=item["sort"], is_main=item["is_main"],
                    is_unsorted_on=item["is_unsorted_on"],
                    statuses=[s for s in statuses if s.get("id") not in (WON_STATUS_ID, LOST_STATUS_ID)],
                    won_name=names.get(WON_STATUS_ID), lost_name=names.get(LOST_STATUS_ID))
                for s in statuses:
                    if s.get("descriptions") and s.get("id") not in (WON_STATUS_ID, LOST_STATUS_ID):
                        self._write_descriptions(db, pipeline_id, s["name"], s["descriptions"])
                created.append((rid, pipeline_id))
        return [{**self.get_pipeline(pid), "request_id": rid} for rid, pid in created]

    def _write_descriptions(self, db, pipeline_id: int, status_name: str, descriptions: list) -> None:
        row = db.execute("SELECT id FROM statuses WHERE account_id=? AND pipeline_id=? AND name=? ORDER BY id DESC",
                         (self.account_id, pipeline_id, status_name)).fetchone()
        self._set_descriptions(db, pipeline_id, row[0], descriptions)

    def _set_descriptions(self, db, pipeline_id: int, status_id: int, changes: list) -> None:
        """id+level+description edits; id+level without description deletes; no id creates."""
        current = _loads(db.execute("SELECT descriptions FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?",
                                    (self.account_id, pipeline_id, status_id)).fetchone()[0], [])
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.at))
        for change in changes:
            existing = next((d for d in current if d["id"] == change.get("id")), None)
            if existing is None and "description" not in change:
                continue
            if existing is not None and "description" not in change:
                current.remove(existing)
            elif existing is not None:
                existing.update(level=change["level"], description=change["description"], updated_at=stamp,
                                updated_by=self.user_id)
            else:
                current = [d for d in current if d["level"] != change["level"]]
                current.append({"id": allocate_enum_id(db), "account_id": self.account_id, "created_at": stamp,
                                "updated_at": stamp, "created_by": self.user_id, "updated_by": self.user_id,
                                "pipeline_id": pipeline_id, "status_id": status_id, "level": change["level"],
                                "description": change.get("description", "")})
        db.execute("UPDATE statuses SET descriptions=? WHERE account_id=? AND pipeline_id=? AND id=?",
                   (json.dumps(current, ensure_ascii=False), self.account_id, pipeline_id, status_id))

    def update_pipeline(self, pipeline_id: int, body: Any) -> dict[str, Any]:
        self._pipeline_row(pipeline_id)
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        changes = {}
        for key, kind in (("name", str), ("sort", int), ("is_main", bool), ("is_unsorted_on", bool)):
            if key in body and _check_type(errors, "0", body, key, kind, required=kind is str):
                changes[key] = body[key]
        if not changes and not errors.items:
            errors.add("0", "", "NotBlank", "At least one of name, sort, is_main, is_unsorted_on is required.")
        errors.raise_if_any()
        with self.store.transaction() as db:
            if changes.get("is_main"):
                db.execute("UPDATE pipelines SET is_main=0 WHERE account_id=?", (self.account_id,))
            elif changes.get("is_main") is False and self._pipeline_row(pipeline_id)["is_main"]:
                changes.pop("is_main")   # there is always exactly one main pipeline
            sets = ", ".join(f"{k}=?" for k in changes)
            if sets:
                db.execute(f"UPDATE pipelines SET {sets} WHERE account_id=? AND id=?",
                           [int(v) if isinstance(v, bool) else v for v in changes.values()]
                           + [self.account_id, pipeline_id])
        return self.get_pipeline(pipeline_id)

    def delete_pipeline(self, pipeline_id: int) -> None:
        row = self._pipeline_row(pipeline_id)
        count = self.store.query("SELECT count(*) FROM pipelines WHERE account_id=?", (self.account_id,))[0][0]
        if count <= 1:
            raise exc.BadRequest("The last pipeline can not be deleted")
        if row["is_main"]:
            raise exc.BadRequest("The main pipeline can not be deleted")
        if self.store.query("SELECT 1 FROM leads WHERE account_id=? AND pipeline_id=? AND is_deleted=0 LIMIT 1",
                            (self.account_id, pipeline_id)):
            raise exc.BadRequest("A pipeline with leads can not be deleted")
        with self.store.transaction() as db:
            db.execute("DELETE FROM statuses WHERE account_id=? AND pipeline_id=?", (self.account_id, pipeline_id))
            db.execute("DELETE FROM pipelines WHERE account_id=? AND id=?", (self.account_id, pipeline_id))

    def list_statuses(self, pipeline_id: int, *, descriptions: bool) -> list[dict[str, Any]]:
        self._pipeline_row(pipeline_id)
        return [self.status_model(s, descriptions=descriptions) for s in self._statuses(pipeline_id)]

    def _status_row(self, pipeline_id: int, status_id: int) -> dict[str, Any]:
        self._pipeline_row(pipeline_id)
        rows = self.rows("SELECT * FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?",
                         (self.account_id, pipeline_id, status_id))
        if not rows:
            raise exc.NotFound("Status not found")
        return rows[0]

    def get_status(self, pipeline_id: int, status_id: int, *, descriptions: bool = True) -> dict[str, Any]:
        return self.status_model(self._status_row(pipeline_id, status_id), descriptions=descriptions)

    def add_statuses(self, pipeline_id: int, body: Any) -> list[dict[str, Any]]:
        self._pipeline_row(pipeline_id)
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            self._check_status_items(errors, rid, [item], None)
            if item.get("id") in (WON_STATUS_ID, LOST_STATUS_ID):
                errors.add(rid, "id", "NotSupportedChoice", "System statuses can not be created.")
        errors.raise_if_any()
        if len(self._statuses(pipeline_id)) + len(items) > MAX_STATUSES:
            raise exc.Unprocessable(f"Limit {MAX_STATUSES} statuses per pipeline")
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                status_id = allocate_status_id(db)
                db.execute("INSERT INTO statuses (account_id, pipeline_id, id, name, sort, is_editable, color, type) "
                           "VALUES (?, ?, ?, ?, ?, 1, ?, 0)", (self.account_id, pipeline_id, status_id, item["name"],
                                                              item["sort"], item.get("color") or STATUS_COLOURS[0]))
                if item.get("descriptions"):
                    self._set_descriptions(db, pipeline_id, status_id, item["descriptions"])
                created.append((rid, status_id))
        return [{**self.get_status(pipeline_id, sid), "request_id": rid} for rid, sid in created]

    def update_status(self, pipeline_id: int, status_id: int, body: Any) -> dict[str, Any]:
        row = self._status_row(pipeline_id, status_id)
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        if not row["is_editable"] and any(k in body for k in ("sort", "color")):
            errors.add("0", "sort" if "sort" in body else "color", "NotEditable", "System statuses can only be renamed.")
        if row["type"] == UNSORTED_TYPE and "name" in body:
            errors.add("0", "name", "NotEditable", "The unsorted status can not be renamed.")
        for key, kind in (("name", str), ("sort", int)):
            if key in body:
                _check_type(errors, "0", body, key, kind, required=True)
        self._check_colour(errors, "0", "color", body.get("color"))
        self._check_descriptions(errors, "0", "descriptions", body.get("descriptions"))
        errors.raise_if_any()
        with self.store.transaction() as db:
            for key in ("name", "sort", "color"):
                if key in body:
                    db.execute(f"UPDATE statuses SET {key}=? WHERE account_id=? AND pipeline_id=? AND id=?",
                               (body[key], self.account_id, pipeline_id, status_id))
            if body.get("descriptions"):
                self._set_descriptions(db, pipeline_id, status_id, body["descriptions"])
        return self.get_status(pipeline_id, status_id)

    def delete_status(self, pipeline_id: int, status_id: int) -> int:
        """Delete an ordinary status; its leads move to the pipeline's first stage. Returns leads moved."""
        row = self._status_row(pipeline_id, status_id)
        if not row["is_editable"]:
            raise exc.BadRequest("System statuses can not be deleted")
        first = next(s for s in self._statuses(pipeline_id) if s["is_editable"] and s["id"] != status_id) \
            if len([s for s in self._statuses(pipeline_id) if s["is_editable"]]) > 1 else None
        if first is None:
            raise exc.BadRequest("The last status of a pipeline can not be deleted")
        with self.store.transaction() as db:
            moved = db.execute("UPDATE leads SET status_id=?, updated_at=? WHERE account_id=? AND pipeline_id=? "
                               "AND status_id=?", (first["id"], self.at, self.account_id, pipeline_id,
                                                   status_id)).rowcount
            db.execute("DELETE FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?",
                       (self.account_id, pipeline_id, status_id))
        return moved


# --- custom fields and field groups ------------------------------------------------------------

class FieldsMixin(AccountBase):
    def field_model(self, row: dict[str, Any]) -> dict[str, Any]:
        entity = row["entity_type"]
        settings = _loads(row["settings"], {})
        model = {"id": row["id"], "name": row["name"], "type": row["type"], "account_id": self.account_id,
                 "code": row["code"], "sort": row["sort"], "is_api_only": bool(row["is_api_only"]),
                 "enums": _loads(row["enums"]), "group_id": row["group_id"],
                 "required_statuses": _loads(row["required_statuses"], []),
                 "is_deletable": bool(row["is_deletable"]), "is_predefined": bool(row["is_predefined"]),
                 "entity_type": entity, "remind": settings.get("remind"), "triggers": [],
                 "currency": settings.get("currency"), "hidden_statuses": settings.get("hidden_statuses", []),
                 "chained_lists": settings.get("chained_lists"), "settings": settings.get("settings")}
        if entity == "leads":
            model["is_computed"] = bool(settings.get("is_computed", False))
        model["_links"] = self.links(f"{entity}/custom_fields/{row['id']}")
        return model

    def _field_rows(self, entity: str, types: list[str] | None = None, order: dict | None = None) -> list[dict]:
        where, params = ["account_id=?", "entity_type=?"], [self.account_id, entity]
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        order_sql = "sort, id"
        if isinstance(order, dict):
            for key, direction in order.items():
                if key in ("sort", "id") and str(direction).lower() in ("asc", "desc"):
                    order_sql = f"{key} {direction}, id"
        return self.rows(f"SELECT * FROM custom_fields WHERE {' AND '.join(where)} ORDER BY {order_sql}", params)

    def count_fields(self, entity: str, types: list[str] | None) -> int:
        return len(self._field_rows(entity, types))

    def list_fields(self, entity: str, types: list[str] | None, order: dict | None, offset: int,
                    count: int) -> list[dict[str, Any]]:
        return [self.field_model(r) for r in self._field_rows(entity, types, order)[offset:offset + count]]

    def _field_row(self, entity: str, field_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM custom_fields WHERE account_id=? AND entity_type=? AND id=?",
                         (self.account_id, entity, field_id))
        if not rows:
            raise exc.NotFound("Custom field not found")
        return rows[0]

    def get_field(self, entity: str, field_id: int) -> dict[str, Any]:
        return self.field_model(self._field_row(entity, field_id))

    def _check_field(self, errors: Errors, rid: str, entity: str, item: dict, *, creating: bool,
                     field_type: str | None = None) -> None:
        if creating:
            if _check_type(errors, rid, item, "type", str, required=True) and item["type"] not in FIELD_TYPES[entity]:
                errors.add(rid, "type", "NotSupportedChoice", "The value you selected is not a valid choice.")
            field_type = item.get("type")
        elif "type" in item and item["type"] != field_type:
            errors.add(rid, "type", "NotEditable", "The type of a field can not be changed.")
        _check_type(errors, rid, item, "name", str, required=creating)
        for key in ("sort",):
            _check_type(errors, rid, item, key, int)
        for key in ("code",):
            _check_type(errors, rid, item, key, str, nullable=True)
        _check_type(errors, rid, item, "is_api_only", bool)
        if "group_id" in item and item["group_id"] is not None:
            if not self.rows("SELECT 1 FROM custom_field_groups WHERE account_id=? AND entity_type=? AND id=?",
                             (self.account_id, entity, str(item["group_id"]))):
                errors.add(rid, "group_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        if field_type in ENUM_FIELD_TYPES and field_type not in ("multitext", "smart_address"):
            if creating and not item.get("enums"):
                errors.add(rid, "enums", "NotBlank", "This value should not be blank.")
        if "enums" in item and item["enums"] is not None:
            if field_type not in ENUM_FIELD_TYPES:
                errors.add(rid, "enums", "NotSupportedChoice", "This field type has no enums.")
            elif not isinstance(item["enums"], list):
                errors.add(rid, "enums", "InvalidType", "This value should be of type array.")
            else:
                for i, enum in enumerate(item["enums"]):
                    if not isinstance(enum, dict) or not isinstance(enum.get("value"), str) or not enum["value"].strip():
                        errors.add(rid, f"enums.{i}.value", "NotBlank", "This value should not be blank.")
        if "required_statuses" in item and item["required_statuses"] is not None:
            if entity != "leads" and item["required_statuses"]:
                errors.add(rid, "required_statuses", "NotSupportedChoice", "Only lead fields have required statuses.")
            elif not isinstance(item["required_statuses"], list):
                errors.add(rid, "required_statuses", "InvalidType", "This value should be of type array.")
            else:
                for i, rs in enumerate(item["required_statuses"]):
                    if not isinstance(rs, dict) or not self.rows(
                            "SELECT 1 FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?",
                            (self.account_id, rs.get("pipeline_id"), rs.get("status_id"))):
                        errors.add(rid, f"required_statuses.{i}", "NotSupportedChoice",
                                   "The value you selected is not a valid choice.")
        if "remind" in item and item["remind"] not in (None, "never", "day", "week", "month"):
            errors.add(rid, "remind", "NotSupportedChoice", "The value you selected is not a valid choice.")

    def _merge_enums(self, db, current: list | None, new: list) -> list:
        """Options with a known id are kept (and edited); without an id, added; omitted ones are deleted."""
        by_id = {e["id"]: e for e in current or []}
        merged = []
        for i, enum in enumerate(new):
            kept = by_id.get(enum.get("id"))
            option = {"id": kept["id"] if kept else allocate_enum_id(db), "value": enum["value"],
                      "sort": enum.get("sort", (kept or {}).get("sort", (i + 1) * 10))}
            if enum.get("code") or (kept or {}).get("code"):
                option["code"] = enum.get("code") or kept.get("code")
            merged.append(option)
        return merged

    def add_fields(self, entity: str, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            self._check_field(errors, rid, entity, item, creating=True)
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                enums = self._merge_enums(db, None, item["enums"]) if item.get("enums") else None
                settings = {k: item[k] for k in ("remind", "currency", "hidden_statuses", "chained_lists")
                            if k in item}
                sort = item.get("sort")
                if sort is None:
                    sort = (db.execute("SELECT max(sort) FROM custom_fields WHERE account_id=? AND entity_type=?",
                                       (self.account_id, entity)).fetchone()[0] or 0) + 1
                field_id = db.execute(
                    "INSERT INTO custom_fields (account_id, entity_type, name, code, sort, type, group_id, "
                    "is_api_only, required_statuses, enums, settings) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (self.account_id, entity, item["name"], item.get("code"), sort, item["type"],
                     None if item.get("group_id") is None else str(item["group_id"]),
                     int(bool(item.get("is_api_only"))), json.dumps(item.get("required_statuses") or []),
                     json.dumps(enums, ensure_ascii=False) if enums else None, json.dumps(settings))).lastrowid
                created.append((rid, field_id))
        return [{**self.get_field(entity, fid), "request_id": rid} for rid, fid in created]

    def update_fields(self, entity: str, body: Any, field_id: int | None = None) -> list[dict[str, Any]]:
        if field_id is not None:
            if not isinstance(body, dict) or not body:
                raise exc.EmptyBody()
            body = [{**body, "id": field_id}]
        items = batch(body)
        errors = Errors()
        rows = {}
        for rid, item in items:
            if not _is_int(item.get("id")):
                errors.add(rid, "id", "NotBlank", "This value should not be blank.")
                continue
            found = self.rows("SELECT * FROM custom_fields WHERE account_id=? AND entity_type=? AND id=?",
                              (self.account_id, entity, item["id"]))
            if not found:
                if field_id is not None:
                    raise exc.NotFound("Custom field not found")
                errors.add(rid, "id", "NotFound", "Custom field not found.")
                continue
            rows[rid] = found[0]
            if found[0]["is_predefined"] and any(k in item for k in ("name", "enums", "code")):
                errors.add(rid, "name", "NotEditable", "Predefined fields can not be edited.")
            self._check_field(errors, rid, entity, item, creating=False, field_type=found[0]["type"])
        errors.raise_if_any()
        with self.store.transaction() as db:
            for rid, item in items:
                row = rows[rid]
                changes: dict[str, Any] = {}
                for key in ("name", "code", "sort"):
                    if key in item:
                        changes[key] = item[key]
                if "group_id" in item:
                    changes["group_id"] = None if item["group_id"] is None else str(item["group_id"])
                if "is_api_only" in item:
                    changes["is_api_only"] = int(bool(item["is_api_only"]))
                if "required_statuses" in item:
                    changes["required_statuses"] = json.dumps(item["required_statuses"] or [])
                if item.get("enums") is not None:
                    changes["enums"] = json.dumps(self._merge_enums(db, _loads(row["enums"]), item["enums"]),
                                                  ensure_ascii=False)
                settings = _loads(row["settings"], {})
                settings.update({k: item[k] for k in ("remind", "currency", "hidden_statuses", "chained_lists")
                                 if k in item})
                changes["settings"] = json.dumps(settings)
                db.execute(f"UPDATE custom_fields SET {', '.join(f'{k}=?' for k in changes)} "
                           "WHERE account_id=? AND id=?", [*changes.values(), self.account_id, row["id"]])
        return [{**self.get_field(entity, rows[rid]["id"]), "request_id": rid} for rid, _ in items]

    def delete_field(self, entity: str, field_id: int) -> int:
        """Delete a field and its values on every record; returns the records touched."""
        row = self._field_row(entity, field_id)
        if not row["is_deletable"] or row["is_predefined"]:
            raise exc.BadRequest("Predefined fields can not be deleted")
        touched = 0
        with self.store.transaction() as db:
            for record in db.execute(f"SELECT id, custom_fields_values FROM {entity} WHERE account_id=? AND "
                                     "custom_fields_values LIKE ?", (self.account_id, f'%{field_id}%')).fetchall():
                before = _loads(record[1], []) or []
                values = [v for v in before if v.get("field_id") != field_id]
                if len(values) != len(before):
                    db.execute(f"UPDATE {entity} SET custom_fields_values=? WHERE id=?",
                               (json.dumps(values, ensure_ascii=False) if values else None, record[0]))
                    touched += 1
            db.execute("DELETE FROM custom_fields WHERE account_id=? AND id=?", (self.account_id, field_id))
        return touched

    # groups
    def group_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "is_predefined": bool(row["is_predefined"]), "type": row["type"],
                "entity_type": row["entity_type"], "sort": row["sort"],
                "_links": self.links(f"{row['entity_type']}/custom_fields/groups/{row['id']}")}

    def list_groups(self, entity: str) -> list[dict[str, Any]]:
        return [self.group_model(r) for r in self.rows(
            "SELECT * FROM custom_field_groups WHERE account_id=? AND entity_type=? ORDER BY sort, id",
            (self.account_id, entity))]

    def _group_row(self, entity: str, group_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM custom_field_groups WHERE account_id=? AND entity_type=? AND id=?",
                         (self.account_id, entity, group_id))
        if not rows:
            raise exc.NotFound("Custom fields group not found")
        return rows[0]

    def get_group(self, entity: str, group_id: str) -> dict[str, Any]:
        return self.group_model(self._group_row(entity, group_id))

    def add_groups(self, entity: str, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            _check_type(errors, rid, item, "name", str, required=True)
            _check_type(errors, rid, item, "sort", int, required=True)
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                group_id = f"{entity}_{allocate_enum_id(db)}{secrets.randbelow(10**6):06d}"
                db.execute("INSERT INTO custom_field_groups (account_id, entity_type, id, name, sort) "
                           "VALUES (?, ?, ?, ?, ?)", (self.account_id, entity, group_id, item["name"], item["sort"]))
                created.append((rid, group_id))
        return [{**self.get_group(entity, gid), "request_id": rid} for rid, gid in created]

    def update_group(self, entity: str, group_id: str, body: Any) -> dict[str, Any]:
        row = self._group_row(entity, group_id)
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        for key, kind in (("name", str), ("sort", int), ("fields", list)):
            if key in body:
                _check_type(errors, "0", body, key, kind, required=key == "name")
        if row["is_predefined"] and "name" in body:
            errors.add("0", "name", "NotEditable", "Predefined groups can not be renamed.")
        fields = body.get("fields") or []
        for i, fid in enumerate(fields):
            if not _is_int(fid) or not self.rows("SELECT 1 FROM custom_fields WHERE account_id=? AND entity_type=? "
                                                 "AND id=?", (self.account_id, entity, fid)):
                errors.add("0", f"fields.{i}", "NotSupportedChoice", "The value you selected is not a valid choice.")
        errors.raise_if_any()
        with self.store.transaction() as db:
            for key in ("name", "sort"):
                if key in body:
                    db.execute(f"UPDATE custom_field_groups SET {key}=? WHERE account_id=? AND entity_type=? AND id=?",
                               (body[key], self.account_id, entity, group_id))
            for fid in fields:
                db.execute("UPDATE custom_fields SET group_id=? WHERE account_id=? AND id=?",
                           (group_id, self.account_id, fid))
        members = self.rows("SELECT id FROM custom_fields WHERE account_id=? AND entity_type=? AND group_id=? "
                            "ORDER BY sort, id", (self.account_id, entity, group_id))
        return {**self.get_group(entity, group_id), "fields": [m["id"] for m in members]}

    def delete_group(self, entity: str, group_id: str) -> None:
        row = self._group_row(entity, group_id)
        if row["is_predefined"]:
            raise exc.BadRequest("Predefined groups can not be deleted")
        with self.store.transaction() as db:
            db.execute("UPDATE custom_fields SET group_id=NULL WHERE account_id=? AND entity_type=? AND group_id=?",
                       (self.account_id, entity, group_id))
            db.execute("DELETE FROM custom_field_groups WHERE account_id=? AND entity_type=? AND id=?",
                       (self.account_id, entity, group_id))


# --- users, roles, loss reasons, sources, tags, webhooks -----------------------------------------

ENTITY_RIGHT_KEYS = ("view", "edit", "add", "delete", "export")
PASSWORD_RULE = "At least 6 characters with a digit, a lower-case and an upper-case letter."


def _check_rights(errors: Errors, rid: str, rights: Any, path: str = "rights") -> None:
    """Rights values are A/G/M/D; `add` and stage rights take only A or D."""
    if rights is None:
        return
    if not isinstance(rights, dict):
        errors.add(rid, path, "InvalidType", "This value should be of type array.")
        return
    for entity in ("leads", "contacts", "companies"):
        for key, value in (rights.get(entity) or {}).items():
            allowed = {"A", "D"} if key == "add" else RIGHT_VALUES
            if key not in ENTITY_RIGHT_KEYS or value not in allowed:
                errors.add(rid, f"{path}.{entity}.{key}", "NotSupportedChoice",
                           "The value you selected is not a valid choice.")
    for key, value in (rights.get("tasks") or {}).items():
        if key not in ("edit", "delete") or value not in RIGHT_VALUES:
            errors.add(rid, f"{path}.tasks.{key}", "NotSupportedChoice", "The value you selected is not a valid choice.")
    for i, sr in enumerate(rights.get("status_rights") or []):
        if not isinstance(sr, dict) or any(v not in ("A", "D") for v in (sr.get("rights") or {}).values()):
            errors.add(rid, f"{path}.status_rights.{i}", "NotSupportedChoice",
                       "The value you selected is not a valid choice.")


def _full_rights(rights: dict | None) -> dict[str, Any]:
    rights = dict(rights or {})
    for entity in ("leads", "contacts", "companies"):
        rights[entity] = {**{k: "D" for k in ENTITY_RIGHT_KEYS}, **(rights.get(entity) or {})}
    rights["tasks"] = {**{"edit": "D", "delete": "D"}, **(rights.get("tasks") or {})}
    rights.setdefault("mail_access", False)
    rights.setdefault("catalog_access", False)
    rights.setdefault("status_rights", None)
    return rights


class PeopleMixin(AccountBase):
    def user_model(self, row: dict[str, Any], with_: set[str] = frozenset()) -> dict[str, Any]:
        rights = _full_rights(_loads(row["rights"], {}))
        rights.update(is_admin=bool(row["is_admin"]), is_free=bool(row["is_free"]), is_active=bool(row["is_active"]),
                      group_id=row["group_id"], role_id=row["role_id"])
        model = {"id": row["id"], "name": row["name"], "email": row["email"], "lang": row["lang"], "rights": rights,
                 "_links": self.links(f"users/{row['id']}")}
        embedded = {}
        if "role" in with_:
            roles = self.rows("SELECT id, name FROM roles WHERE account_id=? AND id=?", (self.account_id, row["role_id"]))
            embedded["roles"] = [{"id": r["id"], "name": r["name"], "_links": self.links(f"roles/{r['id']}")}
                                 for r in roles]
        if "group" in with_:
            groups = self.rows("SELECT id, name FROM user_groups WHERE account_id=? AND id=?",
                               (self.account_id, row["group_id"]))
            embedded["groups"] = [{"id": g["id"], "name": g["name"]} for g in groups]
        if "uuid" in with_:
            model["uuid"] = str(uuid.UUID(int=row["id"]))
        if "amojo_id" in with_:
            model["amojo_id"] = str(uuid.UUID(int=row["id"] + 2**64))
        if embedded:
            model["_embedded"] = embedded
        return model

    def count_users(self) -> int:
        return self.store.query("SELECT count(*) FROM users WHERE account_id=?", (self.account_id,))[0][0]

    def list_users(self, with_: set[str], offset: int, count: int) -> list[dict[str, Any]]:
        rows = self.rows("SELECT * FROM users WHERE account_id=? ORDER BY id LIMIT ? OFFSET ?",
                         (self.account_id, count, offset))
        return [self.user_model(r, with_) for r in rows]

    def get_user(self, user_id: int, with_: set[str] = frozenset()) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM users WHERE account_id=? AND id=?", (self.account_id, user_id))
        if not rows:
            raise exc.NotFound("User not found")
        return self.user_model(rows[0], with_)

    def user_exists(self, user_id: Any) -> bool:
        return _is_int(user_id) and bool(self.store.query("SELECT 1 FROM users WHERE account_id=? AND id=?",
                                                          (self.account_id, user_id)))

    def add_users(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body, limit=MAX_USERS_PER_POST)
        if self.count_users() > MAX_USERS_FOR_POST:
            raise exc.Forbidden(f"Adding users via API is unavailable for accounts with more than "
                                f"{MAX_USERS_FOR_POST} users")
        errors = Errors()
        emails = {r["email"].lower() for r in self.rows("SELECT email FROM users WHERE account_id=?",
                                                        (self.account_id,))}
        for rid, item in items:
            if _check_type(errors, rid, item, "name", str, required=True):
                name = item["name"]
                if len(name) > 50 or any(not (c.isalnum() or c in " .@-_") for c in name):
                    errors.add(rid, "name", "InvalidValue", "At most 50 characters; only . @ - _ as specials.")
            if _check_type(errors, rid, item, "email", str, required=True):
                if "@" not in item["email"]:
                    errors.add(rid, "email", "InvalidEmail", "This value is not a valid email address.")
                elif item["email"].lower() in emails:
                    errors.add(rid, "email", "NotUnique", "A user with this email already exists.")
            if _check_type(errors, rid, item, "password", str, required=True):
                p = item["password"]
                if len(p) < 6 or not any(c.isdigit() for c in p) or not any(c.islower() for c in p) \
                        or not any(c.isupper() for c in p):
                    errors.add(rid, "password", "InvalidPassword", PASSWORD_RULE)
            if item.get("lang", "ru") not in ("ru", "en", "es"):
                errors.add(rid, "lang", "NotSupportedChoice", "The value you selected is not a valid choice.")
            rights = item.get("rights") or {}
            _check_rights(errors, rid, rights)
            if rights.get("role_id") is not None and not self.rows(
                    "SELECT 1 FROM roles WHERE account_id=? AND id=?", (self.account_id, rights["role_id"])):
                errors.add(rid, "rights.role_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
            if rights.get("group_id") not in (None, 0) and not self.rows(
                    "SELECT 1 FROM user_groups WHERE account_id=? AND id=?", (self.account_id, rights["group_id"])):
                errors.add(rid, "rights.group_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                rights = dict(item.get("rights") or {})
                flags = {k: rights.pop(k, None) for k in ("is_admin", "is_free", "is_active", "group_id", "role_id")}
                if flags["role_id"] is not None:   # a role overrides the entity rights
                    role_rights = _loads(db.execute("SELECT rights FROM roles WHERE id=?",
                                                    (flags["role_id"],)).fetchone()[0], {})
                    rights.update({k: v for k, v in role_rights.items()})
                if flags["is_free"]:
                    rights, flags["role_id"], flags["group_id"] = {}, None, None
                user_id = db.execute(
                    "INSERT INTO users (account_id, name, email, lang, is_active, is_admin, is_free, group_id, role_id, "
                    "rights) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (self.account_id, item["name"], item["email"], item.get("lang", "ru"),
                     int(flags["is_active"] is not False), int(bool(flags["is_admin"])), int(bool(flags["is_free"])),
                     flags["group_id"] or None, flags["role_id"], json.dumps(rights))).lastrowid
                created.append((rid, user_id))
        return [{**self.get_user(uid), "request_id": rid} for rid, uid in created]

    # roles
    def role_model(self, row: dict[str, Any], with_: set[str] = frozenset()) -> dict[str, Any]:
        rights = _full_rights(_loads(row["rights"], {}))
        model = {"id": row["id"], "name": row["name"], "rights": rights, "_links": self.links(f"roles/{row['id']}")}
        if "users" in with_:
            users = self.rows("SELECT id FROM users WHERE account_id=? AND role_id=? ORDER BY id",
                              (self.account_id, row["id"]))
            model["_embedded"] = {"users": [u["id"] for u in users]}
        return model

    def count_roles(self) -> int:
        return self.store.query("SELECT count(*) FROM roles WHERE account_id=?", (self.account_id,))[0][0]

    def list_roles(self, with_: set[str], offset: int, count: int) -> list[dict[str, Any]]:
        return [self.role_model(r, with_) for r in self.rows(
            "SELECT * FROM roles WHERE account_id=? ORDER BY id LIMIT ? OFFSET ?", (self.account_id, count, offset))]

    def _role_row(self, role_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM roles WHERE account_id=? AND id=?", (self.account_id, role_id))
        if not rows:
            raise exc.NotFound("Role not found")
        return rows[0]

    def get_role(self, role_id: int, with_: set[str] = frozenset()) -> dict[str, Any]:
        return self.role_model(self._role_row(role_id), with_)

    def add_roles(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body, allow_object=True)
        errors = Errors()
        for rid, item in items:
            _check_type(errors, rid, item, "name", str, required=True)
            _check_type(errors, rid, item, "rights", dict, required=True)
            _check_rights(errors, rid, item.get("rights"))
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                created.append((rid, db.execute("INSERT INTO roles (account_id, name, rights) VALUES (?, ?, ?)",
                                                (self.account_id, item["name"], json.dumps(item["rights"]))).lastrowid))
        return [{**self.get_role(role_id), "request_id": rid} for rid, role_id in created]

    def update_role(self, role_id: int, body: Any) -> dict[str, Any]:
        row = self._role_row(role_id)
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        if "name" in body:
            _check_type(errors, "0", body, "name", str, required=True)
        _check_rights(errors, "0", body.get("rights"))
        errors.raise_if_any()
        rights = _loads(row["rights"], {})
        for key, value in (body.get("rights") or {}).items():
            rights[key] = ({**(rights.get(key) or {}), **value} if isinstance(value, dict) and key != "status_rights"
                           else value)
        if "rights" in body and "status_rights" in body["rights"] and not body["rights"]["status_rights"]:
            rights["status_rights"] = []
        with self.store.transaction() as db:
            db.execute("UPDATE roles SET name=?, rights=? WHERE account_id=? AND id=?",
                       (body.get("name", row["name"]), json.dumps(rights), self.account_id, role_id))
        return self.get_role(role_id)

    def delete_role(self, role_id: int) -> None:
        self._role_row(role_id)
        with self.store.transaction() as db:
            db.execute("UPDATE users SET role_id=NULL WHERE account_id=? AND role_id=?", (self.account_id, role_id))
            db.execute("DELETE FROM roles WHERE account_id=? AND id=?", (self.account_id, role_id))

    # loss reasons (read-only in the API)
    def loss_reason_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "sort": row["sort"], "created_at": row["created_at"],
                "updated_at": row["updated_at"], "_links": self.links(f"leads/loss_reasons/{row['id']}")}

    def list_loss_reasons(self, offset: int, count: int) -> list[dict[str, Any]]:
        return [self.loss_reason_model(r) for r in self.rows(
            "SELECT * FROM loss_reasons WHERE account_id=? ORDER BY sort, id LIMIT ? OFFSET ?",
            (self.account_id, count, offset))]

    def get_loss_reason(self, reason_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM loss_reasons WHERE account_id=? AND id=?", (self.account_id, reason_id))
        if not rows:
            raise exc.NotFound("Loss reason not found")
        return self.loss_reason_model(rows[0])


class ChannelsMixin(AccountBase):
    # sources
    def source_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "pipeline_id": row["pipeline_id"],
                "external_id": row["external_id"], "default": bool(row["is_default"]),
                "origin_code": row["origin_code"], "services": _loads(row["services"], []),
                "_links": self.links(f"sources/{row['id']}")}

    def list_sources(self) -> list[dict[str, Any]]:
        return [self.source_model(r) for r in self.rows(
            "SELECT * FROM sources WHERE account_id=? ORDER BY id LIMIT ?", (self.account_id, MAX_SOURCES))]

    def get_source(self, source_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM sources WHERE account_id=? AND id=?", (self.account_id, source_id))
        if not rows:
            raise exc.NotFound("Source not found")
        return self.source_model(rows[0])

    def _check_source(self, errors: Errors, rid: str, item: dict, *, creating: bool) -> None:
        _check_type(errors, rid, item, "name", str, required=creating)
        _check_type(errors, rid, item, "external_id", str, required=creating)
        if "pipeline_id" in item and not self.rows("SELECT 1 FROM pipelines WHERE account_id=? AND id=?",
                                                   (self.account_id, item["pipeline_id"])):
            errors.add(rid, "pipeline_id", "NotSupportedChoice", "The value you selected is not a valid choice.")

    def add_sources(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body, limit=50)
        errors = Errors()
        existing = {r["external_id"] for r in self.rows("SELECT external_id FROM sources WHERE account_id=?",
                                                        (self.account_id,))}
        for rid, item in items:
            self._check_source(errors, rid, item, creating=True)
            if item.get("external_id") in existing:
                errors.add(rid, "external_id", "NotUnique", "A source with this external_id already exists.")
        errors.raise_if_any()
        if len(existing) + len(items) > MAX_SOURCES:
            raise exc.Unprocessable(f"Limit {MAX_SOURCES} sources per integration")
        main = self.rows("SELECT id FROM pipelines WHERE account_id=? AND is_main=1", (self.account_id,))
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                created.append((rid, db.execute(
                    "INSERT INTO sources (account_id, name, pipeline_id, external_id, services, is_default, origin_code)"
                    " VALUES (?,?,?,?,?,?,?)", (self.account_id, item["name"],
                                                item.get("pipeline_id") or (main[0]["id"] if main else None),
                                                item["external_id"], json.dumps(item.get("services") or []),
                                                int(bool(item.get("default"))), item.get("origin_code"))).lastrowid))
        return [{**self.get_source(sid), "request_id": rid} for rid, sid in created]

    def update_sources(self, body: Any, source_id: int | None = None) -> list[dict[str, Any]]:
        if source_id is not None:
            body = [{**body, "id": source_id}] if isinstance(body, dict) and body else body
        items = batch(body, limit=50)
        errors = Errors()
        for rid, item in items:
            if not self.rows("SELECT 1 FROM sources WHERE account_id=? AND id=?", (self.account_id, item.get("id"))):
                errors.add(rid, "id", "NotFound", "Source not found.")
            self._check_source(errors, rid, item, creating=False)
        errors.raise_if_any()
        with self.store.transaction() as db:
            for rid, item in items:
                for key, column in (("name", "name"), ("pipeline_id", "pipeline_id"), ("external_id", "external_id"),
                                    ("origin_code", "origin_code")):
                    if key in item:
                        db.execute(f"UPDATE sources SET {column}=? WHERE account_id=? AND id=?",
                                   (item[key], self.account_id, item["id"]))
                if "default" in item:
                    db.execute("UPDATE sources SET is_default=? WHERE account_id=? AND id=?",
                               (int(bool(item["default"])), self.account_id, item["id"]))
                if "services" in item:
                    db.execute("UPDATE sources SET services=? WHERE account_id=? AND id=?",
                               (json.dumps(item["services"]), self.account_id, item["id"]))
        return [{**self.get_source(item["id"]), "request_id": rid} for rid, item in items]

    def delete_sources(self, ids: list[int]) -> int:
        """Batch delete; unknown ids answer the documented 400 with `errors` (DELETE_sources.error_400_not_found)."""
        known = {r["id"] for r in self.rows("SELECT id FROM sources WHERE account_id=?", (self.account_id,))}
        missing = [(str(index), source_id) for index, source_id in enumerate(ids) if source_id not in known]
        if missing:
            raise exc.SourcesNotFound(missing)
        with self.store.transaction() as db:
            for source_id in ids:
                db.execute("DELETE FROM sources WHERE account_id=? AND id=?", (self.account_id, source_id))
        return len(ids)

    # tags
    def tag_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "color": row["color"]}

    def list_tags(self, entity: str, filters: dict, query: str | None, offset: int, count: int) -> list[dict]:
        where, params = ["account_id=?", "entity_type=?"], [self.account_id, entity]
        if isinstance(filters.get("name"), str):
            where.append("name=?")
            params.append(filters["name"])
        if "id" in filters:
            _in_filter(where, params, "id", filters["id"])
        if query:
            where.append("name LIKE ?")
            params.append(f"%{query}%")
        rows = self.rows(f"SELECT * FROM tags WHERE {' AND '.join(where)} ORDER BY id LIMIT ? OFFSET ?",
                         params + [count, offset])
        return [self.tag_model(r) for r in rows]

    def tag_ids(self, db, entity: str, tags: list[dict]) -> list[int]:
        """Resolve [{id}|{name}] to ids, creating tags by name (an existing name returns its id)."""
        ids = []
        for tag in tags:
            if _is_int(tag.get("id")):
                ids.append(tag["id"])
                continue
            row = db.execute("SELECT id FROM tags WHERE account_id=? AND entity_type=? AND name=?",
                             (self.account_id, entity, tag["name"])).fetchone()
            ids.append(row[0] if row else db.execute(
                "INSERT INTO tags (account_id, entity_type, name, color) VALUES (?, ?, ?, ?)",
                (self.account_id, entity, tag["name"], tag.get("color"))).lastrowid)
        return ids

    def add_tags(self, entity: str, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            _check_type(errors, rid, item, "name", str, required=True)
            if item.get("color") is not None and (entity != "leads" or item["color"] not in TAG_COLOURS):
                errors.add(rid, "color", "NotSupportedChoice", "The value you selected is not a valid choice.")
        errors.raise_if_any()
        with self.store.transaction() as db:
            ids = [(rid, self.tag_ids(db, entity, [item])[0]) for rid, item in items]
        return [{**self.tag_model(self.rows("SELECT * FROM tags WHERE id=?", (tid,))[0]), "request_id": rid}
                for rid, tid in ids]

    # webhooks
    def webhook_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "destination": row["destination"], "created_at": row["created_at"],
                "updated_at": row["created_at"], "account_id": self.account_id, "created_by": row["created_by"],
                "sort": row["sort"], "disabled": bool(row["disabled"]), "settings": _loads(row["settings"], [])}

    def list_webhooks(self, destination: str | None) -> list[dict[str, Any]]:
        where, params = "account_id=?", [self.account_id]
        if destination:
            where += " AND destination=?"
            params.append(destination)
        return [self.webhook_model(r) for r in self.rows(f"SELECT * FROM webhooks WHERE {where} ORDER BY id", params)]

    def add_webhook(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body:
            raise exc.EmptyBody()
        errors = Errors()
        if _check_type(errors, "0", body, "destination", str, required=True) and \
                not body["destination"].startswith(("http://", "https://")):
            errors.add("0", "destination", "InvalidUrl", "This value is not a valid URL.")
        if _check_type(errors, "0", body, "settings", list, required=True) and not body["settings"]:
            errors.add("0", "settings", "NotBlank", "This value should not be blank.")
        _check_type(errors, "0", body, "sort", int)
        errors.raise_if_any()
        with self.store.transaction() as db:
            row = db.execute("SELECT id FROM webhooks WHERE account_id=? AND destination=?",
                             (self.account_id, body["destination"])).fetchone()
            if row:   # posting an existing destination updates it
                db.execute("UPDATE webhooks SET settings=?, sort=?, disabled=0 WHERE id=?",
                           (json.dumps(body["settings"]), body.get("sort", 1), row[0]))
                hook_id = row[0]
            else:
                count = db.execute("SELECT count(*) FROM webhooks WHERE account_id=?", (self.account_id,)).fetchone()[0]
                if count >= MAX_WEBHOOKS:
                    raise exc.Unprocessable(f"Limit {MAX_WEBHOOKS} webhooks per account")
                hook_id = db.execute("INSERT INTO webhooks (account_id, destination, settings, sort, created_at, "
                                     "created_by) VALUES (?,?,?,?,?,?)",
                                     (self.account_id, body["destination"], json.dumps(body["settings"]),
                                      body.get("sort", 1), self.at, self.user_id)).lastrowid
        return self.webhook_model(self.rows("SELECT * FROM webhooks WHERE id=?", (hook_id,))[0])

    def delete_webhook(self, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("destination"), str):
            raise exc.validation_error("0", "destination", "NotBlank", "This value should not be blank.")
        with self.store.transaction() as db:
            if not db.execute("DELETE FROM webhooks WHERE account_id=? AND destination=?",
                              (self.account_id, body["destination"])).rowcount:
                raise exc.NotFound("Webhook not found")



# --- leads, contacts, companies, links -------------------------------------------------------------

RECORD_ENTITIES = ("leads", "contacts", "companies")
SINGULAR = {"leads": "lead", "contacts": "contact", "companies": "company", "customers": "customer",
            "tasks": "task"}
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
RECORD_ORDERS = {"leads": ("created_at", "updated_at", "id"), "contacts": ("updated_at", "id"),
                 "companies": ("updated_at", "id")}
RECORD_WITH = {"leads": {"contacts", "loss_reason", "source", "source_id", "only_deleted", "catalog_elements",
                         "is_price_modified_by_robot"},
               "contacts": {"leads", "customers", "catalog_elements"},
               "companies": {"leads", "customers", "contacts", "catalog_elements"}}
TEXT_TYPES = {"text", "textarea", "url", "streetaddress"}
DATE_TYPES = {"date", "date_time", "birthday"}
SELECT_TYPES = {"select", "multiselect", "radiobutton"}


def _event_id() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode().lower()[:26]


class RecordsMixin(PipelinesMixin, FieldsMixin, PeopleMixin, ChannelsMixin):
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
                errors.add(rid, f"{path}.field_id" if "field_id" in entry else f"{path}.field_code",
                           "NotSupportedChoice", "The value you selected is not a valid choice.")
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
        if kind in SELECT_TYPES:
            enum = next((e for e in enums if ("enum_id" in item and e["id"] == item["enum_id"])
                         or ("enum_code" in item and e.get("code") == item["enum_code"])
                         or ("enum_id" not in item and "enum_code" not in item and e["value"] == value)), None)
            if enum is None:
                errors.add(rid, f"{path}.enum_id" if "enum_id" in item else f"{path}.value", "NotSupportedChoice",
                           "The value you selected is not a valid choice.")
                return None
            return {"value": enum["value"], "enum_id": enum["id"], "enum_code": enum.get("code")}
        if kind == "multitext":
            if not isinstance(value, str) or not value.strip():
                errors.add(rid, f"{path}.value", "NotBlank", "This value should not be blank.")
                return None
            code = item.get("enum_code") or item.get("enum")
            enum = next((e for e in enums if ("enum_id" in item and e["id"] == item["enum_id"])
                         or ("enum_id" not in item and e["value"] == (code or "WORK"))), None)
            if enum is None:
                errors.add(rid, f"{path}.enum_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
                return None
            return {"value": value, "enum_id": enum["id"], "enum": enum["value"]}
        return {k: v for k, v in item.items()}   # structured types (legal_entity, smart_address...) as given

    # models -----------------------------------------------------------------------------------
    def _links_of(self, entity: str, ids: list[int]) -> list[dict[str, Any]]:
        """Links in both stored directions, seen from `entity`."""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.rows(f"SELECT entity_type, entity_id, to_entity_type, to_entity_id, is_main, metadata FROM "
                         f"entity_links WHERE account_id=? AND entity_type=? AND entity_id IN ({marks})",
                         [self.account_id, entity, *ids])
        rows += [{"entity_type": r["to_entity_type"], "entity_id": r["to_entity_id"],
                  "to_entity_type": r["entity_type"], "to_entity_id": r["entity_id"], "is_main": r["is_main"],
                  "metadata": r["metadata"]}
                 for r in self.rows(f"SELECT * FROM entity_links WHERE account_id=? AND to_entity_type=? AND "
                                    f"to_entity_id IN ({marks})", [self.account_id, entity, *ids])]
        return rows

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
            errors.add(rid, "pipeline_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
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
            errors.add(rid, "status_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
            return None
        return pipeline_id, status_id

    def _check_common(self, errors: Errors, rid: str, entity: str, item: dict) -> None:
        _check_type(errors, rid, item, "name", str)
        for key in ("responsible_user_id", "created_by", "updated_by", "created_at", "updated_at"):
            _check_type(errors, rid, item, key, int)
        if "responsible_user_id" in item and _is_int(item["responsible_user_id"]) and \
                not self.user_exists(item["responsible_user_id"]):
            errors.add(rid, "responsible_user_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        if entity == "leads":
            for key in ("price", "closed_at"):
                _check_type(errors, rid, item, key, int, nullable=key == "closed_at")
            if item.get("loss_reason_id") is not None and not self.rows(
                    "SELECT 1 FROM loss_reasons WHERE account_id=? AND id=?", (self.account_id, item["loss_reason_id"])):
                errors.add(rid, "loss_reason_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
            source = (item.get("_embedded") or {}).get("source") if isinstance(item.get("_embedded"), dict) else None
            if source is not None and self._source_id(source) is None:
                errors.add(rid, "_embedded.source.external_id", "NotSupportedChoice",
                           "The value you selected is not a valid choice.")
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
                    errors.add(rid, f"_embedded.{kind}.{i}.id", "NotSupportedChoice",
                               "The value you selected is not a valid choice.")

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

    def _link(self, db, entity: str, entity_id: int, to_entity: str, to_id: int, metadata: dict | None) -> bool:
        """Store a link once, whichever direction it was stored in before. Returns True when new."""
        exists = db.execute("SELECT 1 FROM entity_links WHERE account_id=? AND ((entity_type=? AND entity_id=? AND "
                            "to_entity_type=? AND to_entity_id=?) OR (entity_type=? AND entity_id=? AND "
                            "to_entity_type=? AND to_entity_id=?))",
                            (self.account_id, entity, entity_id, to_entity, to_id, to_entity, to_id, entity,
                             entity_id)).fetchone()
        is_main = bool((metadata or {}).get("is_main") or (metadata or {}).get("main_contact"))
        if exists:
            if is_main:
                db.execute("UPDATE entity_links SET is_main=1 WHERE account_id=? AND entity_type=? AND entity_id=? "
                           "AND to_entity_type=? AND to_entity_id=?", (self.account_id, entity, entity_id, to_entity,
                                                                       to_id))
            return False
        if is_main:   # one main contact per lead
            db.execute("UPDATE entity_links SET is_main=0 WHERE account_id=? AND entity_type=? AND entity_id=? "
                       "AND to_entity_type='contacts'", (self.account_id, entity, entity_id))
        db.execute("INSERT INTO entity_links (account_id, entity_type, entity_id, to_entity_type, to_entity_id, "
                   "is_main, metadata) VALUES (?,?,?,?,?,?,?)",
                   (self.account_id, entity, entity_id, to_entity, to_id, int(is_main),
                    json.dumps(metadata) if metadata else None))
        self._event(db, "entity_linked", entity, entity_id,
                    [{"link": {"entity": {"type": SINGULAR.get(to_entity, to_entity), "id": to_id}}}])
        return True

    def add_records(self, entity: str, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        index = self._fields_index(entity)
        placement = self._pipelines_index() if entity == "leads" else None
        prepared = []
        for rid, item in items:
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

    # links ------------------------------------------------------------------------------------
    def link_model(self, link: dict[str, Any], *, with_entity: bool) -> dict[str, Any]:
        metadata = _loads(link["metadata"])
        if link["to_entity_type"] == "contacts" and link["entity_type"] == "leads" or \
                link["entity_type"] == "contacts" and link["to_entity_type"] == "leads":
            metadata = {"main_contact": bool(link["is_main"])}
        model = {"to_entity_id": link["to_entity_id"], "to_entity_type": link["to_entity_type"], "metadata": metadata}
        if with_entity:
            model = {"entity_id": link["entity_id"], "entity_type": link["entity_type"], **model}
        return model

    def list_links(self, entity: str, ids: list[int], to_types: list[str] | None, *, with_entity: bool) -> list:
        for record_id in ids if not with_entity else []:
            self._record_row(entity, record_id)
        links = self._links_of(entity, ids)
        if to_types:
            links = [l for l in links if l["to_entity_type"] in to_types]
        return [self.link_model(l, with_entity=with_entity) for l in links]

    def _link_items(self, entity: str, body: Any, record_id: int | None) -> list[tuple[str, dict]]:
        if record_id is not None:
            self._record_row(entity, record_id)
            if isinstance(body, list):
                body = [{**i, "entity_id": record_id} if isinstance(i, dict) else i for i in body]
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            if not _is_int(item.get("entity_id")) or not self.rows(
                    f"SELECT 1 FROM {entity} WHERE account_id=? AND id=?", (self.account_id, item.get("entity_id"))):
                errors.add(rid, "entity_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
            kind = item.get("to_entity_type")
            if kind not in RECORD_ENTITIES or kind == entity or not self.rows(
                    f"SELECT 1 FROM {kind} WHERE account_id=? AND id=?", (self.account_id, item.get("to_entity_id"))):
                errors.add(rid, "to_entity_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        errors.raise_if_any()
        return items

    def link(self, entity: str, body: Any, record_id: int | None = None) -> tuple[list[dict], int]:
        items = self._link_items(entity, body, record_id)
        written = 0
        with self.store.transaction() as db:
            for _, item in items:
                written += self._link(db, entity, item["entity_id"], item["to_entity_type"], item["to_entity_id"],
                                      item.get("metadata"))
        answer = []
        for _, item in items:
            link = {"entity_type": entity, "entity_id": item["entity_id"], "to_entity_type": item["to_entity_type"],
                    "to_entity_id": item["to_entity_id"], "is_main": bool((item.get("metadata") or {}).get("is_main")),
                    "metadata": json.dumps(item.get("metadata")) if item.get("metadata") else None}
            answer.append(self.link_model(link, with_entity=True))
        return answer, written

    def unlink(self, entity: str, body: Any, record_id: int | None = None) -> int:
        items = self._link_items(entity, body, record_id)
        removed = 0
        with self.store.transaction() as db:
            for _, item in items:
                a = (entity, item["entity_id"], item["to_entity_type"], item["to_entity_id"])
                b = (item["to_entity_type"], item["to_entity_id"], entity, item["entity_id"])
                for key in (a, b):
                    removed += db.execute("DELETE FROM entity_links WHERE account_id=? AND entity_type=? AND "
                                          "entity_id=? AND to_entity_type=? AND to_entity_id=?",
                                          (self.account_id, *key)).rowcount
                self._event(db, "entity_unlinked", entity, item["entity_id"],
                            [], [{"link": {"entity": {"type": SINGULAR[item["to_entity_type"]],
                                                      "id": item["to_entity_id"]}}}])
        return removed


# --- tasks, notes, events ----------------------------------------------------------------------

TASK_ENTITIES = ("leads", "contacts", "companies", "customers")
NOTE_TYPES = {"common", "call_in", "call_out", "service_message", "extended_service_message", "message_cashier",
              "geolocation", "sms_in", "sms_out", "attachment", "invoice_paid", "attachment"}
NOTE_EVENTS = {"common": "common_note_added", "call_in": "incoming_call", "call_out": "outgoing_call",
               "sms_in": "incoming_sms", "sms_out": "outgoing_sms", "geolocation": "geo_note_added",
               "attachment": "attachment_note_added", "service_message": "service_note_added",
               "extended_service_message": "service_note_added", "message_cashier": "message_to_cashier_note_added"}
EVENT_FILTER_ENTITIES = {"lead", "contact", "company", "customer", "task"}
EVENT_TYPES = [  # (type, numeric type id, ru name) — a subset of GET /events/types
    ("lead_added", 1, "Новая сделка"), ("lead_deleted", 7, "Сделка удалена"),
    ("lead_restored", 3, "Сделка восстановлена"), ("lead_status_changed", 4, "Изменение этапа продажи"),
    ("lead_linked", 5, "Прикрепление сделки"), ("lead_unlinked", 6, "Открепление сделки"),
    ("contact_added", 7, "Новый контакт"), ("contact_deleted", 8, "Контакт удален"),
    ("company_added", 12, "Новая компания"), ("company_deleted", 13, "Компания удалена"),
    ("task_added", 22, "Новая задача"), ("task_completed", 24, "Завершение задачи"),
    ("task_deadline_changed", 27, "Изменение срока задачи"), ("incoming_call", 30, "Входящий звонок"),
    ("outgoing_call", 31, "Исходящий звонок"), ("entity_responsible_changed", 40, "Ответственный изменен"),
    ("entity_linked", 41, "Прикрепление"), ("entity_unlinked", 42, "Открепление"),
    ("common_note_added", 45, "Примечание добавлено"), ("custom_field_value_changed", 50, "Изменение поля"),
]


class ActivityMixin(RecordsMixin):
    # tasks ------------------------------------------------------------------------------------
    def task_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "created_by": row["created_by"], "updated_by": row["updated_by"],
                "created_at": row["created_at"], "updated_at": row["updated_at"],
                "responsible_user_id": row["responsible_user_id"], "group_id": row["group_id"],
                "entity_id": row["entity_id"], "entity_type": row["entity_type"], "duration": row["duration"],
                "is_completed": bool(row["is_completed"]), "task_type_id": row["task_type_id"], "text": row["text"],
                "result": _loads(row["result"], []) or [], "complete_till": row["complete_till"],
                "account_id": self.account_id, "_links": self.links(f"tasks/{row['id']}")}

    def list_tasks(self, filters: dict, order: dict, offset: int, count: int) -> list[dict[str, Any]]:
        where, params = ["account_id=?"], [self.account_id]
        for key, column in (("id", "id"), ("responsible_user_id", "responsible_user_id"),
                            ("task_type", "task_type_id"), ("entity_id", "entity_id")):
            if key in filters:
                _in_filter(where, params, column, filters[key])
        if "is_completed" in filters:
            _in_filter(where, params, "is_completed", filters["is_completed"])
        if "entity_type" in filters:
            kinds = filters["entity_type"] if isinstance(filters["entity_type"], list) else [filters["entity_type"]]
            where.append(f"entity_type IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        if "updated_at" in filters:
            value = filters["updated_at"]
            if isinstance(value, str) and value.isdigit():   # a single TS means "changed after"
                where.append("updated_at >= ?")
                params.append(int(value))
            else:
                _range_filter(where, params, "updated_at", value)
        order_sql = "id ASC"
        for key, direction in (order or {}).items() if isinstance(order, dict) else []:
            if key in ("created_at", "complete_till", "id") and str(direction).lower() in ("asc", "desc"):
                order_sql = _order_sql(key, direction)
        rows = self.rows(f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                         params + [count, offset])
        return [self.task_model(r) for r in rows]

    def get_task(self, task_id: int) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM tasks WHERE account_id=? AND id=?", (self.account_id, task_id))
        if not rows:
            raise exc.NotFound()
        return self.task_model(rows[0])

    def _check_task(self, errors: Errors, rid: str, item: dict, *, creating: bool) -> None:
        _check_type(errors, rid, item, "text", str, required=creating)
        _check_type(errors, rid, item, "complete_till", int, required=creating)
        for key in ("responsible_user_id", "task_type_id", "duration", "entity_id", "created_by", "created_at"):
            _check_type(errors, rid, item, key, int)
        _check_type(errors, rid, item, "is_completed", bool)
        if "responsible_user_id" in item and _is_int(item["responsible_user_id"]) and \
                not self.user_exists(item["responsible_user_id"]):
            errors.add(rid, "responsible_user_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        if "task_type_id" in item and item["task_type_id"] not in {t["id"] for t in TASK_TYPES}:
            errors.add(rid, "task_type_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        if "entity_id" in item or "entity_type" in item:
            kind = item.get("entity_type")
            if kind not in TASK_ENTITIES or kind == "customers" or not self.rows(
                    f"SELECT 1 FROM {kind} WHERE account_id=? AND id=?", (self.account_id, item.get("entity_id"))):
                errors.add(rid, "entity_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        if "result" in item and item["result"] is not None and not isinstance(item["result"], dict):
            errors.add(rid, "result", "InvalidType", "This value should be of type array.")

    def _closest_task(self, db, entity: str | None, entity_id: int | None) -> None:
        if entity not in RECORD_ENTITIES or entity_id is None:
            return
        db.execute(f"UPDATE {entity} SET closest_task_at=(SELECT min(complete_till) FROM tasks WHERE account_id=? "
                   "AND entity_type=? AND entity_id=? AND is_completed=0) WHERE account_id=? AND id=?",
                   (self.account_id, entity, entity_id, self.account_id, entity_id))

    def add_tasks(self, body: Any) -> list[dict[str, Any]]:
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            self._check_task(errors, rid, item, creating=True)
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                task_id = db.execute(
                    "INSERT INTO tasks (account_id, created_by, updated_by, created_at, updated_at, responsible_user_id,"
                    " entity_id, entity_type, is_completed, task_type_id, text, duration, complete_till, result) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (self.account_id, item.get("created_by", self.user_id), item.get("updated_by", self.user_id),
                     item.get("created_at", self.at), item.get("updated_at", self.at),
                     item.get("responsible_user_id", self.user_id), item.get("entity_id"), item.get("entity_type"),
                     int(bool(item.get("is_completed"))), item.get("task_type_id", 1), item["text"],
                     item.get("duration", 0), item["complete_till"],
                     json.dumps(item["result"], ensure_ascii=False) if item.get("result") else None)).lastrowid
                self._event(db, "task_added", "tasks", task_id)
                self._closest_task(db, item.get("entity_type"), item.get("entity_id"))
                created.append((rid, task_id))
        return [{"id": task_id, "request_id": rid, "_links": self.links(f"tasks/{task_id}")}
                for rid, task_id in created]

    def update_tasks(self, body: Any, task_id: int | None = None) -> list[dict[str, Any]]:
        if task_id is not None:
            if not isinstance(body, dict) or not body:
                raise exc.EmptyBody()
            self.get_task(task_id)
            body = [{**body, "id": task_id}]
        items = batch(body)
        errors = Errors()
        current = {}
        for rid, item in items:
            rows = self.rows("SELECT * FROM tasks WHERE account_id=? AND id=?", (self.account_id, item.get("id")))
            if not rows:
                errors.add(rid, "id", "NotFound", "Task not found.")
                continue
            current[rid] = rows[0]
            self._check_task(errors, rid, item, creating=False)
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item in items:
                row = current[rid]
                changes = {k: item[k] for k in ("text", "complete_till", "responsible_user_id", "task_type_id",
                                                "duration", "entity_id", "entity_type") if k in item}
                if "is_completed" in item:
                    changes["is_completed"] = int(item["is_completed"])
                    if item["is_completed"] and not row["is_completed"]:
                        self._event(db, "task_completed", "tasks", row["id"])
                if "result" in item:
                    changes["result"] = json.dumps(item["result"], ensure_ascii=False) if item["result"] else None
                if "complete_till" in item and item["complete_till"] != row["complete_till"]:
                    self._event(db, "task_deadline_changed", "tasks", row["id"],
                                [{"task_deadline": {"timestamp": item["complete_till"]}}],
                                [{"task_deadline": {"timestamp": row["complete_till"]}}])
                changes["updated_at"] = item.get("updated_at", self.at)
                changes["updated_by"] = item.get("updated_by", self.user_id)
                db.execute(f"UPDATE tasks SET {', '.join(f'{k}=?' for k in changes)} WHERE account_id=? AND id=?",
                           [*changes.values(), self.account_id, row["id"]])
                self._closest_task(db, row["entity_type"], row["entity_id"])
                self._closest_task(db, changes.get("entity_type"), changes.get("entity_id"))
                answer = {"id": row["id"], "updated_at": changes["updated_at"]}
                if "request_id" in item:
                    answer["request_id"] = rid
                answers.append({**answer, "_links": self.links(f"tasks/{row['id']}")})
        return answers

    # notes ------------------------------------------------------------------------------------
    def note_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "entity_id": row["entity_id"], "created_by": row["created_by"],
                "updated_by": row["updated_by"], "created_at": row["created_at"], "updated_at": row["updated_at"],
                "responsible_user_id": row["responsible_user_id"], "group_id": row["group_id"],
                "note_type": row["note_type"], "params": _loads(row["params"], {}), "account_id": self.account_id,
                "_links": self.links(f"{row['entity_type']}/{row['entity_id']}/notes/{row['id']}")}

    def list_notes(self, entity: str, entity_id: int | None, filters: dict, order: dict, offset: int,
                   count: int) -> list[dict[str, Any]]:
        if entity_id is not None:
            self._record_row(entity, entity_id)
        where, params = ["account_id=?", "entity_type=?"], [self.account_id, entity]
        if entity_id is not None:
            where.append("entity_id=?")
            params.append(entity_id)
        for key in ("id", "entity_id"):
            if key in filters:
                _in_filter(where, params, key, filters[key])
        if "note_type" in filters:
            kinds = filters["note_type"] if isinstance(filters["note_type"], list) else [filters["note_type"]]
            where.append(f"note_type IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        if "updated_at" in filters:
            value = filters["updated_at"]
            if isinstance(value, str) and value.isdigit():
                where.append("updated_at >= ?")
                params.append(int(value))
            else:
                _range_filter(where, params, "updated_at", value)
        order_sql = "id ASC"
        for key, direction in (order or {}).items() if isinstance(order, dict) else []:
            if key in ("updated_at", "id") and str(direction).lower() in ("asc", "desc"):
                order_sql = _order_sql(key, direction)
        rows = self.rows(f"SELECT * FROM notes WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                         params + [count, offset])
        return [self.note_model(r) for r in rows]

    def get_note(self, entity: str, note_id: int, entity_id: int | None = None) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM notes WHERE account_id=? AND entity_type=? AND id=?",
                         (self.account_id, entity, note_id))
        if not rows or (entity_id is not None and rows[0]["entity_id"] != entity_id):
            raise exc.NotFound()
        return self.note_model(rows[0])

    def add_notes(self, entity: str, body: Any, entity_id: int | None = None) -> list[dict[str, Any]]:
        if entity_id is not None:
            self._record_row(entity, entity_id)
            if isinstance(body, list):
                body = [{**i, "entity_id": entity_id} if isinstance(i, dict) else i for i in body]
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            if not _is_int(item.get("entity_id")) or not self.rows(
                    f"SELECT 1 FROM {entity} WHERE account_id=? AND id=?", (self.account_id, item.get("entity_id"))):
                errors.add(rid, "entity_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
            if item.get("note_type") not in NOTE_TYPES:
                errors.add(rid, "note_type", "NotSupportedChoice", "The value you selected is not a valid choice.")
            if not isinstance(item.get("params", {}), dict):
                errors.add(rid, "params", "InvalidType", "This value should be of type array.")
            elif item.get("note_type") in ("common", "sms_in", "sms_out") and not (item.get("params") or {}).get("text"):
                errors.add(rid, "params.text", "NotBlank", "This value should not be blank.")
            if "responsible_user_id" in item and not self.user_exists(item["responsible_user_id"]):
                errors.add(rid, "responsible_user_id", "NotSupportedChoice",
                           "The value you selected is not a valid choice.")
        errors.raise_if_any()
        created = []
        with self.store.transaction() as db:
            for rid, item in items:
                note_id = db.execute(
                    "INSERT INTO notes (account_id, entity_type, entity_id, note_type, params, responsible_user_id, "
                    "created_by, updated_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (self.account_id, entity, item["entity_id"], item["note_type"],
                     json.dumps(item.get("params") or {}, ensure_ascii=False),
                     item.get("responsible_user_id", self.user_id), item.get("created_by", self.user_id),
                     self.user_id, item.get("created_at", self.at), self.at)).lastrowid
                self._event(db, NOTE_EVENTS.get(item["note_type"], "common_note_added"), entity, item["entity_id"],
                            [{"note": {"id": note_id}}])
                created.append((rid, item["entity_id"], note_id))
        return [{"id": note_id, "entity_id": eid, "request_id": rid,
                 "_links": self.links(f"{entity}/{eid}/notes/{note_id}")} for rid, eid, note_id in created]

    def update_notes(self, entity: str, body: Any, note_id: int | None = None,
                     entity_id: int | None = None) -> list[dict[str, Any]]:
        if note_id is not None:
            if not isinstance(body, dict) or not body:
                raise exc.EmptyBody()
            self.get_note(entity, note_id, entity_id)
            body = [{**body, "id": note_id}]
        items = batch(body)
        errors = Errors()
        for rid, item in items:
            if not self.rows("SELECT 1 FROM notes WHERE account_id=? AND entity_type=? AND id=?",
                             (self.account_id, entity, item.get("id"))):
                errors.add(rid, "id", "NotFound", "Note not found.")
            if "params" in item and not isinstance(item["params"], dict):
                errors.add(rid, "params", "InvalidType", "This value should be of type array.")
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item in items:
                if "params" in item:
                    db.execute("UPDATE notes SET params=? WHERE id=?", (json.dumps(item["params"], ensure_ascii=False),
                                                                        item["id"]))
                db.execute("UPDATE notes SET updated_at=?, updated_by=? WHERE id=?", (self.at, self.user_id, item["id"]))
                row = db.execute("SELECT entity_id FROM notes WHERE id=?", (item["id"],)).fetchone()
                answer = {"id": item["id"], "entity_id": row[0], "updated_at": self.at}
                if "request_id" in item:
                    answer["request_id"] = rid
                answers.append({**answer, "_links": self.links(f"{entity}/{row[0]}/notes/{item['id']}")})
        return answers

    # events -----------------------------------------------------------------------------------
    def event_model(self, row: dict[str, Any]) -> dict[str, Any]:
        plural = {v: k for k, v in SINGULAR.items()}.get(row["entity_type"], row["entity_type"])
        return {"id": row["id"], "type": row["type"], "entity_id": row["entity_id"], "entity_type": row["entity_type"],
                "created_by": row["created_by"], "created_at": row["created_at"],
                "value_after": _loads(row["value_after"], []), "value_before": _loads(row["value_before"], []),
                "account_id": self.account_id, "_links": self.links(f"events/{row['id']}"),
                "_embedded": {"entity": {"id": row["entity_id"],
                                         "_links": self.links(f"{plural}/{row['entity_id']}")}}}

    def list_events(self, filters: dict, offset: int, count: int) -> list[dict[str, Any]]:
        self._check_event_filters(filters)
        where, params = ["account_id=?"], [self.account_id]
        if "id" in filters:
            ids = filters["id"] if isinstance(filters["id"], list) else [filters["id"]]
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params.extend(str(i) for i in ids)
        if "created_at" in filters:
            value = filters["created_at"]
            if isinstance(value, str) and value.isdigit():
                where.append("created_at >= ?")
                params.append(int(value))
            else:
                _range_filter(where, params, "created_at", value)
        if "created_by" in filters:
            _in_filter(where, params, "created_by", filters["created_by"])
        for key, column in (("entity", "entity_type"), ("type", "type")):
            if key in filters:
                values = filters[key] if isinstance(filters[key], list) else str(filters[key]).split(",")
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        if "entity_id" in filters:
            _in_filter(where, params, "entity_id", filters["entity_id"])
        value_after = filters.get("value_after") or {}
        if isinstance(value_after, dict) and "leads_statuses" in value_after:
            items = value_after["leads_statuses"]
            items = items if isinstance(items, list) else list(items.values())
            conds = []
            for item in items:
                if isinstance(item, dict) and str(item.get("status_id", "")).isdigit():
                    conds.append("(json_extract(value_after, '$[0].lead_status.id')=? AND "
                                 "json_extract(value_after, '$[0].lead_status.pipeline_id')=?)")
                    params.extend([int(item["status_id"]), int(item.get("pipeline_id") or 0)])
            where.append("(" + " OR ".join(conds) + ")" if conds else "0")
        rows = self.rows(f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY created_at DESC, seq DESC "
                         "LIMIT ? OFFSET ?", params + [count, offset])
        return [self.event_model(r) for r in rows]

    @staticmethod
    def _check_event_filters(filters: dict) -> None:
        """created_by[] and entity_id[] take at most 10 values; entity_id needs exactly one entity."""
        def values(key: str) -> list:
            value = filters.get(key)
            if value is None:
                return []
            return value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else \
                str(value).split(",")

        errors = Errors()
        for key in ("created_by", "entity_id"):
            if len(values(key)) > 10:
                errors.add("0", f"filter.{key}", "TooMany", "At most 10 values.")
        entities = values("entity")
        if values("entity_id") and len(entities) != 1:
            errors.add("0", "filter.entity_id", "NotSupportedChoice", "entity_id needs exactly one entity.")
        for entity in entities:
            if entity not in EVENT_FILTER_ENTITIES and not str(entity).startswith("catalog_"):
                errors.add("0", "filter.entity", "NotSupportedChoice", "The value you selected is not a valid choice.")
        errors.raise_if_any()

    def get_event(self, event_id: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM events WHERE account_id=? AND id=?", (self.account_id, event_id))
        if not rows:
            raise exc.NotFound()
        return self.event_model(rows[0])

    def event_types(self, language: str = "ru") -> list[dict[str, Any]]:
        """`lang` is the name in the requested language (ru names are the doc's; others are the key, unverified)."""
        return [{"key": key, "type": number, "lang": name if language == "ru" else key.replace("_", " ").capitalize()}
                for key, number, name in EVENT_TYPES]


# --- unsorted (incoming leads) ---------------------------------------------------------------------

UNSORTED_CATEGORIES = ("sip", "mail", "forms", "chats")
UNSORTED_CREATABLE = ("sip", "forms")


class UnsortedMixin(ActivityMixin):
    def _unsorted_refs(self, lead_id: int | None) -> dict[str, list]:
        if lead_id is None:
            return {"contacts": [], "leads": [], "companies": []}
        links = self._links_of("leads", [lead_id])
        return {"contacts": [self._ref("contacts", l["to_entity_id"]) for l in links
                             if l["to_entity_type"] == "contacts"],
                "leads": [self._ref("leads", lead_id)],
                "companies": [self._ref("companies", l["to_entity_id"]) for l in links
                              if l["to_entity_type"] == "companies"]}

    def unsorted_model(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"uid": row["uid"], "source_uid": row["source_uid"], "source_name": row["source_name"],
                "category": row["category"], "pipeline_id": row["pipeline_id"], "created_at": row["created_at"],
                "metadata": _loads(row["metadata"], {}), "account_id": self.account_id,
                "_links": self.links(f"leads/unsorted/{row['uid']}"),
                "_embedded": self._unsorted_refs(row["lead_id"])}

    def list_unsorted(self, filters: dict, order: dict, offset: int, count: int) -> list[dict[str, Any]]:
        where, params = ["account_id=?"], [self.account_id]
        for key in ("uid", "category"):
            if key in filters:
                values = filters[key] if isinstance(filters[key], list) else [filters[key]]
                where.append(f"{key} IN ({','.join('?' * len(values))})")
                params.extend(str(v) for v in values)
        if "pipeline_id" in filters:
            _in_filter(where, params, "pipeline_id", filters["pipeline_id"])
        order_sql = "created_at ASC, uid ASC"
        for key, direction in (order or {}).items() if isinstance(order, dict) else []:
            if key in ("created_at", "updated_at") and str(direction).lower() in ("asc", "desc"):
                order_sql = f"created_at {direction.upper()}, uid {direction.upper()}"
        rows = self.rows(f"SELECT * FROM unsorted WHERE {' AND '.join(where)} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                         params + [count, offset])
        return [self.unsorted_model(r) for r in rows]

    def _unsorted_row(self, uid: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM unsorted WHERE account_id=? AND uid=?", (self.account_id, uid))
        if not rows:
            raise exc.NotFound("Unsorted not found")
        return rows[0]

    def get_unsorted(self, uid: str) -> dict[str, Any]:
        return self.unsorted_model(self._unsorted_row(uid))

    def add_unsorted(self, category: str, body: Any) -> list[dict[str, Any]]:
        """POST /leads/unsorted/{sip|forms}: a lead in the pipeline's unsorted stage, with its contact and company."""
        items = batch(body)
        errors = Errors()
        main, statuses = self._pipelines_index()
        for rid, item in items:
            _check_type(errors, rid, item, "source_name", str, required=True)
            _check_type(errors, rid, item, "source_uid", str, required=True)
            _check_type(errors, rid, item, "metadata", dict, required=True)
            _check_type(errors, rid, item, "created_at", int)
            pipeline_id = item.get("pipeline_id", main)
            if pipeline_id not in statuses or not any(s["type"] == UNSORTED_TYPE for s in statuses[pipeline_id]):
                errors.add(rid, "pipeline_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
            embedded = item.get("_embedded") or {}
            for kind in RECORD_ENTITIES:
                if not isinstance(embedded.get(kind, []), list) or len(embedded.get(kind, [])) > 1:
                    errors.add(rid, f"_embedded.{kind}", "InvalidType", "At most one item.")
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item in items:
                embedded = item.get("_embedded") or {}
                pipeline_id = item.get("pipeline_id", main)
                ids = {}
                for kind in RECORD_ENTITIES:
                    if embedded.get(kind):
                        record = {**embedded[kind][0], "request_id": rid}
                        if kind == "leads":
                            record["pipeline_id"] = pipeline_id
                        ids[kind] = self._nested_add(kind, record, f"_embedded.{kind}.0.")
                if "leads" not in ids:
                    ids["leads"] = self.add_records("leads", [{"pipeline_id": pipeline_id, "request_id": rid}])[0]["id"]
                for kind in ("contacts", "companies"):
                    if kind in ids:
                        self._link(db, "leads", ids["leads"], kind, ids[kind],
                                   {"is_main": True} if kind == "contacts" else None)
                uid = self._insert_unsorted(db, lead_id=ids["leads"], pipeline_id=pipeline_id, category=category,
                                            source_uid=item["source_uid"], source_name=item["source_name"],
                                            metadata=item["metadata"], created_at=item.get("created_at", self.at))
                answers.append({"uid": uid, "account_id": self.account_id, "request_id": rid,
                                "_links": self.links(f"leads/unsorted/{uid}"),
                                "_embedded": {kind: [self._ref(kind, ids[kind])] if kind in ids else []
                                              for kind in ("contacts", "leads", "companies")}})
        return answers

    def _nested_add(self, kind: str, record: dict, prefix: str) -> int:
        """Create one record inside a composite write; its errors point into the composite item.
        Called inside the caller's transaction, so a failure rolls the whole call back."""
        try:
            return self.add_records(kind, [record])[0]["id"]
        except exc.ValidationFailed as failed:
            raise exc.ValidationFailed({rid: [{**e, "path": f"{prefix}{e['path']}".rstrip(".")} for e in errs]
                                        for rid, errs in failed.errors.items()}) from None

    def _insert_unsorted(self, db, *, lead_id: int, pipeline_id: int, category: str, source_uid: str,
                         source_name: str, metadata: dict, created_at: int) -> str:
        """Put a lead in its pipeline's unsorted stage and register the unsorted item; returns its uid."""
        unsorted_status = next(s["id"] for s in self._statuses(pipeline_id) if s["type"] == UNSORTED_TYPE)
        db.execute("UPDATE leads SET status_id=?, created_by=0 WHERE id=?", (unsorted_status, lead_id))
        uid = secrets.token_hex(30)
        db.execute("INSERT INTO unsorted (account_id, uid, source_uid, source_name, category, pipeline_id, lead_id, "
                   "created_at, metadata) VALUES (?,?,?,?,?,?,?,?,?)",
                   (self.account_id, uid, source_uid, source_name, category, pipeline_id, lead_id, created_at,
                    json.dumps(metadata, ensure_ascii=False)))
        return uid

    def _decide(self, db, row: dict, outcome: str) -> None:
        db.execute("DELETE FROM unsorted WHERE account_id=? AND uid=?", (self.account_id, row["uid"]))
        db.execute("INSERT INTO unsorted_outcomes (account_id, uid, category, outcome, created_at, decided_at) "
                   "VALUES (?,?,?,?,?,?)", (self.account_id, row["uid"], row["category"], outcome, row["created_at"],
                                            self.at))

    def accept_unsorted(self, uid: str, body: Any) -> dict[str, Any]:
        """Move the lead to `status_id` (default: the pipeline's first ordinary stage), owned by `user_id`."""
        row = self._unsorted_row(uid)
        body = body if isinstance(body, dict) else {}
        errors = Errors()
        stages = self._statuses(row["pipeline_id"])
        status_id = body.get("status_id")
        if status_id is None:
            status_id = next((s["id"] for s in stages if s["type"] == 0 and s["is_editable"]), WON_STATUS_ID)
        elif not any(s["id"] == status_id and s["type"] != UNSORTED_TYPE for s in stages):
            errors.add("0", "status_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        if "user_id" in body and not self.user_exists(body["user_id"]):
            errors.add("0", "user_id", "NotSupportedChoice", "The value you selected is not a valid choice.")
        errors.raise_if_any()
        answer = {"uid": uid, "pipeline_id": row["pipeline_id"], "category": row["category"],
                  "created_at": row["created_at"], "_embedded": self._unsorted_refs(row["lead_id"])}
        with self.store.transaction() as db:
            if row["lead_id"] is not None:
                before = db.execute("SELECT status_id FROM leads WHERE id=?", (row["lead_id"],)).fetchone()[0]
                db.execute("UPDATE leads SET status_id=?, responsible_user_id=coalesce(?, responsible_user_id), "
                           "updated_at=? WHERE account_id=? AND id=?",
                           (status_id, body.get("user_id"), self.at, self.account_id, row["lead_id"]))
                self._event(db, "lead_status_changed", "leads", row["lead_id"],
                            [{"lead_status": {"id": status_id, "pipeline_id": row["pipeline_id"]}}],
                            [{"lead_status": {"id": before, "pipeline_id": row["pipeline_id"]}}])
            self._decide(db, row, "accepted")
        return answer

    def decline_unsorted(self, uid: str) -> dict[str, Any]:
        """Decline: the incoming lead is deleted."""
        row = self._unsorted_row(uid)
        refs = self._unsorted_refs(row["lead_id"])
        answer = {"uid": uid, "pipeline_id": row["pipeline_id"], "category": row["category"],
                  "created_at": row["created_at"], "_embedded": {"leads": refs["leads"], "contacts": refs["contacts"]}}
        with self.store.transaction() as db:
            if row["lead_id"] is not None:
                db.execute("UPDATE leads SET is_deleted=1, updated_at=? WHERE account_id=? AND id=?",
                           (self.at, self.account_id, row["lead_id"]))
                self._event(db, "lead_deleted", "leads", row["lead_id"])
            self._decide(db, row, "declined")
        return answer

    def link_unsorted(self, uid: str, body: Any) -> dict[str, Any]:
        """Attach the item to an existing lead: the incoming lead is dropped, its contacts move over."""
        row = self._unsorted_row(uid)
        target = (body or {}).get("link") if isinstance(body, dict) else None
        if not isinstance(target, dict) or target.get("entity_type") != "leads" or not _is_int(target.get("entity_id")):
            raise exc.validation_error("0", "link", "NotSupportedChoice", "The value you selected is not a valid choice.")
        self._record_row("leads", target["entity_id"])
        with self.store.transaction() as db:
            if row["lead_id"] is not None:
                for link in self._links_of("leads", [row["lead_id"]]):
                    self._link(db, "leads", target["entity_id"], link["to_entity_type"], link["to_entity_id"], None)
                db.execute("UPDATE leads SET is_deleted=1, updated_at=? WHERE account_id=? AND id=?",
                           (self.at, self.account_id, row["lead_id"]))
            self._decide(db, row, "linked")
        return {"uid": uid, "_embedded": {"leads": [self._ref("leads", target["entity_id"])]}}

    def unsorted_summary(self, filters: dict) -> dict[str, Any]:
        where, params = "account_id=?", [self.account_id]
        if "created_at" in filters:
            conds: list[str] = []
            _range_filter(conds, params, "created_at", filters["created_at"])
            where += "".join(f" AND {c}" for c in conds)
        pending = self.rows(f"SELECT category FROM unsorted WHERE {where}", params)
        decided = self.rows(f"SELECT category, outcome, created_at, decided_at FROM unsorted_outcomes WHERE {where}",
                            params)
        sort_times = [d["decided_at"] - d["created_at"] for d in decided]
        categories = {c: {"total": sum(1 for r in pending + decided if r["category"] == c)}
                      for c in UNSORTED_CATEGORIES}
        return {"total": len(pending) + len(decided),
                "accepted": sum(1 for d in decided if d["outcome"] == "accepted"),
                "declined": sum(1 for d in decided if d["outcome"] == "declined"),
                "average_sort_time": round(sum(sort_times) / len(sort_times)) if sort_times else 0,
                "categories": categories}


# --- complex add -----------------------------------------------------------------------------------

MAX_COMPLEX = 50
MAX_COMPLEX_FIELD_VALUES = 40


class ComplexMixin(UnsortedMixin):
    def add_complex(self, body: Any) -> list[dict[str, Any]]:
        """POST /leads/complex: each lead with at most one contact and one company (by id or new), in one call.
        `_embedded.metadata` makes the lead an unsorted one. No duplicate control: `merged` is always false."""
        items = batch(body, limit=MAX_COMPLEX)
        errors = Errors()
        for rid, item in items:
            embedded = item.get("_embedded") or {}
            if not isinstance(embedded, dict):
                errors.add(rid, "_embedded", "InvalidType", "This value should be of type array.")
                continue
            for kind in ("contacts", "companies"):
                if not isinstance(embedded.get(kind, []), list) or len(embedded.get(kind, [])) > 1:
                    errors.add(rid, f"_embedded.{kind}", "InvalidType", "At most one item.")
            for path, entity in [("", item)] + [(f"_embedded.{k}.0.", (embedded.get(k) or [{}])[0])
                                                for k in ("contacts", "companies")]:
                values = entity.get("custom_fields_values") if isinstance(entity, dict) else None
                if isinstance(values, list) and len(values) > MAX_COMPLEX_FIELD_VALUES:
                    errors.add(rid, f"{path}custom_fields_values", "TooMany",
                               f"At most {MAX_COMPLEX_FIELD_VALUES} custom field values per entity.")
            metadata = embedded.get("metadata")
            if metadata is not None and (not isinstance(metadata, dict)
                                         or metadata.get("category") not in UNSORTED_CREATABLE):
                errors.add(rid, "_embedded.metadata.category", "NotSupportedChoice",
                           "The value you selected is not a valid choice.")
        errors.raise_if_any()
        answers = []
        with self.store.transaction() as db:
            for rid, item in items:
                embedded = dict(item.get("_embedded") or {})
                ids: dict[str, int | None] = {"contacts": None, "companies": None}
                for kind in ("contacts", "companies"):
                    if embedded.get(kind):
                        given = embedded[kind][0]
                        if set(given) <= {"id", "is_main"} and _is_int(given.get("id")):
                            ids[kind] = given["id"]     # an existing one; _check_common validates it below
                        else:
                            ids[kind] = self._nested_add(kind, {**given, "request_id": rid}, f"_embedded.{kind}.0.")
                lead = {k: v for k, v in item.items() if k != "_embedded"}
                lead["_embedded"] = {k: v for k, v in embedded.items() if k not in ("contacts", "companies",
                                                                                     "metadata")}
                if ids["contacts"]:
                    lead["_embedded"]["contacts"] = [{"id": ids["contacts"], "is_main": True}]
                if ids["companies"]:
                    lead["_embedded"]["companies"] = [{"id": ids["companies"]}]
                lead["request_id"] = rid
                lead_id = self._nested_add("leads", lead, "")
                if ids["contacts"] and ids["companies"]:
                    self._link(db, "contacts", ids["contacts"], "companies", ids["companies"], None)
                metadata = embedded.get("metadata")
                if metadata:
                    pipeline_id = db.execute("SELECT pipeline_id FROM leads WHERE id=?", (lead_id,)).fetchone()[0]
                    self._insert_unsorted(db, lead_id=lead_id, pipeline_id=pipeline_id,
                                          category=metadata["category"], source_uid=str(metadata.get("source_uid", "")),
                                          source_name=str(metadata.get("source_name", "")), metadata=metadata,
                                          created_at=item.get("created_at", self.at))
                answers.append({"id": lead_id, "contact_id": ids["contacts"], "company_id": ids["companies"],
                                "request_id": [rid], "merged": False})
        return answers


class AmoAccount(ComplexMixin):
    """The whole amoCRM API of one account (see the mixins above, one per family of endpoints)."""
