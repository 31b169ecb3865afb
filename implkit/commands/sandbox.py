"""`implkit sandbox`: run, fill and inspect the local amoCRM emulator."""

from __future__ import annotations

from pathlib import Path

import click

from implkit.errors import InputError, Location, Problem


def _store(db: str):
    from implkit.sandbox.store import Store

    if not Path(db).is_file():
        raise InputError("no sandbox database", [Problem(Location(db, key="--db"), "file not found")])
    return Store(db)


def _account_id(store, db: str, subdomain: str) -> int:
    from implkit.sandbox.amocrm.models import account_by_subdomain

    account = account_by_subdomain(store, subdomain)
    if account is None:
        raise InputError("unknown sandbox account", [Problem(Location(db, key="subdomain"),
                                                             f"no account {subdomain!r} in this database")])
    return account["id"]


@click.group()
def sandbox() -> None:
    """Run and seed the local amoCRM emulator (SQLite-backed)."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback only).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite file to keep (default: a temporary one).")
@click.option("--rate-limit", "rate_limit", default=7, show_default=True, type=click.IntRange(1),
              help="Requests per second per integration before 429.")
@click.option("--account-rate-limit", default=50, show_default=True, type=click.IntRange(1),
              help="Requests per second per account (all integrations) before 429.")
@click.option("--block-after", default=100, show_default=True, type=click.IntRange(1),
              help="429 answers within a minute that block the account (403 until reset).")
@click.option("--latency", default="50-150ms", show_default=True,
              help='How long an admitted request takes to be answered, as over the internet: "80ms", '
                   '"50-150ms" (random in the range), or "0" for none.')
@click.option("--rate-tolerance", "rate_tolerance", default=50, show_default=True, type=click.IntRange(0, 500),
              help="Milliseconds of tolerance at the edge of the one-second rate window (docs/sandbox.md).")
@click.option("--faults", help='Fault injection, e.g. "5xx=0.1,drop=0.02,latency=50ms,expire_token_after=100".')
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the fault decisions.")
@click.option("--account", "accounts", multiple=True, help="Account subdomain to create if missing (repeatable; "
              "default: demo when the database has none).")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
def serve(host, port, db, rate_limit, account_rate_limit, block_after, latency, rate_tolerance, faults, seed,
          accounts, allow_remote) -> int:
    """Serve the emulator: http://HOST:PORT/amocrm/SUBDOMAIN stands for https://SUBDOMAIN.amocrm.ru."""
    from implkit.sandbox.server import serve_forever

    serve_forever(db=db, host=host, port=port, accounts=tuple(accounts), integration_rps=rate_limit,
                  account_rps=account_rate_limit, block_after=block_after, faults=faults, seed=seed,
                  allow_remote=allow_remote, announce=lambda lines: click.echo("\n".join(lines)),
                  latency=latency, edge_tolerance_ms=rate_tolerance)
    return 0


@sandbox.command("create-account")
@click.argument("subdomain")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite file (created if missing).")
@click.option("--name", help="Account name (default: the subdomain).")
def create_account(subdomain: str, db: str, name: str | None) -> int:
    """Create an account as amoCRM does on sign-up (admin, pipeline «Воронка», predefined fields)."""
    from implkit.sandbox.amocrm.models import bootstrap_account
    from implkit.sandbox.operations import base_path
    from implkit.sandbox.store import Store

    try:
        account_id = bootstrap_account(Store(db), subdomain, name)
    except ValueError as error:
        raise InputError("cannot create the account", [Problem(Location(db, key="subdomain"), str(error))]) from None
    click.echo(f"created account {subdomain} (id {account_id}); base path {base_path(subdomain)}")
    return 0


@sandbox.command()
@click.argument("subdomain")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="The sandbox's SQLite file.")
def token(subdomain: str, db: str) -> int:
    """Issue a long-lived token for SUBDOMAIN and print it (the only command that shows one)."""
    from implkit.sandbox.amocrm.models import issue_long_lived_token

    store = _store(db)
    click.echo(issue_long_lived_token(store, _account_id(store, db, subdomain)))
    return 0


@sandbox.command()
@click.argument("subdomain")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="The sandbox's SQLite file.")
@click.option("--contacts", default=1000, show_default=True, type=click.IntRange(1), help="How many contacts.")
@click.option("--seed", "seed_value", default=0, show_default=True, type=int, help="Random seed (same seed, same data).")
@click.option("--ground-truth", type=click.Path(dir_okay=False), help="Write the planted defects here (JSON).")
def seed(subdomain: str, db: str, contacts: int, seed_value: int, ground_truth: str | None) -> int:
    """Fill SUBDOMAIN with realistic data and planted data-quality defects (created if missing)."""
    from implkit.sandbox.amocrm.models import account_by_subdomain, bootstrap_account
    from implkit.sandbox.seed import seed_account
    from implkit.sandbox.store import Store

    store = Store(db)
    account = account_by_subdomain(store, subdomain)
    account_id = account["id"] if account else bootstrap_account(store, subdomain)
    try:
        result = seed_account(store, account_id, contacts=contacts, seed=seed_value, ground_truth_path=ground_truth)
    except ValueError as error:   # e.g. the account already has data
        raise InputError("cannot seed the account", [Problem(Location(db, key=subdomain), str(error))]) from None
    click.echo(f"seeded {subdomain}: {result}")
    return 0
