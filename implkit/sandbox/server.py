"""Serving the sandbox over TCP with uvicorn: a thread for tests, the foreground for the CLI.

The only change to uvicorn is a protocol subclass that hands the app its
connection's transport (in the ASGI scope state), so the `drop` fault can
close a connection without answering, as a crashed server or a cut network
would. Only loopback hosts are served unless the caller allows otherwise.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

LOOPBACK_NAMES = {"localhost"}


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing each connection's transport to the app as state['sandbox.transport']."""

    def connection_made(self, transport) -> None:  # noqa: ANN001
        super().connection_made(transport)
        self.app_state = {**self.app_state, "sandbox.transport": transport}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(app, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning") -> uvicorn.Server:
    # Keep idle connections open as long as nginx (in front of the real APIs) does by default, 75 s:
    # uvicorn's 5 s races a client's own 5 s pool expiry and drops requests sent on a closing socket.
    config = uvicorn.Config(app, host=host, port=port, http=DroppableH11Protocol, lifespan="off",
                            log_level=log_level, access_log=False, timeout_keep_alive=75,
                            date_header=False)  # the gateways send Date from the sandbox's clock (app.dated)
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    return server.servers[0].sockets[0].getsockname()[1]


def start_in_thread(server: uvicorn.Server, timeout: float = 10.0) -> threading.Thread:
    """Run `server` in a daemon thread and wait until it listens (RuntimeError if it can't)."""
    thread = threading.Thread(target=server.run, name="implkit-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    return thread


@contextmanager
def serve_in_thread(sandbox, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0) -> Iterator[str]:
    """Run `sandbox.app` (a Sandbox or an ASGI app) on a real uvicorn server; yield its base URL."""
    if not is_loopback(host):
        raise ValueError(f"refusing to serve the sandbox on non-loopback host {host!r}")
    app = getattr(sandbox, "app", sandbox)
    server = make_server(app, host, port)
    thread = start_in_thread(server, timeout)
    try:
        yield f"http://{host}:{bound_port(server)}"
    finally:
        server.should_exit = True
        thread.join(timeout)


#: `serve`'s default answer time of an admitted request (docs/sandbox.md, "Rate limits": a real account
#: is reached over the internet and does work; the in-process sandbox stays at 0 for fast tests)
SERVE_LATENCY = "50-150ms"


def parse_latency(text: str) -> tuple[int, int]:
    """`--latency`: "50-150ms", "80ms", "0.1s" or "0"/"off" → (low, high) ms; ValueError naming the problem."""
    from implkit.sandbox.faults import FaultSpecError, parse_faults

    text = (text or "").strip()
    if text in ("0", "off", "none"):
        return (0, 0)
    try:
        return parse_faults(f"latency={text}").latency_ms
    except FaultSpecError as error:
        raise ValueError(str(error).replace("latency=", "", 1)) from None


def serve_forever(*, db: str | None, host: str, port: int, accounts: tuple[str, ...], integration_rps: int,
                  account_rps: int, block_after: int, faults: str | None, seed: int, allow_remote: bool,
                  announce, latency: str = SERVE_LATENCY, edge_tolerance_ms: int | None = None) -> None:
    """`implkit sandbox serve`: open (or create) the store, make the accounts, serve until interrupted.

    `announce(lines)` receives what to tell the user once the port is bound: each
    account's base URL and how to get a token — never a token itself.
    """
    import shlex
    import tempfile
    from pathlib import Path

    from implkit.errors import InputError, Location, Problem, RuntimeFailure
    from implkit.sandbox import Sandbox
    from implkit.sandbox.faults import FaultSpecError, parse_faults

    if not is_loopback(host) and not allow_remote:
        raise InputError("refusing to serve the sandbox beyond this machine",
                         [Problem(Location("--host", key="host"), f"{host} is not a loopback address; "
                                  "pass --allow-remote to serve it anyway")])
    try:
        spec = parse_faults(faults)
    except FaultSpecError as error:
        raise InputError("bad fault spec", [Problem(Location("--faults", key="faults"), str(error))]) from None
    try:
        latency_ms = parse_latency(latency)
    except ValueError as error:
        raise InputError("bad latency", [Problem(Location("--latency", key="latency"), str(error))]) from None
    for subdomain in accounts:
        if not subdomain or not subdomain.replace("-", "").isalnum() or subdomain != subdomain.lower():
            raise InputError("bad account name", [Problem(Location("--account", key="account"),
                                                          f"{subdomain!r}: lower-case letters, digits and '-' only")])
    tmpdir = None
    if db is None:
        tmpdir = tempfile.mkdtemp(prefix="implkit-sandbox-")
        db = str(Path(tmpdir) / "sandbox.db")
    options = {} if edge_tolerance_ms is None else {"edge_tolerance": edge_tolerance_ms / 1000}
    sandbox = Sandbox(db, integration_rps=integration_rps, account_rps=account_rps,
                      block_after=spec.block_after or block_after, faults=spec, seed=seed,
                      latency_ms=latency_ms, **options)
    from implkit.sandbox import operations
    existing = {a["subdomain"] for a in operations.list_accounts(sandbox.app)}
    for subdomain in accounts or (() if existing else ("demo",)):
        if subdomain not in existing:
            sandbox.create_account(subdomain)
    server = make_server(sandbox.app, host, port, log_level="warning")
    try:
        try:
            thread = start_in_thread(server)
        except RuntimeError:
            raise RuntimeFailure(f"could not listen on {host}:{port}") from None
        url = f"http://{host}:{bound_port(server)}"
        lines = [f"sandbox listening on {url}  (database: {db}{', temporary: deleted on exit' if tmpdir else ''})"]
        low, high = latency_ms
        lines.append(f"answers take {low}-{high} ms (--latency); rate window edge tolerance "
                     f"{sandbox.app.edge_tolerance * 1000:g} ms (--rate-tolerance)")
        for account in operations.list_accounts(sandbox.app):
            lines.append(f"  {account['subdomain']}: {url}{account['base_path']}   "
                         f"(append /api/v4/... as to https://{account['subdomain']}.amocrm.ru)")
        lines.append("get a token with: implkit sandbox token SUBDOMAIN --db " + shlex.quote(db))
        lines.append(f"            or: curl -X POST {url}/_sandbox/SUBDOMAIN/token")
        lines.append("stop with Ctrl+C")
        announce(lines)
        try:
            while thread.is_alive():
                thread.join(0.5)
        except KeyboardInterrupt:
            server.should_exit = True
            thread.join(10)
    finally:
        sandbox.close()
        if tmpdir:
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)
