"""The demo: the whole chain, run as the commands a user would type.

Each step prints its command line and runs it in-process through the same
CLI entry point a user calls, so the demo shows real output and real exit
codes. A step that ends with an exit code it does not expect stops the demo
with that code. The sandbox is started on loopback before the first step
that needs it and stopped in a `finally`, so no process is left behind.
"""

from __future__ import annotations

import shlex
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import click

from implkit.data import data_root
from implkit.errors import EXIT_CHANGES, EXIT_OK, InputError, RuntimeFailure
from implkit.commands.sandbox import AMOCRM_KINDS, BITRIX24_KINDS, LEADS_B24, seeded_line
from implkit.lang import say, say_in

AMOCRM_TENANT = "demo-amo"
BITRIX24_TENANT = "demo-b24"


@dataclass(frozen=True)
class Step:
    title: str
    args: tuple[str, ...]
    ok_codes: tuple[int, ...] = (EXIT_OK,)


def run_demo(out_dir: str, *, answers_file: str | None, contacts: int, lang: str) -> int:
    out = _fresh_demo_folder(Path(out_dir).resolve())
    answers = answers_file or str(_example_answers())

    design_steps = [
        Step(say_in(_MESSAGES, "size", lang), ("size", "--answers", answers, "--lang", lang,
                                                   "-o", str(out / "answers.yaml"))),
        Step(say_in(_MESSAGES, "compose", lang),
             ("blueprint", "compose", "--answers", str(out / "answers.yaml"), "-o", str(out / "blueprint.yaml"))),
        Step(say_in(_MESSAGES, "validate", lang), ("blueprint", "validate", str(out / "blueprint.yaml"))),
        Step(say_in(_MESSAGES, "show", lang), ("blueprint", "show", str(out / "blueprint.yaml"))),
        Step(say_in(_MESSAGES, "spec_html", lang),
             ("spec", "render", "-b", str(out / "blueprint.yaml"), "--answers", str(out / "answers.yaml"),
              "--lang", lang, "-o", str(out / "spec.html"))),
        Step(say_in(_MESSAGES, "spec_docx", lang),
             ("spec", "render", "-b", str(out / "blueprint.yaml"), "--answers", str(out / "answers.yaml"),
              "--lang", lang, "-o", str(out / "spec.docx"))),
    ]
    for step in design_steps:
        _run(step)

    with ExitStack() as stack:
        sandbox, root_url = _start_sandbox(stack, out, lang)
        workspace = out / "workspace"
        ws = ("--workspace", str(workspace))
        _run(Step(say_in(_MESSAGES, "init", lang), ("init", str(workspace))))

        amocrm_token = workspace / ".implkit" / f"{AMOCRM_TENANT}.token"
        _write_secret_file(amocrm_token, _seed_amocrm(sandbox, out, contacts, lang))
        # where the tenant's token comes from, as the command a user types (umask: the file is 0600)
        click.echo(f"$ (umask 077; implkit sandbox token {AMOCRM_TENANT} --db {shlex.quote(str(out / 'sandbox.db'))}"
                   f" > {shlex.quote(str(amocrm_token))})")
        _run_tenant_chain(AMOCRM_TENANT, "amocrm", f"{root_url}{sandbox.base_url(AMOCRM_TENANT)}", amocrm_token,
                          out, ws, lang)

        bitrix24_webhook = workspace / ".implkit" / f"{BITRIX24_TENANT}.webhook"
        _write_secret_file(bitrix24_webhook, _seed_bitrix24(sandbox, out, contacts, lang))
        click.echo(f"$ implkit sandbox bitrix24 webhook {BITRIX24_TENANT} --db {shlex.quote(str(out / 'sandbox.db'))} "
                   f"--url {root_url} --secret-file {shlex.quote(str(bitrix24_webhook))}")
        _run_tenant_chain(BITRIX24_TENANT, "bitrix24", f"{root_url}/bitrix24/{BITRIX24_TENANT}", bitrix24_webhook,
                          out, ws, lang)

    click.echo("\n" + say_in(_MESSAGES, "wrote", lang))
    for name in ("answers.yaml", "blueprint.yaml", "spec.html", "spec.docx",
                 f"audit-{AMOCRM_TENANT}.html", f"audit-{BITRIX24_TENANT}.html"):
        click.echo(f"  {out / name}")
    # The sandbox stopped with the demo; the workspace's tenants name its port, which the database recorded.
    click.echo("\n" + say_in(_MESSAGES, "restart", lang, port=root_url.rsplit(":", 1)[1]))
    click.echo(f"  implkit sandbox serve --db {shlex.quote(str(out / 'sandbox.db'))}")
    click.echo("  " + say_in(_MESSAGES, "then", lang) + f" implkit plan {AMOCRM_TENANT} -w {shlex.quote(str(workspace))}")
    return EXIT_OK


