"""Serving the sandbox over TCP with uvicorn: a thread for tests (the CLI's foreground is `serve`).

The only change to uvicorn is a protocol subclass that hands the app its
connection's transport (in the ASGI scope state), so the `drop` fault can
close a connection without answering, as a crashed server or a cut network
would. Only loopback hosts are served unless the caller allows otherwise.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from implkit.net import is_loopback


#: the port `implkit sandbox serve` listens on when neither --port nor the database names one
DEFAULT_PORT = 8765
_PORT_KEY = "served_port"   # in the store's meta table: the port this database was last served on


class DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing each connection's transport to the app as state['sandbox.transport']."""

    def connection_made(self, transport) -> None:  # noqa: ANN001
        super().connection_made(transport)
        self.app_state = {**self.app_state, "sandbox.transport": transport}


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


def last_port(store) -> int | None:
    """The port this database was last served on (the one the tenants' URLs name), if it was."""
    rows = store.query("SELECT value FROM meta WHERE key = ?", (_PORT_KEY,))
    return int(rows[0]["value"]) if rows and str(rows[0]["value"]).isdigit() else None


def remember_port(store, port: int) -> None:
    """Record the port a database is served on, so that serving it again (after a demo, a reboot) takes
    the same one and the URLs a workspace keeps for its tenants still lead to it."""
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_PORT_KEY, str(port)))


def port_to_serve(store, port: int | None) -> int:
    """`--port` when given (0: any free port), else the database's last port, else DEFAULT_PORT."""
    if port is not None:
        return port
    return last_port(store) or DEFAULT_PORT


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
