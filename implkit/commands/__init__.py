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
