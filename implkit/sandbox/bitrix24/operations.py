"""Portal operations shared by the Python `Sandbox` facade and the control routes (`control.py`).

Each takes the Bitrix24 gateway (`gateway.Bitrix24Gateway`) and a portal name. Secrets are
returned only by the calls that create them (as the portal's UI shows a webhook once).
"""

from __future__ import annotations

from typing import Any

from implkit.sandbox.bitrix24 import portal as portals
from implkit.sandbox.faults import parse_faults

PORTAL_TABLES = ("b24_crm", "b24_activities", "b24_stage_history", "b24_tasks", "b24_timeline_comments",
                 "b24_calls", "b24_call_stats", "b24_userfields", "b24_statuses", "b24_categories", "b24_users",
                 "b24_departments", "b24_sequences")


class UnknownPortal(LookupError):
    def __init__(self, name: str):
        super().__init__(f"no sandbox portal {name!r}")


def portal_id(gateway, name: str) -> int:
    portal = portals.portal_by_name(gateway.store, name)
    if portal is None:
        raise UnknownPortal(name)
    return portal["id"]


def create_portal(gateway, name: str, title: str | None = None, *, enterprise: bool = False) -> dict[str, Any]:
    account_id = portals.bootstrap_portal(gateway.store, name, title=title, enterprise=enterprise,
                                          created_at=gateway.now())
    gateway.runtime(name).set_plan(enterprise)
    return {"id": account_id, "name": name, "base_path": portals.base_path(name), "enterprise": enterprise}


def seed(gateway, name: str, *, deals: int, seed_value: int = 0, ground_truth_path=None, now: int | None = None,
         enterprise: bool = False, progress=None):
    """Fill portal `name` (created first when missing) with `seed.seed_portal`; returns its SeedSummary.
    The one path the command line (`implkit sandbox bitrix24 seed`) and the demo take."""
    from implkit.sandbox.bitrix24.seed import seed_portal
    if portals.portal_by_name(gateway.store, name) is None:
        create_portal(gateway, name, enterprise=enterprise)
    return seed_portal(gateway.store, portal_id(gateway, name), deals=deals, seed=seed_value, now=now,
                       ground_truth_path=ground_truth_path, progress=progress)


def webhook_path(gateway, name: str, user_id: int = 1, scope: tuple[str, ...] | None = None,
                 expires_in: float | None = None) -> str:
    """A new incoming webhook: the path to append a method to, /bitrix24/NAME/rest/USER/SECRET/."""
    account_id = portal_id(gateway, name)
    if not gateway.store.query("SELECT 1 FROM b24_users WHERE account_id=? AND id=?", (account_id, user_id)):
        raise ValueError(f"portal {name!r} has no user {user_id}")
    secret = portals.create_webhook(gateway.store, account_id, user_id=user_id, scope=scope or portals.ALL_SCOPES,
                                    created_at=gateway.now(),
                                    expires_at=None if expires_in is None else gateway.now() + expires_in)
    return f"{portals.base_path(name)}/rest/{user_id}/{secret}/"


def oauth_install(gateway, name: str, client_id: str = "local.sandbox", user_id: int = 1) -> dict[str, Any]:
    """An installed application: its token pair, `client_endpoint` (relative) and where to refresh."""
    pair = portals.issue_oauth(gateway.store, portal_id(gateway, name), client_id=client_id, user_id=user_id,
                               at=gateway.now())
    return {**pair, "client_endpoint": f"{portals.base_path(name)}/rest/",
            "token_endpoint": "/bitrix24/oauth.bitrix.info/oauth/token/"}


def set_plan(gateway, name: str, enterprise: bool) -> None:
    """Standard (2 req/s, burst 50) or Enterprise (5 req/s, burst 250) leaky bucket."""
    import json
    account_id = portal_id(gateway, name)
    portal = portals.portal_by_name(gateway.store, name)
    settings = {**portal["settings"], "plan": "enterprise" if enterprise else "standard"}
    with gateway.store.transaction() as db:
        db.execute("UPDATE accounts SET settings=? WHERE id=?", (json.dumps(settings), account_id))
    gateway.runtime(name).set_plan(enterprise)


def set_faults(gateway, name: str, spec: str | None, seed: int = 0) -> dict[str, Any]:
    portal_id(gateway, name)
    gateway.runtime(name).set_faults(parse_faults(spec), int(seed))
    return get_faults(gateway, name)


def get_faults(gateway, name: str) -> dict[str, Any]:
    portal_id(gateway, name)
    return gateway.runtime(name).faults.describe()


def request_log(gateway, name: str, since: int = 0) -> list[dict[str, Any]]:
    account_id = portal_id(gateway, name)
    return [dict(r) for r in gateway.store.query(
        "SELECT seq, at, method, path, status, client, entities_written FROM request_log "
        "WHERE account_id=? AND seq>? ORDER BY seq", (account_id, since))]


def reset(gateway, name: str, data: bool = False) -> dict[str, Any]:
    """Empty both limiters and the request log; with `data`, wipe the portal's records (credentials stay)
    and re-create its defaults."""
    account_id = portal_id(gateway, name)
    gateway.runtime(name).reset()
    with gateway.store.transaction() as db:
        db.execute("DELETE FROM request_log WHERE account_id=?", (account_id,))
    if data:
        portal = portals.portal_by_name(gateway.store, name)
        credentials = gateway.store.query("SELECT * FROM b24_credentials WHERE account_id=?", (account_id,))
        with gateway.store.transaction() as db:
            for table in PORTAL_TABLES + ("b24_credentials",):
                db.execute(f"DELETE FROM {table} WHERE account_id=?", (account_id,))
            db.execute("DELETE FROM accounts WHERE id=?", (account_id,))
        new_id = portals.bootstrap_portal(gateway.store, name, title=portal["name"],
                                          enterprise=portal["settings"].get("plan") == "enterprise",
                                          created_at=gateway.now())
        with gateway.store.transaction() as db:   # keep the account id, and so every credential
            for table in PORTAL_TABLES:
                db.execute(f"UPDATE {table} SET account_id=? WHERE account_id=?", (account_id, new_id))
            db.execute("UPDATE accounts SET id=? WHERE id=?", (account_id, new_id))
            db.executemany("INSERT INTO b24_credentials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [tuple(r) for r in credentials])
    return get_faults(gateway, name) | {"data_reset": bool(data)}
