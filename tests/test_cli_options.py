"""The command tree spells shared options one way (issue: `-o` meant --out here and --output there).

Walks every command of `implkit` and holds it to the convention in implkit/commands/__init__.py:
a short option means the same long option everywhere; -o/--output is what a command writes;
-w/--workspace on every command that works on a tenant; --format picks an output format (no
visible --json); earlier spellings (--out, --json) still parse but are not shown."""

from __future__ import annotations

from collections import defaultdict

import click
import pytest

from implkit.cli import cli

SHORT = {"-o": "--output", "-w": "--workspace", "-b": "--blueprint", "-j": "--jobs", "-q": "--quiet", "-h": "--help"}


def _walk(command: click.Command, path: tuple[str, ...], parent: click.Context | None = None):
    ctx = click.Context(command, info_name=path[-1], parent=parent)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            yield from _walk(command.get_command(ctx, name), (*path, name), ctx)
    else:
        yield " ".join(path), command


COMMANDS = dict(_walk(cli, ("implkit",)))


def _shown(option: click.Option) -> list[str]:
    old = getattr(option, "old_spellings", ())
    return [o for o in option.opts + option.secondary_opts if o not in old]


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def test_the_walk_sees_the_whole_tree():
    assert len(COMMANDS) >= 30
    assert {"implkit plan", "implkit audit run", "implkit sandbox bitrix24 seed", "implkit tenant add"} <= set(COMMANDS)


def test_a_short_option_means_one_long_option_everywhere():
    meanings = defaultdict(set)
    for path, command in COMMANDS.items():
        for option in _options(command) + [command.get_help_option(click.Context(command))]:
            if option is None:
                continue
            shorts = [o for o in _shown(option) if not o.startswith("--")]
            longs = [o for o in _shown(option) if o.startswith("--")]
            for short in shorts:
                meanings[short].add(tuple(longs))
                assert short in SHORT, f"{path}: {short} is not one of the tree's short options {sorted(SHORT)}"
                assert SHORT[short] in longs, f"{path}: {short} must mean {SHORT[short]}, not {longs}"
    assert all(len(longs) == 1 for longs in meanings.values()), dict(meanings)


@pytest.mark.parametrize("long_name", ["--output", "--workspace", "--blueprint"])
def test_the_long_option_always_has_its_short_one(long_name):
    short = next(s for s, l in SHORT.items() if l == long_name)
    for path, command in COMMANDS.items():
        for option in _options(command):
            if long_name in _shown(option):
                assert short in _shown(option), f"{path}: {long_name} without {short}"


def test_no_visible_out_or_json_spelling():
    for path, command in COMMANDS.items():
        for option in _options(command):
            assert "--out" not in _shown(option), f"{path}: --out is spelled -o/--output"
            assert "--json" not in _shown(option), f"{path}: --json is spelled --format json"


def test_format_offers_json_wherever_a_command_prints_json():
    with_format = {path for path, command in COMMANDS.items()
                   if any("--format" in _shown(o) for o in _options(command))}
    assert {"implkit plan", "implkit drift", "implkit sync", "implkit tenant list", "implkit tenant show",
            "implkit audit run"} <= with_format
    for path in with_format - {"implkit spec render"}:   # the spec renders documents: md, html, docx
        option = next(o for o in _options(COMMANDS[path]) if "--format" in _shown(o))
        assert isinstance(option.type, click.Choice) and "json" in option.type.choices, path


def test_every_command_on_a_tenant_takes_a_workspace():
    on_a_tenant = [path for path, command in COMMANDS.items()
                   if not path.startswith("implkit sandbox")
                   and any(isinstance(p, click.Argument) and p.name in ("tenant", "name") for p in command.params)]
    assert len(on_a_tenant) >= 8
    for path in on_a_tenant:
        assert any("--workspace" in _shown(o) for o in _options(COMMANDS[path])), path


def _parse(path: str, args: list[str]) -> dict:
    command = COMMANDS[path]
    return command.make_context(path.split()[-1], args).params


@pytest.mark.parametrize(("path", "args", "key", "value"), [
    ("implkit plan", ["t", "--out", "p.json"], "out", "p.json"),
    ("implkit plan", ["t", "-o", "p.json"], "out", "p.json"),
    ("implkit plan", ["t", "--output", "p.json"], "out", "p.json"),
    ("implkit export", ["t", "--out", "bp.yaml"], "out", "bp.yaml"),
    ("implkit demo", ["--out", "d"], "out_dir", "d"),
    ("implkit demo", ["-o", "d"], "out_dir", "d"),
    ("implkit demo", [], "out_dir", "demo-out"),
])
def test_earlier_spellings_still_parse(path, args, key, value):
    assert _parse(path, args)[key] == value


def test_json_old_and_new_spellings_print_the_same(run_cli, tmp_path):
    import json

    ws = tmp_path / "ws"
    assert run_cli("init", ws).exit_code == 0
    added = run_cli("tenant", "add", "acme", "-w", ws, "--provider", "amocrm", "--url", "https://acme.amocrm.ru",
                    "--token-env", "ACME_TOKEN")
    assert added.exit_code == 0, added.output
    for args in (("tenant", "list"), ("tenant", "show", "acme")):
        old, new, text = (run_cli(*args, "-w", ws, *extra) for extra in (["--json"], ["--format", "json"], []))
        assert old.exit_code == new.exit_code == text.exit_code == 0
        assert old.stdout == new.stdout and json.loads(new.stdout)
        assert text.stdout != new.stdout and "acme" in text.stdout


def test_a_bad_format_is_bad_usage(run_cli):
    result = run_cli("tenant", "list", "--format", "xml")
    assert result.exit_code == 3
    assert "xml" in result.output


def test_help_shows_the_new_spellings_only(run_cli):
    result = run_cli("plan", "--help")
    assert result.exit_code == 0
    assert "-o, --output FILE" in result.output and "--format [text|json]" in result.output
    assert "--out " not in result.output and "--json" not in result.output
