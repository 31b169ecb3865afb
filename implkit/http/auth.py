"""Authentication for the HTTP client: long-lived tokens and OAuth 2.0 with refresh-token rotation.

An `Auth` gives the headers for a request and, where it can, refreshes its
credentials once when the server answers 401.

amoCRM's OAuth refresh tokens are single-use: each refresh returns a new
pair and the old refresh token dies (amocrm-api.md §2.1). So `OAuth2Session`

1. refreshes one at a time (a lock per token endpoint + client id, plus the
   store's own cross-process lock when it has one), because two concurrent
   refreshes burn the token;
2. re-reads the store before refreshing, so a pair rotated by another
   process or thread is adopted instead of refreshed again;
3. saves the new pair through the `TokenStore` — atomically and durably —
   BEFORE the new access token is used. If the process dies right after the
   refresh, the store holds the only valid refresh token; if saving fails,
   the new pair is not used and the error says so;
4. retries the refresh with backoff when the token server did not answer
   (dropped connection, timeout) or answered 5xx/429: the refresh token is
   still valid when the server never processed the request, so a transient
   fault must not end in "re-authorize". Only a refusal of the grant
   (400/401: `invalid_grant`, `invalid_client`, a revoked token) says
   re-authorize; a refresh that kept failing says it was transient.
   A proactive refresh (before expiry) that fails transiently keeps using
   the access token while it is still valid.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ContextManager, Protocol, runtime_checkable

import httpx

from implkit.errors import RuntimeFailure
from implkit.http.backoff import backoff_delay
from implkit.http.errors import HttpError, ServerDown, TransportError, Unauthorized, connection_refused
from implkit.http.redact import register_secret
from implkit.lang import say

_MESSAGES = {
    "no_tokens": {"ru": "для этого клиента не сохранены токены OAuth: сначала авторизуйте интеграцию",
                  "en": "no OAuth tokens stored for this tenant: authorize the integration first"},
    "no_refresh": {"ru": "access token истёк, а refresh token нет: авторизуйте интеграцию заново",
                   "en": "the access token expired and there is no refresh token: re-authorize"},
    "not_saved": {"ru": "токены OAuth обновлены, но сохранить их не удалось ({kind}); старый refresh token больше "
                        "не действует: авторизуйте интеграцию заново",
                  "en": "the OAuth tokens were rotated but could not be saved ({kind}); the old refresh token is no "
                        "longer valid: re-authorize the integration"},
    "transient": {"ru": "обновление токена: {last}. Это временно (сервер токенов не ответил или был недоступен), "
                        "а не отказ: авторизация интеграции в силе — запустите позже",
                  "en": "token refresh: {last}. This is transient (the token server did not answer or was "
                        "unavailable), not a refusal: the integration's authorization stands — run again later"},
    "answered": {"ru": "обновление токена: ответ HTTP {status}{detail}", "en": "token refresh answered HTTP {status}{detail}"},
    "refused_advice": {"ru": "сервер отказал в обновлении; авторизуйте интеграцию заново",
                       "en": "the server refused the refresh grant; re-authorize the integration"},
    "after_unanswered": {"ru": " (на одну из прежних попыток ответа не было: сервер мог тогда обновить пару, а ответ "
                               "потерялся)",
                         "en": " (an earlier attempt got no answer: the server may have rotated the pair then, and "
                               "that answer was lost)"},
    "refused": {"ru": "в обновлении токена отказано{detail}; {advice}", "en": "token refresh refused{detail}; {advice}"},
}


@dataclass(frozen=True)
class TokenSet:
    """An OAuth token pair. `expires_at` is a Unix time (seconds); None = unknown / long-lived."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None

    def __post_init__(self) -> None:
        register_secret(self.access_token)
        register_secret(self.refresh_token)

    def expires_within(self, seconds: float, now: float) -> bool:
        return self.expires_at is not None and self.expires_at - seconds <= now

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"access_token": self.access_token}
        if self.refresh_token:
            out["refresh_token"] = self.refresh_token
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at
        return out


@runtime_checkable
class TokenStore(Protocol):
    """Where an OAuth token pair lives between runs (implkit.workspace provides a file and a keyring store).

    `save` must be atomic and durable when it returns (temp file + fsync +
    rename, or a keyring write). A store may also offer `locked()`, a context
    manager held across load → refresh → save to serialise refreshes between
    processes.
    """

    def load(self) -> TokenSet | None: ...

    def save(self, tokens: TokenSet) -> None: ...


