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
from implkit.lang import say


_MESSAGES = {
    "created": {"ru": "создана рабочая папка {root}", "en": "created workspace {root}"},
    "created_config": {"ru": "  {name}  реестр клиентов (без секретов)", "en": "  {name}  tenants registry (no secrets)"},
    "created_dir": {"ru": "  .implkit/      состояние, блокировки, снимки, файлы токенов (не попадают в git)",
                    "en": "  .implkit/      state, locks, snapshots, token files (git-ignored)"},
    "next": {"ru": "дальше: implkit tenant add NAME --provider amocrm --url https://SUBDOMAIN.amocrm.ru --keyring",
             "en": "next: implkit tenant add NAME --provider amocrm --url https://SUBDOMAIN.amocrm.ru --keyring"},
    "one_source": {"ru": "укажите ровно один источник токена: --token-env VAR, --token-file PATH или --keyring",
                   "en": "give exactly one token source: --token-env VAR, --token-file PATH or --keyring"},
    "got": {"ru": " (указано: {chosen})", "en": " (got {chosen})"},
    "env_unset": {"ru": "внимание: {var} сейчас не задана; она должна быть задана, когда команда работает с "
                        "клиентом {name!r}",
                  "en": "note: {var} is not set now; it must be when a command uses tenant {name!r}"},
    "token_file_created": {"ru": "создан файл токена {path} (права 0600)", "en": "created token file {path} (mode 0600)"},
    "added": {"ru": "добавлен клиент {name} ({provider}, {url}); учётные данные: {where}",
              "en": "added tenant {name} ({provider}, {url}); credentials: {where}"},
    "what_oauth": {"ru": 'токены OAuth в виде JSON {{"access_token": ..., "refresh_token": ..., "expires_at": ...}}',
                   "en": 'OAuth tokens as JSON {{"access_token": ..., "refresh_token": ..., "expires_at": ...}}'},
    "what_webhook": {"ru": "вебхук (USER_ID/SECRET или адрес вебхука)",
                     "en": "webhook (USER_ID/SECRET or the webhook URL)"},
    "what_directum": {"ru": "LOGIN:PASSWORD для Integration Service", "en": "Integration Service LOGIN:PASSWORD"},
    "what_token": {"ru": "токен", "en": "token"},
    "paste": {"ru": "Вставьте {what}", "en": "Paste the {what}"},
    "empty_token": {"ru": "пустой токен", "en": "empty token"},
    "pasted": {"ru": "вставленное значение", "en": "the pasted value"},
    "oauth_pair": {"ru": "{where}: --client-id означает OAuth, а для него нужен JSON с access_token и refresh_token "
                         "(для долгоживущего токена уберите --client-id)",
                   "en": "{where}: --client-id means OAuth, which needs JSON with access_token and refresh_token "
                         "(for a long-lived token, drop --client-id)"},
    "no_tenants": {"ru": "клиентов пока нет; добавьте: `implkit tenant add NAME --provider amocrm --url URL --keyring`",
                   "en": "no tenants yet; add one with `implkit tenant add NAME --provider amocrm --url URL --keyring`"},
    "missing": {"ru": " (нет)", "en": " (missing)"},
    "list_headers": {"ru": "клиент|CRM|адрес|учётные данные|блокировка",
                     "en": "tenant|provider|url|credentials|locked"},
    "show_rows": {"ru": "имя|CRM|адрес|учётные данные|токен|OAuth client id|client secret|описание|лимит запросов|"
                        "состояние|блокировка",
                  "en": "name|provider|url|credentials|token|oauth client id|client secret|blueprint|rate limit|"
                        "state|lock"},
    "token_oauth": {"ru": "OAuth (access + refresh token)", "en": "OAuth (access + refresh token)"},
    "token_present": {"ru": "*** ({kind} есть)", "en": "*** ({kind} present)"},
    "unavailable": {"ru": "недоступен: {problem}", "en": "unavailable: {problem}"},
    "from": {"ru": "из {where}", "en": "from {where}"},
    "no_state": {"ru": "пока нет", "en": "none yet"},
    "state_line": {"ru": "{objects}, серия {serial}, аккаунт {account}", "en": "{objects}, serial {serial}, account {account}"},
    "not_bound": {"ru": "ещё не привязан", "en": "not bound yet"},
    "last_applied": {"ru": ", последнее применение {version} в {at}", "en": ", last applied {version} at {at}"},
    "rps": {"ru": "{rate:g} запр./с", "en": "{rate:g} req/s"},
    "provider_default": {"ru": "по умолчанию для CRM", "en": "provider default"},
    "free": {"ru": "свободна", "en": "free"},
    "lock": {"ru": "{operation}: {holder} (pid {pid}) с {since}", "en": "{operation} by {holder} (pid {pid}) since {since}"},
    "stale_lock": {"ru": " — ЗАБРОШЕНА", "en": " — STALE"},
    "stale": {"ru": " (заброшена)", "en": " (stale)"},
    "removed": {"ru": "клиент {name} удалён из реестра", "en": "removed tenant {name}"},
    "state_stays": {"ru": "; его состояние остаётся в {dir}", "en": "; its state stays in {dir}"},
    "not_locked": {"ru": "клиент {name} не заблокирован", "en": "tenant {name} is not locked"},
    "unlocked": {"ru": "снята блокировка клиента {name}: {holder}", "en": "removed the lock of tenant {name}: {holder}"},
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
    click.echo(say(_MESSAGES, "created", root=ws.root))
    click.echo(say(_MESSAGES, "created_config", name=ws.config_path.name))
    click.echo(say(_MESSAGES, "created_dir"))
    click.echo(say(_MESSAGES, "next"))
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
        raise InputError(say(_MESSAGES, "one_source")
                         + (say(_MESSAGES, "got", chosen=", ".join(chosen)) if chosen else ""))
    ws = open_workspace(workspace)
    check_url(url, provider)
    ws.check_new_name(name)  # everything that can be refused is refused before a secret is stored
    ws.check_account_free(name, provider, url, shares_with)
    if token_env:
        source = CredentialSource("env", var=token_env)
        if not os.environ.get(token_env):
            click.echo(say(_MESSAGES, "env_unset", var=token_env, name=name), err=True)
    elif token_file:
        path = Path(token_file).expanduser().resolve()
        source = CredentialSource("file", path=path)
        if path.exists():
            check_private(path)
            if client_id:
                _require_oauth_pair(read_token_file(path), str(path))
        else:
            write_token_file(path, _ask_secret(provider, oauth=bool(client_id)))
            click.echo(say(_MESSAGES, "token_file_created", path=path), err=True)
    else:
        source = CredentialSource("keyring", service=ws.keyring_service, username=ws.keyring_username(name))
        keyring_set(str(source.service), str(source.username), _ask_secret(provider, oauth=bool(client_id)))
    tenant_ = ws.add_tenant(name, provider=provider, url=url, credentials=source, client_id=client_id,
                            client_secret_env=client_secret_env, redirect_uri=redirect_uri,
                            blueprint=blueprint, rate_limit=rate_limit, shares_account_with=shares_with)
    click.echo(say(_MESSAGES, "added", name=tenant_.name, provider=tenant_.provider, url=tenant_.url,
                   where=tenant_.credentials.describe()))
    return 0


def _ask_secret(provider: str, *, oauth: bool = False) -> str:
    """Read the secret from the terminal without echo (or from stdin when piped)."""
    from implkit.errors import InputError

    if oauth:
        what = say(_MESSAGES, "what_oauth")
    elif provider == "bitrix24":
        what = say(_MESSAGES, "what_webhook")
    elif provider == "directum":
        what = say(_MESSAGES, "what_directum")
    else:
        what = say(_MESSAGES, "what_token")
    if sys.stdin is not None and not sys.stdin.isatty():
        # Piped (`implkit sandbox token … | implkit tenant add …`): read the pipe itself. getpass would
        # read the controlling terminal instead, or warn (GetPassWarning) and echo when there is none.
        value = sys.stdin.readline().strip()
    else:
        value = click.prompt(say(_MESSAGES, "paste", what=what), hide_input=True, err=True).strip()
    if not value:
        raise InputError(say(_MESSAGES, "empty_token"))
    if provider == "directum":
        from implkit.providers.directum import parse_credential

        parse_credential(value)       # InputError (nothing stored) unless it is LOGIN:PASSWORD
    if oauth:
        import json

        try:
            data = json.loads(value)
        except ValueError:
            data = None
        _require_oauth_pair(data if isinstance(data, dict) else {}, say(_MESSAGES, "pasted"))
    return value


def _require_oauth_pair(data: dict, where: str) -> None:
    """--client-id means OAuth: the secret must hold an access and a refresh token to rotate."""
    from implkit.errors import InputError

    if not (data.get("access_token") and data.get("refresh_token")):
        raise InputError(say(_MESSAGES, "oauth_pair", where=where))


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
        click.echo(say(_MESSAGES, "no_tenants"))
        return 0
    from tabulate import tabulate

    from implkit.workspace.credentials import source_word

    rows = [[t["name"], t["provider"], t["url"], source_word(t["credentials"]["source"])
             + ("" if t["credentials"]["present"] else say(_MESSAGES, "missing")), _lock_cell(t["lock"])]
            for t in tenants]
    click.echo(tabulate(rows, headers=say(_MESSAGES, "list_headers").split("|")))
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

    from implkit.lang import count_noun

    labels = dict(zip(("name", "provider", "url", "credentials", "token", "oauth", "secret", "blueprint", "rate",
                       "state", "lock"), say(_MESSAGES, "show_rows").split("|")))
    cred = t["credentials"]
    kind = say(_MESSAGES, "token_oauth") if cred.get("kind") == "oauth" else say(_MESSAGES, "what_token")
    token = (say(_MESSAGES, "token_present", kind=kind) if cred["present"]
             else say(_MESSAGES, "unavailable", problem=cred["problem"]))
    rows = [[labels["name"], t["name"]], [labels["provider"], t["provider"]], [labels["url"], t["url"]],
            [labels["credentials"], cred["where"]], [labels["token"], token]]
    if t["oauth"]:
        rows += [[labels["oauth"], t["oauth"]["client_id"]],
                 [labels["secret"], say(_MESSAGES, "from", where=t["oauth"]["client_secret"])]]
    state = t["state"]
    if state is None:
        state_line = say(_MESSAGES, "no_state")
    else:
        applied = state["last_applied"]
        objects = count_noun(state["objects"], ("объект", "объекта", "объектов"), ("objects", "objects"))
        state_line = (say(_MESSAGES, "state_line", objects=objects, serial=state["serial"],
                          account=state["account_id"] or say(_MESSAGES, "not_bound"))
                      + (say(_MESSAGES, "last_applied", version=applied["version"] or "?", at=applied["at"])
                         if applied else ""))
    lock = t["lock"]
    rows += [[labels["blueprint"], t["blueprint"] or "-"],
             [labels["rate"], say(_MESSAGES, "rps", rate=t["rate_limit"]) if t["rate_limit"]
              else say(_MESSAGES, "provider_default")],
             [labels["state"], state_line],
             [labels["lock"], say(_MESSAGES, "free") if lock is None else
              say(_MESSAGES, "lock", operation=lock["operation"], holder=lock["holder"], pid=lock["pid"],
                  since=lock["since"]) + (say(_MESSAGES, "stale_lock") if lock["stale"] else "")]]
    click.echo(tabulate(rows, tablefmt="plain"))
    return 0


def _lock_cell(lock: dict | None) -> str:
    if lock is None:
        return ""
    return lock["operation"] + (say(_MESSAGES, "stale") if lock["stale"] else "")


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
    click.echo(say(_MESSAGES, "removed", name=t.name)
               + ("" if purge or not t.dir.exists() else say(_MESSAGES, "state_stays", dir=t.dir)))
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
        click.echo(say(_MESSAGES, "not_locked", name=name))
    else:
        click.echo(say(_MESSAGES, "unlocked", name=name, holder=removed.holder))
    return 0
