"""The click commands; shared options live here."""

from __future__ import annotations

import click


def _break_stale(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    from implkit.workspace.lock import set_break_stale

    set_break_stale(value)
    ctx.call_on_close(lambda: set_break_stale(False))  # a setting of this command only
    return value


def _lock_timeout(ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    from implkit.workspace.lock import set_lock_timeout

    set_lock_timeout(value)
    ctx.call_on_close(lambda: set_lock_timeout(None))
    return value


_lock_timeout_option = click.option(
    "--lock-timeout", type=click.FloatRange(min=0), default=None, expose_value=False, callback=_lock_timeout,
    metavar="SECONDS",
    help="How long to wait for another run's lock on the tenant before giving up (0: fail at once, naming "
         "the holder). Default: 300.")

#: `--break-stale-lock` on every command that takes a tenant's lock (CI has nobody to run `tenant unlock`)
_break_stale_option = click.option(
    "--break-stale-lock", is_flag=True, expose_value=False, callback=_break_stale,
    help="If the tenant's lock was left by a run that is gone (its process ended on this machine, or its "
         "lease expired on another), break it and say so, instead of stopping.")


def break_stale_lock_option(command):
    """The lock options of every command that takes a tenant's lock: --break-stale-lock and --lock-timeout."""
    return _lock_timeout_option(_break_stale_option(command))


def fleet_options(command):
    """--tenants, --shard and --jobs for commands that run over many tenants (with --all)."""
    command = click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None, metavar="N",
                           help="Tenants run at once (default: up to 8). Each tenant keeps its own rate limit.")(command)
    command = click.option("--shard", metavar="K/N", default=None,
                           help="Only this job's share of the tenants: the sorted names dealt round robin to N "
                                "jobs; K/N for K = 1..N covers each tenant once (a CI matrix).")(command)
    return click.option("--tenants", "tenant_patterns", metavar="PATTERN", default=None,
                        help="Only tenants matching these comma-separated shell patterns (e.g. 'shop-*'); "
                             "implies --all.")(command)


def fleet_names(all_names: list[str], name: str | None, all_: bool, patterns: str | None,
                shard: str | None) -> list[str] | None:
    """The tenants a command runs on: [name] for one tenant, the selection for --all/--tenants/--shard,
    None when neither was asked for (the caller reports its own usage)."""
    from implkit.errors import InputError
    from implkit.workspace.fleet import select_tenants

    many = all_ or patterns is not None or shard is not None
    if name and many:
        raise click.UsageError("name one TENANT, or select several with --all/--tenants/--shard, not both")
    if name:
        return [name]
    if not many:
        return None
    if not all_names:
        raise InputError("the workspace has no tenants; add one with `implkit tenant add`")
    return select_tenants(all_names, patterns=patterns, shard=shard)
