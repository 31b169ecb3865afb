"""What a tenant's URL may be: https (plain http on loopback only, for the sandbox) and no credentials in it.

A tenant URL is written to implkit.yaml, which is meant to be committed: a user name, a password, a token in
the query or a Bitrix24 webhook secret in the path would be a secret in git. `check_url` refuses them with a
message naming where the credential goes instead.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from implkit.errors import InputError


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, provider: str = "") -> str:
    """Validate a tenant URL; return it without a trailing slash. InputError names what is wrong.

    https only, except plain http on loopback (the sandbox). No credentials in
    it: no user:password@, no token in the query, no Bitrix24 webhook secret
    in the path (the webhook goes into the token source instead).
    """
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"tenant URL must be an http(s) URL with a host, got {_safe(url)!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InputError(f"plain http:// is refused for {parts.hostname} (tokens would travel in clear); "
                         "use https:// — http is allowed only on loopback (127.0.0.1, localhost, ::1)")
    if parts.username or parts.password:
        raise InputError("the tenant URL must not carry a user name or password; "
                         "pass credentials with --token-env, --token-file or --keyring")
    if parts.query or parts.fragment:
        raise InputError("the tenant URL must not have a query string or fragment")
    if re.search(r"/rest/\d+/[^/]+", parts.path):
        raise InputError("this looks like a Bitrix24 webhook URL, which carries its secret: register the portal "
                         "URL (https://PORTAL) and give the webhook through --token-env, --token-file or --keyring")
    return url.rstrip("/")


def _safe(url: str) -> str:
    from implkit.http.redact import redact

    return redact(url)
