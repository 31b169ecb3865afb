"""Portals: creation with a fresh portal's defaults, credentials, per-portal id sequences.

`bootstrap_portal(store, name)` creates a portal (an `accounts` row with crm='bitrix24') the way
a new cloud portal starts: one administrator (user 1) in the root department, the default deal
pipeline 0 with its eight stages, lead statuses, sources and the type dictionaries. Ids are per
portal (each real portal has its own database), from `b24_sequences`.

Credentials live in `b24_credentials`: an incoming webhook is (user id, secret) with a scope
list; an OAuth application gets an access token (1 hour) and a refresh token (180 days). A
secret belongs to one portal only; using it on another answers INVALID_CREDENTIALS (as a wrong secret).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from typing import Any

from implkit.sandbox.store import Store

PORTAL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TZ_SECONDS = 3 * 3600                     # a Russian cloud portal: Moscow time, +03:00
ALL_SCOPES = ("crm", "user", "user_brief", "user_basic", "department", "task", "telephony")
ACCESS_TOKEN_LIFETIME = 3600
REFRESH_TOKEN_LIFETIME = 180 * 86400

# The default pipeline's stages, as crm.status.list prints them for DEAL_STAGE (colours from the
# doc example); names as a Russian portal shows them. (STATUS_ID, name, sort, semantics, system, colour)
DEAL_STAGES = [
    ("NEW", "Новая", 10, None, True, "#39A8EF"),
    ("PREPARATION", "Подготовка документов", 20, None, False, "#2FC6F6"),
    ("PREPAYMENT_INVOICE", "Счёт на предоплату", 30, None, False, "#55D0E0"),
    ("EXECUTING", "В работе", 40, None, False, "#47E4C2"),
    ("FINAL_INVOICE", "Финальный счёт", 50, None, False, "#FFA900"),
    ("WON", "Сделка успешна", 60, "S", True, "#7BD500"),
    ("LOSE", "Сделка провалена", 70, "F", True, "#FF5752"),
    ("APOLOGY", "Анализ причины провала", 80, "F", False, "#FF5752"),
]
LEAD_STATUSES = [
    ("NEW", "Не обработан", 10, None, True, "#2FC6F6"),
    ("IN_PROCESS", "В работе", 20, None, False, "#55D0E0"),
    ("PROCESSED", "Обработан", 30, None, False, "#FFA900"),
    ("CONVERTED", "Качественный лид", 40, "S", True, "#7BD500"),
    ("JUNK", "Некачественный лид", 50, "F", True, "#FF5752"),
]
DICTIONARIES = {
    "SOURCE": [("CALL", "Звонок"), ("EMAIL", "Электронная почта"), ("WEB", "Веб-сайт"),
               ("ADVERTISING", "Реклама"), ("PARTNER", "Существующий клиент"), ("RECOMMENDATION", "По рекомендации"),
               ("TRADE_SHOW", "Выставка"), ("WEBFORM", "CRM-форма"), ("CALLBACK", "Обратный звонок"),
               ("RC_GENERATOR", "Генератор продаж"), ("STORE", "Интернет-магазин"), ("OTHER", "Другое")],
    "DEAL_TYPE": [("SALE", "Продажа"), ("COMPLEX", "Комплексная продажа"), ("GOODS", "Продажа товара"),
                  ("SERVICES", "Продажа услуги"), ("SERVICE", "Сервисное обслуживание")],
    "CONTACT_TYPE": [("CLIENT", "Клиенты"), ("SUPPLIER", "Поставщики"), ("PARTNER", "Партнеры"),
                     ("OTHER", "Другое")],
    "COMPANY_TYPE": [("CUSTOMER", "Клиент"), ("SUPPLIER", "Поставщик"), ("COMPETITOR", "Конкурент"),
                     ("PARTNER", "Партнер"), ("OTHER", "Другое")],
}
DEFAULT_PIPELINE_NAME = "Общая"
DEFAULT_PIPELINE_SORT = 300


def iso(at: float) -> str:
    """A timestamp as the portal prints datetimes: ISO 8601 in portal time with the offset."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+03:00", time.gmtime(int(at) + TZ_SECONDS))


def stage_entity(category_id: int) -> str:
    return "DEAL_STAGE" if not category_id else f"DEAL_STAGE_{category_id}"


