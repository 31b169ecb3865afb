"""`implkit sandbox serve`: a Sandbox served in the foreground until interrupted.

Apart from `server` (the uvicorn machinery) because it builds on the `Sandbox` facade, which itself
uses `server` to serve in a thread.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from pathlib import Path

from implkit.errors import InputError, Location, Problem, RuntimeFailure
from implkit.lang import say
from implkit.sandbox import Sandbox
from implkit.sandbox.amocrm import operations
from implkit.sandbox.faults import FaultSpecError, parse_faults
from implkit.sandbox.server import (
    SERVE_LATENCY,
    bound_port,
    is_loopback,
    make_server,
    parse_latency,
    port_to_serve,
    remember_port,
    start_in_thread,
)


_MESSAGES = {
    "cannot_listen": {
        "ru": "не удалось занять {host}:{port} — порт занят (песочница уже запущена?); другой порт: --port",
        "en": "could not listen on {host}:{port}: the port is taken (is the sandbox running already?); "
              "another port: --port",
    },
}


def cannot_listen(host: str, port: int) -> str:
    return say(_MESSAGES, "cannot_listen", host=host, port=port)


def serve_forever(*, db: str | None, host: str, port: int | None, accounts: tuple[str, ...], integration_rps: int,
                  account_rps: int, block_after: int, faults: str | None, seed: int, allow_remote: bool,
                  announce, latency: str = SERVE_LATENCY, edge_tolerance_ms: int | None = None) -> None:
    """`implkit sandbox serve`: open (or create) the store, make the accounts, serve until interrupted.

    `announce(lines)` receives what to tell the user once the port is bound: each
    account's base URL and how to get a token — never a token itself.
    """
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
    existing = {a["subdomain"] for a in operations.list_accounts(sandbox.app)}
    for subdomain in accounts or (() if existing else ("demo",)):
        if subdomain not in existing:
            sandbox.create_account(subdomain)
    port = port_to_serve(sandbox.store, port)   # None: where this database was served last time
    server = make_server(sandbox.app, host, port, log_level="warning")
    try:
        try:
            thread = start_in_thread(server)
        except RuntimeError:
            raise RuntimeFailure(cannot_listen(host, port)) from None
        remember_port(sandbox.store, bound_port(server))
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
            shutil.rmtree(tmpdir, ignore_errors=True)
