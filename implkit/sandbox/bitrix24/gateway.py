"""The Bitrix24 portals' gateway: ``/bitrix24/{portal}/rest/...`` (and the sandbox's stand-in for
``oauth.bitrix.info`` at ``/bitrix24/oauth.bitrix.info/oauth/token/``).

A request goes through, in order: the portal lookup; fault injection (faults.py, deterministic
under the seed); the portal's leaky bucket (503); the URL form — incoming webhook
``/rest/{user}/{secret}/{method}[.json]`` or OAuth ``/rest/{method}[.json]`` with ``auth`` in
the query or the body; decoding (decode.py); authentication (401); the method (404) and its
scope (403); the per-(credential, method) operating budget (429); the method itself in a worker
thread; the envelope with ``time``. ``batch`` runs its commands in order inside one request.
Every answer is ``application/json``. The request log gets the path with the secret masked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from implkit.sandbox import faults as faults_mod
from implkit.sandbox.bitrix24 import errors as err
from implkit.sandbox.bitrix24 import methods as registry
from implkit.sandbox.bitrix24 import portal as portals
from implkit.sandbox.bitrix24.control import control
from implkit.sandbox.bitrix24.decode import BodyError, decode_body, decode_pairs, decode_query, merged
from implkit.sandbox.bitrix24.limits import ENTERPRISE, STANDARD, LeakyBucket, OperatingBudget
from implkit.sandbox.bitrix24.models import Portal

PORTAL_PATH = re.compile(r"^/bitrix24/(?P<portal>[^/]+)(?P<rest>/.*)?$")
WEBHOOK = re.compile(r"^/rest/(?P<user>\d+)/(?P<secret>[^/]+)/(?P<method>[^/]+?)/?$")
OAUTH = re.compile(r"^/rest/(?P<method>[^/]+?)/?$")
OAUTH_SERVER = "oauth.bitrix.info"
CONTROL = "_sandbox"                 # the sandbox's own control routes (control.py); no portal name has "_"
JSON_TYPE = "application/json; charset=utf-8"
MAX_BATCH = 50
REFERENCE = re.compile(r"\$result((?:\[[^\[\]]*\])+)")
DROPPED = 0
log = logging.getLogger(__name__)


@dataclass
class PortalRuntime:
    """What is per portal but not data: both limiters, faults, the request counter."""

    bucket: LeakyBucket
    budget: OperatingBudget = field(default_factory=OperatingBudget)
    faults: faults_mod.FaultSchedule = field(default_factory=faults_mod.FaultSchedule)

    def set_faults(self, spec: faults_mod.FaultSpec, seed: int) -> None:
        self.faults.set(spec, seed)

    def set_plan(self, enterprise: bool) -> None:
        self.bucket.rate, self.bucket.capacity = ENTERPRISE if enterprise else STANDARD

    def reset(self) -> None:
        self.faults.restart_count()
        self.bucket.reset()
        self.budget.reset()


@dataclass
class Credential:
    key: str            # the operating-budget key: never the secret itself
    user_id: int
    scopes: set[str]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type=JSON_TYPE)


def error_response(error: err.B24Error) -> Response:
    return json_response(error.body(), error.status)


def php_array(mapping: dict[str, Any]) -> Any:
    """A PHP array as json_encode prints it: [] when empty, a list when keyed 0..n-1 in order."""
    if not mapping:
        return []
    if list(mapping) == [str(i) for i in range(len(mapping))]:
        return list(mapping.values())
    return mapping


class Bitrix24Gateway:
    def __init__(self, sandbox_app):
        self.sandbox = sandbox_app            # implkit.sandbox.app.SandboxApp: store, clock, default faults
        self._runtimes: dict[str, PortalRuntime] = {}
        self._lock = threading.Lock()

    @property
    def store(self):
        return self.sandbox.store

    def now(self) -> float:
        return self.sandbox.clock.now()

    def runtime(self, name: str) -> PortalRuntime:
        with self._lock:
            runtime = self._runtimes.get(name)
            if runtime is None:
                portal = portals.portal_by_name(self.store, name)
                enterprise = bool(portal and portal["settings"].get("plan") == "enterprise")
                runtime = PortalRuntime(LeakyBucket(*(ENTERPRISE if enterprise else STANDARD)),
                                        faults=faults_mod.FaultSchedule(self.sandbox.default_faults,
                                                                        self.sandbox.default_seed))
                self._runtimes[name] = runtime
            return runtime

    # -- ASGI ---------------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        path = scope["path"] if scope["path"].startswith("/bitrix24/") else scope.get("root_path", "") + scope["path"]
        match = PORTAL_PATH.match(path)
        name, rest = (match.group("portal"), match.group("rest") or "/") if match else ("", "/")
        request = Request(scope, receive)
        context: dict[str, Any] = {"account_id": None, "status": DROPPED, "client": None, "written": 0}
        send = _dated_send(send, self.now)
        if name in (OAUTH_SERVER, CONTROL):   # not a portal: nothing to log against
            response = await (self._oauth_server(request, rest) if name == OAUTH_SERVER
                              else control(self, request, rest))
            await response(scope, receive, send)
            return
        try:
            response = await self._portal_request(request, scope, name, rest, context)
            if response is None:          # a dropped connection: logged with status 0
                await asyncio.to_thread(self._log, scope, context)
                return
            context["status"] = response.status_code
            await asyncio.to_thread(self._log, scope, context)
            await response(scope, receive, send)
        except Exception:
            await asyncio.to_thread(self._log, scope, context)
            raise

    async def _portal_request(self, request: Request, scope, name: str, rest: str,
                              context: dict[str, Any]) -> Response | None:
        portal = await asyncio.to_thread(portals.portal_by_name, self.store, name) if name else None
        if portal is None:
            return error_response(err.PortalNotFound())
        context["account_id"] = portal["id"]
        runtime = self.runtime(name)
        decision = runtime.faults.next(f"bitrix24:{name}")
        if decision.latency_ms:
            await asyncio.sleep(decision.latency_ms / 1000)
        if decision.expire_tokens:
            await asyncio.to_thread(portals.expire_access_tokens, self.store, portal["id"], at=self.now())
        if decision.drop:
            from implkit.sandbox.app import drop_connection   # the sandbox's one way of dropping
            await drop_connection(scope)
            return None
        if decision.server_error:
            return error_response(err.server_error(decision.server_error))
        at = self.now()
        if not runtime.bucket.admit(at):
            return error_response(err.QueryLimitExceeded())
        webhook, oauth = WEBHOOK.match(rest), OAUTH.match(rest)
        if not (webhook or oauth):
            return error_response(err.MethodNotFound())
        method = (webhook or oauth).group("method").lower()
        if method.endswith(".json"):
            method = method[: -len(".json")]
        try:
            params = merged(decode_query(scope.get("query_string", b"").decode("latin-1")),
                            await self._body(request))
        except BodyError as error:
            return error_response(err.B24Error(str(error), code="INVALID_REQUEST"))   # [unverified]
        auth = params.pop("auth", None)
        credential = await asyncio.to_thread(self._authenticate, portal["id"], webhook, auth, at)
        if isinstance(credential, err.B24Error):
            return error_response(credential)
        context["client"] = credential.key
        if method == "batch":
            body, written = await asyncio.to_thread(self._batch, runtime, portal["id"], credential, params, at)
            context["written"] = written
            return json_response(body)
        answer = await asyncio.to_thread(self._call, runtime, portal["id"], credential, method, params, at)
        status, body, written = answer
        context["written"] = written
        return json_response(body, status)

    async def _body(self, request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            return decode_pairs([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
        return decode_body(await request.body(), content_type)

    def _authenticate(self, account_id: int, webhook, auth: Any, at: float) -> Credential | err.B24Error:
        if webhook:
            row = portals.credential(self.store, account_id, "webhook", webhook.group("secret"))
            if row is None or row["user_id"] != int(webhook.group("user")) or \
                    (row["expires_at"] is not None and row["expires_at"] <= at):
                return err.InvalidCredentials()
            return Credential(f"webhook:{row['user_id']}:{_fingerprint(row['secret'])}", row["user_id"],
                              set(row["scope"].split(",")))
        if not isinstance(auth, str) or not auth:
            return err.NoAuthFound()
        row = portals.credential(self.store, account_id, "access", auth)
        if row is None:
            return err.NoAuthFound()
        if row["expires_at"] is not None and row["expires_at"] <= at:
            return err.ExpiredToken()
        # an application's budget is per application, whichever of its tokens is used
        return Credential(f"app:{row['client_id']}", row["user_id"], set(row["scope"].split(",")))

    # -- one method call ----------------------------------------------------------------------------
    def _run(self, runtime: PortalRuntime, account_id: int, credential: Credential, method: str,
             params: dict[str, Any], at: float) -> tuple[Any, dict[str, Any], err.B24Error | None, int]:
        """(answer, time, error, writes) of one call, charged to (credential, method)."""
        try:
            scope, handler = registry.lookup(method)
        except err.B24Error as error:
            return None, {}, error, 0
        if not registry.scope_allows(credential.scopes, scope):
            return None, {}, err.InsufficientScope(), 0
        if runtime.budget.blocked(credential.key, method, at):
            return None, {}, err.OperationTimeLimit(), 0
        portal = Portal(self.store, account_id, at=at, user_id=credential.user_id)
        portal.app_context = credential.key.startswith("app:")  # some methods refuse incoming webhooks
        error, answer = None, None
        try:
            answer = handler(params, portal)
        except err.B24Error as failure:
            error = failure
        except Exception:                     # a sandbox bug still answers JSON, as the portal's 500 does
            log.exception("bitrix24 sandbox: %s failed", method)
            error = err.InternalServerError()
        runtime.budget.record(credential.key, method, at, portal.cost)
        writes = 1 if error is None and any(method.endswith(v) for v in (".add", ".update", ".delete")) else 0
        return answer, self._time(runtime, credential, method, at, portal.cost), error, writes

    def _time(self, runtime: PortalRuntime, credential: Credential, method: str, at: float,
              cost: float) -> dict[str, Any]:
        operating, reset_at = runtime.budget.state(credential.key, method, at)
        return {"start": float(at), "finish": at + cost, "duration": cost, "processing": cost,
                "date_start": portals.iso(at), "date_finish": portals.iso(at + cost),
                "operating_reset_at": reset_at, "operating": operating}

    def _call(self, runtime: PortalRuntime, account_id: int, credential: Credential, method: str,
              params: dict[str, Any], at: float) -> tuple[int, dict[str, Any], int]:
        answer, time_, error, writes = self._run(runtime, account_id, credential, method, params, at)
        if error is not None:
            return error.status, error.body(), 0
        body: dict[str, Any] = {"result": answer.result}
        if answer.listed:
            body["total"] = answer.total or 0
        if answer.next is not None:
            body["next"] = answer.next
        body["time"] = time_
        return 200, body, writes

    # -- batch --------------------------------------------------------------------------------------
    def _batch(self, runtime: PortalRuntime, account_id: int, credential: Credential, params: dict[str, Any],
               at: float) -> tuple[dict[str, Any], int]:
        halt = str(params.get("halt", 0)).lower() in ("1", "true", "y")
        commands = params.get("cmd") or {}
        if isinstance(commands, list):
            commands = {str(i): c for i, c in enumerate(commands)}
        if not isinstance(commands, dict):
            commands = {}
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        times: dict[str, Any] = {}
        elapsed, written = 0.0, 0
        for index, (label, command) in enumerate(commands.items()):
            label = str(label)
            if index >= MAX_BATCH:
                errors[label] = err.BatchLengthExceeded().body()
                if halt:
                    break
                continue
            method, _, query = str(command).partition("?")
            method = method.strip().lower()
            if method.endswith(".json"):
                method = method[: -len(".json")]
            if method == "batch":
                errors[label] = err.BatchMethodNotAllowed().body()
                if halt:
                    break
                continue
            pairs = [(k, _substitute(v, results)) for k, v in parse_qsl(query, keep_blank_values=True)]
            sub_params = decode_pairs([(k, v) for k, v in pairs if not isinstance(v, (list, dict))])
            for key, value in pairs:
                if isinstance(value, (list, dict)):       # a whole-value reference to an array
                    _assign(sub_params, key, value)
            sub_params.pop("auth", None)
            answer, time_, error, writes = self._run(runtime, account_id, credential, method, sub_params, at + elapsed)
            if error is not None:
                errors[label] = error.body()
                if halt:
                    break
                continue
            elapsed += time_["duration"]
            written += writes
            results[label] = answer.result
            if answer.listed:
                totals[label] = answer.total or 0
            if answer.next is not None:
                nexts[label] = answer.next
            times[label] = time_
        # the outer batch is not counted in `operating` (docs; a self-hosted measurement disagrees, §5.2)
        operating, reset_at = runtime.budget.state(credential.key, "batch", at)
        duration = elapsed + 0.001
        body = {"result": {"result": php_array(results), "result_error": php_array(errors),
                           "result_total": php_array(totals), "result_next": php_array(nexts),
                           "result_time": php_array(times)},
                "time": {"start": float(at), "finish": at + duration, "duration": duration, "processing": duration,
                         "date_start": portals.iso(at), "date_finish": portals.iso(at + duration),
                         "operating_reset_at": reset_at, "operating": operating}}
        return body, written

    # -- the sandbox's oauth.bitrix.info --------------------------------------------------------------
    async def _oauth_server(self, request: Request, rest: str) -> Response:
        """GET/POST /oauth/token/?grant_type=refresh_token&client_id=…&client_secret=…&refresh_token=…"""
        if rest.rstrip("/") != "/oauth/token":
            return json_response({"error": "invalid_request", "error_description": "Unknown endpoint"}, 404)
        params = merged(decode_query(request.url.query), await self._body(request))
        if params.get("grant_type") != "refresh_token" or not params.get("refresh_token"):
            return json_response({"error": "invalid_request", "error_description": "Invalid request"}, 400)
        token = str(params["refresh_token"])
        rows = await asyncio.to_thread(self.store.query, "SELECT account_id, client_id FROM b24_credentials WHERE "
                                       "kind='refresh' AND secret=?", (token,))
        if rows and params.get("client_id") not in (None, "", rows[0]["client_id"]):
            return json_response({"error": "invalid_client", "error_description": "Invalid client"}, 401)
        pair = await asyncio.to_thread(portals.refresh_oauth, self.store, rows[0][0], token, at=self.now()) \
            if rows else None
        if pair is None:
            return json_response({"error": "invalid_grant", "error_description": "Invalid grant"}, 400)
        account = await asyncio.to_thread(self.store.query, "SELECT subdomain, settings FROM accounts WHERE id=?",
                                          (rows[0][0],))
        name, settings = account[0]["subdomain"], json.loads(account[0]["settings"])
        base = f"{request.url.scheme}://{request.url.netloc}{portals.base_path(name)}"
        return json_response({"access_token": pair["access_token"], "expires": pair["expires"],
                              "expires_in": pair["expires_in"], "scope": pair["scope"], "domain": OAUTH_SERVER,
                              "server_endpoint": f"{request.url.scheme}://{request.url.netloc}/bitrix24/"
                                                 f"{OAUTH_SERVER}/rest/",
                              "status": "L", "client_endpoint": f"{base}/rest/", "member_id": settings["member_id"],
                              "user_id": pair["user_id"], "refresh_token": pair["refresh_token"]})

    # -- request log ----------------------------------------------------------------------------------
    def _log(self, scope, context: dict[str, Any]) -> None:
        with self.store.transaction() as db:
            db.execute("INSERT INTO request_log (account_id, at, method, path, status, client, entities_written) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (context["account_id"], self.now(), scope["method"], _logged_path(scope), context["status"],
                        context["client"], context["written"]))


def _fingerprint(secret: str) -> str:
    import hashlib
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def _logged_path(scope) -> str:
    """The path with a webhook secret masked and no query string (it may carry `auth`)."""
    path = re.sub(r"(/rest/\d+/)[^/]+/", r"\1***/", scope["path"])
    return path


def _walk(value: Any, keys: list[str]) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.lstrip("-").isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def _substitute(text: str, results: dict[str, Any]) -> Any:
    """Replace `$result[label][key]...` by what an earlier command answered. A value that is one
    reference to an array becomes that array; a reference to nothing becomes '' [unverified, §12]."""
    whole = REFERENCE.fullmatch(text)
    if whole:
        value = _walk(results, re.findall(r"\[([^\[\]]*)\]", whole.group(1)))
        if isinstance(value, (list, dict)):
            return value
        return "" if value is None else _scalar(value)

    def replace(match: re.Match) -> str:
        value = _walk(results, re.findall(r"\[([^\[\]]*)\]", match.group(1)))
        return "" if value is None or isinstance(value, (list, dict)) else _scalar(value)
    return REFERENCE.sub(replace, text)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def _assign(params: dict[str, Any], key: str, value: Any) -> None:
    """Put an array-valued reference at a bracket key (`filter[@ID]`)."""
    parts = [key.split("[", 1)[0]] + re.findall(r"\[([^\]]*)\]", key[len(key.split("[", 1)[0]):])
    node = params
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _dated_send(send, now):
    """Every answer carries `Date` from the sandbox's clock, as the amoCRM gateway's do."""
    from implkit.sandbox.app import dated

    async def dated_send(message) -> None:
        await send(dated(message, now()) if message["type"] == "http.response.start" else message)
    return dated_send
