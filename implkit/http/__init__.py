"""Shared HTTP machinery for every provider: rate limiting, retries, auth refresh, redaction, accounting.

Public API (import from here):

- `HttpClient(base_url, *, auth, rate=None, max_retries=5, timeout=30, transport=None, ...)`:
  `get/post/patch/put/delete(path, params=None, json=None)` → parsed JSON (None for 204),
  `request(...)` → `Reply`, `paginate(path, params, embedded_key)` → items, `stats`.
- Rate limiting: `RateLimiter(rate, burst=1)`, `Limiters([...])`, `AMOCRM_RATE`, `BITRIX24_RATE`.
- Auth: `Auth` protocol, `NoAuth`, `BearerToken`, `OAuth2Session`, `TokenSet`, `TokenStore`,
  `MemoryTokenStore`.
- Errors: `HttpError`, `Unauthorized`, `NotFound`, `RateLimited`, `AccountBlocked`, `TransportError`, `ServerDown`,
  `WriteOutcomeUnknown`.
- Redaction: `implkit.http.redact.redact(text_or_mapping)`.
- In-process sandbox: `implkit.http.asgi.SyncASGITransport(app)` (httpx's ASGITransport is async-only).
"""

from implkit.http.auth import Auth, BearerToken, MemoryTokenStore, NoAuth, OAuth2Session, TokenSet, TokenStore
from implkit.http.client import HttpClient, Reply, RequestEvent, RequestStats, endpoint_template
from implkit.http.errors import (
    AccountBlocked,
    HttpError,
    NotFound,
    RateLimited,
    ServerDown,
    TransportError,
    Unauthorized,
    WriteOutcomeUnknown,
)
from implkit.http.ratelimit import (
    AMOCRM_ACCOUNT_RATE,
    AMOCRM_RATE,
    BITRIX24_BURST,
    BITRIX24_RATE,
    Limiters,
    RateLimiter,
)
from implkit.http.redact import redact

__all__ = [
    "AMOCRM_ACCOUNT_RATE", "AMOCRM_RATE", "AccountBlocked", "BITRIX24_BURST", "BITRIX24_RATE", "Auth", "BearerToken",
    "HttpClient", "HttpError", "Limiters", "MemoryTokenStore", "NoAuth", "NotFound", "OAuth2Session",
    "RateLimited", "RateLimiter", "Reply", "RequestEvent", "RequestStats", "TokenSet", "TokenStore",
    "ServerDown", "TransportError", "Unauthorized", "WriteOutcomeUnknown", "endpoint_template", "redact",
]