class MemoryTokenStore:
    """A TokenStore in memory (tests, one-off scripts)."""

    def __init__(self, tokens: TokenSet | None = None):
        self.tokens = tokens
        self.saves = 0

    def load(self) -> TokenSet | None:
        return self.tokens

    def save(self, tokens: TokenSet) -> None:
        self.tokens = tokens
        self.saves += 1


@runtime_checkable
class Auth(Protocol):
    """Headers for each request, and a way to recover from a 401."""

    #: whether `refresh()` can produce new credentials (False for static tokens)
    can_refresh: bool

    def headers(self) -> dict[str, str]:
        """The auth headers for the next request (may refresh first when the token is about to expire)."""
        ...

    def refresh(self, failed: dict[str, str] | None = None) -> bool:
        """Get new credentials after a 401 on a request sent with `failed` headers.

        Returns True when a retry may succeed (new credentials, or another
        thread already refreshed), False when nothing can change.
        """
        ...


class NoAuth:
    """No auth header: Bitrix24 incoming webhooks carry their secret in the URL path."""

    can_refresh = False

    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self, failed: dict[str, str] | None = None) -> bool:
        return False


class BearerToken:
    """A long-lived token sent as `Authorization: Bearer …` (amoCRM private-integration keys)."""

    can_refresh = False

    def __init__(self, token: str):
        if not token or not token.strip():
            raise ValueError("empty token")
        self._token = token.strip()
        register_secret(self._token)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def refresh(self, failed: dict[str, str] | None = None) -> bool:
        return False

    def __repr__(self) -> str:
        return "BearerToken(***)"


_refresh_locks: dict[tuple[str, str], threading.Lock] = {}
_refresh_locks_guard = threading.Lock()


#: attempts at one token refresh (the first + retries) and their backoff: about 23 s in all at most,
#: long enough to ride out a dropped connection or a 503 burst (bench/chaos.py's heavy profile fails
#: 28 % of requests: five failures in a row still happened once in 40 runs), short enough not to stall.
REFRESH_ATTEMPTS = 6
REFRESH_BACKOFF = 1.0
REFRESH_MAX_BACKOFF = 8.0


def _refresh_lock(token_url: str, client_id: str) -> threading.Lock:
    with _refresh_locks_guard:
        return _refresh_locks.setdefault((token_url, client_id), threading.Lock())


