"""Secret redaction: the one function every log line and exception goes through.

`redact(value)` masks, in a string or (recursively) in a mapping / sequence:

- values of secret-bearing keys and headers (`Authorization`,
  `X-Refresh-Token`, `access_token`, `refresh_token`, `client_secret`,
  `token`, `password`, `secret`, `auth` ...), whatever the case — and
  `code` in query strings (an OAuth authorization code);
- `Bearer <token>` / `Basic <credentials>` anywhere in text;
- the same keys written inline in text: query strings
  (`?access_token=...&auth=...`), JSON (`"refresh_token": "..."`) and
  `key=value` / `key: value` pairs;
- bare JWTs (`eyJ….….…`: amoCRM access tokens are JWTs);
- Bitrix24 incoming-webhook secrets in URL paths (`/rest/1/SECRET/...`);
- any literal value registered with `register_secret()`: the auth classes
  register every token they hold, so a token echoed back in an unexpected
  place (an error body, a URL) is still masked.

Every match is replaced whole by `***`: no prefix of a secret is ever shown.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"

# Keys whose values are secrets, compared case-insensitively with '-' == '_'.
SECRET_KEYS = frozenset({
    "authorization", "proxy_authorization", "x_refresh_token", "access_token", "refresh_token",
    "client_secret", "secret", "token", "id_token", "api_key", "apikey", "password", "passwd",
    "auth", "x_auth_token", "cookie", "set_cookie", "webhook", "webhook_url",
})

_KEY_ALTERNATION = "|".join(sorted(
    {k.replace("_", "[-_]") for k in SECRET_KEYS if k not in {"authorization", "cookie", "set_cookie"}},
    key=len, reverse=True,
))

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization schemes anywhere in text.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 " + MASK),
    # Header lines: "Authorization: xyz", "X-Refresh-Token: xyz".
    (re.compile(r"(?im)\b((?:proxy-)?authorization|x-refresh-token|cookie|set-cookie)(\s*[:=]\s*)[\"']?(?:(?:bearer|basic)\s+)?[^\s,;}\"']+"),
     r"\1\2" + MASK),
    # Query strings and form bodies: access_token=..., auth=..., code=...
    (re.compile(r"(?i)([?&;](?:" + _KEY_ALTERNATION + r"|code)=)[^&#\s\"']*"), r"\1" + MASK),
    # JSON / Python-repr pairs: "refresh_token": "...", 'client_secret': '...'
    (re.compile(r"(?i)([\"'](?:" + _KEY_ALTERNATION + r")[\"']\s*:\s*)([\"'])(?:\\.|(?!\2).)*\2"),
     r"\1\2" + MASK + r"\2"),
    # Plain key=value / key: value in free text (not after '?', '&': handled above; not the last
    # part of a dotted address such as `tenants.acme.token:`, which names a key in an error message).
    (re.compile(r"(?i)(?<![?&;\w\"'.])((?:" + _KEY_ALTERNATION + r")\s*[=:]\s*)(?![\"'{\[])[^\s,;&\"'}]+"),
     r"\1" + MASK),
    # Bare JWTs (amoCRM access tokens are JWTs): header.payload.signature, base64url.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"), MASK),
    # Bitrix24 incoming webhook: /rest/<user id>/<secret>/ (the secret is the credential).
    (re.compile(r"(/rest/\d+/)[A-Za-z0-9]{4,}(?=/|$|\?|\s)"), r"\1" + MASK),
    # A password in a URL's user info: postgresql://user:PASSWORD@host/db (the shared state backend's URL).
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@/\s]+@"), r"\1" + MASK + "@"),
)

_registered: set[str] = set()
_registered_lock = threading.Lock()
_MIN_REGISTERED_LENGTH = 6  # shorter strings would mask ordinary words


def register_secret(value: str | None) -> None:
    """Mask this literal value wherever it appears from now on (process-wide)."""
    if value and len(value) >= _MIN_REGISTERED_LENGTH:
        with _registered_lock:
            _registered.add(value)


def _normalise_key(key: object) -> str:
    return str(key).strip().lower().replace("-", "_")


def is_secret_key(key: object) -> bool:
    """Whether a mapping key or header name carries a secret value."""
    return _normalise_key(key) in SECRET_KEYS


def redact_text(text: str) -> str:
    with _registered_lock:
        literals = sorted(_registered, key=len, reverse=True)
    for literal in literals:
        if literal in text:
            text = text.replace(literal, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """Return `value` with every secret masked: str → str, mapping → dict, list/tuple → list; else unchanged.

    Mapping keys that name secrets have their whole value masked; every other
    string is scanned for inline secrets (see the module docstring).
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping) or _is_multidict(value):
        items = value.multi_items() if hasattr(value, "multi_items") else value.items()
        out: dict[Any, Any] = {}
        for key, item in items:
            if is_secret_key(key) and item not in (None, ""):
                out[key] = MASK
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


def _is_multidict(value: Any) -> bool:
    return hasattr(value, "multi_items") and hasattr(value, "items")


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's final message (installed on the `implkit` logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        cleaned = redact_text(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def install_log_filter(logger_name: str = "implkit") -> None:
    """Attach one RedactingFilter to the named logger and its handlers (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
