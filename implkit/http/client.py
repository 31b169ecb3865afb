"""The HTTP client every provider uses: rate limit → auth → send → retry or raise → account.

    client = HttpClient("https://acme.amocrm.ru", auth=BearerToken(token),
                        rate=RateLimiter(AMOCRM_RATE))
    account = client.get("/api/v4/account")                  # parsed JSON
    for lead in client.paginate("/api/v4/leads", {"limit": 250}, "leads"):
        ...
    created = client.post("/api/v4/leads/pipelines", json=[{...}])
    client.stats.total, client.stats.writes, client.stats.by_endpoint

Results: `get/post/patch/put/delete` return the parsed JSON body, or None
for 204 / an empty body; `request()` returns a `Reply` with status and
headers as well.

Retries (`max_retries` after the first attempt, exponential backoff with
jitter):

| outcome | read (GET/HEAD/OPTIONS, DELETE/PUT, `idempotent=True`) | write (POST/PATCH) |
|---|---|---|
| 429 (or `is_refused`) — refused before processing | retry (below) | retry |
| 403 with an HTML page after a recent 429 — the block | `AccountBlocked`: stop, send nothing more | same |
| 401 | refresh once (if the auth can), retry | same |
| connection refused before the server ever answered this client | `ServerDown` at once: nothing listens there | same |
| connection not made (refused, connect/pool timeout) | retry | retry: nothing was sent |
| 5xx, read/write timeout, connection dropped | retry | `WriteOutcomeUnknown`: never blindly repeated |
| other 4xx | raise HttpError / NotFound / Unauthorized | same |
| 3xx | raise HttpError naming the (redacted) Location: never followed with the token | same |

amoCRM has no idempotency keys, so a repeated POST creates a duplicate;
the caller (apply) re-reads and reconciles instead.

A 429 costs seconds, not minutes. amoCRM's 429 body says `retry_after: 300`
(Kommo's http-codes example) whatever the cause; a single stray 429 (another
integration's burst, a rate set a little high) clears within a second, as
the window is one second. So a refusal slows the shared limiter down one
step and pauses it for a short backoff (about 1, 2, 4 s: `refused_backoff`,
`quick_refusals`); a wait the server asks for (the `Retry-After` header or
the body's `retry_after`) is honoured at once only when it is short
(≤ `short_wait`). Only when the server keeps refusing after the quick
retries is its longer wait honoured (≤ `max_wait`, else `RateLimited`),
and a request still refused after that raises `RateLimited`. amoCRM blocks
an account that keeps drawing 429s (403 on everything, an nginx HTML page):
a 403 HTML page after a 429 stops the client with `AccountBlocked`, and the
client sends nothing more, since every further request deepens the block.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from implkit.errors import ApiError
from implkit.http.auth import Auth
from implkit.http.backoff import backoff_delay
from implkit.http.errors import (
    MESSAGES,
    AccountBlocked,
    HttpError,
    NotFound,
    RateLimited,
    ServerDown,
    TransportError,
    Unauthorized,
    WriteOutcomeUnknown,
    connection_refused,
)
from implkit.http.ratelimit import Limiters, RateLimiter
from implkit.http.redact import install_log_filter, redact
from implkit.lang import say

log = logging.getLogger("implkit.http")
install_log_filter("implkit.http")

BLOCK_MEMORY = 600.0  # seconds a 429 is remembered when a 403 arrives (the block's window is undocumented)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
# Connection failures where the request never left this machine: safe to repeat even a write.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True)
class Reply:
    """One answer: status, parsed body (None for 204 / empty), headers, the URL that answered (redacted)."""

    status: int
    data: Any
    headers: httpx.Headers
    url: str


@dataclass(frozen=True)
class RequestEvent:
    """What the `on_request` hook receives after every attempt (never a secret)."""

    method: str
    endpoint: str  # path template, ids replaced by {id}
    status: int | None  # None when no answer came
    attempt: int  # 1 for the first try of a request
    error: str | None = None  # the exception class when no answer came
    waited: float = 0.0  # seconds the rate limiter held this attempt


class RequestStats:
    """Counts of requests sent (every attempt, retries included), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.writes = 0
        self.retries = 0
        self.refreshes = 0
        self.by_endpoint: Counter[str] = Counter()  # "GET /api/v4/leads/pipelines/{id}" → n
        self.by_status: Counter[int | None] = Counter()
        self.waited = 0.0

    def record(self, method: str, endpoint: str, status: int | None, *, retry: bool, waited: float) -> None:
        with self._lock:
            self.total += 1
            if method in WRITE_METHODS:
                self.writes += 1
            if retry:
                self.retries += 1
            self.by_endpoint[f"{method} {endpoint}"] += 1
            self.by_status[status] += 1
            self.waited += waited

    def record_refresh(self) -> None:
        with self._lock:
            self.refreshes += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self.total, "writes": self.writes, "retries": self.retries,
                    "refreshes": self.refreshes, "waited_s": round(self.waited, 3),
                    "by_endpoint": dict(sorted(self.by_endpoint.items())),
                    "by_status": {str(k): v for k, v in sorted(self.by_status.items(), key=lambda kv: str(kv[0]))}}


