"""The Directum RX provider: a read-and-audit target over the Integration Service (OData v4).

reference/directum-rx.md: the Integration Service reads and writes *data* (counterparties,
contacts, employees), never *structure* — entity types, properties, workflows and rights are made
in the development studio (DDS) and the admin UI. So:

- `plan` / `drift`: every structural object of the blueprint is a manual row (its DDS or admin step,
  implkit/blueprint/manual_directum.py); the provider declares nothing writable;
- `apply` writes nothing and says why;
- `sync` reads the counterparty directory with keyset paging by Id (counterparties carry no
  modification date, so every sync is a full read) into the snapshot (implkit/audit/directum.py).

Public API: `open_directum(base_url, credential, ...)` → `DirectumProvider`; `open_records(...)` →
`DirectumRecords`; `tenant_connection(tenant, credentials)` → (auth, rate). `base_url` is the
service root, ``https://HOST/Integration`` (or ``/DrxIntegration``); a trailing ``/odata`` is dropped.
The credential is ``LOGIN:PASSWORD`` (what `tenant add --provider directum` stores).
"""

from __future__ import annotations

from typing import Any

from implkit.providers.directum.odata import BasicAuth, DirectumOData, parse_credential

__all__ = ["BasicAuth", "DirectumOData", "open_directum", "open_records", "parse_credential", "tenant_connection"]


def service_root(url: str) -> str:
    url = url.rstrip("/")
    return url[: -len("/odata")] if url.lower().endswith("/odata") else url


def _odata(base_url: str, credential: Any, **options: Any) -> DirectumOData:
    from implkit.http import HttpClient

    auth = credential if isinstance(credential, BasicAuth) else BasicAuth(*parse_credential(credential))
    http = HttpClient(service_root(base_url) + "/odata", auth=auth, **options)
    return DirectumOData(http)


def open_directum(base_url: str, credential: Any, **options: Any):
    from implkit.providers.directum.client import DirectumProvider

    return DirectumProvider(_odata(base_url, credential, **options), service_root(base_url))


def open_records(base_url: str, credential: Any, **options: Any):
    from implkit.providers.directum.odata import DirectumRecords

    return DirectumRecords(_odata(base_url, credential, **options))


def tenant_connection(tenant: Any, credentials: Any) -> tuple[BasicAuth, Any]:
    """(Basic credentials, rate limiter or None). No request limit is documented for the Integration
    Service, so only a tenant's own `rate_limit` paces it."""
    from implkit.http import RateLimiter

    auth = BasicAuth(*parse_credential(credentials.token or ""))
    rate = RateLimiter.shared(f"directum:{tenant.url}", tenant.rate_limit) if tenant.rate_limit else None
    return auth, rate
