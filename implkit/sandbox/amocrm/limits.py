"""amoCRM's request-rate rules: 7 requests/s per integration, 50 per account, block on abuse.

[doc-ru] api/recommendations: at most 7 requests per second per integration and
50 per account (all integrations together); 429 beyond; repeated violation
blocks the account (403 on every request). The threshold and duration of the
block are undocumented: here N answers of 429 within a minute block the
account until the control API resets it (N = `block_after`, configurable).

Windows are sliding one-second logs on the sandbox clock, so a test that
freezes the clock gets exact counts.

The window's edge has a tolerance (`edge_tolerance`, default
`EDGE_TOLERANCE`): a counted request leaves the window `edge_tolerance`
seconds before a full second has passed. The documentation names a rate,
not an algorithm; a client paced at exactly 7/s puts its 8th request
exactly one second after its 1st, and arrival jitter of a few ms would put
it inside a razor-sharp window, a refusal that clients paced at 7/s do not
report from real accounts (evidence in docs/sandbox.md, "Rate limits").
A burst is still refused at once: within 0.95 s, 7 requests is the limit.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

INTEGRATION_RPS = 7
ACCOUNT_RPS = 50
DEFAULT_BLOCK_AFTER = 100
BLOCK_WINDOW = 60.0
EDGE_TOLERANCE = 0.05  # seconds; see the module docstring and docs/sandbox.md


@dataclass
class RateLimiter:
    integration_rps: int = INTEGRATION_RPS
    account_rps: int = ACCOUNT_RPS
    block_after: int = DEFAULT_BLOCK_AFTER
    edge_tolerance: float = EDGE_TOLERANCE
    blocked: bool = False
    _account: deque = field(default_factory=deque)
    _integrations: dict[str, deque] = field(default_factory=dict)
    _refusals: deque = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, integration: str, at: float) -> str:
        """'ok', 'limited' (answer 429) or 'blocked' (answer 403). Refused requests don't count towards the rate."""
        with self._lock:
            if self.blocked:
                return "blocked"
            window = self._integrations.setdefault(integration, deque())
            horizon = at - (1.0 - self.edge_tolerance)
            for log in (self._account, window):
                while log and log[0] <= horizon:
                    log.popleft()
            if len(window) >= self.integration_rps or len(self._account) >= self.account_rps:
                while self._refusals and self._refusals[0] <= at - BLOCK_WINDOW:
                    self._refusals.popleft()
                self._refusals.append(at)
                if len(self._refusals) >= self.block_after:
                    self.blocked = True
                return "limited"
            window.append(at)
            self._account.append(at)
            return "ok"

    def reset(self) -> None:
        with self._lock:
            self.blocked = False
            self._account.clear()
            self._integrations.clear()
            self._refusals.clear()
