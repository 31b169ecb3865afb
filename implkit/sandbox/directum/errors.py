"""The Integration Service's error answers, in one place.

Shapes (reference/directum-rx.md §3, `fixtures/directum/odata_errors_observed.json`): the vendor
documents only the codes (400 "with an error description in the body", 401, 404). Bodies:

- OData v4 standard ``{"error": {"code": "...", "message": "..."}}`` for a bad query, an unknown
  property, set or key (the fixture's advice for an emulator);
- the plain-string ``{"error": "Превышено максимальное количество сущностей в запросе. Используйте
  фильтрацию."}`` for the entity cap (observed by two independent clients);
- ``Unauthorized`` as text/plain for 401 (observed), with ``WWW-Authenticate: Basic``.
"""

from __future__ import annotations

from typing import Any

TOO_MANY = "Превышено максимальное количество сущностей в запросе. Используйте фильтрацию."


class DirectumError(Exception):
    status = 400
    code = "BadRequest"

    def __init__(self, message: str):
        self.message = message
        super().__init__(f"{self.status} {message}")

    def body(self) -> Any:
        return {"error": {"code": self.code, "message": self.message}}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(DirectumError):
    pass


class NotFound(DirectumError):
    status = 404
    code = "NotFound"


class MethodNotAllowed(DirectumError):
    status = 405
    code = "MethodNotAllowed"


class Unauthorized(DirectumError):
    status = 401
    code = "Unauthorized"

    def __init__(self) -> None:
        super().__init__("Unauthorized")

    def body(self) -> Any:
        return None          # answered as text/plain "Unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="Integration"'}


class TooManyEntities(DirectumError):
    def __init__(self) -> None:
        super().__init__(TOO_MANY)

    def body(self) -> Any:
        return {"error": TOO_MANY}


def invalid_property(name: str, type_name: str) -> BadRequest:
    # the ASP.NET Core OData wording for an unknown property in a query option [inference]
    return BadRequest(f"Could not find a property named '{name}' on type '{type_name}'.")


def unsupported_option(option: str) -> BadRequest:
    return BadRequest(f"The query option '{option}' is not supported by the integration service.")
