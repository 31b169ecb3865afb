"""The portals' control routes, under /bitrix24/_sandbox (the sandbox's own; Bitrix24 has nothing like it).

    GET  /bitrix24/_sandbox/portals                       list portals
    POST /bitrix24/_sandbox/portals   {name, title?, enterprise?}   create one (201)
    POST /bitrix24/_sandbox/{portal}/webhook {user_id?, scope?, expires_in?}  a new webhook: {"path": ...}
    POST /bitrix24/_sandbox/{portal}/oauth   {client_id?, user_id?} an installed app's token pair
    PUT  /bitrix24/_sandbox/{portal}/plan    {enterprise: bool}     the leaky bucket's plan
    GET  /bitrix24/_sandbox/{portal}/faults                        the fault spec and seed in force
    PUT  /bitrix24/_sandbox/{portal}/faults  {spec, seed}          replace them
    GET  /bitrix24/_sandbox/{portal}/requests?since=SEQ           the request log (secrets masked)
    POST /bitrix24/_sandbox/{portal}/reset?data=1                 empty limiters and log (and data)

The sandbox clock is shared with amoCRM: POST /_sandbox/clock.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from implkit.sandbox.bitrix24 import operations as ops
from implkit.sandbox.bitrix24 import portal as portals
from implkit.sandbox.faults import FaultSpecError


async def control(gateway, request: Request, rest: str) -> Response:
    parts = [p for p in rest.split("/") if p]
    try:
        raw = await request.body()
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        if parts == ["portals"] and request.method == "GET":
            return JSONResponse(await asyncio.to_thread(portals.list_portals, gateway.store))
        if parts == ["portals"] and request.method == "POST":
            made = await asyncio.to_thread(ops.create_portal, gateway, str(body.get("name", "")), body.get("title"),
                                           enterprise=bool(body.get("enterprise")))
            return JSONResponse(made, status_code=201)
        if len(parts) == 2:
            name, action = parts
            call = {
                ("webhook", "POST"): lambda: {"path": ops.webhook_path(
                    gateway, name, int(body.get("user_id", 1)),
                    tuple(body["scope"].split(",")) if body.get("scope") else None,
                    float(body["expires_in"]) if body.get("expires_in") is not None else None)},
                ("oauth", "POST"): lambda: ops.oauth_install(gateway, name, str(body.get("client_id") or "local.sandbox"),
                                                             int(body.get("user_id", 1))),
                ("plan", "PUT"): lambda: ops.set_plan(gateway, name, bool(body.get("enterprise"))) or
                ops.get_faults(gateway, name),
                ("faults", "GET"): lambda: ops.get_faults(gateway, name),
                ("faults", "PUT"): lambda: ops.set_faults(gateway, name, body.get("spec"), int(body.get("seed", 0))),
                ("requests", "GET"): lambda: ops.request_log(gateway, name, int(request.query_params.get("since", 0))),
                ("reset", "POST"): lambda: ops.reset(gateway, name, request.query_params.get("data") in ("1", "true")),
            }.get((action, request.method))
            if call is not None:
                return JSONResponse(await asyncio.to_thread(call))
    except ops.UnknownPortal as error:
        return JSONResponse({"error": str(error)}, status_code=404)
    except (ValueError, TypeError, FaultSpecError) as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    return JSONResponse({"error": f"no control route {request.method} {rest}"}, status_code=404)
