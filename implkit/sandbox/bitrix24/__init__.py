"""The Bitrix24 emulator: several portals on one sandbox server, reached as the real ones are.

Each portal lives under ``http://127.0.0.1:PORT/bitrix24/{portal}``; a client appends what it
would append to ``https://{portal}.bitrix24.ru``:

- ``/rest/{user_id}/{secret}/{method}[.json]`` — an incoming webhook (`Sandbox.webhook_url`);
- ``/rest/{method}[.json]`` with ``auth=ACCESS_TOKEN`` in the query or body — an OAuth
  application (`Sandbox.portal_oauth`); the sandbox's stand-in for ``oauth.bitrix.info`` is
  ``/bitrix24/oauth.bitrix.info/oauth/token/`` (``grant_type=refresh_token``).

Quick start::

    from implkit.sandbox import Sandbox, serve_in_thread
    sandbox = Sandbox()
    sandbox.create_portal("acme")                      # enterprise=True: the 5/s, 250 bucket
    hook = sandbox.webhook_url("acme")                 # "/bitrix24/acme/rest/1/<secret>/"
    app = sandbox.portal_oauth("acme")                 # access/refresh tokens, client_endpoint, token_endpoint
    with serve_in_thread(sandbox) as url:
        httpx.post(url + hook + "crm.deal.list", json={"select": ["ID"], "start": -1})
    # seeded data: implkit.sandbox.bitrix24.seed.seed_portal(sandbox.store, sandbox.portal_id("acme"), deals=N, seed=S)

Over HTTP only (another process): ``POST /bitrix24/_sandbox/portals {"name": "acme"}``, then
``POST /bitrix24/_sandbox/acme/webhook`` → ``{"path": ...}`` (see `control.py`).

Layout (moto's, as for amoCRM): `gateway.py` routes, decodes and wraps envelopes (thin);
`methods.py` maps method names to `models.Portal` (the behaviour over the store); `listing.py`
filters, orders and pages; `errors.py` holds every error body; `limits.py` the two limiters;
`portal.py` portal creation and credentials; `models/` the behaviour by family (`models/timeline.py`
activities and timeline comments, `models/tasks.py` tasks);
`seed.py` seeded data with planted defects;
`operations.py` / `control.py` the facade's and the control routes' operations.

The documentation is the authority (reference/bitrix24-api.md; its fixtures are what the
contract tests compare shapes with). Decisions where the docs are silent are marked
``[unverified]`` or ``[inference]`` where they are made.

Cost model
----------
The portal bills each call's execution time to (credential, method) — the ``operating`` budget
of 480 s per 10 minutes. The emulator does not measure its own CPU; it charges a modelled time
built from the one figure the docs measured (``settings/performance/huge-data``: counting
2,387,743 rows took 49.9 s; a ``start=-1`` page took 0.098 s):

- every call: ``BASE_COST`` = 0.002 s;
- every row read and serialised: ``ROW_COST`` = 0.0015 s (a full page of 50 ≈ 0.077 s);
- every row **counted** for ``total`` (list calls with ``start`` ≥ 0, and scans such as
  ``crm.duplicate.findbycomm``): ``COUNT_COST`` = 0.0000209 s (49.9 s / 2,387,743);
  ``start=-1`` counts nothing;
- every record written: ``WRITE_COST`` = 0.01 s.

So paging 100,000 deals by offset costs ≈ 2.2 s a page and trips 429 after ≈ 220 pages, while
the ``start=-1`` + ``filter[>ID]`` cursor costs ≈ 0.08 s a page (≈ 160 s for all 2,000 pages).
The modelled time is what ``time.processing``/``duration`` report and ``operating`` sums.
``batch`` itself is not billed (the docs: nested calls count against their own methods; a
self-hosted measurement says otherwise — unsettled, §5.2), so a batch envelope's ``operating``
is that of the method ``batch``: 0.

Where the docs are silent (each decision is marked where it is made; none checked on a live portal)
----------------------------------------------------------------------------------------------------
- Unknown method: 404 ``ERROR_METHOD_NOT_FOUND`` "Method not found!" (third-party notes). Unknown
  portal: 404 ``NO_AUTH_FOUND`` (a real unknown name does not resolve). A webhook address naming no live
  webhook: 401 ``INVALID_CREDENTIALS`` (evidence in docs/sandbox.md). Undecodable body: 400
  ``INVALID_REQUEST``. Error answers carry no ``time`` (as the observed bodies).
- A new deal pipeline gets the same eight stages as pipeline 0, prefixed ``C<id>:``. The
  "no stage after the final success stage" rule is applied to ``DEAL_STAGE`` only, as the error table
  words it (its own example adds SORT 70 to ``DEAL_STAGE_1``). Deleting the last stage of a semantic
  group answers "Error on deleting status.".
- ``batch``: commands beyond the 50th fail one by one with ``ERROR_BATCH_LENGTH_EXCEEDED``; a
  ``$result[...]`` that points at nothing becomes ''; a value that is exactly one reference to an
  array becomes that array; labels 0..n-1 serialise as PHP lists.
- The bucket counts per portal (the docs: per portal and source IP — every sandbox client is one
  IP); refused requests do not fill it. An application's operating budget is per application.
- ``crm.duplicate.findbycomm`` compares phone digits (extension dropped) and lower-cased e-mails.
- camelCase names of user fields: ``UF_CRM_HELLO_WORLD`` → ``ufCrmHelloWorld``, ``UF_CRM_17…`` →
  ``ufCrm_17…``. Legacy lists ignore filter fields they do not know; ``crm.item.list`` refuses them.
- The oauth.bitrix.info stand-in answers ``invalid_grant`` with 400 and ``invalid_client`` with 401.
"""
