"""The workspace: `implkit.yaml` (the tenants registry) and `.implkit/` (state, locks, snapshots, tokens).

    workspace/
      implkit.yaml               version, tenants: name → provider, url, where the secret comes from
      .gitignore                 keeps .implkit/ and token files out of git
      .implkit/
        tenants/NAME/state.db    StateStore (address → remote id, lineage, serial, account id)
        tenants/NAME/lock.json   TenantLock (holder of a running plan/apply)
        tenants/NAME/...         room for the tenant's snapshot (audit) and plans

implkit.yaml never holds a secret: a tenant names an environment variable,
a 0600 token file or a keyring entry. It is rewritten atomically and
round-trip, so a user's comments survive `tenant add`.

Discovery (`Workspace.discover`): `--workspace DIR` → `$IMPLKIT_WORKSPACE`
→ the nearest `implkit.yaml` from the current directory upwards.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from ruamel.yaml.comments import CommentedMap

from implkit.errors import InputError, Problem
from implkit.files import private_dir
from implkit import lang as language
from implkit.lang import say
from implkit.schemas import (
    dotted_path,
    explain_schema_errors,
    load_schema,
    non_finite_problems,
    problem_at,
    sort_problems,
)
from implkit.workspace.credentials import (
    KEYRING_SERVICE,
    CredentialSource,
    Credentials,
    keyring_delete,
    resolve,
)
from implkit.workspace.backend import StateConfig, open_backend, state_problems
from implkit.workspace.lock import LockInfo, TenantLock
from implkit.workspace.state import StateStore
from implkit.workspace.urls import check_url
from implkit.yamlio import atomic_write, dump_yaml, load_yaml, to_plain
from implkit.workspace.messages import MESSAGES as _MESSAGES

CONFIG_NAME = "implkit.yaml"
DATA_DIR = ".implkit"
ENV_VAR = "IMPLKIT_WORKSPACE"
VERSION = 1
PROVIDERS = ("amocrm", "bitrix24", "directum")
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
# The keys of a tenant entry. blueprints/schema/workspace.schema.json must list the same (a test holds
# them equal): implkit.yaml is validated against the schema, so a key missing there is refused.
TENANT_KEYS = {"provider", "url", "credentials", "oauth", "blueprint", "rate_limit", "audit",
               "shares_account_with"}

_CONFIG_HEADER = """\
# implkit workspace. Tenants and where their credentials come from — never the secrets
# themselves (those live in environment variables, 0600 token files or the keyring).
"""

_GITIGNORE = """\
# implkit: state, snapshots, locks and token files stay out of git.
.implkit/
*.token
*.token.json
.env
"""


@dataclass(frozen=True)
class Neighbour:
    """Another tenant of the workspace, as `plan`/`apply` need it to tell whether it reaches the same account."""

    name: str
    account_id: str | None  # what its state is bound to (None before its first apply)
    shares: bool  # declared as sharing the account with the tenant asked about
    ids: Mapping[str, str]  # its state: address -> remote id (objects it manages)


def account_key(url: str) -> str:
    """A URL reduced to the account it names: host lower-cased, no scheme, `www.`, default port or
    trailing slash (`https://Acme.amocrm.ru/` and `http://acme.amocrm.ru` are one account)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    host = host[4:] if host.startswith("www.") else host
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    return f"{host}{port}{parts.path.rstrip('/').lower()}"


@dataclass(frozen=True)
class Tenant:
    """One CRM account registered in the workspace (no secret here)."""

    name: str
    provider: str
    url: str
    credentials: CredentialSource
    dir: Path  # .implkit/tenants/NAME
    client_id: str | None = None
    client_secret_env: str | None = None
    redirect_uri: str = ""
    blueprint: Path | None = None
    rate_limit: float | None = None
    # The curator's per-tenant audit settings (thresholds, exempt stages), read by implkit.audit.
    audit: dict[str, Any] = field(default_factory=dict, hash=False)
    # Another tenant of this workspace declared to be the same CRM account (two blueprints, one account):
    # allowed only when declared, and then neither prunes what the other's state binds.
    shares_account_with: str | None = None

    @property
    def state_path(self) -> Path:
        return self.dir / "state.db"

    @property
    def lock_path(self) -> Path:
        return self.dir / "lock.json"


