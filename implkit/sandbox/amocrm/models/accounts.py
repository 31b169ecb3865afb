"""Accounts: id sequences and the account a sign-up creates."""

from __future__ import annotations

import json
import uuid
from typing import Any

from implkit.sandbox.amocrm.models.constants import (
    DEFAULT_PIPELINE_NAME, DEFAULT_STATUSES, FULL_ENTITY_RIGHTS, LOST_STATUS, LOST_STATUS_ID, PREDEFINED_FIELDS,
    PREDEFINED_GROUPS, STATUS_COLOURS, STATUS_ID_FLOOR, UNSORTED_STATUS, UNSORTED_TYPE, WON_STATUS,
    WON_STATUS_ID, now,
)
from implkit.sandbox.store import Store


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