def stage_prefix(category_id: int) -> str:
    return "" if not category_id else f"C{category_id}:"


def next_ids(db, account_id: int, name: str, count: int = 1) -> int:
    """Reserve `count` ids of sequence `name` in this portal; return the first."""
    row = db.execute("SELECT value FROM b24_sequences WHERE account_id=? AND name=?", (account_id, name)).fetchone()
    first = (row[0] if row else 0) + 1
    db.execute("INSERT INTO b24_sequences (account_id, name, value) VALUES (?, ?, ?) "
               "ON CONFLICT (account_id, name) DO UPDATE SET value=excluded.value",
               (account_id, name, first + count - 1))
    return first


def portal_by_name(store: Store, name: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM accounts WHERE crm='bitrix24' AND subdomain=?", (name,))
    if not rows:
        return None
    portal = dict(rows[0])
    portal["settings"] = json.loads(portal["settings"] or "{}")
    return portal


def list_portals(store: Store) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r["subdomain"], "base_path": base_path(r["subdomain"])}
            for r in store.query("SELECT id, subdomain FROM accounts WHERE crm='bitrix24' ORDER BY id")]


def base_path(name: str) -> str:
    """The portal root relative to the server; append /rest/... to it as to https://NAME.bitrix24.ru."""
    return f"/bitrix24/{name}"


def insert_stages(db, account_id: int, entity_id: str, category_id: int | None, prefix: str,
                  stages: list[tuple]) -> None:
    first = next_ids(db, account_id, "status", len(stages))
    db.executemany(
        "INSERT INTO b24_statuses (account_id, id, entity_id, status_id, name, name_init, sort, system, "
        "category_id, color, semantics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(account_id, first + i, entity_id, prefix + code, name, name if system else "", sort, int(system),
          category_id, colour, semantics)
         for i, (code, name, sort, semantics, system, colour) in enumerate(stages)])


def bootstrap_portal(store: Store, name: str, *, title: str | None = None, enterprise: bool = False,
                     created_at: float = 0) -> int:
    """Create portal `name` with a new portal's defaults; return its account id."""
    if not PORTAL_NAME.match(name or ""):
        raise ValueError(f"invalid portal name {name!r}: lower-case letters, digits and '-' only")
    settings = {"plan": "enterprise" if enterprise else "standard", "crm_mode": 1,
                "member_id": secrets.token_hex(16), "timezone_offset": "+03:00", "currency": "RUB"}
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM accounts WHERE crm='bitrix24' AND subdomain=?", (name,)).fetchone():
            raise ValueError(f"portal {name!r} already exists")
        account_id = db.execute(
            "INSERT INTO accounts (crm, subdomain, name, created_at, settings) VALUES ('bitrix24', ?, ?, ?, ?)",
            (name, title or name, int(created_at), json.dumps(settings))).lastrowid
        department = next_ids(db, account_id, "department")
        db.execute("INSERT INTO b24_departments (account_id, id, name, sort, parent, uf_head) VALUES (?, ?, ?, 500, "
                   "NULL, 1)", (account_id, department, title or name))
        user_id = next_ids(db, account_id, "user")
        db.execute("INSERT INTO b24_users (account_id, id, active, data) VALUES (?, ?, 1, ?)",
                   (account_id, user_id, json.dumps(user_record(
                       user_id, "Администратор", "", f"admin@{name}.example", [department], True, created_at,
                       position="Администратор портала"), ensure_ascii=False)))
        db.execute("INSERT INTO b24_categories (account_id, entity_type_id, id, name, sort, is_default) "
                   "VALUES (?, 2, 0, ?, ?, 1)", (account_id, DEFAULT_PIPELINE_NAME, DEFAULT_PIPELINE_SORT))
        insert_stages(db, account_id, "DEAL_STAGE", None, "", DEAL_STAGES)
        insert_stages(db, account_id, "STATUS", None, "", LEAD_STATUSES)
        for entity_id, items in DICTIONARIES.items():
            insert_stages(db, account_id, entity_id, None, "",
                          [(code, label, 10 * (i + 1), None, True, None) for i, (code, label) in enumerate(items)])
    return account_id


