"""Handlers of the amoCRM emulator: parse a `Call`, ask the `AmoAccount` backend, wrap a `Result`."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from implkit.sandbox.amocrm import exceptions as exc
from implkit.sandbox.amocrm import models
from implkit.sandbox.amocrm.responses import Call, Result


# -- OAuth (plain application/json, not HAL) --------------------------------------------------
async def oauth_access_token(request: Request) -> Response:
    gateway = request.app.state.sandbox
    context = request.scope["sandbox"]
    raw = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = dict((await request.form()).items())
        else:
            form = json.loads(raw) if raw.strip() else {}
        if not isinstance(form, dict):
            raise ValueError
    except ValueError:
        return JSONResponse({"title": "Bad Request", "status": 400, "detail": "Request body is not valid JSON",
                             "hint": "Send a JSON object"}, status_code=400)
    try:
        answer = await run_in_threadpool(models.exchange_token, gateway.store, context["account_id"], form,
                                         at=gateway.now())
    except exc.AmoError as error:
        return JSONResponse(error.body(), status_code=error.status)
    return JSONResponse(answer)


# -- account ----------------------------------------------------------------------------------
def get_account(call: Call, amo: models.AmoAccount) -> Result:
    return Result(amo.account(call.with_))
