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


def account_ids(store: Store) -> dict[str, int]:
    return {r["subdomain"]: r["id"] for r in store.query("SELECT id, subdomain FROM accounts WHERE crm='amocrm'")}


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


class AmoAccount:
    """One account's API behaviour. `base` is the absolute account URL links are built on."""

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

    def settings(self) -> dict[str, Any]:
        row = self.store.query("SELECT settings FROM accounts WHERE id=?", (self.account_id,))[0]
        return _loads(row["settings"], {})

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
