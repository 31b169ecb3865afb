"""Fixtures for the HTTP machinery: a fake clock whose sleep advances time, and a scripted transport."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest


class FakeClock:
    """time.monotonic + time.sleep stand-ins: sleeping advances the clock and is recorded, never waits."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)


class Script:
    """A MockTransport handler that answers from a list of steps and records every request."""

    def __init__(self, *steps: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]):
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        if callable(step) and not isinstance(step, httpx.Response):
            return step(request)
        # A fresh Response each time: one object cannot answer two requests.
        return httpx.Response(step.status_code, headers=step.headers, content=step.content)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def script() -> type[Script]:
    """The Script class: `script(step, step, ...)` builds a scripted transport."""
    return Script


@pytest.fixture
def make_client(clock: FakeClock):
    """Build an HttpClient on a scripted transport with the fake clock's sleep (no real waiting)."""
    import random

    from implkit.http import BearerToken, HttpClient

    def make(handler, *, base_url: str = "https://acme.amocrm.ru", auth=None, **kw):
        kw.setdefault("sleep", clock.sleep)
        kw.setdefault("rng", random.Random(7))
        return HttpClient(base_url, auth=auth or BearerToken("long-lived-token-123456"),
                          transport=httpx.MockTransport(handler), **kw)

    return make
