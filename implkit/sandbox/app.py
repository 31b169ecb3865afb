"""The sandbox's ASGI application: every emulated account, its gateway rules, and the control API.

`create_app(store)` returns one ASGI app serving

- ``/amocrm/{subdomain}/api/v4/...`` and ``/amocrm/{subdomain}/oauth2/...``:
  the amoCRM emulator (routes in `amocrm/gateway.py`), reached exactly as
  ``https://{subdomain}.amocrm.ru`` would be;
- ``/_sandbox/...``: the control API (create accounts, tokens, faults, request
  log, reset, clock) — the sandbox's own, never part of amoCRM's.

Before a request reaches the emulator the gateway applies, in order: fault
injection (latency, token expiry, dropped connection, 5xx — deterministic
under the seed), the rate limits and the block, and it records the request
in `request_log` (time, method, path, status, client, entities written;
never a token).
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount

from implkit.sandbox import faults as faults_mod
from implkit.sandbox.amocrm import errors as amo_exc
from implkit.sandbox.amocrm import models as amo
from implkit.sandbox.amocrm.decode import error_response
from implkit.sandbox.amocrm.gateway import amocrm_routes
from implkit.sandbox.amocrm.control import control_routes
from implkit.sandbox.amocrm.limits import ACCOUNT_RPS, DEFAULT_BLOCK_AFTER, EDGE_TOLERANCE, INTEGRATION_RPS, RateLimiter
from implkit.sandbox.store import Store

ACCOUNT_PATH = re.compile(r"^/amocrm/(?P<subdomain>[^/]+)(?P<rest>/.*)?$")
DROPPED = 0   # request_log.status of a connection closed without an answer


class Clock:
    """The sandbox's notion of now (Unix seconds). Tests freeze or advance it; tokens, codes,
    timestamps and rate windows all read it."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen: float | None = None

    def now(self) -> float:
        return self._frozen if self._frozen is not None else time.time() + self._offset

    def freeze(self, at: float | None = None) -> None:
        self._frozen = self.now() if at is None else at

    def unfreeze(self) -> None:
        self._frozen = None

    def advance(self, seconds: float) -> None:
        if self._frozen is not None:
            self._frozen += seconds
        else:
            self._offset += seconds


class ConnectionDropped(httpx.RemoteProtocolError):
    """In-process (httpx.ASGITransport) there is no socket to close: the app raises what httpx
    raises when a server closes the connection without answering."""

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a response.")


@dataclass
class AccountRuntime:
    """What is per account but not data: faults and limits."""

    subdomain: str
    limiter: RateLimiter
    faults: faults_mod.FaultSchedule = field(default_factory=faults_mod.FaultSchedule)

    def set_faults(self, spec: faults_mod.FaultSpec, seed: int) -> None:
        self.faults.set(spec, seed)
        if spec.block_after is not None:
            self.limiter.block_after = spec.block_after

    def reset(self) -> None:
        self.faults.restart_count()
        self.limiter.reset()


