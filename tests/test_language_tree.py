"""No English a user reads under `--lang ru`: the whole command tree's --help, and real runs of the representative
commands against a sandbox tenant served on loopback, each with an error case.

The rule (what may stay in Latin letters in a Russian run; `english_words` applies it):

1. Code and values, by their quoting: anything in `backticks`, 'single' or "double" quotes, or «guillemets»
   (implkit quotes names, keys, values and commands it shows), and an option's default as click shows it
   ([по умолчанию: text]).
2. Code by its shape: option names (-o, --workspace), paths and URLs, addresses and keys (a token holding
   one of . _ / \\ : = # @ $ | + or a digit: pipeline.sales.stage.new, is_main, K/N, Bitrix24), words in
   capitals (metavars TENANT, FILE; CRM, API, JSON) and single letters; a key before its value where a
   problem's location names it (`FILE:LINE:COL: tenants: …`) or on an indented row of a plan
   (`    + sort: 20`).
3. Names: the products and protocols in NAMES below.
4. The command tree's own words, typed as shown: command names and the values of its choices (--format
   text|json), less the few that are also English prose (CHOICE_PROSE).
5. The user's data: every key and string of the input the run is fed (the blueprint: `sales`, `source`,
   `select`), the tenant's name, and the snapshot's table names a sync lists (SCHEMA of implkit.audit.snapshot).
6. The input languages' own words: the property names and enum values of implkit's JSON schemas
   (blueprints/schema/*.json), which a problem lists as the YAML spells them ("allowed here: automations, …").

Any other Latin word is English prose and fails the test, naming the command and the words.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from implkit.cli import cli

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINT = ROOT / "tests" / "plan" / "fixtures" / "blueprint.yaml"

NAMES = {"true", "false", "null",  # JSON's literals, as a plan shows values
         "implkit", "amocrm", "bitrix", "directum", "rx", "kommo", "oauth", "postgresql", "postgres", "sqlite",
         "yaml", "json", "csv", "html", "md", "whatsapp", "ctrl", "git", "ok", "id", "pid", "http", "https", "curl",
         "markdown", "word", "odata", "integration", "service", "hal", "utf", "won", "lost",  # the keys of a pipeline's closing stages
         "client", "secret", "token", "access", "refresh", "endpoint"}  # OAuth's terms (client id, access token)
CHOICE_PROSE = {"error", "warning", "none", "all", "yes", "no"}
_QUOTED = re.compile(r"`[^`]*`|(?<![A-Za-z])'[^'\n]*'(?![A-Za-z])|\"[^\"\n]*\"|«[^»\n]*»")
_URL = re.compile(r"\b[a-z]+://\S+")
_DEFAULT = re.compile(r"\[по\s+умолчанию:[^\]]*\]")  # click shows an option's default value as it is typed
_CODE_CHARS = re.compile(r"[._/\\:=#@$|+0-9]")
_LATIN = re.compile(r"[A-Za-z]+")
_OPEN = "([{<«\"'"  # stripped from a token's left: what is left may start with "-" (an option) or "." (a file)
_CLOSE = ".,;:!?)]}>…»\"'"
_KEY_FIRST = re.compile(r"^(\S*[/.]\S*?(?::\d+:\d+)?:\s+|\s+[+~!?-]*\s*)[A-Za-z][\w.\[\]-]*:(?=\s|$)",
                        re.MULTILINE)


def english_words(text: str, allowed: set[str]) -> list[str]:
    """The Latin words of `text` that the module docstring's rule does not allow."""
    text = _KEY_FIRST.sub(r"\1", _URL.sub(" ", _QUOTED.sub(" ", _DEFAULT.sub(" ", text))))
    found = []
    for token in text.split():
        core = token.lstrip(_OPEN).rstrip(_CLOSE)
        if core.startswith(("-", ".")):
            continue
        core = core.strip("—–-")
        if not core or _CODE_CHARS.search(core):
            continue
        for word in _LATIN.findall(core):
            if len(word) == 1 or word.isupper() or word.lower() in allowed:
                continue
            found.append(word)
    return found


def _tree(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, command)]
    ctx = click.Context(command)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            found += _tree(command.get_command(ctx, name), path + (name,))
    return found


TREE = _tree(cli)


def _tree_words() -> set[str]:
    words = set()
    for path, command in TREE:
        words.update(path)
        words.update(part for name in path for part in name.split("-"))  # create-account: both words
        for param in command.params:
            if isinstance(param.type, click.Choice):
                words.update(str(c).lower() for c in param.type.choices)
    return {w for w in words if w not in CHOICE_PROSE}


def _data_words(*files: Path) -> set[str]:
    from implkit.yamlio import load_yaml, to_plain

    words: set[str] = set()

    def walk(node) -> None:  # noqa: ANN001
        if isinstance(node, dict):
            for key, value in node.items():
                words.add(str(key).lower())  # is_main is code by its shape; `is` is not the user's word
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            words.update(w.lower() for w in _LATIN.findall(node))

    for file in files:
        walk(to_plain(load_yaml(file)))
    return words


