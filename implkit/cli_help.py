"""`--help` in the user's language: the commands' and options' Russian help, as data.

The English help stays where click expects it (the command's docstring, the
option's `help=`): it is the text of record. The Russian lives in
`cli_help_ru.py` next to this module, keyed by the command's path ("tenant add")
and the option's long name ("--prune"); options shared by many commands
(`-w/--workspace`, `--format`, the lock options) are keyed once under
SHARED. `localized(command, path)` returns, under `--lang ru`, a shallow copy
of the command with those texts (its subcommands and options copied the same
way); the command objects themselves are never changed, so a process that
runs both languages (the tests) sees each as it is. Under English, or for a
text the catalog lacks, click's own text is shown (tests/test_language_tree.py
fails on the latter).
"""

from __future__ import annotations

import copy
from typing import Any

import click

from implkit.lang import current


def _catalog() -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    from implkit.cli_help_ru import COMMANDS, SHARED

    return COMMANDS, SHARED


def short_help(path: tuple[str, ...], english: str) -> str:
    """The one-line summary of the command at `path` shown in its group's list."""
    if current() != "ru":
        return english
    entry = _catalog()[0].get(" ".join(path), {})
    return entry.get("short") or english


def option_name(param: click.Parameter) -> str:
    """An option's key in the catalog: its first long spelling (`--workspace`), else its first."""
    opts = list(param.opts)
    return next((o for o in opts if o.startswith("--")), opts[0] if opts else str(param.name))


def localized(command: click.Command, path: tuple[str, ...]) -> click.Command:
    """`command` with its help, its options' help and its subcommands' in the current language."""
    if current() != "ru":
        return command
    commands, shared = _catalog()
    entry = commands.get(" ".join(path), {})
    shown = copy.copy(command)
    if hasattr(shown, "_help_option"):
        shown._help_option = None  # click caches its --help option, text included: made again in this language
    if "help" in entry:
        shown.help = entry["help"]
        shown.short_help = entry.get("short")
    if "epilog" in entry:
        shown.epilog = entry["epilog"]
    options = entry.get("options", {})
    params = []
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden and param.help is not None:
            text = options.get(option_name(param), shared.get(option_name(param)))
            if text is not None:
                param = copy.copy(param)
                param.help = text
        params.append(param)
    shown.params = params
    if isinstance(command, click.Group):
        shown.commands = {name: localized(sub, path + (name,)) for name, sub in command.commands.items()}
    return shown
