"""The amoCRM accounts' control API, under /_sandbox (the sandbox's own; amoCRM has nothing like it).

It also carries the route of the clock every CRM shares (POST /_sandbox/clock): amoCRM's was the first
control API, and Bitrix24's and Directum's emulators point to it rather than each having one.

    GET  /_sandbox/accounts                      list accounts
    POST /_sandbox/accounts     {subdomain, name?}  create one (201)
    POST /_sandbox/{subdomain}/token             a new long-lived token (the only place one is shown)
    POST /_sandbox/{subdomain}/oauth             register an integration: {client_id, client_secret,
                                                 redirect_uri, code} for the authorization-code grant
    GET  /_sandbox/{subdomain}/faults            the fault spec and seed in force
    PUT  /_sandbox/{subdomain}/faults {spec, seed}  replace them (restarts the request count)
    GET  /_sandbox/{subdomain}/requests          the request log (time, method, path, status, client,
                                                 entities_written); ?since=SEQ for the newer ones
    POST /_sandbox/{subdomain}/reset             unblock, clear rate windows, fault counter and log;
                                                 ?data=1 also wipes the account's data and re-creates it
    POST /_sandbox/clock         {advance: seconds}  move the sandbox clock forward
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from implkit.sandbox.amocrm import operations
from implkit.sandbox.faults import FaultSpecError


async def _json(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def list_accounts(request: Request) -> Response:
    gateway = request.app.state.sandbox
    return JSONResponse(await run_in_threadpool(operations.list_accounts, gateway))


async def create_account(request: Request) -> Response:
    gateway = request.app.state.sandbox
    try:
        body = await _json(request)
        account = await run_in_threadpool(operations.create_account, gateway, str(body.get("subdomain", "")),
                                          body.get("name"))
    except ValueError as error:
        return _problem(400, str(error))
    return JSONResponse(account, status_code=201)


def _account_op(operation):
    async def endpoint(request: Request) -> Response:
        gateway = request.app.state.sandbox
        try:
            body = await _json(request) if request.method in ("POST", "PUT") else {}
            result = await run_in_threadpool(operation, gateway, request.path_params["subdomain"], body,
                                             dict(request.query_params))
        except operations.UnknownAccount as error:
            return _problem(404, str(error))
        except (ValueError, FaultSpecError) as error:
            return _problem(400, str(error))
        return JSONResponse(result)
    return endpoint


async def clock(request: Request) -> Response:
    gateway = request.app.state.sandbox
    try:
        body = await _json(request)
        seconds = float(body.get("advance", 0))
    except (ValueError, TypeError) as error:
        return _problem(400, str(error))
    gateway.clock.advance(seconds)
    return JSONResponse({"now": gateway.clock.now()})


def control_routes() -> list[Route]:
    return [
        Route("/accounts", list_accounts, methods=["GET"]),
        Route("/accounts", create_account, methods=["POST"]),
        Route("/clock", clock, methods=["POST"]),
        Route("/{subdomain}/token", _account_op(operations.token_op), methods=["POST"]),
        Route("/{subdomain}/oauth", _account_op(operations.oauth_op), methods=["POST"]),
        Route("/{subdomain}/faults", _account_op(operations.get_faults_op), methods=["GET"]),
        Route("/{subdomain}/faults", _account_op(operations.set_faults_op), methods=["PUT", "POST"]),
        Route("/{subdomain}/requests", _account_op(operations.requests_op), methods=["GET"]),
        Route("/{subdomain}/reset", _account_op(operations.reset_op), methods=["POST"]),
    ]
