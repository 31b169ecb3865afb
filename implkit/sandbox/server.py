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
    config = uvicorn.Config(app, host=host, port=port, http=DroppableH11Protocol, lifespan="off",
                            log_level=log_level, access_log=False)
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    return server.servers[0].sockets[0].getsockname()[1]


@contextmanager
def serve_in_thread(sandbox, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0) -> Iterator[str]:
    """Run `sandbox.app` (a Sandbox or an ASGI app) on a real uvicorn server; yield its base URL."""
    if not is_loopback(host):
        raise ValueError(f"refusing to serve the sandbox on non-loopback host {host!r}")
    app = getattr(sandbox, "app", sandbox)
    server = make_server(app, host, port)
    thread = threading.Thread(target=server.run, name="implkit-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{bound_port(server)}"
    finally:
        server.should_exit = True
        thread.join(timeout)
