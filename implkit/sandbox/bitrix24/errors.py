"""Bitrix24's error answers, in one place, with the codes, texts and HTTP statuses the docs print.

Every error body is ``{"error": CODE, "error_description": TEXT}`` (reference/bitrix24-api.md §4).
System errors (limits, auth, unknown method, batch caps) carry upper-case codes; the legacy CRM
methods mostly answer 400 with an *empty* code and prose in the description; the new API
(`crm.item.*`, `crm.category.*`) uses codes such as ``NOT_FOUND``; a few methods put prose in
``error`` (`crm.status.*`, `crm.duplicate.findbycomm`). Error answers carry no ``time`` member
(the observed bodies have none; §10.4 keeps it absent — unverified for method-level errors).
"""

from __future__ import annotations

from typing import Any


class B24Error(Exception):
    """An answer other than success; `body()` is the JSON the portal sends, `status` its HTTP status."""

    status = 400
    code: Any = ""
    description = ""

    def __init__(self, description: str | None = None, *, code: Any = None, status: int | None = None):
        if description is not None:
            self.description = description
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(f"{self.status} {self.code}: {self.description}")

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description}


# --- system errors (_includes/system-errors.md; observed bodies) -----------------------------
class QueryLimitExceeded(B24Error):
    status, code, description = 503, "QUERY_LIMIT_EXCEEDED", "Too many requests"


class OperationTimeLimit(B24Error):
    # the observed body ends with a period; the docs' table prints it without
    status, code, description = 429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."


class NoAuthFound(B24Error):
    status, code, description = 401, "NO_AUTH_FOUND", "Wrong authorization data"


class InvalidCredentials(B24Error):
    """An incoming webhook whose address (user id + secret) names no live webhook of this portal: wrong or
    changed secret, wrong user id, deleted or expired webhook. The code and text are the docs' (system
    errors table: INVALID_CREDENTIALS "Invalid request credentials"; the helpdesk page on blocked webhooks,
    helpdesk.bitrix24.com/open/21269128, names a missing webhook, a changed secret and a mistyped address
    or id as its causes); the status is 401, as a real portal answers it (docs/sandbox.md has the evidence;
    the docs' table prints 403 for the same code's lack-of-rights case)."""

    status, code, description = 401, "INVALID_CREDENTIALS", "Invalid request credentials"


class ExpiredToken(B24Error):
    status, code, description = 401, "expired_token", "The access token provided has expired"


class InsufficientScope(B24Error):
    # the table explains it as "The request requires higher privileges than provided by the webhook
    # token"; the one printed body (batch.error_halt*.response) has an empty description
    status, code, description = 403, "insufficient_scope", ""


class MethodNotFound(B24Error):
    # [unverified] third-party notes only (reference §4)
    status, code, description = 404, "ERROR_METHOD_NOT_FOUND", "Method not found!"


class BatchLengthExceeded(B24Error):
    status, code, description = 400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"


class BatchMethodNotAllowed(B24Error):
    status, code, description = 405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage"


class InternalServerError(B24Error):
    status, code, description = 500, "INTERNAL_SERVER_ERROR", "Internal server error"


class PortalNotFound(B24Error):
    """No portal at this address. A real unknown *.bitrix24.ru name does not resolve at all; the
    sandbox answers 404 with the wrong-authorization body so a client sees a refusal it knows."""

    status, code, description = 404, "NO_AUTH_FOUND", "Wrong authorization data"


def server_error(status: int) -> B24Error:
    """The injected 5xx for `status` (faults.py picks 500/502/503/504)."""
    if status == 500:
        return InternalServerError()
    return B24Error("", code="ERROR_UNEXPECTED_ANSWER", status=status)


# --- method-level errors ------------------------------------------------------------------
def legacy(description: str) -> B24Error:
    """The legacy CRM methods' error: 400 with an empty code (crm.deal.*, crm.*.userfield.*)."""
    return B24Error(description, code="", status=400)


def not_found_legacy() -> B24Error:
    return legacy("Not found")


def bad_id() -> B24Error:
    return legacy("ID is not defined or invalid.")


def must_be_array(parameter: str) -> B24Error:
    return legacy(f"Parameter '{parameter}' must be array.")


def element_not_found() -> B24Error:
    return B24Error("Element not found", code="NOT_FOUND", status=400)


def invalid_arg(description: str) -> B24Error:
    return B24Error(description, code="INVALID_ARG_VALUE", status=400)


def entity_type_not_supported(entity_type_id: Any) -> B24Error:
    return B24Error(f"Entity type {entity_type_id} is not supported", code="ENTITY_TYPE_NOT_SUPPORTED",
                    status=400)


def core(description: str) -> B24Error:
    return B24Error(description, code="ERROR_CORE", status=400)


def invalid_identifier() -> B24Error:
    """crm.status.update/delete with an unknown id: prose in `error` (crm.status.update.error.response)."""
    return B24Error("An incorrect identifier was passed.", code="Invalid identifier.", status=400)
