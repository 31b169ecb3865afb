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

Slots are kept from the actual send time, not only from the schedule: a
caller that wakes late (a loaded machine oversleeps by tens of ms) sends
late, and with `burst=1` the next caller then waits a full interval after
that actual send, so oversleeping never squeezes two sends closer than the
spacing. The headroom is then left for what happens after `acquire()`
returns (building the request, the network), which is what the server's
window sees. `lateness` records how late each grant left compared with its
slot (bench/sync.py prints it under CPU load).

A server that still refuses (429) means the budget is smaller than we
thought (another integration shares the account, a misconfigured rate):
`slow_down()` stretches the spacing by `SLOWDOWN_STEP` (up to
`SLOWDOWN_MAX`), and every `RECOVER_AFTER` seconds' worth of grants
without another refusal takes one step back towards the configured rate.

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
SLOWDOWN_STEP = 1.5  # a refusal stretches the spacing by half (7/s → 4.7/s → 3.1/s → 2.1/s → 1.75/s)
SLOWDOWN_MAX = 4.0
RECOVER_AFTER = 10.0  # seconds' worth of requests without a refusal before one step back


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
        self._slowdown = 1.0  # the spacing's multiplier after refusals (1 = the configured rate)
        self._calm = 0  # grants since the last refusal or recovery step
        self._last_sent: float | None = None  # when the last grant actually left acquire()
        self.granted: deque[float] = deque(maxlen=keep_schedule)  # the times tokens were granted, in order
        self.sent: deque[float] = deque(maxlen=keep_schedule)  # the times grants actually left acquire()
        self.lateness: deque[float] = deque(maxlen=keep_schedule)  # seconds each grant left after its slot
        self.waited = 0.0  # total seconds callers spent waiting
        self.slowdowns = 0  # refusals that slowed this limiter down

    @property
    def interval(self) -> float:
        """The current spacing between grants, seconds (wider after refusals)."""
        return self._interval * self._slowdown

    def reserve(self) -> float:
        """Reserve the next slot and return the time (by the clock) at which it may be used."""
        with self._lock:
            now = self._clock()
            tat = now if self._tat is None else max(self._tat, now)
            at = max(tat - self._tolerance, now, self._paused_until)
            tat = max(tat, at)
            self._tat = tat + self.interval
            self.granted.append(at)
            self._calm += 1
            if self._slowdown > 1.0 and self._calm >= self.rate / self._slowdown * RECOVER_AFTER:
                self._slowdown = max(1.0, self._slowdown / SLOWDOWN_STEP)
                self._calm = 0
            return at

    def acquire(self) -> float:
        """Wait for a token; return the seconds waited."""
        at = self.reserve()
        waited = 0.0
        while True:
            wait = at - self._clock()
            if wait > 0:
                self._sleep(wait)
                waited += wait
            with self._lock:
                now = self._clock()
                if self.burst == 1 and self._last_sent is not None and now < self._last_sent + self.interval:
                    # the previous grant left late (its caller overslept): keep the spacing from its
                    # actual send, not from its slot
                    at = self._last_sent + self.interval
                    continue
                self._last_sent = now
                self.sent.append(now)
                if self._tat is not None and self.burst == 1:
                    self._tat = max(self._tat, now + self.interval)
                self.lateness.append(max(0.0, now - at))  # oversleep: the jitter a loaded machine adds
                self.waited += waited
                return waited

    def slow_down(self) -> None:
        """The server refused a request (429): widen the spacing one step (recovers by itself)."""
        with self._lock:
            self._slowdown = min(SLOWDOWN_MAX, self._slowdown * SLOWDOWN_STEP)
            self._calm = 0
            self.slowdowns += 1
            if self._tat is not None:
                self._tat = max(self._tat, self._clock() + self.interval)

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

    def slow_down(self) -> None:
        for limiter in self.limiters:
            limiter.slow_down()


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
