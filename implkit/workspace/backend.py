"""Where a workspace keeps its tenants' state, locks and rotated OAuth tokens: the state backend.

`implkit.yaml` names it:

    state: {backend: local}                                   # the default: SQLite + lock files in .implkit/
    state: {backend: postgres, url_env: IMPLKIT_STATE_URL,    # shared by every runner of the workspace
            key_env: IMPLKIT_STATE_KEY, lock_lease: 120}

The PostgreSQL URL carries a password, so implkit.yaml only names where it
comes from: an environment variable (`url_env`) or a keyring entry
(`url_keyring: SERVICE/USER`). It is never printed: messages show it with
the password masked. `key_env` names the variable holding the key that
encrypts rotated OAuth tokens at rest (implkit.workspace.postgres), so the
database alone never reveals them.

A backend gives, per tenant: `state(tenant)` (a StateStore), `lock(tenant)`
(a TenantLock), `token_store(tenant, seed)` (where rotated OAuth tokens live,
or None to keep the credential source's own store) and `has_state(tenant)`.
The local backend is today's behaviour, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from implkit.errors import InputError, Problem
from implkit.lang import say
from implkit.workspace.lock import TenantLock
from implkit.workspace.state import StateStore

BACKENDS = ("local", "postgres")
STATE_KEYS = {"backend", "url_env", "url_keyring", "key_env", "lock_lease", "namespace"}
DEFAULT_URL_ENV = "IMPLKIT_STATE_URL"
DEFAULT_KEY_ENV = "IMPLKIT_STATE_KEY"
DEFAULT_PG_LEASE = 120.0  # seconds: how long a crashed runner's lock outlives it


@dataclass(frozen=True)
class StateConfig:
    """The `state:` key of implkit.yaml (no secret in it)."""

    backend: str = "local"
    url_env: str | None = None
    url_keyring: str | None = None
    key_env: str = DEFAULT_KEY_ENV
    lock_lease: float = DEFAULT_PG_LEASE
    namespace: str | None = None

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> StateConfig:
        data = data or {}
        backend = str(data.get("backend") or "local")
        url_env = data.get("url_env")
        if backend == "postgres" and not url_env and not data.get("url_keyring"):
            url_env = DEFAULT_URL_ENV
        return cls(backend=backend, url_env=str(url_env) if url_env else None,
                   url_keyring=str(data["url_keyring"]) if data.get("url_keyring") else None,
                   key_env=str(data.get("key_env") or DEFAULT_KEY_ENV),
                   lock_lease=float(data.get("lock_lease") or DEFAULT_PG_LEASE),
                   namespace=str(data["namespace"]) if data.get("namespace") else None)

    def to_config(self) -> dict[str, Any]:
        if self.backend == "local":
            return {"backend": "local"}
        out: dict[str, Any] = {"backend": self.backend}
        if self.url_keyring:
            out["url_keyring"] = self.url_keyring
        else:
            out["url_env"] = self.url_env or DEFAULT_URL_ENV
        if self.key_env != DEFAULT_KEY_ENV:
            out["key_env"] = self.key_env
        if self.lock_lease != DEFAULT_PG_LEASE:
            out["lock_lease"] = self.lock_lease
        if self.namespace:
            out["namespace"] = self.namespace
        return out


def state_problems(config: Any, file: str) -> list[Problem]:
    """What is wrong with implkit.yaml's `state:` key (each with its file:line:column)."""
    from implkit.yamlio import location_of

    state = config.get("state")
    if state is None:
        return []
    if not isinstance(state, dict):
        return [Problem(location_of(config, ("state",), file), "state must be a mapping, e.g. {backend: local}")]
    problems = [Problem(location_of(config, ("state", key), file), f"unknown key {key!r} (known: "
                        f"{', '.join(sorted(STATE_KEYS))})") for key in state if key not in STATE_KEYS]
    if state.get("backend", "local") not in BACKENDS:
        problems.append(Problem(location_of(config, ("state", "backend"), file),
                                f"backend must be one of {', '.join(BACKENDS)}"))
    for key in ("url", "password", "dsn"):
        if key in state:
            problems.append(Problem(location_of(config, ("state", key), file),
                                    "the connection URL carries a password: name the environment variable "
                                    "that holds it with url_env (or a keyring entry with url_keyring)"))
    if state.get("url_keyring") is not None and "/" not in str(state.get("url_keyring")):
        problems.append(Problem(location_of(config, ("state", "url_keyring"), file),
                                "url_keyring must be SERVICE/USER"))
    lease = state.get("lock_lease")
    if lease is not None and (isinstance(lease, bool) or not isinstance(lease, (int, float)) or lease <= 0):
        problems.append(Problem(location_of(config, ("state", "lock_lease"), file),
                                "lock_lease must be a positive number of seconds"))
    return problems