class OAuth2Session:
    """OAuth 2.0 access + refresh tokens, refreshed before expiry and once after a 401.

    `token_url` is the account's `/oauth2/access_token`. The refresh request
    is `POST` JSON `{client_id, client_secret, grant_type: refresh_token,
    refresh_token, redirect_uri}` → `{access_token, refresh_token, expires_in}`.
    """

    can_refresh = True

    def __init__(self, token_url: str, *, client_id: str, client_secret: str, redirect_uri: str = "",
                 store: TokenStore, tokens: TokenSet | None = None, refresh_margin: float = 60.0,
                 transport: httpx.BaseTransport | None = None, timeout: float = 30.0,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 attempts: int = REFRESH_ATTEMPTS, backoff: float = REFRESH_BACKOFF,
                 max_backoff: float = REFRESH_MAX_BACKOFF, rng: random.Random | None = None):
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        register_secret(client_secret)
        self.redirect_uri = redirect_uri
        self.store = store
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._sleep = sleep
        self.attempts = max(1, int(attempts))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._rng = rng or random.Random()
        self._http = httpx.Client(transport=transport, timeout=timeout)
        self._lock = _refresh_lock(token_url, client_id)
        tokens = tokens or store.load()
        if tokens is None:
            raise RuntimeFailure(say(_MESSAGES, "no_tokens"))
        self._tokens = tokens
        self.refreshes = 0  # refresh requests actually sent, retries included (for tests and stats)
        self.transient_failures = 0  # refresh attempts that got no answer, a 5xx or a 429
        self._answered = False  # whether the token server ever answered (a refusal before: it is not running)

    @property
    def tokens(self) -> TokenSet:
        return self._tokens

    def headers(self) -> dict[str, str]:
        if self._tokens.expires_within(self.refresh_margin, self._clock()):
            try:
                self._refresh(failed_access_token=self._tokens.access_token)
            except TransportError:
                # Refreshing early is a courtesy: while the access token still lives, use it and let
                # the next request (or the 401) try the refresh again.
                if self._tokens.expires_within(0, self._clock()):
                    raise
        return {"Authorization": f"Bearer {self._tokens.access_token}"}

    def refresh(self, failed: dict[str, str] | None = None) -> bool:
        failed_token = None
        if failed and "Authorization" in failed:
            failed_token = failed["Authorization"].removeprefix("Bearer ").strip()
        self._refresh(failed_access_token=failed_token)
        return True

    def _store_lock(self) -> ContextManager[Any]:
        locked = getattr(self.store, "locked", None)
        return locked() if callable(locked) else contextlib.nullcontext()

    def _refresh(self, *, failed_access_token: str | None) -> None:
        with self._lock, self._store_lock():
            current = self._tokens
            if failed_access_token is not None and current.access_token != failed_access_token:
                return  # another thread refreshed while this request was in flight
            stored = self.store.load()
            if stored is not None and stored.refresh_token != current.refresh_token:
                # Another process rotated the pair: adopt it rather than spend a dead refresh token.
                self._tokens = stored
                if stored.access_token != failed_access_token and not stored.expires_within(
                        self.refresh_margin, self._clock()):
                    return
                current = stored
            if not current.refresh_token:
                raise Unauthorized("POST", self.token_url, 401,
                                   detail=say(_MESSAGES, "no_refresh"))
            new = self._request_new_pair(current)
            try:
                self.store.save(new)  # durable BEFORE the new access token is used
            except Exception as exc:
                raise RuntimeFailure(say(_MESSAGES, "not_saved", kind=type(exc).__name__)) from None
            self._tokens = new

    def _request_new_pair(self, current: TokenSet) -> TokenSet:
        """POST the refresh grant, retrying what is transient (module docstring, point 4)."""
        payload = {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "grant_type": "refresh_token",
            "refresh_token": current.refresh_token,
            "redirect_uri": self.redirect_uri,
        }
        unanswered = 0  # attempts the server may have processed without us seeing the answer
        last = ""
        last_response: httpx.Response | None = None
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self._sleep(self._retry_delay(attempt - 1, last_response))
                last_response = None
            try:
                response = self._http.post(self.token_url, json=payload)
            except httpx.HTTPError as exc:
                self.refreshes += 1
                if attempt == 1 and not self._answered and connection_refused(exc):
                    raise ServerDown("POST", self.token_url) from None  # nothing listens there: say so now
                self.transient_failures += 1
                last = f"no answer ({type(exc).__name__})"
                if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
                    unanswered += 1
                continue
            self.refreshes += 1
            self._answered = True
            status = response.status_code
            if status >= 500 or status == 429:
                self.transient_failures += 1
                last, last_response = f"HTTP {status}", response
                continue
            if status != 200:
                raise self._refused(response, after_unanswered=unanswered)
            body = _json_or_text(response)
            if not isinstance(body, dict) or not body.get("access_token"):
                raise HttpError("POST", self.token_url, status, detail="token refresh answer has no access_token")
            expires_in = body.get("expires_in")
            expires_at = self._clock() + float(expires_in) if expires_in is not None else None
            return TokenSet(access_token=str(body["access_token"]),
                            refresh_token=str(body.get("refresh_token") or current.refresh_token),
                            expires_at=expires_at)
        raise TransportError(
            "POST", self.token_url,
            say(_MESSAGES, "transient", last=last),
            status=last_response.status_code if last_response is not None else None, attempts=self.attempts)

    def _retry_delay(self, retry: int, response: httpx.Response | None) -> float:
        delay = backoff_delay(retry, base=self.backoff, cap=self.max_backoff, rng=self._rng)
        header = response.headers.get("Retry-After", "") if response is not None else ""
        if header.strip().isdigit():
            # a short Retry-After is honoured; a long one would stall the run — the backoff cap rules
            delay = max(delay, min(float(header), self.max_backoff))
        return delay

    def _refused(self, response: httpx.Response, *, after_unanswered: int) -> HttpError:
        """The server answered the grant with an error: 400/401 is a refusal (re-authorize)."""
        status = response.status_code
        body = _json_or_text(response)
        detail = ""
        if isinstance(body, dict):
            code = body.get("error") if isinstance(body.get("error"), str) else ""
            text = str(body.get("hint") or body.get("error_description") or body.get("detail")
                       or body.get("title") or "")
            detail = ": ".join(part for part in (code, text) if part)
        if status not in (400, 401):
            return HttpError("POST", self.token_url, status, body=body,
                             detail=say(_MESSAGES, "answered", status=status, detail=": " + detail if detail else ""))
        advice = say(_MESSAGES, "refused_advice")
        if after_unanswered:
            advice += say(_MESSAGES, "after_unanswered")
        return Unauthorized("POST", self.token_url, status, body=body,
                            detail=say(_MESSAGES, "refused", detail=": " + detail if detail else "", advice=advice))

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"OAuth2Session(client_id={self.client_id!r}, token_url={self.token_url!r})"


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text