def user_record(user_id: int, first: str, last: str, email: str, departments: list[int], active: bool,
                registered: float, *, position: str = "", phone: str = "") -> dict[str, Any]:
    """A user as user.get prints one (user.get.response): ACTIVE a boolean, UF_DEPARTMENT ints."""
    return {"ID": str(user_id), "ACTIVE": active, "NAME": first, "LAST_NAME": last, "SECOND_NAME": "",
            "EMAIL": email, "LAST_LOGIN": iso(registered), "DATE_REGISTER": iso(registered), "TIME_ZONE": "",
            "IS_ONLINE": "N", "PERSONAL_GENDER": "", "PERSONAL_BIRTHDAY": "", "PERSONAL_MOBILE": phone,
            "WORK_PHONE": "", "WORK_POSITION": position, "UF_EMPLOYMENT_DATE": "", "UF_DEPARTMENT": departments,
            "USER_TYPE": "employee", "PERSONAL_CITY": "", "PERSONAL_WWW": "",
            # user.get prints these two dates as {} (PHP date objects serialised empty: user.get.response);
            # user.current prints LAST_ACTIVITY_DATE as "Y-m-d H:i:s" (models.Portal.user_current)
            "TIMESTAMP_X": {}, "LAST_ACTIVITY_DATE": {}}


# --- credentials -------------------------------------------------------------------------------
def create_webhook(store: Store, account_id: int, *, user_id: int = 1, scope: tuple[str, ...] = ALL_SCOPES,
                   created_at: float = 0, expires_at: float | None = None) -> str:
    """A new incoming webhook of `user_id`; returns its secret (shown once, like the portal's UI).
    A webhook may carry an expiry date, after which calls fail with the authorization error."""
    secret = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    with store.transaction() as db:
        db.execute("INSERT INTO b24_credentials (account_id, kind, secret, user_id, scope, expires_at, created_at) "
                   "VALUES (?, 'webhook', ?, ?, ?, ?, ?)",
                   (account_id, secret, user_id, ",".join(scope), None if expires_at is None else int(expires_at),
                    int(created_at)))
    return secret


def issue_oauth(store: Store, account_id: int, *, client_id: str = "local.sandbox", user_id: int = 1,
                scope: tuple[str, ...] = ALL_SCOPES, at: float = 0) -> dict[str, Any]:
    """An installed application's token pair, as oauth.bitrix.info answers (oauth.token.*.response)."""
    access, refresh = secrets.token_hex(32), secrets.token_hex(32)
    with store.transaction() as db:
        db.executemany("INSERT INTO b24_credentials (account_id, kind, secret, user_id, client_id, scope, expires_at, "
                       "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       [(account_id, "access", access, user_id, client_id, ",".join(scope),
                         int(at) + ACCESS_TOKEN_LIFETIME, int(at)),
                        (account_id, "refresh", refresh, user_id, client_id, ",".join(scope),
                         int(at) + REFRESH_TOKEN_LIFETIME, int(at))])
    return {"access_token": access, "refresh_token": refresh, "expires_in": ACCESS_TOKEN_LIFETIME,
            "expires": int(at) + ACCESS_TOKEN_LIFETIME, "scope": ",".join(scope), "user_id": user_id,
            "client_id": client_id}


def refresh_oauth(store: Store, account_id: int, refresh_token: str, *, at: float) -> dict[str, Any] | None:
    """Exchange a live refresh token for a new pair (the old refresh token dies); None if it is not live."""
    rows = store.query("SELECT user_id, client_id, scope, expires_at FROM b24_credentials WHERE account_id=? AND "
                       "kind='refresh' AND secret=?", (account_id, refresh_token))
    if not rows or rows[0]["expires_at"] <= at:
        return None
    with store.transaction() as db:
        db.execute("DELETE FROM b24_credentials WHERE account_id=? AND kind='refresh' AND secret=?",
                   (account_id, refresh_token))
    row = rows[0]
    return issue_oauth(store, account_id, client_id=row["client_id"], user_id=row["user_id"],
                       scope=tuple(row["scope"].split(",")), at=at)


def expire_access_tokens(store: Store, account_id: int, *, at: float) -> int:
    with store.transaction() as db:
        return db.execute("UPDATE b24_credentials SET expires_at=? WHERE account_id=? AND kind='access' AND "
                          "expires_at>?", (int(at), account_id, int(at))).rowcount


def credential(store: Store, account_id: int, kind: str, secret: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM b24_credentials WHERE account_id=? AND kind=? AND secret=?",
                       (account_id, kind, secret))
    return dict(rows[0]) if rows else None
