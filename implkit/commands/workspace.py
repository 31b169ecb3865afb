"""`implkit init` and `implkit tenant …`: the workspace and its tenants.

Other commands that act on a tenant reuse `workspace_option` and
`open_workspace` so `--workspace DIR` / $IMPLKIT_WORKSPACE / walking up from
the current folder work the same everywhere.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from implkit.commands import WORKSPACE_HELP, complete_tenants, json_format_option


_MESSAGES = {
    "rate": {"ru": "--rate-limit: нужно положительное конечное число запросов в секунду (например 7 или 0.5), "
                   "а не {value!r}",
             "en": "--rate-limit: expected a positive, finite number of requests per second (e.g. 7 or 0.5), "
                   "not {value!r}"},
}


class RateLimit(click.ParamType):
    """Requests per second: a positive, finite number. click's FloatRange lets nan and inf through
    (every comparison with nan is false), and a limiter fed either never sends or never waits."""

    name = "rps"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        import math

        from implkit.errors import InputError
        from implkit.lang import say

        try:
            rate = float(value)
        except (TypeError, ValueError):
            rate = math.nan
        if not math.isfinite(rate) or rate <= 0:
            raise InputError(say(_MESSAGES, "rate", value=str(value)))
        return rate


def workspace_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--workspace DIR` to a command (passed as the `workspace` keyword)."""
    return click.option("--workspace", "-w", "workspace", type=click.Path(file_okay=True, dir_okay=True),
                        default=None, metavar="DIR", help=WORKSPACE_HELP)(func)


def open_workspace(workspace: str | None):  # noqa: ANN201 - lazy import keeps --help fast
    """The Workspace named by a `--workspace` value (or discovered)."""
    from implkit.workspace import Workspace

    return Workspace.discover(workspace)


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> int:
    """Create a workspace in DIRECTORY (default: here): implkit.yaml, .implkit/ and a .gitignore
    that keeps state, snapshots and token files out of git. Refuses an existing workspace."""
    from implkit.workspace import init_workspace

    ws = init_workspace(directory)
    click.echo(f"created workspace {ws.root}")
    click.echo(f"  {ws.config_path.name}  tenants registry (no secrets)")
    click.echo("  .implkit/      state, locks, snapshots, token files (git-ignored)")
    click.echo("next: implkit tenant add NAME --provider amocrm --url https://SUBDOMAIN.amocrm.ru --keyring")
    return 0


@click.group()
def tenant() -> None:
    """Add, list, show, remove and unlock the CRM accounts (tenants) of a workspace."""


@tenant.command("add")
@click.argument("name")
@click.option("--provider", type=click.Choice(["amocrm", "bitrix24", "directum"]), required=True, help="The CRM.")
@click.option("--url", required=True,
              help="Account URL: https://SUBDOMAIN.amocrm.ru, https://PORTAL.bitrix24.ru, https://HOST/Integration "
                   "(Directum RX); http only on loopback.")
@click.option("--token-env", metavar="VAR", help="Read the token from this environment variable at run time.")
@click.option("--token-file", type=click.Path(dir_okay=False), metavar="PATH",
              help="Token file (mode 0600). If it does not exist, the token is asked for and the file created.")
@click.option("--keyring", "use_keyring", is_flag=True, help="Ask for the token and keep it in the system keyring.")
@click.option("--client-id", help="OAuth integration id (the token source then holds access/refresh tokens).")
@click.option("--client-secret-env", metavar="VAR", help="Environment variable holding the OAuth client secret.")
@click.option("--redirect-uri", default="", help="OAuth redirect URI registered for the integration.")
@click.option("-b", "--blueprint", type=click.Path(dir_okay=False), help="The blueprint this tenant is configured from.")
@click.option("--rate-limit", type=RateLimit(), metavar="RPS",
              help="Requests per second to stay under (default: the provider's documented limit).")
@click.option("--shares-account-with", "shares_with", metavar="TENANT",
              help="This is the same CRM account as TENANT (two blueprints on one account): allowed only when "
                   "declared, and then neither tenant's --prune deletes what the other manages.")
