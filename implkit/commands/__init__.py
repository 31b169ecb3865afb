"""The click commands; shared options live here."""

from __future__ import annotations

import click


def _break_stale(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    from implkit.workspace.lock import set_break_stale

    set_break_stale(value)
    ctx.call_on_close(lambda: set_break_stale(False))  # a setting of this command only
    return value


#: `--break-stale-lock` on every command that takes a tenant's lock (CI has nobody to run `tenant unlock`)
break_stale_lock_option = click.option(
    "--break-stale-lock", is_flag=True, expose_value=False, callback=_break_stale,
    help="If the tenant's lock was left by a run that is gone (its process ended on this machine, or its "
         "lease expired on another), break it and say so, instead of stopping.")
