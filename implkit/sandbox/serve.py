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
from implkit.lang import say  # a leaf like implkit.errors: the words a person reads at `sandbox serve`
from implkit.net import is_loopback
from implkit.sandbox import Sandbox
from implkit.sandbox.amocrm import operations
from implkit.sandbox.faults import FaultSpecError, parse_faults
from implkit.sandbox.server import (
    SERVE_LATENCY,
    bound_port,
    make_server,
    parse_latency,
    port_to_serve,
    remember_port,
    start_in_thread,
)


#: what `sandbox serve` and the bitrix24/directum serve commands tell (implkit/commands/sandbox.py reads these)
MESSAGES = {
    "remote": {"ru": "песочница не обслуживает запросы за пределами этой машины",
               "en": "refusing to serve the sandbox beyond this machine"},
    "not_loopback": {"ru": "{host} — не loopback-адрес; чтобы всё равно слушать его, укажите --allow-remote",
                     "en": "{host} is not a loopback address; pass --allow-remote to serve it anyway"},
    "bad_faults": {"ru": "неверное описание сбоев", "en": "bad fault spec"},
    "bad_latency": {"ru": "неверная задержка", "en": "bad latency"},
    "bad_account": {"ru": "неверное имя аккаунта", "en": "bad account name"},
    "account_rule": {"ru": "{name!r}: только строчные латинские буквы, цифры и «-»",
                     "en": "{name!r}: lower-case letters, digits and '-' only"},
    "cannot_listen": {
        "ru": "не удалось занять {host}:{port} — порт занят (песочница уже запущена?); другой порт: --port",
        "en": "could not listen on {host}:{port}: the port is taken (is the sandbox running already?); "
              "another port: --port",
    },
    "listening": {"ru": "песочница слушает {url}  (база: {db}{temporary})",
                  "en": "sandbox listening on {url}  (database: {db}{temporary})"},
    "temporary": {"ru": ", временная: удаляется при выходе", "en": ", temporary: deleted on exit"},
    "latency": {"ru": "ответ занимает {low}-{high} мс (--latency); допуск на границе секундного окна лимита "
                      "{edge} мс (--rate-tolerance)",
                "en": "answers take {low}-{high} ms (--latency); rate window edge tolerance {edge} ms "
                      "(--rate-tolerance)"},
    "account_line": {"ru": "  {name}: {url}   (дописывайте /api/v4/... как к https://{name}.amocrm.ru)",
                     "en": "  {name}: {url}   (append /api/v4/... as to https://{name}.amocrm.ru)"},
    "token": {"ru": "токен: implkit sandbox token SUBDOMAIN --db {db}",
              "en": "get a token with: implkit sandbox token SUBDOMAIN --db {db}"},
    "curl": {"ru": "   или: curl -X POST {url}/_sandbox/SUBDOMAIN/token",
             "en": "            or: curl -X POST {url}/_sandbox/SUBDOMAIN/token"},
    "stop": {"ru": "остановить: Ctrl+C", "en": "stop with Ctrl+C"},
}


def cannot_listen(host: str, port: int) -> str:
    return say(MESSAGES, "cannot_listen", host=host, port=port)


def serve_forever(*, db: str | None, host: str, port: int | None, accounts: tuple[str, ...], integration_rps: int,
                  account_rps: int, block_after: int, faults: str | None, seed: int, allow_remote: bool,
                  announce, latency: str = SERVE_LATENCY, edge_tolerance_ms: int | None = None) -> None:
    """`implkit sandbox serve`: open (or create) the store, make the accounts, serve until interrupted.

    `announce(lines)` receives what to tell the user once the port is bound: each
    account's base URL and how to get a token — never a token itself.
    """
    if not is_loopback(host) and not allow_remote:
        raise InputError(say(MESSAGES, "remote"),
                         [Problem(Location("--host", key="host"), say(MESSAGES, "not_loopback", host=host))])
    try:
        spec = parse_faults(faults)
    except FaultSpecError as error:
        raise InputError(say(MESSAGES, "bad_faults"), [Problem(Location("--faults", key="faults"), str(error))]) from None
    try:
        latency_ms = parse_latency(latency)
    except ValueError as error:
        raise InputError(say(MESSAGES, "bad_latency"), [Problem(Location("--latency", key="latency"), str(error))]) from None
    for subdomain in accounts:
        if not subdomain or not subdomain.replace("-", "").isalnum() or subdomain != subdomain.lower():
            raise InputError(say(MESSAGES, "bad_account"), [Problem(Location("--account", key="account"),
                                                                      say(MESSAGES, "account_rule", name=subdomain))])
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
        lines = [say(MESSAGES, "listening", url=url, db=db, temporary=say(MESSAGES, "temporary") if tmpdir else "")]
        low, high = latency_ms
        lines.append(say(MESSAGES, "latency", low=low, high=high, edge=f"{sandbox.app.edge_tolerance * 1000:g}"))
        for account in operations.list_accounts(sandbox.app):
            lines.append(say(MESSAGES, "account_line", name=account["subdomain"], url=url + account["base_path"]))
        lines.append(say(MESSAGES, "token", db=shlex.quote(db)))
        lines.append(say(MESSAGES, "curl", url=url))
        lines.append(say(MESSAGES, "stop"))
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