@workspace_option
def add(name: str, provider: str, url: str, token_env: str | None, token_file: str | None, use_keyring: bool,
        client_id: str | None, client_secret_env: str | None, redirect_uri: str, blueprint: str | None,
        rate_limit: float | None, shares_with: str | None, workspace: str | None) -> int:
    """Register the CRM account NAME. The token is never written into implkit.yaml."""
    from implkit.errors import InputError
    from implkit.workspace import CredentialSource, check_url
    from implkit.workspace.credentials import check_private, keyring_set, read_token_file, write_token_file

    chosen = [flag for flag, given in (("--token-env", token_env), ("--token-file", token_file),
                                        ("--keyring", use_keyring)) if given]
    if len(chosen) != 1:
        raise InputError("give exactly one token source: --token-env VAR, --token-file PATH or --keyring"
                         + (f" (got {', '.join(chosen)})" if chosen else ""))
    ws = open_workspace(workspace)
    check_url(url, provider)
    _precheck(ws, name)  # everything that can be refused is refused before a secret is stored
    ws.check_account_free(name, provider, url, shares_with)
    if token_env:
        source = CredentialSource("env", var=token_env)
        if not os.environ.get(token_env):
            click.echo(f"note: {token_env} is not set now; it must be when a command uses tenant {name!r}",
                       err=True)
    elif token_file:
        path = Path(token_file).expanduser().resolve()
        source = CredentialSource("file", path=path)
        if path.exists():
            check_private(path)
            if client_id:
                _require_oauth_pair(read_token_file(path), str(path))
        else:
            write_token_file(path, _ask_secret(provider, oauth=bool(client_id)))
            click.echo(f"created token file {path} (mode 0600)", err=True)
    else:
        source = CredentialSource("keyring", service=ws.keyring_service, username=ws.keyring_username(name))
        keyring_set(str(source.service), str(source.username), _ask_secret(provider, oauth=bool(client_id)))
    tenant_ = ws.add_tenant(name, provider=provider, url=url, credentials=source, client_id=client_id,
                            client_secret_env=client_secret_env, redirect_uri=redirect_uri,
                            blueprint=blueprint, rate_limit=rate_limit, shares_account_with=shares_with)
    click.echo(f"added tenant {tenant_.name} ({tenant_.provider}, {tenant_.url}); "
               f"credentials: {tenant_.credentials.describe()}")
    return 0


def _precheck(ws: Any, name: str) -> None:
    """Refuse a bad or taken name before a secret is stored anywhere."""
    from implkit.errors import InputError
    from implkit.workspace.core import TENANT_NAME

    if not TENANT_NAME.match(name):
        raise InputError(f"invalid tenant name {name!r}: use lower-case letters, digits, '.', '_' and '-' "
                         "(it names a folder)")
    if name in ws.tenant_names():
        raise InputError(f"tenant {name!r} already exists in {ws.config_path}; "
                         f"remove it first with `implkit tenant remove {name}`")


def _ask_secret(provider: str, *, oauth: bool = False) -> str:
    """Read the secret from the terminal without echo (or from stdin when piped)."""
    from implkit.errors import InputError

    if oauth:
        what = 'OAuth tokens as JSON {"access_token": ..., "refresh_token": ..., "expires_at": ...}'
    elif provider == "bitrix24":
        what = "webhook (USER_ID/SECRET or the webhook URL)"
    elif provider == "directum":
        what = "Integration Service LOGIN:PASSWORD"
    else:
        what = "token"
    if sys.stdin is not None and not sys.stdin.isatty():
        # Piped (`implkit sandbox token … | implkit tenant add …`): read the pipe itself. getpass would
        # read the controlling terminal instead, or warn (GetPassWarning) and echo when there is none.
        value = sys.stdin.readline().strip()
    else:
        value = click.prompt(f"Paste the {what}", hide_input=True, err=True).strip()
    if not value:
        raise InputError("empty token")
    if provider == "directum":
        from implkit.providers.directum import parse_credential

        parse_credential(value)       # InputError (nothing stored) unless it is LOGIN:PASSWORD
    if oauth:
        import json

        try:
            data = json.loads(value)
        except ValueError:
            data = None
        _require_oauth_pair(data if isinstance(data, dict) else {}, "the pasted value")
    return value


def _require_oauth_pair(data: dict, where: str) -> None:
    """--client-id means OAuth: the secret must hold an access and a refresh token to rotate."""
    from implkit.errors import InputError

    if not (data.get("access_token") and data.get("refresh_token")):
        raise InputError(f"{where}: --client-id means OAuth, which needs JSON with access_token and "
                         "refresh_token (for a long-lived token, drop --client-id)")


