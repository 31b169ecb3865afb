"""amoCRM's error answers, in one place, with the bodies the documentation prints.

Every error the emulator returns is an `AmoError`; `decode.py` turns it
into an `application/problem+json` answer (or `application/json` for the
OAuth endpoints). Bodies follow the fixtures in
`reference/fixtures/amocrm/` (`kommo.error_*`, `error_validation`):
`{"title", "type": "https://httpstatus.es/<status>", "status", "detail"}`
plus `validation-errors` keyed by `request_id` for 400s, `retry_after` for
429s.
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class AmoError(Exception):
    """An answer other than success. `body()` is the JSON the real API sends."""

    status = 500
    detail = "An unknown error occurred."
    media_type = PROBLEM_JSON

    def __init__(self, detail: str | None = None, **extra: Any):
        self.detail = detail or self.detail
        self.extra = extra
        super().__init__(f"{self.status} {self.detail}")

    def body(self) -> dict[str, Any] | None:
        body = {"title": TITLES.get(self.status, "Error"), "type": f"https://httpstatus.es/{self.status}",
                "status": self.status, "detail": self.detail}
        body.update(self.extra)
        return body

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(AmoError):
    status = 400
    detail = "Request validation failed"


class EmptyBody(BadRequest):
    detail = "Request data can not be empty"


class ValidationFailed(BadRequest):
    """400 with per-item errors: `errors` maps request_id → [{code, path, detail}]."""

    def __init__(self, errors: dict[str, list[dict[str, str]]]):
        super().__init__("Request validation failed")
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body = super().body()
        return {"validation-errors": [{"request_id": rid, "errors": errs} for rid, errs in self.errors.items()],
                **body}


class SourcesNotFound(BadRequest):
    """The one 400 with another shape: top-level `errors`, each inner `errors` an object
    (DELETE_sources.error_400_not_found)."""

    def __init__(self, missing: list[tuple[str, int]]):
        super().__init__("Invalid request items")
        self.missing = missing

    def body(self) -> dict[str, Any]:
        return {"errors": [{"request_id": rid, "errors": {"code": "EntityNotFound", "path": "id",
                                                          "detail": f"source with id = {source_id} not found"}}
                           for rid, source_id in self.missing], **super().body()}


class Unauthorized(AmoError):
    status = 401
    detail = "Invalid user name or password"   # the documented 401 body (kommo.error_401)


class Forbidden(AmoError):
    status = 403
    detail = "Access denied"


class AccountBlocked(AmoError):
    """Repeated 429s block the account: every call gets 403. The docs print no body for
    it and a tracker reports nginx HTML (amocrm-api-php#434), so this one is HTML."""

    status = 403
    media_type = "text/html"

    def body(self) -> None:
        return None

    def html(self) -> str:
        return ("<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n"
                "<center><h1>403 Forbidden</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


class NotFound(AmoError):
    status = 404
    detail = "Not Found"


class MethodNotAllowed(AmoError):
    status = 405
    detail = "Method Not Allowed"


class LimitExceeded(AmoError):
    """More items than the method accepts in one call (kommo.error_422_limit)."""

    status = 422

    def __init__(self, limit: int = 250):
        super().__init__(f"Limit {limit} per page")


class Unprocessable(AmoError):
    status = 422
    detail = "Unprocessable Entity"


class TooManyRequests(AmoError):
    status = 429
    detail = "You have sent too many requests in a given amount of time. Please try again later."

    def __init__(self, retry_after: int = 300):
        super().__init__(retry_after=retry_after)
        self.retry_after = retry_after


class InternalError(AmoError):
    """The fault-injected 5xx; amocrm-api-php#23 shows this body."""

    status = 500
    detail = "An unknown error occurred."


class UpstreamFailure(AmoError):
    """502/503/504 from the platform's front servers: the docs print no body for them."""

    def __init__(self, status: int = 504):
        super().__init__()
        self.status = status

    def body(self) -> None:
        return None


def server_error(status: int) -> AmoError:
    """The injected server error for a status: 500 has the documented JSON body, the others none."""
    return InternalError() if status == 500 else UpstreamFailure(status)


class OAuthError(AmoError):
    """Errors of /oauth2/access_token: plain JSON with title, detail, hint (official oauth client)."""

    media_type = "application/json"

    def __init__(self, status: int, detail: str, hint: str):
        self.status = status
        super().__init__(detail, hint=hint)


def validation_error(request_id: str, path: str, code: str, detail: str) -> ValidationFailed:
    """One failed item, in the documented shape."""
    return ValidationFailed({request_id: [{"code": code, "path": path, "detail": detail}]})