_MESSAGES = {
    "restart": {
        "ru": "Песочница остановилась вместе с демо. Чтобы работать с его рабочей областью (plan, sync, drift), "
              "запустите её снова — на том же порту {port}:",
        "en": "The sandbox stopped with the demo. To work in its workspace (plan, sync, drift), start it again, "
              "on the same port {port}:",
    },
    "then": {"ru": "и в другом терминале, например:", "en": "then, in another terminal, e.g.:"},
    # the titles of the demo's steps
    "size": {"ru": "Оценить компанию по её ответам", "en": "Size the company from its answers"},
    "compose": {"ru": "Собрать описание (blueprint) из функций, которые выбрала оценка",
                "en": "Compose the blueprint from the features the sizing selects"},
    "validate": {"ru": "Проверить его", "en": "Validate it"},
    "show": {"ru": "Показать, что оно настраивает", "en": "Show what it configures"},
    "spec_html": {"ru": "Сформировать техническое задание (HTML)", "en": "Render the technical specification (HTML)"},
    "spec_docx": {"ru": "Сформировать техническое задание (Word)", "en": "Render the technical specification (Word)"},
    "init": {"ru": "Создать рабочую папку", "en": "Create a workspace"},
    "amocrm": {"ru": "аккаунт amoCRM", "en": "amoCRM account"},
    "bitrix24": {"ru": "портал Bitrix24", "en": "Bitrix24 portal"},
    "register": {"ru": "Зарегистрировать {crm} песочницы как клиента", "en": "Register the sandbox {crm} as a tenant"},
    "plan": {"ru": "План: что apply изменит ({crm})", "en": "Plan: what apply would change on the {crm}"},
    "apply": {"ru": "Применить", "en": "Apply it"},
    "replan": {"ru": "Ещё раз план: менять больше нечего", "en": "Plan again: nothing left to change"},
    "sync": {"ru": "Загрузить данные ({crm}) в локальный снимок", "en": "Sync the {crm}'s data into a local snapshot"},
    "audit_html": {"ru": "Аудит снимка в отчёт HTML", "en": "Audit the snapshot into an HTML report"},
    "audit": {"ru": "Находки аудита (заложенные дефекты ожидаемы: код 2 — находки сверх порога)",
              "en": "Audit findings (planted defects are expected: exit 2 means findings over threshold)"},
    "start": {"ru": "Запустить песочницу на {url}", "en": "Start the sandbox on {url}"},
    "seed_amocrm": {"ru": "Наполнить аккаунт amoCRM правдоподобными данными с заложенными дефектами",
                    "en": "Seed an amoCRM account with realistic data and planted defects"},
    "seed_bitrix24": {"ru": "Наполнить портал Bitrix24 правдоподобными данными с заложенными дефектами",
                      "en": "Seed a Bitrix24 portal with realistic data and planted defects"},
    "wrote": {"ru": "Демо записало:", "en": "The demo wrote:"},
    "failed": {"ru": "шаг демо завершился с кодом {code}: implkit {command}",
               "en": "demo step failed with exit code {code}: implkit {command}"},
}


MARKER = ".implkit-demo"


