"""Directum RX instances' control: the operations the `Sandbox` facade and the control routes share, and
the routes, under /directum/_sandbox (the sandbox's own; Directum RX has nothing like it).

    GET  /directum/_sandbox/instances                                   list instances
    POST /directum/_sandbox/instances {name, service?, max_entities?}   create one (201): {id, name,
                                                                        base_path, login, password}

The service user's password is shown in that answer only (as amoCRM's token and Bitrix24's webhook are
shown only by their control routes). The clock is the sandbox's: POST /_sandbox/clock.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.responses import JSONResponse, Response

from implkit.sandbox.directum.models.instance import create_instance, list_instances


def create(gateway, name: str, **options: Any) -> dict[str, Any]:
    """A new instance at /directum/{name}/{service}, created at the sandbox clock's now."""
    return create_instance(gateway.store, name, created_at=gateway.now(), **options)


def instances(gateway) -> list[dict[str, Any]]:
    return list_instances(gateway.store)


async def control(gateway, method: str, rest: str, raw: bytes) -> Response:
    parts = [p for p in rest.split("/") if p]
    try:
        if parts == ["instances"] and method == "GET":
            return JSONResponse(await asyncio.to_thread(instances, gateway))
        if parts == ["instances"] and method == "POST":
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            options = {key: body[key] for key in ("service", "max_entities") if key in body}
            if "max_entities" in options:
                options["max_entities"] = int(options["max_entities"])
            made = await asyncio.to_thread(create, gateway, str(body.get("name", "")), **options)
            return JSONResponse(made, status_code=201)
    except (ValueError, TypeError) as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    return JSONResponse({"error": f"no control route {method} {rest}"}, status_code=404)
