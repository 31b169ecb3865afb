"""Test helpers for plan/apply: the sandbox in-process, on a clock that moves only when the client waits."""

from __future__ import annotations

from pathlib import Path

from implkit.http import BearerToken, HttpClient, RateLimiter
from implkit.http.asgi import SyncASGITransport
from implkit.providers.amocrm.client import AmoCrmProvider

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


class SandboxRig:
    """One sandbox, its clock frozen: it moves only when a client sleeps (rate limits, Retry-After)."""

    def __init__(self, tmp_path: Path, **app_options):
        from implkit.sandbox import Sandbox
        from implkit.sandbox.app import Clock

        clock = Clock()
        clock.freeze(1_800_000_000.0)
        self.sandbox = Sandbox(tmp_path / "sandbox.db", clock=clock, **app_options)
        self.clock = clock
        self.transport = SyncASGITransport(self.sandbox.app)

    def account(self, subdomain: str) -> str:
        self.sandbox.create_account(subdomain)
        return self.sandbox.token(subdomain)

    def provider(self, subdomain: str, token: str, *, rate: float = 6.0, max_retries: int = 8) -> AmoCrmProvider:
        limiter = RateLimiter(rate, clock=self.clock.now, sleep=self.clock.advance)
        http = HttpClient("http://sandbox" + self.sandbox.base_url(subdomain), auth=BearerToken(token),
                          rate=limiter, transport=self.transport, max_retries=max_retries,
                          sleep=self.clock.advance, clock=self.clock.now)
        return AmoCrmProvider(http)

    def log(self, subdomain: str, since: int = 0) -> list[dict]:
        return self.sandbox.request_log(subdomain, since)

    def close(self) -> None:
        self.transport.shutdown()
        self.sandbox.close()



def writes(log: list[dict]) -> list[dict]:
    return [r for r in log if r["method"] in ("POST", "PATCH", "DELETE") and r["status"] < 300]
