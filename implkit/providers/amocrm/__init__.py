"""amoCRM (Kommo) API v4: the configuration provider (`client`, `mapping`) and the records reader (`records`)."""

from __future__ import annotations

from typing import Any

from implkit.http import AMOCRM_RATE, RateLimiter


def tenant_connection(tenant: Any, credentials: Any) -> tuple[Any, RateLimiter]:
    """(auth, rate limiter) for a workspace tenant.

    The limiter is the process-wide one of the tenant's account URL, so plan,
    apply and sync run back to back (or `--all` in parallel) draw from one
    budget: 7 requests/s per integration (§3), or the tenant's own
    `rate_limit`. The limiter itself keeps the margin against jitter.
    """
    auth = credentials.auth(token_url=f"{tenant.url.rstrip('/')}/oauth2/access_token")
    rate = RateLimiter.shared(f"amocrm:{tenant.url}", tenant.rate_limit or AMOCRM_RATE)
    return auth, rate
