"""`implkit state …`: where the workspace keeps its tenants' state (implkit.workspace.backend)."""

from __future__ import annotations

import click

from implkit.commands import break_stale_lock_option
from implkit.commands.workspace import open_workspace, workspace_option
from implkit.lang import say

_MESSAGES = {
    "postgres_only": {"ru": "--url-env, --url-keyring, --key-env и --lock-lease — только для --to postgres",
                      "en": "--url-env, --url-keyring, --key-env and --lock-lease are for --to postgres"},
    "one_url": {"ru": "передайте URL через --url-env или через --url-keyring, но не оба",
                "en": "give the URL through --url-env or --url-keyring, not both"},
    "headers": {"ru": "клиент|состояние|серия|объектов", "en": "tenant|state|serial|objects"},
    "copied": {"ru": "скопировано", "en": "copied"},
    "unchanged": {"ru": "без изменений", "en": "unchanged"},
    "no state": {"ru": "нет состояния", "en": "no state"},
    "now": {"ru": "теперь рабочая папка хранит состояние в {where}",
            "en": "the workspace now keeps its state in {where}"},
}


@click.group()
def state() -> None:
    """Show and move the workspace's state backend (local SQLite, or PostgreSQL shared by every runner)."""


@state.command("migrate")
@click.option("--to", "to", type=click.Choice(["postgres", "local"]), required=True,
              help="The backend to move every tenant's state to.")
@click.option("--url-env", metavar="VAR", default=None,
              help="postgres: environment variable holding the connection URL (default IMPLKIT_STATE_URL).")
@click.option("--url-keyring", metavar="SERVICE/USER", default=None,
              help="postgres: keyring entry holding the connection URL (instead of --url-env).")
@click.option("--key-env", metavar="VAR", default=None,
              help="postgres: environment variable holding the key that encrypts rotated OAuth tokens "
                   "(default IMPLKIT_STATE_KEY).")
@click.option("--lock-lease", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="postgres: how long a crashed runner's lock outlives it (default 120).")
@workspace_option
@break_stale_lock_option
def migrate(to: str, url_env: str | None, url_keyring: str | None, key_env: str | None,
            lock_lease: float | None, workspace: str | None) -> int:
    """Copy every tenant's state to another backend, read it back to verify, then switch implkit.yaml.

    An older copy never overwrites a newer one (lineage and serial decide; the refusal names both serials).
    The source copy is kept. Exit 0 done, 1 refused or failed (nothing switched), 3 bad input."""
    from tabulate import tabulate

    from implkit.workspace.backend import StateConfig
    from implkit.workspace.migrate import migrate as run

    if to == "local" and (url_env or url_keyring or key_env or lock_lease):
        raise click.UsageError(say(_MESSAGES, "postgres_only"))
    if url_env and url_keyring:
        raise click.UsageError(say(_MESSAGES, "one_url"))
    ws = open_workspace(workspace)
    data: dict = {"backend": to}
    if to == "postgres":
        current = ws.state_config
        data.update(url_env=url_env, url_keyring=url_keyring, key_env=key_env or current.key_env,
                    lock_lease=lock_lease or current.lock_lease, namespace=current.namespace)
    target = StateConfig.from_config(data)
    moved = run(ws, target)
    rows = [(m.tenant, say(_MESSAGES, m.action), m.serial, m.objects) for m in moved]
    click.echo(tabulate(rows, headers=say(_MESSAGES, "headers").split("|")))
    click.echo(say(_MESSAGES, "now", where=ws.backend.describe()))
    return 0