def endpoint_template(path: str) -> str:
    """`/api/v4/leads/pipelines/123/statuses` → `/api/v4/leads/pipelines/{id}/statuses`."""
    return re.sub(r"/\d+(?=/|$)", "/{id}", path.split("?", 1)[0]) or "/"


def default_is_refused(response: httpx.Response) -> bool:
    """Whether an answer says the request was refused before processing (safe to repeat a write)."""
    return response.status_code == 429


class HttpClient:
    """A JSON HTTP client for one CRM account (see the module docstring for the retry table)."""

    def __init__(self, base_url: str, *, auth: Auth, rate: RateLimiter | Limiters | None = None,
                 max_retries: int = 5, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None,
                 backoff: float = 0.5, max_backoff: float = 30.0, max_wait: float = 300.0,
                 refused_backoff: float = 1.0, quick_refusals: int = 3, short_wait: float = 15.0,
                 is_refused: Callable[[httpx.Response], bool] = default_is_refused,
                 on_request: Callable[[RequestEvent], None] | None = None,
                 headers: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None):
        self.base_url = httpx.URL(base_url.rstrip("/"))
        self.auth = auth
        self.rate = rate
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_wait = max_wait
        self.refused_backoff = refused_backoff
        self.quick_refusals = quick_refusals
        self.short_wait = short_wait
        self.is_refused = is_refused
        self.on_request = on_request
        self.stats = RequestStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._refusal_times: list[float] = []  # client-clock times of recent 429s (block detection)
        self._refusal_lock = threading.Lock()
        self._blocked: AccountBlocked | None = None
        self._answered = False  # whether the server ever answered: a refusal before that means it is not running
        default_headers = {"Accept": "application/json", "User-Agent": "implkit"}
        default_headers.update(headers or {})
        self._http = httpx.Client(base_url=str(self.base_url), transport=transport, timeout=timeout,
                                  headers=default_headers, follow_redirects=False)

    # ---- verbs ---------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).data

    def post(self, path: str, params: Mapping[str, Any] | None = None, json: Any = None, *,
             idempotent: bool | None = None) -> Any:
        return self.request("POST", path, params=params, json=json, idempotent=idempotent).data

    def patch(self, path: str, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        return self.request("PATCH", path, params=params, json=json).data

    def put(self, path: str, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        return self.request("PUT", path, params=params, json=json).data

    def delete(self, path: str, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        return self.request("DELETE", path, params=params, json=json).data

    # ---- the one request loop ------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None,
                idempotent: bool | None = None) -> Reply:
        """Send one request with rate limiting, auth, retries; return the Reply or raise (module docstring).

        `idempotent=True` lets a POST that only reads (Bitrix24 list calls) be
        retried like a GET; None decides by method.
        """
        method = method.upper()
        if path.startswith(("http://", "https://")) and not self._same_account(httpx.URL(path)):
            # Credentials go to this account only: an absolute URL elsewhere (a link from a body) is refused.
            raise ApiError(say(MESSAGES, "other_host", where=f"{method} {redact(path)}", base=redact(str(self.base_url))))
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        endpoint = endpoint_template(self._relative_path(path))
        url_for_errors = str(self._http.build_request(method, path, params=params).url)
        attempt = 0
        refusals = 0  # 429s (or is_refused) for this request
        refreshed = False
        ambiguous = False  # a previous attempt may have been applied (matters for DELETE → 404)
        while True:
            if self._blocked is not None:
                raise self._blocked  # the account is blocked: every request would deepen the block
            attempt += 1
            retry = attempt > 1
            waited = self.rate.acquire() if self.rate is not None else 0.0
            auth_headers = self.auth.headers()
            try:
                response = self._http.request(method, path, params=params, json=json, headers=auth_headers)
            except httpx.HTTPError as exc:
                sent = not isinstance(exc, _NOT_SENT)
                self._account(method, endpoint, None, attempt, retry, waited, error=type(exc).__name__)
                if not self._answered and connection_refused(exc):
                    # Nothing listens there (a stopped sandbox, a wrong port): one clear line now, not
                    # seconds of retries. Once the server has answered, a refusal is a restart: retried.
                    raise ServerDown(method, url_for_errors) from None
                log.warning("%s %s: %s (attempt %d)", method, redact(url_for_errors), type(exc).__name__, attempt)
                if sent and not idempotent:
                    raise WriteOutcomeUnknown(method, url_for_errors, type(exc).__name__) from None
                if attempt > self.max_retries:
                    raise TransportError(method, url_for_errors, type(exc).__name__, attempts=attempt) from None
                ambiguous = ambiguous or sent
                self._sleep(self._backoff(attempt))
                continue

            self._answered = True
            status = response.status_code
            self._account(method, endpoint, status, attempt, retry, waited)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s → %d", method, redact(str(response.request.url)), status)

            if status == 401 and not refreshed and self.auth.can_refresh:
                refreshed = True
                self.stats.record_refresh()
                if self.auth.refresh(auth_headers):
                    attempt -= 1  # the refresh retry is not one of the error retries
                    continue
            if status == 429 or self.is_refused(response):
                refusals += 1
                self._note_refusal()
                if self.rate is not None:
                    self.rate.slow_down()  # the budget is smaller than we thought: ask for less of it
                wait = self._retry_after(response)
                if attempt > self.max_retries or refusals > self.quick_refusals + 1:
                    raise self._error(method, url_for_errors, response, attempt, retry_after=wait)
                if refusals <= self.quick_refusals:
                    # A one-second window clears in a second: a short backoff, not the body's blanket 300 s.
                    delay = backoff_delay(refusals, base=self.refused_backoff, cap=self.max_backoff,
                                          rng=self._rng)
                    if wait is not None and wait <= self.short_wait:
                        delay = max(delay, wait)
                elif wait is None:
                    delay = self._backoff(attempt)
                elif wait > self.max_wait:
                    raise self._error(method, url_for_errors, response, attempt, retry_after=wait)
                else:
                    delay = wait  # the server kept refusing: now its own wait is the rule
                if self.rate is not None:
                    self.rate.pause(delay)  # everyone sharing this budget backs off, not just us
                log.warning("%s %s: %d, retrying in %.1fs", method, redact(url_for_errors), status, delay)
                self._sleep(delay)
                continue
            if status == 403 and self._recently_refused() and not isinstance(_parse(response), dict):
                self._blocked = AccountBlocked(method, url_for_errors, status, attempts=attempt,
                                               refusals=len(self._refusal_times))
                raise self._blocked
            if status >= 500:
                if not idempotent:
                    raise WriteOutcomeUnknown(method, url_for_errors, f"HTTP {status}", status=status)
                if attempt > self.max_retries:
                    raise TransportError(method, url_for_errors, f"HTTP {status}: {_detail(_parse(response))}",
                                         status=status, attempts=attempt)
                ambiguous = True
                wait = self._retry_after(response)
                self._sleep(min(wait, self.max_wait) if wait is not None else self._backoff(attempt))
                continue
            if status == 404 and method == "DELETE" and ambiguous:
                # An earlier attempt was sent and lost; the object is gone either way.
                return Reply(204, None, response.headers, redact(str(response.request.url)))
            if 300 <= status < 400:
                # Never followed: a redirect could carry the token to another host. amoCRM redirects
                # when an account moved (new subdomain) — the tenant URL needs updating.
                location = redact(response.headers.get("Location", "?"))
                raise HttpError(method, url_for_errors, status, attempts=attempt,
                                detail=say(MESSAGES, "redirected", location=location))
            if status >= 400:
                raise self._error(method, url_for_errors, response, attempt)
            return Reply(status, _parse(response), response.headers, redact(str(response.request.url)))

    # ---- pagination ----------------------------------------------------------------------------

    def paginate(self, path: str, params: Mapping[str, Any] | None = None, embedded_key: str = "",
                 *, max_pages: int | None = None) -> Iterator[dict]:
        """Yield every item of a HAL collection, following `_links.next` page by page.

        Stops on 204 or when a page has no `next` link — never on a short
        page (amoCRM caps custom fields at 50 a page whatever `limit` says).
        A `next` link into this account is followed; one naming another host
        (the docs' examples show shard hosts) is rebuilt onto this client's
        path with the link's query, so a token is never sent elsewhere.
        """
        current_path, current_params = path, dict(params or {})
        seen: set[tuple[str, tuple]] = set()
        pages = 0
        while True:
            key = (current_path, tuple(sorted((str(k), str(v)) for k, v in current_params.items())))
            if key in seen:
                raise ApiError(say(MESSAGES, "loop", where=f"GET {redact(current_path)}"))
            seen.add(key)
            data = self.get(current_path, current_params)
            pages += 1
            if data is None:
                return
            if not isinstance(data, dict):
                raise ApiError(say(MESSAGES, "not_hal", where=f"GET {redact(current_path)}", kind=type(data).__name__))
            embedded = data.get("_embedded") or {}
            yield from embedded.get(embedded_key) or []
            href = ((data.get("_links") or {}).get("next") or {}).get("href")
            if not href or (max_pages is not None and pages >= max_pages):
                return
            current_path, current_params = self._next_page(path, current_params, href)

    def _next_page(self, path: str, params: dict[str, Any], href: str) -> tuple[str, dict[str, Any]]:
        link = httpx.URL(href)
        query = dict(link.params.multi_items())
        if not link.host or self._same_account(link):
            relative = self._relative_path(link.path) if link.host else link.path
            return relative, query
        merged = dict(params)
        merged.update(query)
        return path, merged

    def _same_account(self, link: httpx.URL) -> bool:
        base = self.base_url
        return (link.host == base.host and (link.port or _default_port(link)) == (base.port or _default_port(base))
                and link.path.startswith(base.path.rstrip("/") + "/"))

    def _relative_path(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            path = httpx.URL(path).path
        base_path = self.base_url.path.rstrip("/")
        if base_path and path.startswith(base_path + "/"):
            return path[len(base_path):]
        return path

    # ---- helpers -------------------------------------------------------------------------------

    def _account(self, method: str, endpoint: str, status: int | None, attempt: int, retry: bool,
                 waited: float, error: str | None = None) -> None:
        self.stats.record(method, endpoint, status, retry=retry, waited=waited)
        if self.on_request is not None:
            self.on_request(RequestEvent(method, endpoint, status, attempt, error, waited))

    def _note_refusal(self) -> None:
        now = self._clock()
        with self._refusal_lock:
            self._refusal_times = [t for t in self._refusal_times if t > now - BLOCK_MEMORY] + [now]

    def _recently_refused(self) -> bool:
        now = self._clock()
        return any(t > now - BLOCK_MEMORY for t in self._refusal_times)

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.backoff, cap=self.max_backoff, rng=self._rng)

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds to wait from a Retry-After header (seconds or HTTP date) or amoCRM's body `retry_after`."""
        header = response.headers.get("Retry-After")
        if header:
            header = header.strip()
            try:
                return max(0.0, float(header))
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(header)
                except (TypeError, ValueError):
                    when = None
                if when is not None:
                    return max(0.0, when.timestamp() - self._clock())
        body = _parse(response)
        if isinstance(body, dict) and isinstance(body.get("retry_after"), (int, float)):
            return max(0.0, float(body["retry_after"]))
        return None

    def _error(self, method: str, url: str, response: httpx.Response, attempts: int,
               retry_after: float | None = None) -> HttpError:
        body = _parse(response)
        status = response.status_code
        kw: dict[str, Any] = {"detail": _detail(body), "body": body, "attempts": attempts}
        if status == 429 or retry_after is not None:
            detail = kw["detail"] or "too many requests"
            if retry_after is not None:
                detail += f" (server asks to wait {retry_after:g}s)"
            kw["detail"] = detail
            return RateLimited(method, url, status, retry_after=retry_after, **kw)
        if status == 401:
            kw["detail"] = (kw["detail"] + "; " if kw["detail"] else "") + "credentials refused: re-authorize"
            return Unauthorized(method, url, status, **kw)
        if status == 404:
            return NotFound(method, url, status, **kw)
        return HttpError(method, url, status, **kw)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpClient({redact(str(self.base_url))!r})"


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


def _parse(response: httpx.Response) -> Any:
    """The body as JSON when it is JSON, None when empty, else the text."""
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _detail(body: Any) -> str:
    """A one-line reason from an error body: problem+json, Bitrix24's error/error_description, or HTML/text."""
    if isinstance(body, dict):
        for key in ("detail", "error_description", "title", "error", "hint", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return redact(value)
        return ""
    if isinstance(body, str):
        text = body.strip()
        title = re.search(r"(?is)<title>(.*?)</title>", text)
        if title:
            return redact(f"HTML page: {title.group(1).strip()}")
        if text.lower().startswith(("<!doctype", "<html")):
            return "HTML page"
        return redact(text[:200])
    return ""
