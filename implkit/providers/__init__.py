"""CRM providers: one sub-package per CRM, each implementing `implkit.providers.base.Provider`.

`open_provider(crm, base_url, auth, ...)` builds one over the shared HTTP
client (rate limit per CRM, retries, redaction). The plan/apply and audit
layers see only the Provider protocol.
"""

from __future__ import annotations

from typing import Any, Callable

from implkit.providers.base import Provider

CRMS = ("amocrm", "bitrix24", "directum")


def open_provider(crm: str, base_url: str, auth: Any, *, transport: Any = None, rate: Any = None,
                  max_retries: int = 5, on_request: Callable | None = None, **http_options: Any) -> Provider:
    """A provider for `crm` at `base_url` (the account root: https://acme.amocrm.ru, or a sandbox path)."""
    from implkit.http import AMOCRM_RATE, HttpClient, RateLimiter

    if crm == "amocrm":
        from implkit.providers.amocrm.client import AmoCrmProvider

        http = HttpClient(base_url, auth=auth, rate=rate if rate is not None else RateLimiter(AMOCRM_RATE),
                          transport=transport, max_retries=max_retries, on_request=on_request, **http_options)
        return AmoCrmProvider(http)
    if crm == "bitrix24":  # base_url: the portal (https://PORTAL.bitrix24.ru); auth: its webhook or OAuth session
        from implkit.providers.bitrix24 import open_bitrix24

        return open_bitrix24(base_url, auth, transport=transport, rate=rate, max_retries=max_retries,
                             on_request=on_request, **http_options)
    if crm == "directum":  # base_url: the Integration Service root (https://HOST/Integration); auth: BasicAuth
        from implkit.providers.directum import open_directum

        return open_directum(base_url, auth, transport=transport, rate=rate, max_retries=max_retries,
                             on_request=on_request, **http_options)
    raise ValueError(f"no provider for {crm!r}: expected one of {', '.join(CRMS)}")


__all__ = ["CRMS", "Provider", "open_provider"]
