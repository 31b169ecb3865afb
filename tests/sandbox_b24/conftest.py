"""Bitrix24 sandbox fixtures: a sandbox on a frozen clock with two portals, and clients onto it.

`harness` runs in-process (httpx.ASGITransport); a test marked `b24_helpers.TCP_TOO` also runs
over a real uvicorn server on 127.0.0.1 (implkit.sandbox.serve_in_thread).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from implkit.sandbox import Sandbox, serve_in_thread

from b24_helpers import NOW


class AsgiClient:
    """A synchronous face on httpx.AsyncClient + httpx.ASGITransport."""

    def __init__(self, app, base_url: str):
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


class Portal:
    """One portal as a client sees it: `call(method, body)` over its webhook."""

    def __init__(self, sandbox: Sandbox, http, name: str):
        self.sandbox, self.http, self.name = sandbox, http, name
        self.hook = sandbox.webhook_url(name)

    def call(self, method: str, body: dict | None = None, **kwargs) -> httpx.Response:
        return self.http.post(self.hook + method, json=body if body is not None else {}, **kwargs)

    def ok(self, method: str, body: dict | None = None) -> dict:
        response = self.call(method, body)
        assert response.status_code == 200, response.text
        return response.json()

    def unlimited(self) -> None:
        """Lift the leaky bucket for tests that are not about it (capacity far above what they send)."""
        runtime = self.sandbox.bitrix24.runtime(self.name)
        runtime.bucket.capacity = 10**9


class Harness:
    def __init__(self, sandbox: Sandbox, transport: str, server_url: str | None):
        self.sandbox, self.transport = sandbox, transport
        self.server_url = server_url or "http://sandbox.test"
        self._clients: list = []

    def http(self):
        if self.transport == "tcp":
            client = httpx.Client(base_url=self.server_url, timeout=10)
        else:
            client = AsgiClient(self.sandbox.app, self.server_url)
        self._clients.append(client)
        return client

    def portal(self, name: str) -> Portal:
        return Portal(self.sandbox, self.http(), name)

    def close(self) -> None:
        for client in self._clients:
            client.close()


@pytest.fixture
def sandbox():
    with Sandbox() as box:
        box.clock.freeze(NOW)
        box.create_portal("acme", "ООО Акме")
        box.create_portal("other")
        yield box


@pytest.fixture(params=["asgi"])
def harness(request, sandbox):
    if request.param == "tcp":
        with serve_in_thread(sandbox) as url:
            rig = Harness(sandbox, "tcp", url)
            yield rig
            rig.close()
    else:
        rig = Harness(sandbox, "asgi", None)
        yield rig
        rig.close()


@pytest.fixture
def acme(harness) -> Portal:
    return harness.portal("acme")


@pytest.fixture
def other(harness) -> Portal:
    return harness.portal("other")
