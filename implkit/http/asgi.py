"""A synchronous httpx transport over an ASGI app: the sandbox in-process, for tests and the demo.

httpx's own `ASGITransport` serves only `AsyncClient`; `HttpClient` is
synchronous. This adapter runs each request to completion on a private
event loop (one request at a time), so a provider and the sandbox meet over
real HTTP semantics — status, headers, bodies — without a socket.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx


class SyncASGITransport(httpx.BaseTransport):
    def __init__(self, app: Any, *, client: tuple[str, int] = ("127.0.0.1", 123)):
        self._inner = httpx.ASGITransport(app=app, client=client)
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
            await response.aclose()
            return httpx.Response(response.status_code, headers=response.headers, content=content,
                                  request=request)

        with self._lock:
            if self._loop.is_closed():
                raise httpx.ConnectError("transport closed", request=request)
            return self._loop.run_until_complete(send())

    def close(self) -> None:
        """Keep the loop: several clients may share this transport. Call `shutdown()` when done."""

    def shutdown(self) -> None:
        with self._lock:
            if not self._loop.is_closed():
                self._loop.close()