@tenant.command("list")
@json_format_option("the tenants")
@workspace_option
def list_(as_json: bool, workspace: str | None) -> int:
    """List the tenants: name, provider, URL, where the credentials come from, lock."""
    ws = open_workspace(workspace)
    tenants = [ws.describe(name) for name in ws.tenant_names()]
    if as_json:
        click.echo(_json(tenants))
        return 0
    if not tenants:
        click.echo("no tenants yet; add one with `implkit tenant add NAME --provider amocrm --url URL --keyring`")
        return 0
    from tabulate import tabulate

    rows = [[t["name"], t["provider"], t["url"], t["credentials"]["source"]
             + ("" if t["credentials"]["present"] else " (missing)"), _lock_cell(t["lock"])] for t in tenants]
    click.echo(tabulate(rows, headers=["tenant", "provider", "url", "credentials", "locked"]))
    return 0


@tenant.command("show")
@click.argument("name", shell_complete=complete_tenants)
@json_format_option("the tenant")
@workspace_option
def show(name: str, as_json: bool, workspace: str | None) -> int:
    """Show one tenant. The secret is never printed: only where it comes from and whether it is there."""
    t = open_workspace(workspace).describe(name)
    if as_json:
        click.echo(_json(t))
        return 0
    from tabulate import tabulate

    cred = t["credentials"]
    token = (f"*** ({'OAuth (access + refresh token)' if cred['kind'] == 'oauth' else 'token'} present)"
             if cred["present"] else f"unavailable: {cred['problem']}")
    rows = [["name", t["name"]], ["provider", t["provider"]], ["url", t["url"]],
            ["credentials", cred["where"]], ["token", token]]
    if t["oauth"]:
        rows += [["oauth client id", t["oauth"]["client_id"]], ["client secret", f"from {t['oauth']['client_secret']}"]]
    state = t["state"]
    if state is None:
        state_line = "none yet"
    else:
        applied = state["last_applied"]
        state_line = (f"{state['objects']} objects, serial {state['serial']}, "
                      f"account {state['account_id'] or 'not bound yet'}"
                      + (f", last applied {applied['version'] or '?'} at {applied['at']}" if applied else ""))
    rows += [["blueprint", t["blueprint"] or "-"],
             ["rate limit", f"{t['rate_limit']:g} req/s" if t["rate_limit"] else "provider default"],
             ["state", state_line],
             ["lock", "free" if t["lock"] is None else
              f"{t['lock']['operation']} by {t['lock']['holder']} (pid {t['lock']['pid']}) since {t['lock']['since']}"
              + (" — STALE" if t["lock"]["stale"] else "")]]
    click.echo(tabulate(rows, tablefmt="plain"))
    return 0


def _lock_cell(lock: dict | None) -> str:
    if lock is None:
        return ""
    return lock["operation"] + (" (stale)" if lock["stale"] else "")


def _json(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, indent=2)


@tenant.command("remove")
@click.argument("name", shell_complete=complete_tenants)
@click.option("--purge", is_flag=True, help="Also delete its local state, its keyring entry and a token file kept under .implkit/.")
@workspace_option
def remove(name: str, purge: bool, workspace: str | None) -> int:
    """Unregister a tenant (its state is kept unless --purge). Nothing on the CRM changes."""
    ws = open_workspace(workspace)
    t = ws.remove_tenant(name, purge=purge)
    click.echo(f"removed tenant {t.name}" + ("" if purge or not t.dir.exists() else f"; its state stays in {t.dir}"))
    return 0


@tenant.command("unlock")
@click.argument("name", shell_complete=complete_tenants)
@click.option("--force", is_flag=True, help="Remove the lock even if its holder still runs on this machine.")
@workspace_option
def unlock(name: str, force: bool, workspace: str | None) -> int:
    """Remove a tenant's lock left by a run that died (kill -9, power loss)."""
    ws = open_workspace(workspace)
    removed = ws.unlock(name, force=force)
    if removed is None:
        click.echo(f"tenant {name} is not locked")
    else:
        click.echo(f"removed the lock of tenant {name}: {removed.holder}")
    return 0
