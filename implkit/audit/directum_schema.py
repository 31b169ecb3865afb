"""Snapshot tables of a Directum RX tenant (added to `implkit.audit.snapshot.SCHEMA`).

Directum's counterparty directory has no deals, pipelines or tasks in base RX, so its rows do not
fit the amoCRM/Bitrix24 tables (leads, contacts, companies); they get their own, filled by
`implkit.audit.directum.sync_directum`. Validity verdicts are computed once as rows enter (the
snapshot's rule: checks group and filter on stored keys, never parse).

- `drx_counterparties`: companies, persons and banks (`type`), as ICounterparties returns them;
  `name_key` is the name lower-cased with spaces collapsed (the vendor's "same name ignoring case");
  `tin_valid`/`trrc_valid`/`psrn_valid` are 1/0, NULL when the value is empty;
- `drx_contacts`: contact persons of a company or bank;
- `drx_employees`: employees (counterparties' `Responsible`).
"""

DIRECTUM_SCHEMA = """
CREATE TABLE IF NOT EXISTS drx_counterparties (
    id INTEGER PRIMARY KEY, type TEXT NOT NULL, name TEXT, name_key TEXT, status TEXT,
    tin TEXT, trrc TEXT, psrn TEXT, legal_address TEXT, phones TEXT, email TEXT,
    nonresident INTEGER NOT NULL DEFAULT 0, responsible_user_id INTEGER,
    tin_valid INTEGER, trrc_valid INTEGER, psrn_valid INTEGER
);
CREATE INDEX IF NOT EXISTS drx_counterparties_tin ON drx_counterparties (tin);
CREATE INDEX IF NOT EXISTS drx_counterparties_name ON drx_counterparties (name_key);
CREATE TABLE IF NOT EXISTS drx_contacts (
    id INTEGER PRIMARY KEY, name TEXT, name_key TEXT, company_id INTEGER, person_id INTEGER, status TEXT,
    phone TEXT, email TEXT
);
CREATE INDEX IF NOT EXISTS drx_contacts_company ON drx_contacts (company_id);
CREATE TABLE IF NOT EXISTS drx_employees (id INTEGER PRIMARY KEY, name TEXT, status TEXT);
"""

DIRECTUM_TABLES = ("drx_counterparties", "drx_contacts", "drx_employees")
