"""The click commands; shared options live here."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click


# --- options every command spells the same way ---------------------------------------------------------
# -o/--output is the file (or folder) a command writes; -w/--workspace the workspace folder; --format picks
# the output format (text or json where there is no other), -b/--blueprint the blueprint file. Spellings
# used before the tree was made uniform (--out, --json) still work but are not shown: scripts keep running.
# tests/test_cli_options.py walks the command tree and holds every command to this.

class RenamedOption(click.Option):
    """An option whose old spellings (`old`) are still parsed but hidden from --help."""

    def __init__(self, *args: Any, old: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.old_spellings = tuple(old)

    def get_help_record(self, ctx: click.Context):  # noqa: ANN201
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.old_spellings]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def output_option(*, old: tuple[str, ...] = (), name: str = "output", **kwargs: Any):  # noqa: ANN201
    """-o/--output (with `old` spellings kept working, hidden), passed as the `name` keyword."""
    return click.option("-o", "--output", *old, name, cls=RenamedOption, old=old, **kwargs)


WORKSPACE_HELP = "Workspace folder (default: $IMPLKIT_WORKSPACE, else the nearest implkit.yaml upwards from here)."


def workspace_dir_option(name: str = "workspace_dir"):  # noqa: ANN201
    """-w/--workspace DIR, passed as the `name` keyword."""
    return click.option("--workspace", "-w", name, type=click.Path(file_okay=False), default=None, metavar="DIR",
                         help=WORKSPACE_HELP)


def json_format_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--format text|json for a command whose output is text or JSON (`what`: "the plan", …).

    The command still receives `as_json: bool`; the old `--json` flag is kept, hidden."""
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def command(*args: Any, output_format: str, legacy_json: bool, **kwargs: Any) -> Any:
            return func(*args, as_json=legacy_json or output_format == "json", **kwargs)

        command.__click_params__ = list(getattr(func, "__click_params__", []))  # not shared with `func`
        command = click.option("--json", "legacy_json", is_flag=True, hidden=True,
                               help="Same as --format json (the earlier spelling).")(command)
        return click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
                            show_default=True, help=f"Print {what} as text or as JSON on stdout.")(command)

    return decorate


def quiet_option(command):
    """-q/--quiet for long work (sync, apply, seeding): no progress and no summary on success; errors
    are still printed (implkit/terminal.py decides bars on a terminal, a few lines when piped)."""
    return click.option("--quiet", "-q", is_flag=True,
                        help="Print nothing on success: no progress, no summary (errors are still shown).")(command)


def for_tenant(report, name: str):  # noqa: ANN001, ANN201
    """`report` (a terminal.Reporter) for one tenant of many: its bars and notes carry the tenant's name."""
    from implkit.terminal import Tick

    def progress(event) -> None:  # noqa: ANN001
        if isinstance(event, Tick):
            report(Tick(f"{name}: {event.entity}", event.done, event.total, f"{name}: {event.text}"))
        else:
            report(f"{name}: {event}")

    return progress


# --- shell completion of values ---------------------------------------------------------------------
# Click completes choices (--lang, --format) by itself; these complete what only the workspace or the
# shipped checks know. A failure (no workspace here, a broken implkit.yaml) completes nothing rather
# than printing an error into the user's command line. docs/completion.md shows how to turn it on.

def _workspace_given(ctx: click.Context) -> str | None:
    """The -w/--workspace typed so far on this command line (on the command or a parent), if any."""
    while ctx is not None:
        for key in ("workspace_dir", "workspace"):
            if ctx.params.get(key):
                return str(ctx.params[key])
        ctx = ctx.parent
    return None


def _listed(incomplete: str, values: list[str]) -> list[Any]:
    """Completions for a comma-separated list: the values that extend the last item, after the others."""
    from click.shell_completion import CompletionItem

    head, _, last = incomplete.rpartition(",")
    done = {item.strip() for item in head.split(",")} if head else set()
    prefix = head + "," if head else ""
    return [CompletionItem(prefix + v) for v in values if v.startswith(last) and v not in done]


def complete_tenants(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """The workspace's tenant names (the -w given, else $IMPLKIT_WORKSPACE, else the nearest implkit.yaml)."""
    from implkit.errors import ImplkitError
    from implkit.workspace import Workspace

    try:
        names = Workspace.discover(_workspace_given(ctx)).tenant_names()
    except (ImplkitError, OSError):
        return []
    return _listed(incomplete, names)


def complete_check_ids(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """The audit's check ids (from --checks-dir when typed, else the shipped audits/), comma-separated."""
    from implkit.errors import ImplkitError

    try:
        from implkit.audit.checks import load_checks

        ids = [check.id for check in load_checks(ctx.params.get("checks_dir"))]
    except (ImplkitError, OSError):
        return []
    return _listed(incomplete.upper(), ids)


def add_completions(command: click.Command) -> click.Command:
    """Give every TENANT argument, --tenants and --checks of `command` (and its subcommands) their
    completions: one place, so a command added later completes the same way."""
    if getattr(command, "_implkit_completions", False):
        return command
    command._implkit_completions = True  # type: ignore[attr-defined]
    for param in command.params:
        # click keeps a parameter's completer in _custom_shell_complete (click 8's shell_complete=)
        if getattr(param, "_custom_shell_complete", None) is not None:
            continue
        if isinstance(param, click.Argument) and param.name == "tenant" or param.name == "tenant_patterns":
            param._custom_shell_complete = complete_tenants  # type: ignore[attr-defined]
        elif param.name == "check_ids":
            param._custom_shell_complete = complete_check_ids  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_completions(sub)
    return command


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


FLEET_MESSAGES = {
    "one_or_all": {"ru": "назовите одного клиента (TENANT) или укажите --all (или --tenants PATTERN, --shard K/N)",
                   "en": "name one TENANT, or pass --all (or --tenants PATTERN, --shard K/N)"},
    "one_and_many": {"ru": "назовите одного клиента (TENANT) или выберите нескольких через --all/--tenants/--shard, "
                           "но не то и другое",
                     "en": "name one TENANT, or select several with --all/--tenants/--shard, not both"},
    "no_tenants": {"ru": "в рабочей папке нет клиентов; добавьте: `implkit tenant add`",
                   "en": "the workspace has no tenants; add one with `implkit tenant add`"},
}


def fleet_names(all_names: list[str], name: str | None, all_: bool, patterns: str | None,
                shard: str | None) -> list[str] | None:
    """The tenants a command runs on: [name] for one tenant, the selection for --all/--tenants/--shard,
    None when neither was asked for (the caller reports its own usage)."""
    from implkit.errors import InputError
    from implkit.workspace.fleet import select_tenants

    many = all_ or patterns is not None or shard is not None
    from implkit.lang import say

    if name and many:
        raise click.UsageError(say(FLEET_MESSAGES, "one_and_many"))
    if name:
        return [name]
    if not many:
        return None
    if not all_names:
        raise InputError(say(FLEET_MESSAGES, "no_tenants"))
    return select_tenants(all_names, patterns=patterns, shard=shard)
