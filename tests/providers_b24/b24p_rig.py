"""A Bitrix24 sandbox portal for the provider tests, and the helpers they share."""

from __future__ import annotations

import json
from pathlib import Path

from implkit.blueprint import load_blueprint
from implkit.blueprint.manual import every_manual_step
from implkit.data import blueprints_dir
from implkit.http import RateLimiter
from implkit.http.asgi import SyncASGITransport
from implkit.providers import open_provider
from implkit.sandbox import Sandbox
from implkit.workspace.state import StateStore

PRESETS = ("b2b-services", "retail", "manufacturer")
NAME = "acme"
BASE = f"http://sandbox/bitrix24/{NAME}"


def preset(name: str = "b2b-services"):
    return load_blueprint(str(blueprints_dir() / "presets" / f"{name}.yaml"))


class Portal:
    """One sandbox with portal `acme`, its webhook, a state store, and providers on an in-process transport."""

    def __init__(self, tmp_path: Path, *, name: str = NAME):
        self.tmp = tmp_path
        self.sandbox = Sandbox(tmp_path / "sandbox.db")
        self.name = name
        self.account_id = self.sandbox.create_portal(name)
        path = self.sandbox.webhook_url(name)
        self.user, self.secret = path.rstrip("/").split("/")[-2:]
        self.webhook = f"{self.user}/{self.secret}"
        self.transport = SyncASGITransport(self.sandbox.app)
        self.state = StateStore(tmp_path / "state.db")
        self.base = f"http://sandbox/bitrix24/{name}"

    @property
    def gateway(self):
        return self.sandbox.bitrix24

    def runtime(self):
        return self.gateway.runtime(self.name)

    def provider(self, *, transport=None, rate=None, **options):
        rate = rate if rate is not None else RateLimiter(2.0, 50)
        return open_provider("bitrix24", self.base, self.webhook, transport=transport or self.transport, rate=rate,
                             **options)

    def call(self, method: str, params: dict | None = None):
        """A direct call, as a person clicking in the portal would change things."""
        import httpx

        with httpx.Client(transport=self.transport, base_url=f"{self.base}/rest/{self.webhook}") as client:
            return client.post(f"/{method}", json=params or {}).json()

    def log(self, since: int = 0) -> list[dict]:
        from implkit.sandbox.bitrix24 import operations

        return operations.request_log(self.gateway, self.name, since)

    def last_seq(self) -> int:
        rows = self.log()
        return rows[-1]["seq"] if rows else 0

    def close(self) -> None:
        self.state.close()
        self.transport.shutdown()
        self.sandbox.close()


def written(log: list[dict]) -> int:
    """Records the portal says these requests wrote (entities_written of the request log)."""
    return sum(r["entities_written"] or 0 for r in log)


def manual(bp):
    return every_manual_step(bp, "bitrix24")  # as `implkit plan` passes them


def dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
