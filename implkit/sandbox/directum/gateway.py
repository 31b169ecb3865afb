"""The Directum RX instances' gateway: ``/directum/{instance}/{service}/odata/...``.

A client appends to ``http://127.0.0.1:PORT/directum/{instance}/{service}`` what it would append to
``https://HOST/Integration`` (or ``/DrxIntegration``): ``/odata/`` (the service document),
``/odata/$metadata``, ``/odata/{Set}``, ``/odata/{Set}({id})``, ``/odata/{Set}/$count``.

Order of a request: the instance (404 if unknown, as a wrong service URL), the service segment
(404), credentials (401 — ``Authorization: Basic`` or the ``Username``/``Password`` header pair,
reference/directum-rx.md §1), the method (the emulator reads; writes answer 405, see docs/sandbox.md),
the set (404), the query options (400), the read. Every request goes to `request_log` with the
login (never the password) as the client.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.responses import Response

from implkit.sandbox.directum import control
from implkit.sandbox.directum import errors as err
from implkit.sandbox.directum.limits import over_entity_cap
from implkit.sandbox.directum.models import instance as inst
from implkit.sandbox.directum.decode import (FilterParser, Shape, evaluate, id_lower_bound, non_negative,
                                            parse_orderby, parse_shape, sort_rows)
from implkit.sandbox.directum.models.schema import SETS, TYPES, Model

CONTROL = re.compile(r"^(?:/directum)?/_sandbox(?P<rest>/.*)?$")
PATH = re.compile(r"^(?:/directum)?/(?P<instance>[^/]+)/(?P<service>[^/]+)(?P<rest>/.*)?$")
KEY = re.compile(r"^(?P<set>[A-Za-z_][A-Za-z0-9_]*)\((?P<id>-?\d+)\)$")
JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
SUPPORTED_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$skip", "$count", "$expand"}


class DirectumGateway:
    """Pure ASGI: mounted by the sandbox app under /directum (implkit/sandbox/__init__.py)."""

    def __init__(self, app):
        self.sandbox_app = app          # the SandboxApp: store and clock
        self.store = app.store

    def now(self) -> float:
        return self.sandbox_app.clock.now()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:                     # the Integration Service reads only; the body is for control routes
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        control_path = CONTROL.match(scope["path"])
        if control_path:                # the sandbox's own routes (control.py), not logged as client requests
            response = await control.control(self, scope["method"], control_path.group("rest"), raw)
            await response(scope, receive, send)
            return
        context: dict[str, Any] = {"account_id": None, "client": None}
        try:
            response = await asyncio.to_thread(self._handle, scope, context)
        except err.DirectumError as error:
            response = error_response(error)
        await asyncio.to_thread(self._log, scope, context, response.status_code)
        await response(scope, receive, send)

    # -- the request ------------------------------------------------------------------------
    def _handle(self, scope, context: dict[str, Any]) -> Response:
        match = PATH.match(scope["path"])
        if not match:
            raise err.NotFound("No Directum RX instance in this path.")
        instance = inst.instance_by_name(self.store, match.group("instance"))
        # IIS matches paths without regard to case: the vendor's import tool is configured with
        # http://localhost:80/integration/odata (fixtures/directum/importdata_ConfigSettings.xml)
        if instance is None or match.group("service").lower() != instance["settings"].get("service",
                                                                                          "Integration").lower():
            raise err.NotFound("The requested resource was not found.")
        context["account_id"] = instance["id"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        login = self._authenticate(instance["id"], headers)
        context["client"] = login
        rest = unquote(match.group("rest") or "")
        if not rest.lower().startswith("/odata"):
            raise err.NotFound("The requested resource was not found.")
        rest = rest[len("/odata"):].strip("/")
        if scope["method"] not in ("GET", "HEAD"):
            raise err.MethodNotAllowed(f"The sandbox's Integration Service reads only; {scope['method']} is not "
                                       f"emulated.")
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        options = _options(query)
        model = inst.model_of(instance)
        root = _root(scope, headers, match)
        if rest == "":
            return json_response({"@odata.context": f"{root}/$metadata",
                                  "value": [{"name": s, "kind": "EntitySet", "url": s} for s in SETS]})
        if rest == "$metadata":
            return Response(model.csdl(), media_type="application/xml; charset=utf-8")
        reader = Reader(self.store, instance, model, root)
        key = KEY.match(rest)
        if key:
            return reader.single(key.group("set"), int(key.group("id")), options)
        if rest.endswith("/$count"):
            return reader.count(rest[:-len("/$count")], options)
        if "/" in rest:
            raise err.NotFound(f"The path '{rest}' is not a resource of the integration service.")
        return reader.collection(rest, options)

    def _authenticate(self, account_id: int, headers: dict[str, str]) -> str:
        login = password = None
        auth = headers.get("authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                login, _, password = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise err.Unauthorized() from None
        elif "username" in headers and "password" in headers:
            login, password = headers["username"], headers["password"]
        if not login or password is None or not inst.check_login(self.store, account_id, login, password):
            raise err.Unauthorized()
        return login

    def _log(self, scope, context: dict[str, Any], status: int) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        with self.store.transaction() as db:
            db.execute("INSERT INTO request_log (account_id, at, method, path, status, client, entities_written) "
                       "VALUES (?, ?, ?, ?, ?, ?, 0)",
                       (context["account_id"], self.now(), scope["method"],
                        scope["path"] + (f"?{query}" if query else ""), status, context["client"]))


def _options(query: list[tuple[str, str]]) -> dict[str, str]:
    options: dict[str, str] = {}
    for key, value in query:
        if key.startswith("$"):
            if key not in SUPPORTED_OPTIONS:
                raise err.unsupported_option(key)
            if key in options:
                raise err.BadRequest(f"Query option '{key}' was specified more than once, but it must be "
                                     f"specified at most once.")
            options[key] = value
    return options


def _root(scope, headers: dict[str, str], match) -> str:
    host = headers.get("host", "sandbox")
    return f"{scope.get('scheme', 'http')}://{host}/directum/{match.group('instance')}/{match.group('service')}/odata"


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type=JSON_TYPE)


def error_response(error: err.DirectumError) -> Response:
    body = error.body()
    if body is None:
        return Response(error.message, status_code=error.status, media_type="text/plain; charset=utf-8",
                        headers=error.headers())
    return Response(json.dumps(body, ensure_ascii=False), status_code=error.status,
                    media_type="application/json; charset=utf-8", headers=error.headers())


def no_content() -> Response:
    return Response(status_code=204)


class Reader:
    """One request's reads over one instance (a per-request cache of referenced rows)."""

    def __init__(self, store, instance: dict[str, Any], model: Model, root: str):
        self.store, self.instance, self.model, self.root = store, instance, model, root
        self.account_id = instance["id"]
        self._cache: dict[tuple[str, int], dict | None] = {}

    def declared(self, set_name: str) -> str:
        if set_name not in SETS:
            raise err.NotFound(f"The entity set '{set_name}' is not found.")
        return SETS[set_name]

    def resolve(self, row: dict, navigation: str) -> dict | None:
        target_id = row.get("@refs", {}).get(navigation)
        if target_id is None:
            return None
        target = self.model.navigation(row["@type"]).get(navigation)
        if target is None:
            return None
        key = (TYPES[target].table, target_id)
        if key not in self._cache:
            found = inst.get_row(self.store, self.account_id, *key)
            self._cache[key] = found if found and self.model.derives_from(found["@type"], target) else None
        return self._cache[key]

    def _matching(self, set_name: str, options: dict[str, str]) -> tuple[str, list[dict]]:
        declared = self.declared(set_name)
        node = FilterParser(options["$filter"], self.model, declared).parse() if "$filter" in options else None
        rows = inst.rows_of(self.store, self.account_id, self.model.concrete_of(declared), id_lower_bound(node))
        if node is not None:
            rows = [r for r in rows if evaluate(node, r, self.resolve) is True]
        return declared, rows

    def collection(self, set_name: str, options: dict[str, str]) -> Response:
        declared, rows = self._matching(set_name, options)
        shape = parse_shape(self.model, declared, options.get("$select"), options.get("$expand"))
        if "$orderby" in options:
            rows = sort_rows(rows, parse_orderby(self.model, declared, options["$orderby"]), self.resolve)
        total = len(rows)
        count = _bool_option(options.get("$count"))
        skip = non_negative("$skip", options.get("$skip")) or 0
        top = non_negative("$top", options.get("$top"))
        rows = rows[skip:] if top is None else rows[skip:skip + top]
        if over_entity_cap(self.instance["settings"], options, len(rows)):
            raise err.TooManyEntities()
        if not rows and self.instance["settings"].get("empty_204", True):
            return no_content()
        body: dict[str, Any] = {"@odata.context": f"{self.root}/$metadata#{set_name}{shape.context()}"}
        if count:
            body["@odata.count"] = total
        body["value"] = [self.serialise(r, shape, declared) for r in rows]
        return json_response(body)

    def count(self, set_name: str, options: dict[str, str]) -> Response:
        for option in options:
            if option != "$filter":
                raise err.BadRequest(f"The query option '{option}' is not allowed on $count.")
        _, rows = self._matching(set_name, options)
        if not rows and self.instance["settings"].get("empty_204", True):
            return no_content()
        return Response(str(len(rows)), media_type="text/plain; charset=utf-8")

    def single(self, set_name: str, row_id: int, options: dict[str, str]) -> Response:
        declared = self.declared(set_name)
        for option in options:
            if option not in ("$select", "$expand"):
                raise err.BadRequest(f"The query option '{option}' is not allowed on a single entity.")
        row = inst.get_row(self.store, self.account_id, TYPES[declared].table, row_id)
        if row is None or not self.model.derives_from(row["@type"], declared):
            raise err.NotFound(f"The entity '{set_name}({row_id})' is not found.")
        shape = parse_shape(self.model, declared, options.get("$select"), options.get("$expand"))
        body = {"@odata.context": f"{self.root}/$metadata#{set_name}{shape.context()}/$entity",
                **self.serialise(row, shape, declared)}
        return json_response(body)

    def serialise(self, row: dict, shape: Shape, declared: str) -> dict[str, Any]:
        concrete = row["@type"]
        out: dict[str, Any] = {}
        if concrete != declared:
            out["@odata.type"] = f"#{self.model.qualified(concrete)}"
        properties = self.model.properties(concrete)
        names = list(properties) if shape.select is None else [n for n in shape.select if n in properties]
        for name in names:
            out[name] = row.get(name, False if properties[name] == "Edm.Boolean" else None)
        for name, inner in (shape.expand or {}).items():
            target = self.resolve(row, name)
            out[name] = None if target is None else self.serialise(
                target, inner, self.model.navigation(concrete)[name])
        return out


def _bool_option(text: str | None) -> bool:
    if text is None:
        return False
    if text not in ("true", "false"):
        raise err.BadRequest(f"'{text}' is not a valid value for $count: true or false.")
    return text == "true"
