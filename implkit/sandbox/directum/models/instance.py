"""Directum RX instances over the store: creation, logins, rows.

An instance is an `accounts` row with crm='directum'; its settings hold what differs between
installations (reference/directum-rx.md §1, §2.1, §7.2):

- ``service``: the service-name segment (``Integration`` by default; installations also use
  ``DrxIntegration``);
- ``max_entities``: the server's guard against big unfiltered reads (`limits.py`);
- ``empty_204``: an empty collection answers 204 No Content (observed by two clients; on by default);
- ``overrides``: customer layers, type -> {"layer", "properties": [[name, edm type]]}.

A fresh instance has what a new RX installation has for a client: the Administrator employee and the
service user "Integration Service" (the login the vendor's import tool recommends), whose password
is generated and returned once.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any, Iterable

from implkit.sandbox.directum.limits import DEFAULT_MAX_ENTITIES
from implkit.sandbox.directum.models.schema import TYPES, Model
from implkit.sandbox.store import Store

INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SERVICES = ("Integration", "DrxIntegration")
SERVICE_LOGIN = "Integration Service"


def base_path(name: str, service: str = "Integration") -> str:
    """The service root relative to the sandbox server: append /odata/... as to https://HOST/Integration."""
    return f"/directum/{name}/{service}"


def instance_by_name(store: Store, name: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM accounts WHERE crm='directum' AND subdomain=?", (name,))
    if not rows:
        return None
    instance = dict(rows[0])
    instance["settings"] = json.loads(instance["settings"] or "{}")
    return instance


def list_instances(store: Store) -> list[dict[str, Any]]:
    out = []
    for row in store.query("SELECT id, subdomain, settings FROM accounts WHERE crm='directum' ORDER BY id"):
        service = json.loads(row["settings"] or "{}").get("service", "Integration")
        out.append({"id": row["id"], "name": row["subdomain"], "base_path": base_path(row["subdomain"], service)})
    return out


def model_of(instance: dict[str, Any]) -> Model:
    return Model(overrides=instance["settings"].get("overrides", {}))


def create_instance(store: Store, name: str, *, service: str = "Integration", max_entities: int = DEFAULT_MAX_ENTITIES,
                    overrides: dict | None = None, created_at: float = 0) -> dict[str, Any]:
    """Create instance `name`; returns {id, name, base_path, login, password} (the password only here)."""
    if not INSTANCE_NAME.match(name or ""):
        raise ValueError(f"invalid instance name {name!r}: lower-case letters, digits and '-' only")
    if service not in SERVICES:
        raise ValueError(f"unknown service name {service!r}: expected one of {', '.join(SERVICES)}")
    for type_name in overrides or {}:
        if type_name not in TYPES:
            raise ValueError(f"cannot override unknown type {type_name!r}")
    settings = {"service": service, "max_entities": max_entities, "empty_204": True, "overrides": overrides or {}}
    password = secrets.token_urlsafe(12)
    with store.transaction() as db:
        if db.execute("SELECT 1 FROM accounts WHERE crm='directum' AND subdomain=?", (name,)).fetchone():
            raise ValueError(f"instance {name!r} already exists")
        account_id = db.execute(
            "INSERT INTO accounts (crm, subdomain, name, created_at, settings) VALUES ('directum', ?, ?, ?, ?)",
            (name, name, int(created_at), json.dumps(settings))).lastrowid
        db.execute("INSERT INTO drx_logins (account_id, login, password) VALUES (?, ?, ?)",
                   (account_id, SERVICE_LOGIN, password))
    insert(store, account_id, [("Employee", {"Name": "Администратор", "Email": None, "Phone": None,
                                             "PersonnelNumber": None, "Status": "Active"}, {})])
    return {"id": account_id, "name": name, "base_path": base_path(name, service), "login": SERVICE_LOGIN,
            "password": password}


def set_password(store: Store, account_id: int, login: str, password: str) -> None:
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO drx_logins (account_id, login, password) VALUES (?, ?, ?)",
                   (account_id, login, password))


def check_login(store: Store, account_id: int, login: str, password: str) -> bool:
    rows = store.query("SELECT password FROM drx_logins WHERE account_id=? AND login=?", (account_id, login))
    return bool(rows) and secrets.compare_digest(rows[0]["password"].encode(), password.encode())


def empty_row(type_name: str, model: Model) -> dict[str, Any]:
    return {name: (False if edm == "Edm.Boolean" else None) for name, edm in model.properties(type_name).items()}


def insert(store: Store, account_id: int, rows: Iterable[tuple[str, dict, dict]]) -> list[int]:
    """Insert (type, properties, navigation ids) rows; ids continue each table's sequence. Returns the ids."""
    ids = []
    with store.transaction() as db:
        for type_name, data, refs in rows:
            table = TYPES[type_name].table
            last = db.execute("SELECT max(id) FROM drx_records WHERE account_id=? AND tbl=?",
                              (account_id, table)).fetchone()[0]
            row_id = (last or 0) + 1
            db.execute("INSERT INTO drx_records (account_id, tbl, id, type, data, refs) VALUES (?, ?, ?, ?, ?, ?)",
                       (account_id, table, row_id, type_name, json.dumps({**data, "Id": row_id}, ensure_ascii=False),
                        json.dumps({k: v for k, v in refs.items() if v is not None})))
            ids.append(row_id)
    return ids


def _row(record) -> dict[str, Any]:
    data = json.loads(record["data"])
    data["@type"] = record["type"]
    data["@refs"] = json.loads(record["refs"])
    return data


def rows_of(store: Store, account_id: int, types: list[str], id_from: int | None = None) -> list[dict[str, Any]]:
    """Rows of the given concrete types (one table), by id; from `id_from` on when given."""
    if not types:
        return []
    table = TYPES[types[0]].table
    sql = (f"SELECT type, data, refs FROM drx_records WHERE account_id=? AND tbl=? "
           f"AND type IN ({','.join('?' * len(types))})")
    params: list[Any] = [account_id, table, *types]
    if id_from is not None:
        sql += " AND id >= ?"
        params.append(id_from)
    return [_row(r) for r in store.query(sql + " ORDER BY id", params)]


def get_row(store: Store, account_id: int, table: str, row_id: int) -> dict[str, Any] | None:
    rows = store.query("SELECT type, data, refs FROM drx_records WHERE account_id=? AND tbl=? AND id=?",
                       (account_id, table, row_id))
    return _row(rows[0]) if rows else None
