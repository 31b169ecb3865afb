"""The sandbox: local emulators of amoCRM, Bitrix24 and Directum RX on SQLite, reached over HTTP as the real APIs are.

Use from Python::

    from implkit.sandbox import Sandbox, serve_in_thread
    sandbox = Sandbox()                       # temp SQLite file; Sandbox("x.db") keeps it
    sandbox.create_account("demo")
    token = sandbox.token("demo")             # a long-lived token (private integration)
    # in-process (ASGITransport is async-only):
    httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url="http://sandbox" + sandbox.base_url("demo"))
    # over TCP:
    with serve_in_thread(sandbox) as url:     # http://127.0.0.1:PORT
        httpx.get(url + sandbox.base_url("demo") + "/api/v4/account", headers={"Authorization": f"Bearer {token}"})

or from the command line: ``implkit sandbox serve`` (see ``--help``). Each
account lives under ``/amocrm/{subdomain}``; a client appends ``/api/v4/...``
and ``/oauth2/access_token`` as it would to ``https://{subdomain}.amocrm.ru``.
The control API is under ``/_sandbox`` (see `amocrm/control.py`).

Each emulated CRM is one package of the same shape (`amocrm/`, `bitrix24/`,
`directum/`: gateway, decode, models/, errors, limits, seed, control; the
shape and where a new CRM's pieces go are in docs/sandbox.md). Shared at
this level: `store.py`, `app.py` (the ASGI app, the clock and the gateway
rules every request passes), `faults.py`, `server.py` / `serve.py` (uvicorn),
`querystring.py` (PHP bracket query strings), `names.py` / `messy.py`
(CRM-neutral people and events for seeding).

The documentation is the authority (reference/amocrm-api.md and the
documentation examples the contract tests compare shapes with). What is
emulated, what is not, and every decision taken where the docs are silent
(each unverified against a live account) are in docs/sandbox.md.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from implkit.sandbox.server import serve_in_thread

__all__ = ["Sandbox", "serve_in_thread"]


class Sandbox:
    """The sandbox from Python: one store, one ASGI app, many accounts."""

    def __init__(self, path: str | Path | None = None, **app_options: Any):
        from implkit.sandbox.app import create_app
        from implkit.sandbox.store import Store

        self._tmpdir = None
        if path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="implkit-sandbox-")
            path = Path(self._tmpdir) / "sandbox.db"
        self.path = Path(path)
        self.store = Store(self.path)
        self.app = create_app(self.store, **app_options)
        from implkit.sandbox.bitrix24.gateway import Bitrix24Gateway
        self.bitrix24 = Bitrix24Gateway(self.app)       # Bitrix24 portals under /bitrix24/{portal}
        self.app.mount("/bitrix24", self.bitrix24)
        from implkit.sandbox.directum.gateway import DirectumGateway
        self.directum = DirectumGateway(self.app)       # Directum RX instances under /directum/{instance}
        self.app.mount("/directum", self.directum)

    @property
    def clock(self):
        return self.app.clock

    def create_account(self, subdomain: str, name: str | None = None) -> int:
        from implkit.sandbox.amocrm import operations
        return operations.create_account(self.app, subdomain, name)["id"]

    def account_id(self, subdomain: str) -> int:
        from implkit.sandbox.amocrm import operations
        return operations._account_id(self.app, subdomain)

    def token(self, subdomain: str) -> str:
        from implkit.sandbox.amocrm import operations
        return operations.issue_token(self.app, subdomain)

    def oauth_client(self, subdomain: str, redirect_uri: str = "https://example.com/oauth") -> dict[str, Any]:
        """An installed integration: {client_id, client_secret, redirect_uri, code}."""
        from implkit.sandbox.amocrm import operations
        return operations.oauth_client(self.app, subdomain, redirect_uri)

    @staticmethod
    def base_url(subdomain: str) -> str:
        from implkit.sandbox.amocrm import operations
        return operations.base_path(subdomain)

    def request_log(self, subdomain: str, since: int = 0) -> list[dict[str, Any]]:
        from implkit.sandbox.amocrm import operations
        return operations.request_log(self.app, subdomain, since)

    def set_faults(self, subdomain: str, spec: str | None, seed: int = 0) -> dict[str, Any]:
        from implkit.sandbox.amocrm import operations
        return operations.set_faults(self.app, subdomain, spec, seed)

    def reset(self, subdomain: str, data: bool = False) -> dict[str, Any]:
        from implkit.sandbox.amocrm import operations
        return operations.reset(self.app, subdomain, data)

    # -- Bitrix24 portals (implkit/sandbox/bitrix24/operations.py) --------------------------------
    def create_portal(self, name: str, title: str | None = None, *, enterprise: bool = False) -> int:
        """A new portal at /bitrix24/{name} (as https://{name}.bitrix24.ru); returns its account id."""
        from implkit.sandbox.bitrix24 import operations
        return operations.create_portal(self.bitrix24, name, title, enterprise=enterprise)["id"]

    def webhook_url(self, name: str, user_id: int = 1, scope: tuple[str, ...] | None = None) -> str:
        """A new incoming webhook's path, /bitrix24/{name}/rest/{user}/{secret}/: append a method name."""
        from implkit.sandbox.bitrix24 import operations
        return operations.webhook_path(self.bitrix24, name, user_id, scope)

    def portal_oauth(self, name: str, client_id: str = "local.sandbox", user_id: int = 1) -> dict[str, Any]:
        """An installed application: {access_token, refresh_token, expires_in, client_endpoint, token_endpoint}."""
        from implkit.sandbox.bitrix24 import operations
        return operations.oauth_install(self.bitrix24, name, client_id, user_id)

    def portal_id(self, name: str) -> int:
        from implkit.sandbox.bitrix24 import operations
        return operations.portal_id(self.bitrix24, name)

    # -- Directum RX instances (implkit/sandbox/directum/control.py) -----------------------------
    def create_directum(self, name: str, **options: Any) -> dict[str, Any]:
        """A new instance at /directum/{name}/Integration: {id, name, base_path, login, password}."""
        from implkit.sandbox.directum import control
        return control.create(self.directum, name, **options)

    def serve(self, host: str = "127.0.0.1", port: int | None = None):
        """Serve over TCP in a thread (a context manager yielding the root URL). `port` None takes the port
        this database was last served on, else 8765; 0 any free one. The port is recorded for next time."""
        from contextlib import contextmanager

        from implkit.sandbox.server import port_to_serve, remember_port

        @contextmanager
        def serving():
            with serve_in_thread(self, host, port_to_serve(self.store, port)) as url:
                remember_port(self.store, int(url.rsplit(":", 1)[1]))
                yield url

        return serving()

    def close(self) -> None:
        self.store.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
