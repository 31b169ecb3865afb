"""The implkit command line.

Commands live in `implkit/commands/<name>.py` and are imported only when
invoked, so `implkit --help` stays fast. Each command parses options, calls
one function of the package, prints, and returns its exit code. This module
maps failures to the exit codes of DESIGN.md:

    0 success · 1 runtime failure · 2 changes / findings · 3 bad input

Click's own usage errors exit 3 (not click's 2), so 2 always means
"changes present" or "findings over threshold".
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from implkit import __version__
from implkit.cli_click import install as _install_click_text

_install_click_text()  # click's own texts ("Usage:", "Missing argument") follow --lang

# name -> (module, attribute, one-line help). The help is here so that
# `implkit --help` lists commands without importing them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "size": ("implkit.commands.size", "size", "Size a company: questionnaire → seller group and feature relevance."),
    "blueprint": ("implkit.commands.blueprint", "blueprint", "Compose, validate, show and diff blueprints."),
    "spec": ("implkit.commands.spec", "spec", "Render the technical specification (ТЗ) from a blueprint."),
    "init": ("implkit.commands.workspace", "init", "Create a workspace (implkit.yaml and .implkit/)."),
    "tenant": ("implkit.commands.workspace", "tenant", "Add, list, show, remove and unlock tenants."),
    "state": ("implkit.commands.state", "state", "Move the tenants' state between backends (local, postgres)."),
    "plan": ("implkit.commands.plan", "plan", "Show what apply would change on a tenant."),
    "apply": ("implkit.commands.plan", "apply", "Apply a blueprint (or a saved plan) to a tenant."),
    "drift": ("implkit.commands.plan", "drift", "Plan against the last applied blueprint: what changed by hand."),
    "export": ("implkit.commands.plan", "export", "Write a blueprint from a tenant's live configuration."),
    "sync": ("implkit.commands.audit", "sync", "Pull a tenant's data into its local snapshot."),
    "audit": ("implkit.commands.audit", "audit", "Run the curator's checks and sales analytics on a snapshot."),
    "sandbox": ("implkit.commands.sandbox", "sandbox", "Run and seed the local amoCRM / Bitrix24 emulators."),
    "demo": ("implkit.commands.demo", "demo", "Run the whole chain against the built-in sandbox."),
}

_debug = False

_MESSAGES = {
    "error": {"ru": "ошибка: {text}", "en": "error: {text}"},
    "aborted": {"ru": "Прервано.", "en": "Aborted."},
    "interrupted": {"ru": "Остановлено (Ctrl-C).", "en": "Interrupted."},
    "internal": {"ru": "внутренняя ошибка implkit: {kind}: {text} (подробности: запустите с --debug)",
                 "en": "internal error: {kind}: {text} (run with --debug for the traceback)"},
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, and whose errors map to DESIGN.md's codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            from implkit.commands import add_completions

            module_name, attr, _ = COMMANDS[name]
            command = add_completions(getattr(importlib.import_module(module_name), attr))
        else:
            command = super().get_command(ctx, name)
        if command is None:
            return None
        from implkit.cli_help import localized

        return localized(command, (name,))  # its --help in the user's language

    def get_help(self, ctx: click.Context) -> str:
        from implkit.cli_help import localized

        shown = localized(self, ())
        return click.Group.get_help(shown, ctx) if shown is not self else super().get_help(ctx)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from implkit.cli_click import gettext
        from implkit.cli_help import short_help

        rows = [(name, short_help((name,), COMMANDS[name][2])) for name in self.list_commands(ctx)
                if name in COMMANDS]
        if rows:
            with formatter.section(gettext("Commands")):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001
        code = run(lambda: super(LazyGroup, self).main(
            args=args, prog_name=prog_name or "implkit", complete_var=complete_var,
            standalone_mode=False, **extra))
        if standalone_mode:
            sys.exit(code)
        return code


def run(invoke) -> int:  # noqa: ANN001
    """Call `invoke` and turn its outcome into an exit code, printing errors without tracebacks."""
    from implkit.errors import EXIT_BAD_INPUT, EXIT_FAILURE, ImplkitError
    from implkit.lang import say

    try:
        result = invoke()
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        exc.show()
        return EXIT_BAD_INPUT
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo(say(_MESSAGES, "aborted"), err=True)
        return EXIT_FAILURE
    except ImplkitError as exc:
        if _debug:
            traceback.print_exc()
        from implkit.terminal import color_enabled, paint

        head, _, rest = say(_MESSAGES, "error", text=_redacted(exc)).partition(" ")
        click.echo(f"{paint(head, 'error', err=True)} {rest}", err=True, color=color_enabled(sys.stderr))
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo(say(_MESSAGES, "interrupted"), err=True)
        return 130
    except Exception as exc:  # an implkit bug: say so plainly, full detail with --debug
        if _debug:
            traceback.print_exc()
        else:
            click.echo(say(_MESSAGES, "internal", kind=type(exc).__name__, text=_redacted(exc)), err=True)
        return EXIT_FAILURE
    return result if isinstance(result, int) else 0


def _redacted(exc: BaseException) -> str:
    """The error's message with any secret masked: the last line of defence, whoever raised it."""
    from implkit.http.redact import redact

    return redact(str(exc))


def _use_lang(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Eager: `implkit --lang ru --help` is already told in Russian (the callback below runs after help)."""
    from implkit import lang as language

    language.use(value)
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="implkit")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("--color/--no-color", "color", default=None,
              help="Colour the output, or not (default: colour on a terminal, none when piped or with $NO_COLOR).")
@click.option("--lang", type=click.Choice(["ru", "en"]), default=None, is_eager=True, callback=_use_lang,
              help="Language of messages and errors (default: $IMPLKIT_LANG, else ru). A command's own "
                   "--lang (size, spec, demo) still decides its output.")
def cli(debug: bool, color: bool | None, lang: str | None) -> None:
    """implkit: size a company, compose its CRM blueprint, render the spec,
    apply it to amoCRM or Bitrix24, and audit the data.

    Exit codes: 0 success, 1 runtime failure, 2 changes present or findings
    over threshold, 3 bad input.
    """
    global _debug
    _debug = debug
    from implkit import lang as language
    from implkit.terminal import force_color

    force_color(color)
    # click.echo strips colour codes from a stream that is not a terminal unless the context says otherwise
    click.get_current_context().color = color
    language.use(lang)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="implkit")
