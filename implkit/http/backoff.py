"""Exponential backoff with "equal jitter", shared by the request loop and the OAuth refresh.

Half of each delay is fixed and half random, so many clients that failed at
once do not retry in lock-step, and no retry comes sooner than half the
ceiling. The ceiling doubles per attempt from `base` and is capped at `cap`.
"""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retry number `attempt` (1 = the first retry)."""
    ceiling = min(cap, base * (2 ** (max(1, attempt) - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)
