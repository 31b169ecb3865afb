"""The demo: the whole chain, run as the commands a user would type.

Each step prints its command line and runs it in-process through the same
CLI entry point a user calls, so the demo shows real output and real exit
codes. A step that ends with an exit code it does not expect stops the demo
with that code. The sandbox is started on loopback before the first step
that needs it and stopped in a `finally`, so no process is left behind.
"""

from __future__ import annotations

import shlex
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import click

from implkit.data import data_root
from implkit.errors import EXIT_CHANGES, EXIT_OK, RuntimeFailure

SUBDOMAIN = "demo"


@dataclass(frozen=True)
class Step:
    title: str
    args: tuple[str, ...]
    ok_codes: tuple[int, ...] = (EXIT_OK,)


def run_demo(out_dir: str, *, answers_file: str | None, contacts: int, lang: str) -> int:
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    answers = answers_file or str(_example_answers())

    design_steps = [
        Step("Size the company from its answers", ("size", "--answers", answers, "--lang", lang,
                                                   "-o", str(out / "answers.yaml"))),
        Step("Compose the blueprint from the features the sizing selects",
             ("blueprint", "compose", "--answers", str(out / "answers.yaml"), "-o", str(out / "blueprint.yaml"))),
        Step("Validate it", ("blueprint", "validate", str(out / "blueprint.yaml"))),
        Step("Show what it configures", ("blueprint", "show", str(out / "blueprint.yaml"))),
        Step("Render the technical specification (HTML)",
             ("spec", "render", "-b", str(out / "blueprint.yaml"), "--answers", str(out / "answers.yaml"),
              "--lang", lang, "-o", str(out / "spec.html"))),
        Step("Render the technical specification (Word)",
             ("spec", "render", "-b", str(out / "blueprint.yaml"), "--answers", str(out / "answers.yaml"),
              "--lang", lang, "-o", str(out / "spec.docx"))),
    ]
    for step in design_steps:
        _run(step)

    with ExitStack() as stack:
        base_url, token = _start_sandbox(stack, out, contacts)
        workspace = out / "workspace"
        token_file = workspace / ".implkit" / "demo.token"
        _write_token_file(token_file, token)
        ws = ("--workspace", str(workspace))
        tenant_steps = [
            Step("Create a workspace", ("init", str(workspace))),
            Step("Register the sandbox account as a tenant",
                 ("tenant", "add", SUBDOMAIN, *ws, "--provider", "amocrm", "--url", base_url,
                  "--token-file", str(token_file), "--blueprint", str(out / "blueprint.yaml"))),
            Step("Plan: what apply would change", ("plan", SUBDOMAIN, *ws), (EXIT_CHANGES,)),
            Step("Apply it", ("apply", SUBDOMAIN, *ws, "--yes")),
            Step("Plan again: nothing left to change", ("plan", SUBDOMAIN, *ws)),
            Step("Sync the account's data into a local snapshot", ("sync", SUBDOMAIN, *ws)),
            Step("Audit the snapshot (planted defects are expected findings)",
                 ("audit", SUBDOMAIN, *ws, "--format", "html", "-o", str(out / "audit.html")),
                 (EXIT_OK, EXIT_CHANGES)),
            Step("Audit findings as a table", ("audit", SUBDOMAIN, *ws), (EXIT_OK, EXIT_CHANGES)),
        ]
        for step in tenant_steps:
            _run(step)

    click.echo("\nThe demo wrote:")
    for name in ("answers.yaml", "blueprint.yaml", "spec.html", "spec.docx", "audit.html"):
        click.echo(f"  {out / name}")
    return EXIT_OK


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
        raise RuntimeFailure(f"demo step failed with exit code {code}: implkit {shlex.join(step.args)}")


def _start_sandbox(stack: ExitStack, out: Path, contacts: int) -> tuple[str, str]:
    """Start the sandbox on loopback with a seeded account; return its base URL and token."""
    from implkit.sandbox import Sandbox, serve_in_thread
    from implkit.sandbox.seed import seed_account

    db = out / "sandbox.db"
    if db.exists():
        db.unlink()
    sandbox = Sandbox(db)
    account_id = sandbox.create_account(SUBDOMAIN)
    click.secho("\n## Start the sandbox and seed an account", bold=True)
    click.echo(f"$ implkit sandbox seed {SUBDOMAIN} --contacts {contacts} --seed 1")
    summary = seed_account(sandbox.store, account_id, contacts=contacts, seed=1,
                           ground_truth_path=out / "ground-truth.json")
    click.echo(str(summary))
    root_url = stack.enter_context(serve_in_thread(sandbox))
    base_url = f"{root_url}{sandbox.base_url(SUBDOMAIN)}"
    click.echo(f"sandbox account {SUBDOMAIN!r} at {base_url}")
    return base_url, sandbox.token(SUBDOMAIN)


def _write_token_file(path: Path, token: str) -> None:
    from implkit.yamlio import atomic_write

    atomic_write(path, token + "\n", mode=0o600)