class Backend(Protocol):
    name: str

    def state(self, tenant: str, tenant_dir: Path) -> StateStore: ...

    def lock(self, tenant: str, tenant_dir: Path) -> TenantLock: ...

    def has_state(self, tenant: str, tenant_dir: Path) -> bool: ...

    def history(self, tenant: str, tenant_dir: Path) -> Any: ...

    def purge(self, tenant: str) -> None: ...

    def token_store(self, tenant: str, seed: Any) -> Any: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class LocalBackend:
    """SQLite state and a lock file per tenant, under `.implkit/tenants/NAME/` (one machine only)."""

    name = "local"

    def state(self, tenant: str, tenant_dir: Path) -> StateStore:
        return StateStore(tenant_dir / "state.db")

    def lock(self, tenant: str, tenant_dir: Path) -> TenantLock:
        return TenantLock(tenant_dir / "lock.json", tenant)

    def has_state(self, tenant: str, tenant_dir: Path) -> bool:
        return (tenant_dir / "state.db").exists()

    def history(self, tenant: str, tenant_dir: Path) -> Any:
        return None  # the audit keeps its history file beside the snapshot

    def purge(self, tenant: str) -> None:
        pass  # everything lives in the tenant's folder, which `tenant remove --purge` deletes

    def token_store(self, tenant: str, seed: Any) -> Any:
        return None  # rotated tokens go back to the tenant's token file or keyring entry

    def describe(self) -> str:
        return say(_MESSAGES, "local")

    def close(self) -> None:
        pass


_MESSAGES = {
    "local": {"ru": "локально (SQLite в .implkit/)", "en": "local (SQLite in .implkit/)"},
    "namespace": {"ru": "хранилищу состояния postgres нужен id рабочей папки (`id:` в implkit.yaml) или "
                        "`state.namespace`, чтобы отличать её клиентов от других в базе",
                  "en": "the postgres state backend needs the workspace's id (implkit.yaml `id:`) or "
                        "`state.namespace` to tell this workspace's tenants apart from others in the database"},
    "keyring": {"ru": "запись связки ключей {entry}", "en": "the keyring entry {entry}"},
    "env": {"ru": "переменная окружения {var}", "en": "the environment variable {var}"},
    "no_url": {"ru": "рабочая папка хранит состояние в PostgreSQL, но {where} (указана в `state:` implkit.yaml) "
                     "не содержит адреса подключения; задайте postgresql://USER:PASSWORD@HOST/DB",
               "en": "the workspace keeps its state in PostgreSQL, but {where} (named by implkit.yaml `state:`) "
                     "holds no connection URL; set it to postgresql://USER:PASSWORD@HOST/DB"},
    "not_pg": {"ru": "{where}: ожидается адрес postgresql://", "en": "{where}: expected a postgresql:// URL"},
}


def open_backend(config: StateConfig, *, namespace: str | None, environ: Mapping[str, str] | None = None) -> Any:
    """The backend `config` names. The PostgreSQL URL is read here (missing → InputError, exit 3)."""
    if config.backend == "local":
        return LocalBackend()
    from implkit.workspace.postgres import PostgresBackend

    ns = config.namespace or namespace
    if not ns:
        raise InputError(say(_MESSAGES, "namespace"))
    return PostgresBackend(resolve_url(config, environ), namespace=ns, key_env=config.key_env,
                           lease=config.lock_lease, environ=environ)


def resolve_url(config: StateConfig, environ: Mapping[str, str] | None = None) -> str:
    import os

    from implkit.http.redact import register_secret

    environ = os.environ if environ is None else environ
    if config.url_keyring:
        from implkit.workspace.credentials import keyring_get

        service, _, user = config.url_keyring.partition("/")
        url = keyring_get(service, user)
        where = say(_MESSAGES, "keyring", entry=config.url_keyring)
    else:
        url = environ.get(str(config.url_env))
        where = say(_MESSAGES, "env", var=config.url_env)
    if not url:
        raise InputError(say(_MESSAGES, "no_url", where=where))
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise InputError(say(_MESSAGES, "not_pg", where=where))
    register_secret(parts.password)
    register_secret(unquote(parts.password or ""))
    return url
