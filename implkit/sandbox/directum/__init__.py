"""The Directum RX emulator: the Integration Service (OData v4 over HTTP) for the counterparty directory.

Each instance lives under ``http://127.0.0.1:PORT/directum/{instance}/{service}``, standing for
``https://HOST/Integration`` (or ``/DrxIntegration``); a client appends ``/odata/...``.

Quick start::

    from implkit.sandbox import Sandbox, serve_in_thread
    sandbox = Sandbox()
    created = sandbox.create_directum("acme")          # {base_path, login, password}
    with serve_in_thread(sandbox) as url:
        httpx.get(url + created["base_path"] + "/odata/ICompanies", params={"$top": "10"},
                  auth=(created["login"], created["password"]))
    # seeded data: implkit.sandbox.directum.seed.seed_instance(sandbox.store, account_id, seed=S, ...)

Layout (the shape every emulated CRM has, docs/sandbox.md): `gateway.py` routes, authenticates and
answers; `decode.py` parses and applies the OData query options; `models/schema.py` the entity types
and `$metadata`; `models/instance.py` instances, logins and rows over the store; `errors.py` every
error body; `limits.py` the entity cap of unfiltered reads; `seed.py` seeded data with planted defects
and their ground truth; `control.py` creating and listing instances (facade and /directum/_sandbox).

Reads only: the provider reads and audits (reference/directum-rx.md §7.1). The authority is
reference/directum-rx.md with its fixtures; every decision where it is silent is in docs/sandbox.md
(section "Directum RX").
"""
