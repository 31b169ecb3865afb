"""The amoCRM emulator: REST API v4 and OAuth 2.0 of many accounts on one sandbox server.

Each account lives under ``http://127.0.0.1:PORT/amocrm/{subdomain}``; a client appends ``/api/v4/...``
and ``/oauth2/access_token`` exactly as it would to ``https://{subdomain}.amocrm.ru`` (`Sandbox.base_url`).
A long-lived token (`Sandbox.token`) or an installed integration's authorization code
(`Sandbox.oauth_client`) authenticates it.

Layout (the shape every emulated CRM has, docs/sandbox.md): `gateway.py` the routes, `handlers.py` one
handler per endpoint; `decode.py` parses requests and serialises answers, `paging.py` HAL paging;
`models/` the behaviour over the store by family; `errors.py` every documented error body; `limits.py`
7 requests/s per integration, 50 per account, and the block; `seed.py` a seeded account with planted
defects and its ground truth, `messy.py` the messy account written through the API handlers;
`control.py` / `operations.py` the `/_sandbox` control routes and the facade's operations. The rules every
amoCRM request passes before a handler (faults, limits, the request log) run in the sandbox's `app.py`,
where amoCRM, the first CRM, is mounted.

The vendor documentation is the authority (amocrm.ru/developers, Kommo's developer docs for what they
share); every decision taken where it is silent is in docs/sandbox.md.
"""