class SandboxApp:
    """The gateway in front of the emulators (pure ASGI, so it can drop a connection)."""

    def __init__(self, store: Store, *, clock: Clock | None = None, integration_rps: int = INTEGRATION_RPS,
                 account_rps: int = ACCOUNT_RPS, block_after: int = DEFAULT_BLOCK_AFTER,
                 faults: faults_mod.FaultSpec | None = None, seed: int = 0,
                 edge_tolerance: float = EDGE_TOLERANCE, latency_ms: tuple[int, int] = (0, 0)):
        self.store = store
        self.clock = clock or Clock()
        self.limits = (integration_rps, account_rps, block_after)
        self.edge_tolerance = edge_tolerance
        # The time an admitted request takes to be answered (network + the server's work): a real
        # account is never answered in the 10–40 ms of a local SQLite look-up. 0 in-process (fast tests);
        # `implkit sandbox serve` sets a realistic default (docs/sandbox.md, "Rate limits").
        self.latency_ms = latency_ms
        self._latency_rng = random.Random(seed)
        self.default_faults = faults or faults_mod.FaultSpec()
        self.default_seed = seed
        self._runtimes: dict[str, AccountRuntime] = {}
        self._lock = threading.Lock()
        self.router = Starlette(
            routes=[Mount("/amocrm/{subdomain}", routes=amocrm_routes()),
                    Mount("/_sandbox", routes=control_routes())],
            exception_handlers={HTTPException: _http_exception})
        self.router.state.sandbox = self

    def mount(self, prefix: str, app) -> None:
        """Serve another emulator (an ASGI app) under `prefix`, e.g. "/bitrix24", on the same server."""
        self.router.router.routes.insert(0, Mount(prefix, app=app))

    # -- per-account state --------------------------------------------------------------
    def runtime(self, subdomain: str) -> AccountRuntime:
        with self._lock:
            runtime = self._runtimes.get(subdomain)
            if runtime is None:
                integration_rps, account_rps, block_after = self.limits
                runtime = AccountRuntime(subdomain, RateLimiter(integration_rps, account_rps, block_after,
                                                                edge_tolerance=self.edge_tolerance),
                                         faults_mod.FaultSchedule(self.default_faults, self.default_seed))
                self._runtimes[subdomain] = runtime
            return runtime

    def now(self) -> int:
        return int(self.clock.now())

    # -- ASGI -----------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.router(scope, receive, send)
            return
        match = ACCOUNT_PATH.match(scope["path"])
        if not match:
            await self.router(scope, receive, send)
            return
        await self._account_request(scope, receive, send, match.group("subdomain"))

    async def _account_request(self, scope, receive, send, subdomain: str) -> None:
        # The rate is judged on arrival, as the real API's edge does: not after the look-ups below,
        # whose wait for a worker thread would bunch requests that arrived evenly spaced.
        arrived = self.clock.now()
        account = await asyncio.to_thread(amo.account_by_subdomain, self.store, subdomain)
        context: dict[str, Any] = {"account_id": account["id"] if account else None, "subdomain": subdomain,
                                   "written": 0, "client": None, "status": DROPPED}
        scope.setdefault("state", {})
        scope["sandbox"] = context

        async def recording_send(message) -> None:
            # log before the last byte leaves, so a client that got its answer finds it in the log
            if message["type"] == "http.response.start":
                context["status"] = message["status"]
                message = dated(message, self.clock.now())
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._log_once(scope, context)
            await send(message)

        try:
            if account is None:   # an unknown subdomain answers 401 (documented code 101)
                await _send_error(amo_exc.Unauthorized(), recording_send)
                return
            runtime = self.runtime(subdomain)
            decision = runtime.faults.next(subdomain)
            if decision.latency_ms:
                await asyncio.sleep(decision.latency_ms / 1000)
            if decision.expire_tokens:
                await asyncio.to_thread(amo.expire_tokens, self.store, account["id"], at=self.now())
            if decision.drop:
                await drop_connection(scope)
                return
            if decision.server_error:
                await _send_error(amo_exc.server_error(decision.server_error), recording_send)
                return
            integration = await asyncio.to_thread(self._integration_of, scope, account["id"])
            context["client"] = integration
            verdict = runtime.limiter.admit(integration, arrived)
            if verdict == "blocked":
                await _send_error(amo_exc.AccountBlocked(), recording_send)
                return
            if verdict == "limited":
                await _send_error(amo_exc.TooManyRequests(), recording_send)
                return
            low, high = self.latency_ms
            if high:
                await asyncio.sleep(self._latency_rng.randint(low, high) / 1000)
            await self.router(scope, receive, recording_send)
        finally:
            await self._log_once(scope, context)

    async def _log_once(self, scope, context: dict[str, Any]) -> None:
        if not context.get("logged"):
            context["logged"] = True
            await asyncio.to_thread(self._log, scope, context)

    def _integration_of(self, scope, account_id: int) -> str:
        """The rate-limit key: the OAuth client of the bearer token, or the long-lived token's own id."""
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        if not header.startswith("Bearer "):
            return "anonymous"
        token = header[len("Bearer "):].strip()
        rows = self.store.query("SELECT kind, client_id FROM tokens WHERE token=? AND account_id=?",
                                (token, account_id))
        if not rows:
            return "anonymous"
        return rows[0]["client_id"] or f"long_lived:{amo.token_fingerprint(token)}"

    def _log(self, scope, context: dict[str, Any]) -> None:
        with self.store.transaction() as db:
            db.execute("INSERT INTO request_log (account_id, at, method, path, status, client, entities_written) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (context["account_id"], self.clock.now(), scope["method"], _logged_path(scope),
                        context["status"], context["client"], context["written"]))


def dated(message: dict, now: float) -> dict:
    """An `http.response.start` carrying `Date` from the sandbox's clock (RFC 9110 §6.6.1: a server with a
    clock sends it; amoCRM's nginx and Bitrix24's do). Clients read the server's time from it (the audit
    sync caps its marks there), so it must be the frozen or advanced clock, not the host's."""
    headers = [(k, v) for k, v in message.get("headers") or () if k.lower() != b"date"]
    headers.append((b"date", email.utils.formatdate(now, usegmt=True).encode("latin-1")))
    return {**message, "headers": headers}


def _logged_path(scope) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return scope["path"] + (f"?{query}" if query else "")


async def _send_error(error: amo_exc.AmoError, send) -> None:
    response = error_response(error)
    await response({"type": "http"}, _no_body, send)


async def _no_body():
    return {"type": "http.request", "body": b"", "more_body": False}


async def drop_connection(scope) -> None:
    """Close the client's connection without an answer (the `drop` fault), whichever emulator it reached."""
    transport = scope.get("state", {}).get("sandbox.transport")
    if transport is None:
        raise ConnectionDropped()
    transport.abort()
    await asyncio.sleep(0)   # let the server see the connection lost before it thinks of answering


async def _http_exception(request: Request, error: HTTPException) -> Response:
    """Unknown paths and methods, answered as amoCRM does (kommo.error_404 / error_405)."""
    if request.url.path.startswith("/_sandbox"):
        return JSONResponse({"error": error.detail}, status_code=error.status_code)
    if error.status_code == 405:
        return error_response(amo_exc.MethodNotAllowed())
    if error.status_code == 404:
        return error_response(amo_exc.NotFound(f"Cannot {request.method} {request.url}"))
    return error_response(amo_exc.AmoError(str(error.detail)))


def create_app(store: Store, **options: Any) -> SandboxApp:
    """The sandbox ASGI app over `store`. Options: clock, integration_rps, account_rps, block_after, faults, seed,
    edge_tolerance (seconds), latency_ms ((low, high) added to each admitted request's answer)."""
    return SandboxApp(store, **options)
