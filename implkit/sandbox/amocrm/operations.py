"""Sandbox operations shared by the control API, the Python `Sandbox` facade and the CLI.

One place for each: create an account, issue a token, set faults, read the
request log, reset. Each takes the gateway (`app.SandboxApp`) and a subdomain.
"""

from __future__ import annotations

from typing import Any

from implkit.sandbox.amocrm import models as amo
from implkit.sandbox.faults import parse_faults

ACCOUNT_TABLES = (  # every table with account data, in the order a wipe may go
    "entity_links", "notes", "tasks", "events", "unsorted", "leads", "contacts", "companies", "tags",
    "custom_fields", "custom_field_groups", "statuses", "pipelines", "loss_reasons", "sources", "webhooks",
    "users", "roles", "user_groups",
)


class UnknownAccount(LookupError):
    def __init__(self, subdomain: str):
        super().__init__(f"no sandbox account {subdomain!r}")


def base_path(subdomain: str) -> str:
    """The account root relative to the server: append /api/v4/... to it."""
    return f"/amocrm/{subdomain}"


def _account_id(gateway, subdomain: str) -> int:
    account = amo.account_by_subdomain(gateway.store, subdomain)
    if account is None:
        raise UnknownAccount(subdomain)
    return account["id"]


def list_accounts(gateway) -> list[dict[str, Any]]:
    return [{"id": r["id"], "subdomain": r["subdomain"], "name": r["name"], "base_path": base_path(r["subdomain"])}
            for r in gateway.store.query("SELECT * FROM accounts WHERE crm='amocrm' ORDER BY id")]


def create_account(gateway, subdomain: str, name: str | None = None) -> dict[str, Any]:
    account_id = amo.bootstrap_account(gateway.store, subdomain, name)
    return {"id": account_id, "subdomain": subdomain, "base_path": base_path(subdomain)}


def issue_token(gateway, subdomain: str) -> str:
    return amo.issue_long_lived_token(gateway.store, _account_id(gateway, subdomain), issued_at=gateway.now())


def token_op(gateway, subdomain: str, body: dict, params: dict) -> dict[str, Any]:
    return {"access_token": issue_token(gateway, subdomain), "token_type": "Bearer"}


def oauth_client(gateway, subdomain: str, redirect_uri: str = "https://example.com/oauth") -> dict[str, Any]:
    """Install an integration and authorise it: client credentials plus a fresh authorization code."""
    account_id = _account_id(gateway, subdomain)
    client = amo.register_oauth_client(gateway.store, account_id, redirect_uri)
    client["code"] = amo.issue_auth_code(gateway.store, account_id, client["client_id"], issued_at=gateway.now())
    return client


def oauth_op(gateway, subdomain: str, body: dict, params: dict) -> dict[str, Any]:
    return oauth_client(gateway, subdomain, str(body.get("redirect_uri") or "https://example.com/oauth"))


def set_faults(gateway, subdomain: str, spec: str | None, seed: int = 0) -> dict[str, Any]:
    _account_id(gateway, subdomain)
    parsed = parse_faults(spec)
    gateway.runtime(subdomain).set_faults(parsed, int(seed))
    return get_faults(gateway, subdomain)


def get_faults(gateway, subdomain: str) -> dict[str, Any]:
    _account_id(gateway, subdomain)
    runtime = gateway.runtime(subdomain)
    return {**runtime.faults.describe(), "blocked": runtime.limiter.blocked}


def get_faults_op(gateway, subdomain: str, body: dict, params: dict) -> dict[str, Any]:
    return get_faults(gateway, subdomain)


def set_faults_op(gateway, subdomain: str, body: dict, params: dict) -> dict[str, Any]:
    seed = body.get("seed", 0)
    if not isinstance(seed, int):
        raise ValueError("seed: expected a whole number")
    return set_faults(gateway, subdomain, body.get("spec"), seed)


def request_log(gateway, subdomain: str, since: int = 0) -> list[dict[str, Any]]:
    account_id = _account_id(gateway, subdomain)
    return [dict(r) for r in gateway.store.query(
        "SELECT seq, at, method, path, status, client, entities_written FROM request_log "
        "WHERE account_id=? AND seq>? ORDER BY seq", (account_id, since))]


def requests_op(gateway, subdomain: str, body: dict, params: dict) -> list[dict[str, Any]]:
    since = params.get("since", "0")
    if not since.isdigit():
        raise ValueError("since: expected a whole number")
    return request_log(gateway, subdomain, int(since))


def reset(gateway, subdomain: str, data: bool = False) -> dict[str, Any]:
    """Unblock and clear the runtime state and the request log; with `data`, re-create the account empty."""
    account_id = _account_id(gateway, subdomain)
    name = amo.account_by_subdomain(gateway.store, subdomain)["name"]
    gateway.runtime(subdomain).reset()
    with gateway.store.transaction() as db:
        db.execute("DELETE FROM request_log WHERE account_id=?", (account_id,))
        if data:
            for table in ACCOUNT_TABLES:
                db.execute(f"DELETE FROM {table} WHERE account_id=?", (account_id,))
            db.execute("DELETE FROM accounts WHERE id=?", (account_id,))
    if data:
        new_id = amo.bootstrap_account(gateway.store, subdomain, name)
        with gateway.store.transaction() as db:   # keep the account id (and so its tokens) stable
            for table in ACCOUNT_TABLES + ("tokens", "oauth_clients", "auth_codes"):
                db.execute(f"UPDATE {table} SET account_id=? WHERE account_id=?", (account_id, new_id))
            db.execute("UPDATE accounts SET id=? WHERE id=?", (account_id, new_id))
    return get_faults(gateway, subdomain) | {"data_reset": bool(data)}


def reset_op(gateway, subdomain: str, body: dict, params: dict) -> dict[str, Any]:
    return reset(gateway, subdomain, params.get("data") in ("1", "true"))
