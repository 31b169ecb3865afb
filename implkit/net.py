"""Whether a host name is this machine: the one rule behind tenant URLs (plain http only on loopback), the
sandbox's bind address (loopback unless --allow-remote) and the hint to restart a local sandbox."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (bracketed or not), `localhost` and any `*.localhost` name (RFC 6761)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