def _fresh_demo_folder(out: Path) -> Path:
    """The demo's folder, emptied of a previous demo run; a folder the demo did not make is refused."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise InputError(f"{out} is not empty and was not made by `implkit demo`: choose another --out")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by `implkit demo`; the next demo run empties this folder\n")
    return out


def _example_answers() -> Path:
    examples = data_root("blueprints").parent / "examples" / "answers" / "b2b-services.yaml"
    if examples.is_file():
        return examples
    raise RuntimeFailure("the example answers file is not shipped with this installation; pass --answers FILE")


def _run(step: Step) -> None:
    from implkit.cli import cli

    click.secho(f"\n## {step.title}", bold=True)
    click.echo(f"$ implkit {shlex.join(step.args)}")
    code = cli.main(args=list(step.args), prog_name="implkit", standalone_mode=False)
    if code not in step.ok_codes:
        raise RuntimeFailure(say(_MESSAGES, "failed", code=code, command=shlex.join(step.args)))


def _run_tenant_chain(name: str, provider: str, url: str, secret_file: Path, out: Path,
                      ws: tuple[str, ...], lang: str) -> None:
    """Register one tenant, then plan → apply → plan → sync → audit it with the demo's blueprint."""
    crm = say_in(_MESSAGES, provider, lang)

    def title(key: str) -> str:
        return say_in(_MESSAGES, key, lang, crm=crm)

    steps = [
        Step(title("register"),
             ("tenant", "add", name, *ws, "--provider", provider, "--url", url,
              "--token-file", str(secret_file), "--blueprint", str(out / "blueprint.yaml"))),
        Step(title("plan"), ("plan", name, *ws), (EXIT_CHANGES,)),
        Step(title("apply"), ("apply", name, *ws, "--yes")),
        Step(title("replan"), ("plan", name, *ws)),
        Step(title("sync"), ("sync", name, *ws)),
        Step(title("audit_html"),
             ("audit", name, *ws, "--format", "html", "-o", str(out / f"audit-{name}.html")),
             (EXIT_OK, EXIT_CHANGES)),
        Step(title("audit"),
             ("audit", name, *ws), (EXIT_OK, EXIT_CHANGES)),
    ]
    for step in steps:
        _run(step)


def _start_sandbox(stack: ExitStack, out: Path, lang: str):
    """Start the sandbox on loopback for the rest of the demo; return it and its root URL."""
    from implkit.sandbox import Sandbox

    db = out / "sandbox.db"
    sandbox = Sandbox(db)
    stack.callback(sandbox.close)
    root_url = stack.enter_context(sandbox.serve(port=0))   # a free port, recorded in the database for a restart
    click.secho("\n## " + say_in(_MESSAGES, "start", lang, url=root_url), bold=True)
    click.echo(f"$ implkit sandbox serve --port {root_url.rsplit(':', 1)[1]} --db {db}")
    return sandbox, root_url


def _seed_amocrm(sandbox, out: Path, contacts: int, lang: str) -> str:
    """Create and seed the amoCRM account; return its long-lived token."""
    from implkit.sandbox.amocrm.seed import seed_account

    account_id = sandbox.create_account(AMOCRM_TENANT)
    click.secho("\n## " + say_in(_MESSAGES, "seed_amocrm", lang), bold=True)
    click.echo(f"$ implkit sandbox seed {AMOCRM_TENANT} --db {shlex.quote(str(out / 'sandbox.db'))} "
               f"--contacts {contacts} --seed 1 --ground-truth {shlex.quote(str(out / f'ground-truth-{AMOCRM_TENANT}.json'))}")
    summary = seed_account(sandbox.store, account_id, contacts=contacts, seed=1,
                           ground_truth_path=out / f"ground-truth-{AMOCRM_TENANT}.json")
    click.echo(seeded_line(AMOCRM_TENANT, summary, AMOCRM_KINDS))   # the line `implkit sandbox seed` prints
    return sandbox.token(AMOCRM_TENANT)


def _seed_bitrix24(sandbox, out: Path, contacts: int, lang: str) -> str:
    """Create and seed the Bitrix24 portal; return its incoming webhook as USER_ID/SECRET."""
    from implkit.sandbox.bitrix24 import operations

    truth = out / f"ground-truth-{BITRIX24_TENANT}.json"
    click.secho("\n## " + say_in(_MESSAGES, "seed_bitrix24", lang), bold=True)
    click.echo(f"$ implkit sandbox bitrix24 seed {BITRIX24_TENANT} --db {out / 'sandbox.db'} --deals {contacts} --seed 1 "
               f"--ground-truth {truth}")
    summary = operations.seed(sandbox.bitrix24, BITRIX24_TENANT, deals=contacts, seed_value=1, ground_truth_path=truth)
    click.echo(seeded_line(BITRIX24_TENANT, summary, BITRIX24_KINDS, leads=LEADS_B24))   # as `sandbox bitrix24 seed`
    user_id, secret = sandbox.webhook_url(BITRIX24_TENANT).rstrip("/").split("/")[-2:]
    return f"{user_id}/{secret}"


def _write_secret_file(path: Path, secret: str) -> None:
    from implkit.yamlio import atomic_write

    atomic_write(path, secret + "\n", mode=0o600)
