"""Directum RX's behaviour over the store, by family: `schema` (the counterparty directory's entity types
and the `$metadata` built from them) and `instance` (instances, logins and rows). The emulator serves one
family of entities, the counterparty directory, so the package has these two modules; a new family (say,
documents) would be a new module here."""