class Workspace:
    """A loaded workspace. Create one with `Workspace.load`, `Workspace.discover` or `init_workspace`."""

    def __init__(self, root: Path, config: CommentedMap):
        self.root = root
        self.config_path = root / CONFIG_NAME
        self.data_dir = root / DATA_DIR
        self._config = config
        self._backend: Any = None

    # ---- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> Workspace:
        """Load the workspace at `path` (its folder or its implkit.yaml); bad content is InputError."""
        path = Path(path).expanduser()
        config_path = path if path.name == CONFIG_NAME and not path.is_dir() else path / CONFIG_NAME
        if not config_path.is_file():
            raise InputError(say(_MESSAGES, "no_workspace", file=config_path, folder=config_path.parent))
        config = load_yaml(config_path)
        ws = cls(config_path.parent.resolve(), config if isinstance(config, CommentedMap) else CommentedMap())
        ws._validate(config)
        return ws

    @classmethod
    def discover(cls, explicit: str | os.PathLike | None = None, *, environ: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike | None = None) -> Workspace:
        """`--workspace` value, else $IMPLKIT_WORKSPACE, else the nearest implkit.yaml upwards from cwd."""
        environ = os.environ if environ is None else environ
        if explicit:
            return cls.load(explicit)
        if environ.get(ENV_VAR):
            return cls.load(environ[ENV_VAR])
        start = Path(cwd or os.getcwd()).resolve()
        for folder in (start, *start.parents):
            if (folder / CONFIG_NAME).is_file():
                return cls.load(folder)
        raise InputError(say(_MESSAGES, "none_found", start=start, env=ENV_VAR))

    def _validate(self, config: Any) -> None:
        problems = config_problems(config, str(self.config_path))
        if problems:
            raise InputError(say(_MESSAGES, "invalid_file", file=self.config_path), problems)
        language.use_workspace(config.get("lang"))
        if config.get("tenants") is None:
            config["tenants"] = CommentedMap()

    def _unknown_tenant(self, name: str) -> InputError:
        """Exit 3 at implkit.yaml's `tenants:`, listing the names it holds."""
        known = ", ".join(self.tenant_names()) or say(_MESSAGES, "no_tenants")
        where = problem_at(self._config, None, str(self.config_path), dotted_path, ("tenants",),
                           say(_MESSAGES, "known_tenants", known=known))
        return InputError(say(_MESSAGES, "unknown_tenant", name=name, file=self.config_path), [where])

    def check_audit_ids(self, name: str, known: Iterable[str]) -> None:
        """Refuse (InputError at implkit.yaml:line:col) a tenant's audit threshold for a check that does not exist."""
        thresholds = ((self._config.get("tenants") or {}).get(name) or {}).get("audit", {}) or {}
        thresholds = thresholds.get("thresholds") or {}
        known = set(known)
        file = str(self.config_path)
        path = ("tenants", name, "audit", "thresholds")
        problems = [problem_at(self._config, None, file, dotted_path, (*path, check_id),
                               say(_MESSAGES, "unknown_check", check=check_id, known=", ".join(sorted(known))))
                    for check_id in thresholds if str(check_id) not in known]
        if problems:
            raise InputError(say(_MESSAGES, "invalid_file", file=self.config_path), problems)

    # ---- tenants -------------------------------------------------------------------------------

    def tenant_names(self) -> list[str]:
        return sorted(str(n) for n in (self._config.get("tenants") or {}))

    def tenants(self) -> list[Tenant]:
        return [self.tenant(name) for name in self.tenant_names()]

    def tenant(self, name: str) -> Tenant:
        """The tenant called `name`; an unknown name is InputError (exit 3) listing the known ones."""
        entries = self._config.get("tenants") or {}
        if name not in entries:
            raise self._unknown_tenant(name)
        entry = entries[name]
        oauth = entry.get("oauth") or {}
        blueprint = entry.get("blueprint")
        blueprint_path = None
        if blueprint:
            blueprint_path = Path(str(blueprint)).expanduser()
            if not blueprint_path.is_absolute():
                blueprint_path = self.root / blueprint_path
        rate = entry.get("rate_limit")
        return Tenant(
            name=name, provider=str(entry["provider"]), url=str(entry["url"]),
            credentials=CredentialSource.from_config(entry["credentials"], self.root),
            dir=self.data_dir / "tenants" / name,
            client_id=str(oauth["client_id"]) if oauth.get("client_id") else None,
            client_secret_env=str(oauth["client_secret_env"]) if oauth.get("client_secret_env") else None,
            redirect_uri=str(oauth.get("redirect_uri") or ""),
            blueprint=blueprint_path, rate_limit=float(rate) if rate is not None else None,
            audit=to_plain(entry.get("audit") or {}),
            shares_account_with=str(entry["shares_account_with"]) if entry.get("shares_account_with") else None,
        )

    def check_account_free(self, name: str, provider: str, url: str, shares_with: str | None = None) -> None:
        """Refuse (InputError, exit 3) a tenant whose URL names the account of another tenant, unless it is
        declared as sharing that account (`shares_with`): two tenants on one account, each unaware of the
        other, would each `--prune` what the other created."""
        if shares_with is not None and shares_with not in self.tenant_names():
            raise InputError(say(_MESSAGES, "shares_no_tenant", shares=shares_with, file=self.config_path))
        key = account_key(url)
        for other in self.tenants():
            if other.name == name or other.provider != provider or account_key(other.url) != key:
                continue
            if shares_with == other.name or other.shares_account_with == name:
                continue
            raise InputError(
                f"tenant {other.name!r} already reaches this account ({other.url}); a second tenant on one CRM "
                f"account would delete the first one's objects with --prune. Use tenant {other.name!r}, or, if "
                f"two blueprints really share the account, add it with --shares-account-with {other.name}")

    def shares_account(self, a: str, b: str) -> bool:
        """Whether tenants `a` and `b` are declared (either way round) as one CRM account."""
        ta, tb = self.tenant(a), self.tenant(b)
        return ta.shares_account_with == b or tb.shares_account_with == a

    def neighbours(self, name: str) -> list[Neighbour]:
        """Every other tenant of the same CRM with a state: its bound account and the ids it manages."""
        me = self.tenant(name)
        out = []
        for other in self.tenants():
            if other.name == name or other.provider != me.provider or not other.state_path.is_file():
                continue
            store = StateStore(other.state_path)
            try:
                out.append(Neighbour(other.name, store.account_id, self.shares_account(name, other.name),
                                     {a: str(r) for a, r in store.get_ids().items()}))
            finally:
                store.close()
        return out

    def check_new_name(self, name: str) -> None:
        """Refuse (InputError) a name that cannot name a tenant's folder, or one this workspace has."""
        if not TENANT_NAME.match(name):
            raise InputError(say(_MESSAGES, "bad_name", name=name))
        if name in (self._config.get("tenants") or {}):
            raise InputError(say(_MESSAGES, "taken", name=name, file=self.config_path))

    def add_tenant(self, name: str, *, provider: str, url: str, credentials: CredentialSource,
                   client_id: str | None = None, client_secret_env: str | None = None, redirect_uri: str = "",
                   blueprint: str | os.PathLike | None = None, rate_limit: float | None = None,
                   shares_account_with: str | None = None) -> Tenant:
        """Register a tenant (InputError if the name is taken or anything is invalid; nothing written then)."""
        self.check_new_name(name)
        with self._editing():
            self._add_entry(name, provider=provider, url=url, credentials=credentials, client_id=client_id,
                            client_secret_env=client_secret_env, redirect_uri=redirect_uri, blueprint=blueprint,
                            rate_limit=rate_limit, shares_account_with=shares_account_with)
        return self.tenant(name)

    def _add_entry(self, name: str, *, provider: str, url: str, credentials: CredentialSource,
                   client_id: str | None, client_secret_env: str | None, redirect_uri: str,
                   blueprint: str | os.PathLike | None, rate_limit: float | None,
                   shares_account_with: str | None = None) -> None:
        self.check_new_name(name)
        if provider not in PROVIDERS:
            raise InputError(say(_MESSAGES, "unknown_provider", provider=provider, known=", ".join(PROVIDERS)))
        url = check_url(url, provider)
        self.check_account_free(name, provider, url, shares_account_with)
        if rate_limit is not None and rate_limit <= 0:
            raise InputError(say(_MESSAGES, "rate_limit"))
        entry = CommentedMap()
        entry["provider"] = provider
        entry["url"] = url
        entry["credentials"] = CommentedMap(credentials.to_config(self.root))
        if client_id:
            oauth = CommentedMap()
            oauth["client_id"] = client_id
            if client_secret_env:
                oauth["client_secret_env"] = client_secret_env
            if redirect_uri:
                oauth["redirect_uri"] = redirect_uri
            entry["oauth"] = oauth
        if blueprint:
            entry["blueprint"] = _relative(Path(blueprint), self.root)
        if rate_limit is not None:
            entry["rate_limit"] = rate_limit
        if shares_account_with:
            entry["shares_account_with"] = shares_account_with
        if self._config.get("tenants") is None:
            self._config["tenants"] = CommentedMap()
        self._config["tenants"][name] = entry

    def remove_tenant(self, name: str, *, purge: bool = False) -> Tenant:
        """Unregister a tenant (refused while locked).

        `purge` also deletes its state folder, its keyring entry, and its token
        file when that lives under `.implkit/` (a token file elsewhere is left alone).
        """
        with self._editing():
            tenant = self.tenant(name)
            holder = self.lock_info(name)
            if holder is not None:
                raise InputError(say(_MESSAGES, "locked", name=name, holder=holder.holder))
            del self._config["tenants"][name]
        if purge:
            self.backend.purge(name)  # the shared backend's copy of its state, lock, tokens, audit history
            shutil.rmtree(tenant.dir, ignore_errors=True)
            if tenant.credentials.kind == "keyring":
                keyring_delete(str(tenant.credentials.service), str(tenant.credentials.username))
            token_file = tenant.credentials.path
            if tenant.credentials.kind == "file" and token_file is not None and self._owns(token_file):
                token_file.unlink(missing_ok=True)  # a token file the user keeps elsewhere is theirs
        return tenant

    def _owns(self, path: Path) -> bool:
        try:
            Path(path).resolve().relative_to(self.data_dir.resolve())
            return True
        except ValueError:
            return False

    def keyring_username(self, name: str) -> str:
        """The keyring username for a tenant of this workspace (stable across moves of the folder)."""
        return f"{name}@{self._config.get('id') or self.root}"

    keyring_service = KEYRING_SERVICE

    # ---- credentials, state, locks -------------------------------------------------------------

    def credentials(self, name: str, *, environ: Mapping[str, str] | None = None) -> Credentials:
        """Resolve the tenant's secret from its env var, token file or keyring (InputError if missing/unsafe)."""
        tenant = self.tenant(name)
        creds = resolve(tenant.credentials, tenant=name, environ=environ, client_id=tenant.client_id,
                        client_secret_env=tenant.client_secret_env, redirect_uri=tenant.redirect_uri)
        if creds.tokens is not None and creds.tokens.refresh_token:
            # A shared backend keeps the rotated pair (the credential source only seeds it): every runner
            # then refreshes from the same, current refresh token.
            shared = self.backend.token_store(name, creds.tokens)
            if shared is not None:
                import dataclasses

                creds = dataclasses.replace(creds, tokens=shared.load() or creds.tokens, store=shared)
        return creds

    def tenant_dir(self, name: str) -> Path:
        """`.implkit/tenants/NAME/` (created): the tenant's state, lock, snapshot and plans live here."""
        path = self.tenant(name).dir
        private_dir(self.data_dir)
        private_dir(path.parent)
        return private_dir(path)

    @property
    def state_config(self) -> StateConfig:
        """implkit.yaml's `state:` (local SQLite when absent)."""
        return StateConfig.from_config(self._config.get("state"))

    @property
    def backend(self) -> Any:
        """The state backend (implkit.workspace.backend): local, or PostgreSQL shared by every runner."""
        if self._backend is None:
            self._backend = open_backend(self.state_config, namespace=self.workspace_id)
        return self._backend

    @property
    def workspace_id(self) -> str | None:
        """implkit.yaml's `id` (it tells this workspace's tenants apart in a shared state backend)."""
        value = self._config.get("id")
        return str(value) if value else None

    def set_state_config(self, config: StateConfig) -> None:
        """Write implkit.yaml's `state:` (after `state migrate` has copied and verified every tenant)."""
        with self._editing():
            self._config["state"] = CommentedMap(config.to_config())
        self._backend = None

    def state(self, name: str) -> StateStore:
        """The tenant's StateStore (created on first use) in the workspace's state backend."""
        return self.backend.state(name, self.tenant_dir(name))

    def lock_for(self, name: str) -> TenantLock:
        return self.backend.lock(name, self.tenant(name).dir)

    @contextmanager
    def lock(self, name: str, operation: str, *, wait: bool = True, timeout: float | None = None,
             on_wait: Callable[[LockInfo], None] | None = None,
             break_stale: bool | None = None) -> Iterator[LockInfo]:
        """Hold the tenant's lock for the block: waits for another run (message on stderr), or with
        wait=False raises LockHeld (exit 1) naming the holder; a dead holder's lock raises StaleLock, or is
        broken (and said so on stderr) with break_stale (default: the CLI's --break-stale-lock)."""
        self.tenant_dir(name)
        lock = self.lock_for(name)
        try:
            with lock.hold(operation, wait=wait, timeout=timeout, on_wait=on_wait,
                           break_stale=break_stale) as info:
                yield info
        finally:
            lock.close()

    def lock_info(self, name: str) -> LockInfo | None:
        lock = self.lock_for(name)
        try:
            return lock.read()
        finally:
            lock.close()

    def unlock(self, name: str, *, force: bool = False) -> LockInfo | None:
        """Remove a stale lock (or, with force, any lock); return what was removed, None if unlocked."""
        lock = self.lock_for(name)
        try:
            return lock.unlock(force=force)
        finally:
            lock.close()

    # ---- reporting -----------------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any]:
        """Everything about a tenant a human or CI may look at, as plain data — never a secret.

        The credential is resolved only to say whether it is present (and OAuth
        or not); a missing or unsafe one is reported, not raised.
        """
        from implkit.errors import ImplkitError

        t = self.tenant(name)
        credential: dict[str, Any] = {"source": t.credentials.kind, "where": t.credentials.describe()}
        try:
            creds = self.credentials(name)
            credential.update(present=True, kind="oauth" if creds.is_oauth else "token")
        except ImplkitError as exc:
            credential.update(present=False, problem=str(exc))
        state: dict[str, Any] | None = None
        if self.backend.has_state(name, t.dir):
            store = self.state(name)
            try:
                applied = store.last_applied()
                state = {"objects": len(store.get_ids()), "serial": store.serial, "lineage": store.lineage,
                         "account_id": store.account_id,
                         "last_applied": None if applied is None else {
                             "version": applied.version, "hash": applied.hash, "at": applied.applied_at}}
            finally:
                store.close()
        holder = self.lock_info(name)
        return {
            "name": t.name, "provider": t.provider, "url": t.url, "credentials": credential,
            "oauth": None if not t.client_id else {
                "client_id": t.client_id, "client_secret": (f"environment variable {t.client_secret_env}"
                                                            if t.client_secret_env else "token source"),
                "redirect_uri": t.redirect_uri},
            "blueprint": str(t.blueprint) if t.blueprint else None,
            "rate_limit": t.rate_limit,
            "shares_account_with": t.shares_account_with,
            "state": state,
            "lock": None if holder is None else {
                "operation": holder.operation, "holder": f"{holder.user}@{holder.host}", "pid": holder.pid,
                "since": holder.since, "stale": holder.is_stale()},
        }

    # ---- writing -------------------------------------------------------------------------------

    @contextmanager
    def _editing(self) -> Iterator[None]:
        """Read-modify-write implkit.yaml under an exclusive lock, from its current content on disk,
        so two `tenant add` runs at once both land. Nothing is written if the block raises."""
        private_dir(self.data_dir)
        fd = os.open(self.data_dir / "workspace.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            fresh = load_yaml(self.config_path)
            self._validate(fresh)
            self._config = fresh
            yield
            self._validate(self._config)  # what would be written must load again: else nothing is written
            self._save()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _save(self) -> None:
        text = dump_yaml(self._config)
        if not text.startswith("#"):
            text = _CONFIG_HEADER + text
        atomic_write(self.config_path, text)


def init_workspace(directory: str | os.PathLike) -> Workspace:
    """Create implkit.yaml, .implkit/ and .gitignore in `directory`; refuse an existing workspace."""
    root = Path(directory).expanduser()
    config_path = root / CONFIG_NAME
    if config_path.exists():
        raise InputError(say(_MESSAGES, "exists_already", file=config_path))
    if root.exists() and not root.is_dir():
        raise InputError(say(_MESSAGES, "not_folder", root=root))
    root.mkdir(parents=True, exist_ok=True)
    private_dir(root / DATA_DIR)
    private_dir(root / DATA_DIR / "tenants")
    gitignore = root / ".gitignore"
    if gitignore.exists():
        existing = gitignore.read_text(encoding="utf-8")
        if not re.search(r"(?m)^/?\.implkit/?\s*$", existing):
            atomic_write(gitignore, existing.rstrip("\n") + "\n\n" + _GITIGNORE)
    else:
        atomic_write(gitignore, _GITIGNORE)
    config = CommentedMap()
    config["version"] = VERSION
    config["id"] = str(uuid.uuid4())
    config["tenants"] = CommentedMap()
    atomic_write(config_path, _CONFIG_HEADER + dump_yaml(config))
    return Workspace.load(root)


# ---- implkit.yaml validation ----------------------------------------------------------------------



def config_problems(config: Any, file: str) -> list[Problem]:
    """Every problem of a loaded implkit.yaml: blueprints/schema/workspace.schema.json, numbers that are
    .nan / .inf, and each tenant's URL rules (`check_url`)."""
    if config is None:
        config = CommentedMap()
    data = to_plain(config)
    problems = explain_schema_errors(_config_validator(), config, data, file)
    problems += non_finite_problems(config, data, file)
    if isinstance(config, dict):
        problems += state_problems(config, file)  # the state backend's own rules (implkit.workspace.backend)
    tenants = data.get("tenants") if isinstance(data, dict) else None
    for name, entry in (tenants or {}).items() if isinstance(tenants, dict) else ():
        if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry.get("url"):
            try:
                check_url(entry["url"], str(entry.get("provider", "")))
            except InputError as exc:
                problems.append(problem_at(config, data, file, dotted_path, ("tenants", name, "url"), str(exc)))
        shares = entry.get("shares_account_with") if isinstance(entry, dict) else None
        if shares is not None and (str(shares) == str(name) or str(shares) not in tenants):
            problems.append(problem_at(config, data, file, dotted_path, ("tenants", name, "shares_account_with"),
                                       say(_MESSAGES, "shares_unknown", shares=shares)))
    return sort_problems(problems)


@cache
def _config_validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema("workspace"))


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.expanduser().resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.expanduser().resolve())
