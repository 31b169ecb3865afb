"""The workspace: tenants registry (implkit.yaml), credentials, per-tenant state and locks.

Public API (import from here):

- `Workspace.load(path)`, `Workspace.discover(explicit=None)`, `init_workspace(dir)`;
  `ws.tenants()`, `ws.tenant(name) -> Tenant` (unknown → InputError, exit 3),
  `ws.add_tenant(...)`, `ws.remove_tenant(name)`.
- `ws.credentials(name) -> Credentials`; `creds.auth(token_url=...)` → an `implkit.http` Auth
  (BearerToken, OAuth2Session rotating through the token file / keyring, or NoAuth).
- `ws.state(name) -> StateStore`: `get_ids()`, `record(address, remote_id, fingerprint)`,
  `forget(address)`, `account_id` / `bind_account(id)` (another account → `AccountMismatch`, exit 3),
  `last_applied()` / `set_last_applied(version, hash, blueprint_text)`, `lineage`, `serial`, `backup()`.
- `ws.lock(name, operation, wait=True)`: context manager; `LockHeld` / `StaleLock` (exit 1);
  `ws.unlock(name)`.
"""

from implkit.workspace.core import (
    CONFIG_NAME,
    ENV_VAR,
    PROVIDERS,
    Tenant,
    Workspace,
    init_workspace,
)
from implkit.workspace.credentials import CredentialSource, Credentials, KeyringTokenStore, TokenFileStore
from implkit.workspace.lock import LockHeld, LockInfo, StaleLock, TenantLock
from implkit.workspace.state import AccountMismatch, AppliedVersion, StateEntry, StateStore
from implkit.workspace.urls import check_url, is_loopback

__all__ = [
    "CONFIG_NAME", "ENV_VAR", "PROVIDERS", "AccountMismatch", "AppliedVersion", "CredentialSource",
    "Credentials", "KeyringTokenStore", "LockHeld", "LockInfo", "StaleLock", "StateEntry", "StateStore",
    "Tenant", "TenantLock", "TokenFileStore", "Workspace", "check_url", "init_workspace", "is_loopback",
]
