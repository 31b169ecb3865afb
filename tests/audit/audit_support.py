"""Helpers for the audit tests (a unique module name: every test folder has its own conftest)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


from implkit.audit.snapshot import Snapshot
from implkit.http.asgi import SyncASGITransport

NOW = 1_700_000_000
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PIPELINE = 100
STAGES = [
    {"id": 10, "name": "Неразобранное", "sort": 10, "type": 1},
    {"id": 11, "name": "Первичный контакт", "sort": 20},
    {"id": 12, "name": "Квалификация", "sort": 30},
    {"id": 13, "name": "КП отправлено", "sort": 40},
    {"id": 14, "name": "Договор", "sort": 50},
    {"id": 142, "name": "Успешно реализовано", "sort": 10000},
    {"id": 143, "name": "Закрыто и не реализовано", "sort": 11000},
]
USERS = [
    {"id": 1, "name": "Анна", "is_active": True, "rights": {"leads": {"export": "D"}}},
    {"id": 2, "name": "Борис", "is_active": True, "rights": {"leads": {"export": "D"}}},
    {"id": 3, "name": "Уволен", "is_active": False, "rights": {}},
]
DEFAULTS: dict[str, dict[str, Any]] = {
    "leads": {"pipeline_id": PIPELINE, "status_id": 11, "price": 1000, "responsible_user_id": 1,
              "created_at": "now-1h", "updated_at": "now-1h"},
    "contacts": {"responsible_user_id": 1, "created_at": "now-1h", "updated_at": "now-1h"},
    "companies": {"responsible_user_id": 1, "created_at": "now-1h", "updated_at": "now-1h"},
    "tasks": {"responsible_user_id": 1, "is_completed": False, "complete_till": "now+1d", "text": "Позвонить",
              "created_at": "now-1h", "updated_at": "now-1h"},
    "notes": {"note_type": "common", "created_at": "now-1h", "updated_at": "now-1h"},
    "events": {"created_at": "now-1h"},
    "users": {"is_active": True},
}


def resolve_times(value: Any) -> Any:
    """`now`, `now-2d`, `now+15m` → Unix seconds relative to NOW; other values unchanged."""
    if isinstance(value, str):
        m = re.fullmatch(r"now(?:([+-])(\d+)([smhd]))?", value)
        if m:
            if not m.group(1):
                return NOW
            delta = int(m.group(2)) * UNITS[m.group(3)]
            return NOW + delta if m.group(1) == "+" else NOW - delta
    if isinstance(value, dict):
        return {k: resolve_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_times(v) for v in value]
    return value


def build_snapshot(path: Path, records: dict[str, list[dict]] | None = None, *, users=None, stages=None) -> Snapshot:
    snap = Snapshot(path)
    snap.insert("users", [{**DEFAULTS["users"], **u} for u in (users or USERS)])
    snap.insert("pipelines", [{"id": PIPELINE, "name": "Продажи", "sort": 1, "is_main": True,
                               "stages": stages or STAGES}])
    for entity in ("roles", "loss_reasons", "custom_fields", "companies", "contacts", "leads", "tasks", "notes",
                   "events"):
        rows = (records or {}).get(entity) or []
        if rows:
            snap.insert(entity, [resolve_times({**DEFAULTS.get(entity, {}), **r}) for r in rows])
    snap.set_meta(snapshot_at=NOW)
    return snap


# --- the sandbox in-process, for sync tests -------------------------------------------------------

class SyncRig:
    """A sandbox account on a frozen clock that moves only when the client waits (rate limit, Retry-After)."""

    SUBDOMAIN = "acme"

    def __init__(self, tmp_path: Path, start: float = 1_800_000_000.0):
        from implkit.sandbox import Sandbox
        from implkit.sandbox.app import Clock

        self.clock = Clock()
        self.clock.freeze(start)
        self.sandbox = Sandbox(tmp_path / "sandbox.db", clock=self.clock)
        self.account_id = self.sandbox.create_account(self.SUBDOMAIN)
        self.token = self.sandbox.token(self.SUBDOMAIN)
        self.transport = SyncASGITransport(self.sandbox.app)

    def http(self, rate: float = 7.0):
        from implkit.http import BearerToken, HttpClient, RateLimiter

        limiter = RateLimiter(rate, clock=self.clock.now, sleep=self.clock.advance)
        return HttpClient("http://sandbox" + self.sandbox.base_url(self.SUBDOMAIN), auth=BearerToken(self.token),
                          rate=limiter, transport=self.transport, sleep=self.clock.advance, clock=self.clock.now)

    def log(self, since: int = 0) -> list[dict]:
        return self.sandbox.request_log(self.SUBDOMAIN, since)

    def close(self) -> None:
        self.transport.shutdown()
        self.sandbox.close()
