"""The amoCRM emulator's routes: path → handler (`handlers.py`), wrapped by `responses.api`.

Paths are relative to the account root (``/amocrm/{subdomain}``), so a client
appends ``/api/v4/...`` and ``/oauth2/access_token`` exactly as it would to
``https://{subdomain}.amocrm.ru``. A path that exists answers 405 to a method
it doesn't list (there is no DELETE for leads, contacts, companies or tasks
in API v4; the router answers it as the documented 405).
"""

from __future__ import annotations

from starlette.routing import Route

from implkit.sandbox.amocrm import handlers as h
from implkit.sandbox.amocrm.responses import api

V4 = "/api/v4"


def amocrm_routes() -> list[Route]:
    def route(path: str, handler, methods: list[str], **options) -> Route:
        return Route(path, api(handler, **options), methods=methods)

    return [
        Route("/oauth2/access_token", h.oauth_access_token, methods=["POST"]),
        route(f"{V4}/account", h.get_account, ["GET"]),
    ]
