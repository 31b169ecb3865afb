"""Directum RX sandbox fixtures: a sandbox with one instance and a synchronous in-process client."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import pytest

from implkit.sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "fixtures" / "directum"


class Client:
    """A synchronous face on httpx.AsyncClient + ASGITransport, authenticated by default."""

    def __init__(self, app, base: str, auth):
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")
        self.base, self.auth = base, auth

    def get(self, path: str, *, auth=True, **kwargs) -> httpx.Response:
        if auth is True:
            kwargs["auth"] = self.auth
        return self._loop.run_until_complete(self._client.get(self.base + path, **kwargs))

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, self.base + path, auth=self.auth, **kwargs))

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


@pytest.fixture
def drx():
    with Sandbox() as sandbox:
        created = sandbox.create_directum("acme", max_entities=50)
        client = Client(sandbox.app, created["base_path"], (created["login"], created["password"]))
        client.sandbox, client.created = sandbox, created
        yield client
        client.close()


@pytest.fixture
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"reference fixtures absent: {FIXTURES}")
    return FIXTURES