def _snapshot_tables() -> set[str]:
    from implkit.audit.snapshot import SCHEMA

    return set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", SCHEMA))


def _schema_words() -> set[str]:
    import json

    words: set[str] = set()

    def walk(node) -> None:  # noqa: ANN001
        if isinstance(node, dict):
            words.update(k.lower() for k in (node.get("properties") or {}))
            words.update(str(v).lower() for v in node.get("enum") or () if isinstance(v, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for file in (ROOT / "blueprints" / "schema").glob("*.json"):
        walk(json.loads(file.read_text(encoding="utf-8")))
    return words


def _feed_types() -> set[str]:
    """The event feed's type names (`--type note,won`): values a user types, shown as code."""
    from implkit.audit.feed import TYPES

    return set(TYPES)


ALLOWED = (NAMES | _tree_words() | _data_words(BLUEPRINT) | _snapshot_tables() | _schema_words() | _feed_types()
           | {"acme"})


# --- the rule itself ------------------------------------------------------------------------------------------


def test_the_rule_finds_english_prose_and_lets_code_names_and_data_pass():
    assert english_words("error: tenant 'nobody' is not locked", ALLOWED) == ["error", "is", "not", "locked"]
    assert english_words("Saved the plan to x.json", ALLOWED) == ["Saved", "the", "to"]
    assert english_words("  + sort: 20\nws/implkit.yaml:5:1: tenants: known\nerror: x", ALLOWED) == ["known", "error"]
    assert english_words("Использование: implkit plan [OPTIONS] [TENANT]", ALLOWED) == []
    assert english_words("# pipeline.sales — создать\n+ воронка \"Sales pipeline\"\n    + is_main: true", ALLOWED) == []
    assert english_words("адрес https://x.amocrm.ru/api/v4 и файл /tmp/a b.yaml; `implkit apply acme --yes`",
                         ALLOWED) == []
    assert english_words("  users  справочник  1 зап.  (random 3)", ALLOWED) == ["random"]


def test_the_tree_is_walked_whole():
    paths = {" ".join(path) for path, _ in TREE}
    assert {"", "plan", "tenant add", "sandbox bitrix24 webhook", "sandbox directum serve", "audit assign",
            "state migrate", "blueprint diff", "spec render"} <= paths
    assert len(paths) == len(TREE) >= 45


# --- every command's --help -----------------------------------------------------------------------------------


def _invoke(*args: str):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="implkit", catch_exceptions=False)


@pytest.mark.parametrize("path", [path for path, _ in TREE], ids=[" ".join(p) or "implkit" for p, _ in TREE])
def test_help_is_russian(path):
    result = _invoke("--lang", "ru", *path, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Использование:"), result.output
    assert english_words(result.output, ALLOWED) == [], result.output


def test_help_stays_english_under_en():
    result = _invoke("--lang", "en", "tenant", "add", "--help")
    assert result.output.startswith("Usage:") and "Show this message and exit." in result.output
    assert "Register the CRM account NAME." in result.output


# --- real runs against a sandbox tenant, with an error case each ---------------------------------------------

# (id, argv with {ws} {url} {token} {dir} {bp} {db} placeholders, expected exit code)
RUNS = [
    ("init", ("init", "{dir}/ws"), 0),
    ("init-again", ("init", "{dir}/ws"), 3),
    ("tenant-add", ("tenant", "add", "acme", "-w", "{ws}", "--provider", "amocrm", "--url", "{url}",
                    "--token-file", "{token}", "-b", "{bp}", "--rate-limit", "100"), 0),
    ("tenant-add-bad-name", ("tenant", "add", "Bad Name", "-w", "{ws}", "--provider", "amocrm", "--url", "{url}",
                             "--token-env", "X"), 3),
    ("tenant-add-missing-argument", ("tenant", "add"), 3),
    ("tenant-add-bad-choice", ("tenant", "add", "x", "--provider", "zzz", "--url", "{url}", "--token-env", "X"), 3),
    ("tenant-list", ("tenant", "list", "-w", "{ws}"), 0),
    ("tenant-show", ("tenant", "show", "acme", "-w", "{ws}"), 0),
    ("drift-before-apply", ("drift", "acme", "-w", "{ws}"), 3),
    ("plan", ("plan", "acme", "-w", "{ws}"), 2),
    ("plan-saved", ("plan", "acme", "-w", "{ws}", "-o", "{dir}/plan.json"), 2),
    ("plan-unknown-tenant", ("plan", "nobody", "-w", "{ws}"), 3),
    ("plan-no-tenant", ("plan", "-w", "{ws}"), 3),
    ("plan-unknown-option", ("plan", "--bogus"), 3),
    ("apply-without-yes", ("apply", "acme", "-w", "{ws}"), 3),
    ("apply", ("apply", "acme", "-w", "{ws}", "--yes"), 0),
    ("apply-stale-plan", ("apply", "acme", "-w", "{ws}", "--plan", "{dir}/plan.json", "--yes"), 1),
    ("plan-no-changes", ("plan", "acme", "-w", "{ws}"), 0),
    ("drift", ("drift", "acme", "-w", "{ws}"), 0),
    ("export", ("export", "acme", "-w", "{ws}", "-o", "{dir}/exported.yaml"), 0),
    ("export-without-output", ("export", "acme", "-w", "{ws}"), 3),
    ("sync", ("sync", "acme", "-w", "{ws}"), 0),
    ("sync-unknown-tenant", ("sync", "nobody", "-w", "{ws}"), 3),
    ("blueprint-validate", ("blueprint", "validate", "{bp}"), 0),
    ("blueprint-validate-bad", ("blueprint", "validate", "{dir}/bad.yaml"), 3),
    ("blueprint-show", ("blueprint", "show", "{bp}"), 0),
    ("blueprint-diff", ("blueprint", "diff", "{bp}", "{dir}/exported.yaml"), 2),
    ("blueprint-show-missing-file", ("blueprint", "show", "{dir}/nowhere.yaml"), 3),
    ("state-migrate-already-local", ("state", "migrate", "--to", "local", "-w", "{ws}"), 3),
    ("sandbox-create-account", ("sandbox", "create-account", "shop2", "--db", "{db}"), 0),
    ("sandbox-token-unknown", ("sandbox", "token", "nobody", "--db", "{db}"), 3),
    ("tenant-unlock", ("tenant", "unlock", "acme", "-w", "{ws}"), 0),
    ("tenant-remove", ("tenant", "remove", "acme", "-w", "{ws}"), 0),
    ("tenant-remove-unknown", ("tenant", "remove", "acme", "-w", "{ws}"), 3),
]

# A blueprint with one problem of each kind jsonschema reports: a wrong type, a missing required key, an
# unknown key, a value outside an enum, a bad pattern (told in Russian, not in jsonschema's English).
BAD_BLUEPRINT = """apiVersion: implkit/v1
kind: Blueprint
metadata: {name: x, version: 1.0.0}
pipelines:
  - key: p
    name: П
    is_main: 3
    colour: red
    stages:
      - {key: Bad-Key, name: С}
      - {name: Без ключа}
fields:
  leads:
    - {key: f, name: Поле, type: colour}
"""


@pytest.fixture(scope="module")
def russian_runs(tmp_path_factory):
    """Every RUNS entry, in order, under --lang ru: {id: (exit code, output)}."""
    from implkit.sandbox import Sandbox, serve_in_thread

    folder = tmp_path_factory.mktemp("ru")
    sandbox = Sandbox(folder / "sandbox.db", integration_rps=1000, account_rps=1000)
    sandbox.create_account("acme")
    token = folder / "acme.token"
    token.write_text(sandbox.token("acme") + "\n")
    token.chmod(0o600)
    (folder / "bad.yaml").write_text(BAD_BLUEPRINT, encoding="utf-8")
    results = {}
    with pytest.MonkeyPatch.context() as patch, serve_in_thread(sandbox) as root:
        patch.delenv("IMPLKIT_LANG", raising=False)
        names = {"ws": folder / "ws", "url": root + sandbox.base_url("acme"), "token": token, "dir": folder,
                 "bp": BLUEPRINT, "db": folder / "sandbox.db"}
        for run_id, argv, _ in RUNS:
            args = ["--lang", "ru", *(str(a).format(**names) for a in argv)]
            result = _invoke(*args)
            results[run_id] = (result.exit_code, result.output.replace(str(folder), "/tmp/x"))
    sandbox.close()
    return results


@pytest.mark.parametrize("run_id, expected", [(r, code) for r, _, code in RUNS], ids=[r for r, _, _ in RUNS])
def test_a_russian_run_has_no_english(russian_runs, run_id, expected):
    code, output = russian_runs[run_id]
    assert code == expected, output
    assert output.strip(), "nothing was printed"
    assert "Traceback" not in output
    assert english_words(output, ALLOWED) == [], output
    if code == 3 and not output.startswith("Использование:"):  # implkit's own errors (click's print usage first)
        assert output.startswith("ошибка:"), output


def test_jsonschema_findings_are_told_in_russian_at_their_place(russian_runs):
    _, output = russian_runs["blueprint-validate-bad"]
    lines = output.splitlines()
    assert lines[0].endswith(": 5 проблем"), output
    where = {int(m.group(1)) for m in re.finditer(r"bad\.yaml:(\d+):\d+:", output)}
    assert where == {7, 8, 10, 11, 14}, output  # is_main, colour, Bad-Key, the stage without a key, the type
    assert "ожидается true или false, а здесь число 3" in output
    assert "неизвестный ключ 'colour'" in output and "нет обязательного ключа 'key'" in output
