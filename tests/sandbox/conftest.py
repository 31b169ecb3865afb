"""Sandbox test fixtures: one code path, two transports (moto's decorator vs server mode).

`client` is parametrised over the transports listed in IMPLKIT_SANDBOX_TRANSPORTS
(comma list of `asgi`, `tcp`; default `asgi`). Tests that must also prove the
TCP path use `both_clients`-style parametrisation via the `transport` marker
below; `make test` therefore runs part of the suite over a real uvicorn
server by default.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest

from implkit.sandbox import Sandbox, serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "reference" / "fixtures" / "amocrm"
TRANSPORTS = [t.strip() for t in os.environ.get("IMPLKIT_SANDBOX_TRANSPORTS", "asgi").split(",") if t.strip()]
UNLIMITED = {"integration_rps": 10**6, "account_rps": 10**6}


class AsgiClient:
    """A synchronous face on httpx.AsyncClient + httpx.ASGITransport (the in-process transport)."""

    def __init__(self, app, base_url: str, headers: dict[str, str] | None = None):
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url,
                                         headers=headers or {})
        self.headers = self._client.headers

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def put(self, url: str, **kwargs) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


class Harness:
    """A sandbox plus a way to open clients onto it over the chosen transport."""

    def __init__(self, sandbox: Sandbox, transport: str, server_url: str | None):
        self.sandbox = sandbox
        self.transport = transport
        self.server_url = server_url or "http://sandbox.test"
        self._clients: list = []

    def client(self, subdomain: str | None = None, token: str | None = None, *, api: bool = True):
        """A client rooted at the account's /api/v4 (or the account root with api=False, or the server root)."""
        base = self.server_url
        if subdomain:
            base += self.sandbox.base_url(subdomain) + ("/api/v4" if api else "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if self.transport == "tcp":
            client = httpx.Client(base_url=base, headers=headers, timeout=10)
        else:
            client = AsgiClient(self.sandbox.app, base, headers)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


def _harness(request, transport: str, **options):
    sandbox = Sandbox(**{**UNLIMITED, **options})
    if transport == "tcp":
        context = serve_in_thread(sandbox)
        url = context.__enter__()
    else:
        context, url = None, None
    harness = Harness(sandbox, transport, url)

    def finish():
        harness.close()
        if context is not None:
            context.__exit__(None, None, None)
        sandbox.close()

    request.addfinalizer(finish)
    return harness


@pytest.fixture(params=TRANSPORTS)
def harness(request):
    """A fresh sandbox (no rate limits) over the configured transport(s)."""
    return _harness(request, request.param)


@pytest.fixture(params=["asgi", "tcp"])
def harness_both(request):
    """A fresh sandbox over both transports, whatever the environment says."""
    return _harness(request, request.param)


@pytest.fixture
def make_harness(request):
    """Build a harness with options (rate limits, clock...) over a given transport."""
    return lambda transport="asgi", **options: _harness(request, transport, **options)


@pytest.fixture
def alpha(harness):
    """Account `alpha` and a client authorised with its long-lived token."""
    harness.sandbox.create_account("alpha")
    return harness.client("alpha", harness.sandbox.token("alpha"))


def load_doc_example(name: str):
    """A documentation example body, or skip when ../shared is absent."""
    import json

    path = FIXTURES / f"{name}.json"
    if not FIXTURES.is_dir():
        pytest.skip(f"documentation fixtures not available ({FIXTURES} is absent)")
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def doc():
    """`doc("GET_leads.response")`: a body from reference/fixtures/amocrm (skips without ../shared)."""
    return load_doc_example


def pytest_terminal_summary(terminalreporter):
    """Print the contract share per endpoint that test_contract_share_per_endpoint recorded (works under xdist:
    user properties travel with the test reports)."""
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for name, table in getattr(report, "user_properties", ()):
            if name != "contract_share" or report.when != "call":
                continue
            terminalreporter.section(f"amoCRM contract share ({report.nodeid.rsplit('::', 1)[-1]})")
            for endpoint, share, missing, left_out in table:
                note = f"  ({left_out} paths not emulated / per type)" if left_out else ""
                terminalreporter.write_line(f"{endpoint:40} {share:6.3f}  missing {missing}{note}")
