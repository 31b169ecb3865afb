"""Client-side rate limiting: a token bucket shared by every request to one budget.

amoCRM allows 7 requests/s per integration and 50/s per account; going over
gets 429, and repeated 429s get the account blocked (403 on everything). So
the client never relies on the server to slow it down: every request first
takes a token from a `RateLimiter`.

The bucket is written as GCRA (the "virtual scheduling" form of a token
bucket): each `acquire()` reserves the next free slot under a lock and then
sleeps outside it, so callers are served first come, first served, and the
limiter never lets more than `burst + rate × t` requests through in any
window of `t` seconds. With the default `burst=1` requests are evenly
spaced (1 + headroom)/rate apart: any `rate` + 1 consecutive requests span
more than a second plus the headroom, so a server counting arrivals in
sliding one-second windows (amoCRM, and the sandbox) sees at most `rate`
even when each arrival jitters by up to ~headroom/rate (≈7 ms at 7/s with
5 %). A banked burst (`burst > 1`) would let rate + burst - 1 through in one
second: keep `burst=1` for amoCRM; Bitrix24's documented leaky bucket is
what `burst` models.

A limiter can be shared by several clients and threads (one per tenant
account, say). `pause(seconds)` pushes every later slot back, used when a
server says Retry-After, so all the sharers back off together.

Clock and sleep are injectable: tests drive a fake clock and assert the
schedule (`granted`), never wall time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

AMOCRM_RATE = 7.0  # requests/second per integration [doc-kommo] docs/limitations
AMOCRM_ACCOUNT_RATE = 50.0  # requests/second per account, all integrations together [doc-ru] api/recommendations
BITRIX24_RATE = 2.0  # requests/second drain of the leaky bucket (standard plans) [doc] limits
BITRIX24_BURST = 50  # leaky-bucket capacity before 503 QUERY_LIMIT_EXCEEDED [doc] limits
DEFAULT_HEADROOM = 0.05  # spacing 5 % wider than 1/rate: 7/s becomes one request every 150 ms


class RateLimiter:
    """A thread-safe token bucket: `rate` tokens/second, at most `burst` banked.

    `acquire()` blocks until a token is available and returns how long it
    waited (seconds, by the injected clock).
    """

    def __init__(self, rate: float, burst: int = 1, *, headroom: float = DEFAULT_HEADROOM,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, keep_schedule: int = 10_000):
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if not 0 <= headroom < 1:
            raise ValueError("headroom must be in [0, 1)")
        self.rate = float(rate)
        self.burst = int(burst)
        self.headroom = float(headroom)
        # `headroom` stretches the spacing so that network jitter between our send and the server's
        # clock cannot put rate+1 arrivals into one of its sliding one-second windows (seen against
        # the sandbox: exact 1/7 s spacing drew a 429 with Retry-After 300 s). The 1e-9 keeps float
        # rounding in the running sum from doing the same.
        self._interval = (1.0 + self.headroom) / self.rate * (1 + 1e-9)
        self._tolerance = (self.burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat: float | None = None  # theoretical arrival time of the next request
        self._paused_until = float("-inf")
        self.granted: deque[float] = deque(maxlen=keep_schedule)  # the times tokens were granted, in order
        self.waited = 0.0  # total seconds callers spent waiting

    def reserve(self) -> float:
        """Reserve the next slot and return the time (by the clock) at which it may be used."""
        with self._lock:
            now = self._clock()
            tat = now if self._tat is None else max(self._tat, now)
            at = max(tat - self._tolerance, now, self._paused_until)
            tat = max(tat, at)
            self._tat = tat + self._interval
            self.granted.append(at)
            return at

    def acquire(self) -> float:
        """Wait for a token; return the seconds waited."""
        at = self.reserve()
        wait = at - self._clock()
        if wait > 0:
            self._sleep(wait)
            with self._lock:
                self.waited += wait
            return wait
        return 0.0

    def pause(self, seconds: float) -> None:
        """Grant nothing for `seconds` from now (a server's Retry-After): every sharer backs off."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._paused_until = max(self._paused_until, until)
            # Restart with an empty bucket: after the pause, requests are spaced again, not burst.
            self._tat = max(self._tat if self._tat is not None else until, until + self._tolerance)

    @classmethod
    def shared(cls, key: str, rate: float, burst: int = 1) -> "RateLimiter":
        """The process-wide limiter for `key` (e.g. "amocrm:acme.amocrm.ru"), created on first use.

        Every client of one integration in one process must draw from one
        budget; two private 7/s limiters would together send 14/s.
        """
        with _shared_guard:
            limiter = _shared.get(key)
            if limiter is None or (limiter.rate, limiter.burst) != (float(rate), int(burst)):
                limiter = _shared[key] = cls(rate, burst)
            return limiter

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}/s, burst={self.burst})"


_shared: dict[str, RateLimiter] = {}
_shared_guard = threading.Lock()


class Limiters:
    """Several budgets at once (per integration and per account): a request takes a token from each."""

    def __init__(self, limiters: Iterable[RateLimiter]):
        self.limiters = tuple(limiters)

    def acquire(self) -> float:
        return sum(limiter.acquire() for limiter in self.limiters)

    def pause(self, seconds: float) -> None:
        for limiter in self.limiters:
            limiter.pause(seconds)


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The largest number of `times` inside any half-open window [t, t + window): for tests and benches."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best
