"""The Bitrix24 provider: plan / apply / drift / export on a portal, and the audit's records reader.

Public API:

- `open_bitrix24(portal_url, credential, *, transport=None, rate=None, ...)` → `Bitrix24Provider`
  (`implkit.providers.open_provider("bitrix24", ...)` calls it). `credential` is an incoming
  webhook (`USER_ID/SECRET`, the whole webhook URL, or a `BearerToken` holding either — what the
  workspace resolves for a webhook tenant) or an OAuth `Auth` that can refresh (then calls go to
  `PORTAL/rest/METHOD` with `auth=` in the query).
- `open_records(portal_url, credential, ...)` → `B24Records`, the reader `implkit.audit.sync` drives.
- `Bitrix24Api` (`transport.py`): `call`, `batch`, `export_chain` with both limits honoured.

Modules: `transport.py` (envelopes, batch, limits, the ID-cursor export), `mapping.py` (neutral ↔
Bitrix24, pure), `client.py` (the Provider), `records.py` (audit rows).
"""

from __future__ import annotations

import re

from typing import Any

from implkit.http import BITRIX24_BURST, BITRIX24_RATE, HttpClient, NoAuth, RateLimiter
from implkit.http.auth import BearerToken
from implkit.http.redact import register_secret
from implkit.lang import say

__all__ = ["OAUTH_TOKEN_URL", "http_client", "open_bitrix24", "open_records", "tenant_connection", "webhook_base"]

_MESSAGES = {
    "not_webhook": {"ru": "учётные данные Bitrix24 — не входящий вебхук (USER_ID/SECRET или "
                          "https://PORTAL/rest/USER_ID/SECRET/)",
                    "en": "the Bitrix24 credential is not an incoming webhook (USER_ID/SECRET or "
                          "https://PORTAL/rest/USER_ID/SECRET/)"},
    "other_portal": {"ru": "вебхук Bitrix24 относится к другому порталу, не {portal}",
                     "en": "the Bitrix24 webhook belongs to another portal than {portal}"},
}

OAUTH_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"  # §1.3: refresh goes here, never to the portal


def webhook_base(portal_url: str, webhook: str) -> str:
    """`https://PORTAL/rest/USER_ID/SECRET` from `USER_ID/SECRET` or a whole webhook URL of the same portal.

    Use it as the HttpClient base URL with `NoAuth()`: the client redacts the secret from logs and errors.
    """
    from implkit.errors import InputError

    match = re.fullmatch(r"(?:(https?://[^/]+))?/?(?:rest/)?(\d+)/([A-Za-z0-9]+)/?", (webhook or "").strip())
    if not match:
        raise InputError(say(_MESSAGES, "not_webhook"))
    host, user_id, secret = match.groups()
    portal = portal_url.rstrip("/")
    if host and host.rstrip("/").split("://", 1)[-1].lower() != portal.split("://", 1)[-1].lower():
        raise InputError(say(_MESSAGES, "other_portal", portal=portal))
    return f"{portal}/rest/{user_id}/{secret}"


def http_client(portal_url: str, credential: Any, *, transport: Any = None, rate: Any = None,
                max_retries: int = 5, **http_options: Any) -> HttpClient:
    """An HttpClient whose paths are method names (`/crm.deal.list`), under the portal's limits."""
    from implkit.providers.bitrix24.transport import OAuthQueryTransport, is_refused

    rate = rate if rate is not None else RateLimiter.shared(f"bitrix24:{portal_url}", BITRIX24_RATE, BITRIX24_BURST)
    options = {"rate": rate, "max_retries": max_retries, "is_refused": is_refused, **http_options}
    webhook = credential._token if isinstance(credential, BearerToken) else credential  # noqa: SLF001
    if isinstance(webhook, str):
        base = webhook_base(portal_url, webhook)
        register_secret(base.rsplit("/", 1)[-1])
        return HttpClient(base, auth=NoAuth(), transport=transport, **options)
    return HttpClient(f"{portal_url.rstrip('/')}/rest", auth=credential, transport=OAuthQueryTransport(transport),
                      **options)


def _api(portal_url: str, credential: Any, options: dict[str, Any]):
    """The API over a new HttpClient; `clock`/`sleep` (tests, benchmarks) drive the HTTP retries and the
    operating-budget pauses alike."""
    import time

    from implkit.providers.bitrix24.transport import Bitrix24Api, OperatingBudget

    budget = OperatingBudget(clock=options.get("clock", time.time), sleep=options.get("sleep", time.sleep))
    return Bitrix24Api(http_client(portal_url, credential, **options), budget=budget)


def open_bitrix24(portal_url: str, credential: Any, **options: Any):
    from implkit.providers.bitrix24.client import Bitrix24Provider

    api = _api(portal_url, credential, options)
    return Bitrix24Provider(api.http, portal_url, api=api)


def open_records(portal_url: str, credential: Any, **options: Any):
    from implkit.providers.bitrix24.records import B24Records

    return B24Records(_api(portal_url, credential, options), portal_url)


def tenant_connection(tenant: Any, credentials: Any) -> tuple[Any, RateLimiter]:
    """(credential, rate limiter) for a workspace tenant: its webhook (or OAuth session) and one shared
    2/s burst-50 bucket per portal in this process (or the tenant's own `rate_limit`)."""
    if credentials.is_oauth:
        credential = credentials.auth(token_url=OAUTH_TOKEN_URL)
    else:
        credential = credentials.token or ""  # USER_ID/SECRET or the whole webhook URL
    rate = RateLimiter.shared(f"bitrix24:{tenant.url}", tenant.rate_limit or BITRIX24_RATE, BITRIX24_BURST)
    return credential, rate
