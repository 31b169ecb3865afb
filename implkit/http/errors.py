"""Errors raised by the HTTP client. All carry method, URL (redacted) and status; never a token.

    ApiError (implkit.errors, exit 1)
    └── HttpError            the server answered with an error status retrying will not fix
        ├── Unauthorized     401 (after the one refresh the auth allows): re-authorize
        ├── NotFound         404
        ├── RateLimited      429 still refused after the retries, or a Retry-After too long to wait
        └── AccountBlocked   403 (an HTML page) after 429s: the account is blocked for exceeding the rate
    RuntimeFailure (exit 1)
    ├── TransportError       no usable answer after the retries: connection refused, timeouts, 5xx
    │   └── ServerDown       the first connection to the server was refused: nothing listens there
    └── WriteOutcomeUnknown  a write was sent and its outcome is unknown: re-read and reconcile
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from implkit.errors import ApiError, RuntimeFailure
from implkit.http.redact import redact
from implkit.lang import count_noun, say
from implkit.net import is_loopback

# The words of the HTTP errors a user reads (exit 1), in the user's language; what the server said stays its own.
MESSAGES = {
    "blocked": {"ru": "аккаунт ответил 403 после {refusals} из-за частоты запросов (429): amoCRM блокирует аккаунт "
                      "или IP, который раз за разом превышает лимит. Остановлено: больше запросов не отправлялось. "
                      "Подождите перед следующим запуском, снизьте rate_limit клиента, если аккаунт делит другая "
                      "интеграция, а если блокировка не снимается, её снимает поддержка amoCRM",
                "en": "the account answered 403 after {refusals} for the request rate (429): amoCRM blocks an "
                      "account or IP that keeps exceeding its limit. Stopped: no further requests were sent. Wait "
                      "before running again, lower the tenant's rate_limit if another integration shares the "
                      "account, and if the block persists, amoCRM support lifts it"},
    "failed": {"ru": "{where}: не удалось за {attempts}: {reason}", "en": "{where} failed after {attempts}: {reason}"},
    "unknown": {"ru": "{where}: исход неизвестен ({reason}); запись могла примениться — перечитайте клиента, прежде "
                      "чем повторять",
                "en": "{where}: outcome unknown ({reason}); the write may have been applied — re-read the tenant "
                      "before retrying"},
    "other_host": {"ru": "{where}: учётные данные этого аккаунта не отправляются на другой хост, кроме {base}",
                   "en": "{where}: refusing to send this account's credentials to another host than {base}"},
    "redirected": {"ru": "перенаправление на {location}; проверьте адрес клиента",
                   "en": "redirected to {location}; check the tenant URL"},
    "loop": {"ru": "{where}: постраничное чтение вернулось к уже прочитанной странице",
             "en": "{where}: pagination loops back to a page already read"},
    "not_hal": {"ru": "{where}: ожидалась коллекция HAL, а пришло {kind}", "en": "{where}: expected a HAL collection, got {kind}"},
    "server_down": {
        "ru": "{where}: сервер {origin} не отвечает (в соединении отказано) — он не запущен или указан не тот "
              "адрес.{hint}",
        "en": "{where}: nothing answers at {origin} (connection refused): the server is not running or the "
              "address is wrong.{hint}",
    },
    "server_down_loopback_hint": {
        "ru": " Если это песочница, запустите её снова: implkit sandbox serve --db ФАЙЛ (она займёт тот же порт).",
        "en": " If it is the sandbox, start it again: implkit sandbox serve --db FILE (it takes the same port).",
    },
}
_REFUSALS = (("отказа", "отказов", "отказов"), ("refusal", "refusals"))
_ATTEMPTS = (("попытку", "попытки", "попыток"), ("attempt", "attempts"))


def _where(method: str, url: str) -> str:
    return f"{method.upper()} {redact(str(url))}"


class HttpError(ApiError):
    """An error answer. `detail` is the problem+json detail (or Bitrix24 error_description), redacted."""

    def __init__(self, method: str, url: str, status: int, *, detail: str = "", body: Any = None,
                 attempts: int = 1):
        self.method = method.upper()
        self.url = redact(str(url))
        self.detail = redact(detail or "")
        self.attempts = attempts
        body = redact(body)
        self.validation_errors = body.get("validation-errors") if isinstance(body, dict) else None
        message = f"{_where(method, url)} → HTTP {status}"
        if self.detail:
            message += f": {self.detail}"
        super().__init__(message, status=status, body=body)


class Unauthorized(HttpError):
    """401: the credentials were refused (after one refresh, where the auth can refresh)."""


class NotFound(HttpError):
    """404: the path or object does not exist."""


class RateLimited(HttpError):
    """429 after every retry, or the server asked for a longer wait than the client may sleep."""

    def __init__(self, method: str, url: str, status: int = 429, *, retry_after: float | None = None, **kw: Any):
        self.retry_after = retry_after
        super().__init__(method, url, status, **kw)


class AccountBlocked(HttpError):
    """403 after the server refused requests for their rate: amoCRM's block (docs: http-codes, limitations).

    Every further request deepens the block, so the client stops sending.
    """

    def __init__(self, method: str, url: str, status: int = 403, *, refusals: int = 0, **kw: Any):
        self.refusals = refusals
        kw.setdefault("detail", say(MESSAGES, "blocked", refusals=count_noun(refusals, *_REFUSALS)))
        super().__init__(method, url, status, **kw)


class TransportError(RuntimeFailure):
    """The API could not be reached or kept failing (timeouts, dropped connections, 5xx) after retries."""

    def __init__(self, method: str, url: str, reason: str, *, status: int | None = None, attempts: int = 1):
        self.method = method.upper()
        self.url = redact(str(url))
        self.status = status
        self.reason = redact(reason)
        self.attempts = attempts
        super().__init__(say(MESSAGES, "failed", where=_where(method, url), attempts=count_noun(attempts, *_ATTEMPTS),
                             reason=self.reason))


class ServerDown(TransportError):
    """The first connection to a server was refused: nothing listens at that address, so retrying for
    seconds only delays the one line the user needs (a sandbox that stopped, a wrong port)."""

    def __init__(self, method: str, url: str):
        self.method, self.url, self.status, self.attempts = method.upper(), redact(str(url)), None, 1
        self.reason = "connection refused"
        parsed = urlsplit(str(url))
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.origin = f"{parsed.scheme}://{parsed.hostname}:{port}"
        hint = say(MESSAGES, "server_down_loopback_hint") if is_loopback(parsed.hostname or "") else ""
        RuntimeFailure.__init__(self, say(MESSAGES, "server_down", where=_where(method, url), origin=self.origin,
                                          hint=hint))


def connection_refused(exc: BaseException | None) -> bool:
    """Whether a connection attempt was refused: ECONNREFUSED somewhere in the chain of causes."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class WriteOutcomeUnknown(RuntimeFailure):
    """A write was sent, then the answer was lost (timeout, dropped connection) or was a 5xx.

    It may or may not have been applied. The client never repeats it blindly
    (amoCRM has no idempotency keys: a repeated POST creates a duplicate);
    the caller re-reads the remote objects and reconciles.
    """

    def __init__(self, method: str, url: str, reason: str, *, status: int | None = None):
        self.method = method.upper()
        self.url = redact(str(url))
        self.status = status
        self.reason = redact(reason)
        super().__init__(say(MESSAGES, "unknown", where=_where(method, url), reason=self.reason))
