"""Bitrix24's two limiters, per portal and independent of each other (reference/bitrix24-api.md §5).

- `LeakyBucket`: every HTTP request adds 1 to a per-portal counter that drains at `rate` per
  second; a request that would lift it above `capacity` is refused with 503
  ``QUERY_LIMIT_EXCEEDED`` (and does not fill the bucket). Standard plans 2/s and 50, Enterprise
  5/s and 250. A ``batch`` is one request.
- `OperatingBudget`: per (credential, method), execution time summed in one-minute baskets that
  each expire ten minutes after the first call recorded in them. Before a call the sum is
  checked; above `limit` (480 s in the cloud) the method answers 429 ``OPERATION_TIME_LIMIT`` for
  that credential while other methods keep working; the call that crosses the limit completes.
  `operating` is the running sum, `operating_reset_at` when the oldest basket drops out.

Both read the time they are given (the sandbox clock), so tests advance a frozen clock instead
of sleeping.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

STANDARD = (2.0, 50)
ENTERPRISE = (5.0, 250)
OPERATING_LIMIT = 480.0
OPERATING_WINDOW = 600
BASKET_SECONDS = 60


@dataclass
class LeakyBucket:
    rate: float = STANDARD[0]
    capacity: int = STANDARD[1]
    level: float = 0.0
    _at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, at: float) -> bool:
        with self._lock:
            if self._at is not None:
                self.level = max(0.0, self.level - (at - self._at) * self.rate)
            self._at = at
            if self.level + 1 > self.capacity:
                return False
            self.level += 1
            return True

    def reset(self) -> None:
        with self._lock:
            self.level, self._at = 0.0, None


@dataclass
class _Basket:
    opened_at: float
    seconds: float = 0.0


@dataclass
class OperatingBudget:
    limit: float = OPERATING_LIMIT
    _baskets: dict[tuple[str, str], list[_Basket]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _live(self, key: tuple[str, str], at: float) -> list[_Basket]:
        baskets = [b for b in self._baskets.get(key, []) if b.opened_at + OPERATING_WINDOW > at]
        self._baskets[key] = baskets
        return baskets

    def blocked(self, credential: str, method: str, at: float) -> bool:
        with self._lock:
            return sum(b.seconds for b in self._live((credential, method), at)) > self.limit

    def record(self, credential: str, method: str, at: float, seconds: float) -> None:
        with self._lock:
            baskets = self._live((credential, method), at)
            if not baskets or at >= baskets[-1].opened_at + BASKET_SECONDS:
                baskets.append(_Basket(at))
            baskets[-1].seconds += seconds

    def state(self, credential: str, method: str, at: float) -> tuple[float, int]:
        """(operating, operating_reset_at) for the `time` member."""
        with self._lock:
            baskets = self._live((credential, method), at)
            operating = sum(b.seconds for b in baskets)
            oldest = baskets[0].opened_at if baskets else at
            return operating, int(oldest + OPERATING_WINDOW)

    def reset(self) -> None:
        with self._lock:
            self._baskets.clear()
