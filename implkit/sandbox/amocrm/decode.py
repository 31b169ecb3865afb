"""Request parsing and response serialising for the amoCRM emulator: thin, as in moto.

`api(handler)` wraps a plain function `handler(call, backend) -> Result`:
it authenticates the bearer token for the account in the URL, parses the
query (PHP bracket syntax) and the JSON body, runs the handler in a worker
thread (SQLite is synchronous), and turns the result or an `AmoError` into
the documented answer (`application/hal+json`, 204, `application/problem+json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from implkit.sandbox.amocrm import errors as exc
from implkit.sandbox.amocrm import models
from implkit.sandbox.amocrm.paging import PagingError
from implkit.sandbox.querystring import parse_query

HAL_JSON = "application/hal+json"


@dataclass
class Call:
    """One parsed request, as a handler sees it."""

    method: str
    path_params: dict[str, str]
    params: dict[str, Any]               # nested query
    flat_params: dict[str, str]          # plain query (page, limit, with)
    query: list[tuple[str, str]]         # raw pairs, for `_links`
    body: Any
    self_url: str                        # absolute URL of this path, no query
    user_id: int | None = None

    @property
    def with_(self) -> set[str]:
        return {w.strip() for w in str(self.flat_params.get("with", "")).split(",") if w.strip()}


@dataclass
class Result:
    body: Any = None
    status: int = 200
    written: int = 0
    media_type: str = HAL_JSON
    headers: dict[str, str] = field(default_factory=dict)


def account_base(request: Request) -> str:
    """The absolute URL of the account root, as links must show it: scheme://host/amocrm/{subdomain}."""
    return f"{request.url.scheme}://{request.url.netloc}/amocrm/{request.path_params['subdomain']}"


async def _read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise exc.BadRequest("Request body is not valid JSON") from None


def error_response(error: exc.AmoError) -> Response:
    # A 429 carries Kommo's documented body (`retry_after: 300`) and no Retry-After header: the
    # documentation shows none (docs/sandbox.md, "Rate limits").
    headers = error.headers()
    if isinstance(error, exc.AccountBlocked):
        return Response(error.html(), status_code=error.status, media_type="text/html", headers=headers)
    body = error.body()
    if body is None:
        return Response(status_code=error.status, headers=headers)
    return Response(json.dumps(body, ensure_ascii=False), status_code=error.status, media_type=error.media_type,
                    headers=headers)


def render(result: Result) -> Response:
    if result.body is None:
        return Response(status_code=204 if result.status in (200, 204) else result.status, headers=result.headers)
    return Response(json.dumps(result.body, ensure_ascii=False), status_code=result.status,
                    media_type=result.media_type, headers=result.headers)


def api(handler: Callable[[Call, "models.AmoAccount"], Result], *, authenticated: bool = True):
    """A Starlette endpoint around `handler`; errors become the documented answers."""

    async def endpoint(request: Request) -> Response:
        gateway = request.app.state.sandbox
        context = request.scope["sandbox"]
        try:
            body = await _read_json(request) if request.method in ("POST", "PATCH", "PUT", "DELETE") else None
            at = gateway.now()
            base = account_base(request)
            call = Call(method=request.method, path_params=dict(request.path_params),
                        params=parse_query(list(request.query_params.multi_items())),
                        flat_params=dict(request.query_params), query=list(request.query_params.multi_items()),
                        body=body, self_url=base + request.url.path.removeprefix(f"/amocrm/{context['subdomain']}"))

            def run() -> Result:
                if authenticated:
                    token = models.authenticate(gateway.store, context["account_id"],
                                                request.headers.get("authorization"), at=at)
                    call.user_id = token["user_id"]
                backend = models.AmoAccount(gateway.store, context["account_id"], base, at, user_id=call.user_id)
                return handler(call, backend)

            result = await run_in_threadpool(run)
        except exc.AmoError as error:
            return error_response(error)
        except PagingError as error:
            return error_response(exc.validation_error("0", error.parameter, "InvalidType", str(error)))
        context["written"] = result.written
        return render(result)

    return endpoint
