"""Fault injection, deterministic under a seed.

A spec is a comma list, e.g. ``5xx=0.1,drop=0.02,latency=50ms,expire_token_after=100``:

- ``5xx=P``   answer a request with a server error (500/502/503/504) with probability P;
- ``drop=P``  close the connection without any answer, with probability P;
- ``latency=D`` delay every answer by D (``50ms``, ``1s``, or a range ``10-100ms``);
- ``expire_token_after=N`` every N-th request to an account expires its live
  access tokens first (the client must refresh; long-lived tokens just die);
- ``block_after=N`` N answers of 429 within a minute block the account (403 on
  everything until a reset); the default is in `amocrm.limits.DEFAULT_BLOCK_AFTER`.

The decision for a request depends only on (seed, subdomain, request number),
so the same seed and the same sequence of requests give the same faults,
whatever the thread or the wall clock.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field, replace

SERVER_ERRORS = (500, 502, 503, 504)


class FaultSpecError(ValueError):
    """A fault spec that can't be parsed; the message names the offending item."""


@dataclass(frozen=True)
class FaultSpec:
    server_error: float = 0.0
    drop: float = 0.0
    latency_ms: tuple[int, int] = (0, 0)
    expire_token_after: int = 0
    block_after: int | None = None

    @property
    def active(self) -> bool:
        return bool(self.server_error or self.drop or self.latency_ms[1] or self.expire_token_after)

    def to_text(self) -> str:
        parts = []
        if self.server_error:
            parts.append(f"5xx={self.server_error:g}")
        if self.drop:
            parts.append(f"drop={self.drop:g}")
        if self.latency_ms[1]:
            low, high = self.latency_ms
            parts.append(f"latency={low}ms" if low == high else f"latency={low}-{high}ms")
        if self.expire_token_after:
            parts.append(f"expire_token_after={self.expire_token_after}")
        if self.block_after is not None:
            parts.append(f"block_after={self.block_after}")
        return ",".join(parts)


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")


def _duration_ms(text: str, item: str) -> int:
    match = _DURATION.match(text.strip())
    if not match:
        raise FaultSpecError(f"{item}: expected a duration like 50ms or 1s")
    value, unit = float(match.group(1)), match.group(2)
    return int(value * 1000 if unit == "s" else value)


def _probability(text: str, item: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(f"{item}: expected a probability between 0 and 1") from None
    if not 0.0 <= value <= 1.0:
        raise FaultSpecError(f"{item}: expected a probability between 0 and 1")
    return value


def _count(text: str, item: str) -> int:
    if not text.strip().isdigit():
        raise FaultSpecError(f"{item}: expected a whole number")
    return int(text)


def parse_faults(text: str | None) -> FaultSpec:
    """Parse a fault spec; raise FaultSpecError naming the bad item."""
    spec = FaultSpec()
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise FaultSpecError(f"{item}: expected key=value")
        if key == "5xx":
            spec = replace(spec, server_error=_probability(value, item))
        elif key == "drop":
            spec = replace(spec, drop=_probability(value, item))
        elif key == "latency":
            low, dash, high = value.partition("-")
            if dash:
                unit = "ms" if high.endswith("ms") else "s"
                bounds = (_duration_ms(low if low.endswith(("ms", "s")) else low + unit, item),
                          _duration_ms(high, item))
            else:
                bounds = (_duration_ms(value, item),) * 2
            if bounds[0] > bounds[1]:
                raise FaultSpecError(f"{item}: the lower bound is above the upper one")
            spec = replace(spec, latency_ms=bounds)
        elif key == "expire_token_after":
            spec = replace(spec, expire_token_after=_count(value, item))
        elif key == "block_after":
            spec = replace(spec, block_after=_count(value, item))
        else:
            raise FaultSpecError(f"{item}: unknown fault {key!r} (known: 5xx, drop, latency, "
                                 "expire_token_after, block_after)")
    if spec.server_error + spec.drop > 1.0:
        raise FaultSpecError("5xx + drop: the probabilities add up to more than 1")
    return spec


@dataclass(frozen=True)
class FaultDecision:
    """What to do with request number `n`: `drop`, a `server_error` status, or nothing; plus a delay."""

    n: int
    drop: bool = False
    server_error: int | None = None
    latency_ms: int = 0
    expire_tokens: bool = False


def decide(spec: FaultSpec, seed: int, subdomain: str, n: int) -> FaultDecision:
    """The fault for the account's n-th request (1-based); a pure function of its arguments."""
    rng = random.Random(f"{seed}:{subdomain}:{n}")
    roll = rng.random()
    low, high = spec.latency_ms
    latency = rng.randint(low, high) if high else 0
    expire = bool(spec.expire_token_after) and n % spec.expire_token_after == 0
    if roll < spec.drop:
        return FaultDecision(n, drop=True, latency_ms=latency, expire_tokens=expire)
    if roll < spec.drop + spec.server_error:
        return FaultDecision(n, server_error=rng.choice(SERVER_ERRORS), latency_ms=latency, expire_tokens=expire)
    return FaultDecision(n, latency_ms=latency, expire_tokens=expire)


@dataclass
class FaultSchedule:
    """One account's (or portal's) faults: the spec, its seed, and the request count decisions key on."""

    spec: FaultSpec = field(default_factory=FaultSpec)
    seed: int = 0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def set(self, spec: FaultSpec, seed: int) -> None:
        """A new schedule starts counting from the first request again, so it replays under its seed."""
        with self._lock:
            self.spec, self.seed, self.requests = spec, seed, 0

    def next(self, key: str) -> FaultDecision:
        """The decision for the next request of `key` (the account or portal)."""
        with self._lock:
            self.requests += 1
            n = self.requests
        return decide(self.spec, self.seed, key, n)

    def restart_count(self) -> None:
        with self._lock:
            self.requests = 0

    def describe(self) -> dict:
        return {"spec": self.spec.to_text(), "seed": self.seed, "requests": self.requests}
