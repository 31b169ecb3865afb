"""`implkit plan | apply | drift | export`: thin commands over `implkit.plan.run`.

Exit codes (DESIGN.md): plan/drift 0 = no changes, 2 = changes (drift) present;
apply/export 0 = done; 1 = runtime failure (API unreachable, stale saved
plan, lock held); 3 = bad input (blueprint, tenant, options, state of another
account, destructive change without --allow-destroy). Results go to stdout,
progress to stderr; with --json stdout holds only the JSON.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator

import click

from implkit.commands import (FLEET_MESSAGES, break_stale_lock_option, fleet_names, fleet_options, for_tenant,
                              json_format_option, output_option, quiet_option, workspace_dir_option)
from implkit.errors import EXIT_BAD_INPUT, EXIT_CHANGES, EXIT_FAILURE, EXIT_OK, ImplkitError, InputError
from implkit.lang import count_noun, current, say

_MESSAGES = {
    "unsupported": {"ru": "клиент {name!r}: plan/apply работают с клиентами amoCRM, Bitrix24 и Directum; "
                          "{provider} пока не поддерживается",
                    "en": "tenant {name!r}: plan/apply supports amoCRM, Bitrix24 and Directum tenants; "
                          "{provider} is not implemented yet"},
    "no_blueprint": {"ru": "у клиента {name!r} нет описания (blueprint): укажите -b FILE или зарегистрируйте его "
                           "через `implkit tenant add ... --blueprint FILE`",
                     "en": "tenant {name!r} has no blueprint: pass -b FILE, or register one with "
                           "`implkit tenant add ... --blueprint FILE`"},
    "out_with_all": {"ru": "-o/--output сохраняет план одного клиента; с --all не сочетается",
                     "en": "-o/--out saves one tenant's plan; it cannot be combined with --all"},
    "saved": {"ru": "План сохранён в {out}; применить именно его: `implkit apply {tenant} --plan {out}`.",
              "en": "Saved the plan to {out}; apply exactly it with `implkit apply {tenant} --plan {out}`."},
    "plan_and_b": {"ru": "--plan применяет сохранённый план с его собственным описанием; уберите -b",
                   "en": "--plan applies a saved plan with its own blueprint; drop -b"},
    "other_tenant": {"ru": "{file}: план сделан для клиента {saved!r}, а не {name!r}",
                     "en": "{file}: the plan was made for tenant {saved!r}, not {name!r}"},
    "needs_yes": {"ru": "apply спрашивает подтверждение; без терминала укажите --yes",
                  "en": "apply asks for confirmation; with no terminal, pass --yes"},
    "confirm": {"ru": "Применить эти изменения?", "en": "Apply these changes?"},
    "all_needs_yes": {"ru": "apply --all требует --yes (подтверждения по каждому клиенту не будет)",
                      "en": "apply --all needs --yes (no confirmation per tenant)"},
    "plan_with_all": {"ru": "--plan применяет один сохранённый план; с --all не сочетается",
                      "en": "--plan applies one saved plan; it cannot be combined with --all"},
    "cancelled": {"ru": "Применение отменено; ничего не записано.", "en": "Apply cancelled; nothing was written."},
    "manual_steps": {"ru": "{why} {steps}: их перечисляет `implkit plan {tenant}`.",
                     "en": "{why} {steps}: `implkit plan {tenant}` lists them."},
    "nothing_to_apply": {"ru": "Применять нечего.", "en": "No changes to apply."},
    "exported_header": {"ru": "# Выгружено implkit из клиента {tenant} (аккаунт {company}).\n"
                              "# `implkit plan` с этим файлом для того же клиента не покажет изменений.\n",
                        "en": "# Exported by implkit from tenant {tenant} (account {company}).\n"
                              "# `implkit plan` with this file against the same tenant shows no changes.\n"},
    "wrote": {"ru": "Записан {out}: {pipelines}, {fields}, {roles}.",
              "en": "Wrote {out}: {pipelines}, {fields}, {roles}."},
    "error": {"ru": "ошибка: {text}", "en": "error: {text}"},
    "no_changes": {"ru": "изменений нет", "en": "no changes"},
    "empty_selection": {"ru": "в этой выборке нет клиентов", "en": "no tenants in this selection"},
    "headers": {"ru": "клиент|код|результат", "en": "tenant|exit|result"},
}
_MANUAL = (("ручной шаг", "ручных шага", "ручных шагов"), ("manual step", "manual steps"))

_workspace_option = workspace_dir_option()


def _stderr(message: str) -> None:
    click.echo(message, err=True)


@contextmanager
def _tenant_session(workspace_dir: str | None, name: str, operation: str) -> Iterator[tuple[Any, Any, Any, Any]]:
    """(workspace, tenant, provider, state) with the tenant's lock held for the block."""
    from implkit.workspace import Workspace

    ws = Workspace.discover(workspace_dir)
    tenant = ws.tenant(name)
    provider = _open_provider(ws, name, tenant)
    with ws.lock(name, operation, timeout=300):
        state = ws.state(name)
        try:
            yield ws, tenant, provider, state
        finally:
            state.close()
            provider.close()


def _open_provider(ws: Any, name: str, tenant: Any) -> Any:
    from implkit.providers import open_provider

    if tenant.provider not in ("amocrm", "bitrix24", "directum"):
        raise InputError(say(_MESSAGES, "unsupported", name=name, provider=tenant.provider))
    credentials = ws.credentials(name)
    if tenant.provider == "directum":
        from implkit.providers.directum import tenant_connection
    elif tenant.provider == "bitrix24":
        from implkit.providers.bitrix24 import tenant_connection
    else:
        from implkit.providers.amocrm import tenant_connection
    # one budget per account URL in this process (apply --all runs tenants in parallel threads)
    auth, rate = tenant_connection(tenant, credentials)
    return open_provider(tenant.provider, tenant.url, auth, rate=rate)


def configuration_comparison(ws: Any, name: str) -> Any:
    """For `sync` (which holds the tenant's lock): the comparison the audit's F02/U01 report,
    `implkit.plan.run.config_comparison` (= `drift` once applied); None for a tenant without a blueprint."""
    from implkit.plan.run import config_comparison

    tenant = ws.tenant(name)
    if not tenant.blueprint:
        return None
    desired, _path = _desired(None, tenant)
    provider = _open_provider(ws, name, tenant)
    state = ws.state(name)
    try:
        return config_comparison(provider, desired, state, tenant=name, manual=_manual(desired, tenant.provider),
                                 neighbours=ws.neighbours(name))
    finally:
        state.close()
        provider.close()


def _desired(blueprint_path: str | None, tenant: Any) -> tuple[Any, str]:
    from implkit.blueprint import load_blueprint

    path = blueprint_path or (str(tenant.blueprint) if tenant.blueprint else None)
    if not path:
        raise InputError(say(_MESSAGES, "no_blueprint", name=tenant.name))
    return load_blueprint(path), path


def _manual(blueprint: Any, crm: str) -> list:
    from implkit.blueprint.manual import every_manual_step

    return every_manual_step(blueprint, crm, current())


def _tenant_names(ws_dir: str | None, name: str | None, all_: bool, patterns: str | None = None,
                  shard: str | None = None) -> list[str]:
    from implkit.workspace import Workspace

    names = fleet_names(Workspace.discover(ws_dir).tenant_names() if not name else [], name, all_, patterns,
                        shard)
    if names is None:
        raise click.UsageError(say(FLEET_MESSAGES, "one_or_all"))
    return names


# --- plan -------------------------------------------------------------------------------------


def plan_one(workspace_dir: str | None, name: str, blueprint_path: str | None, prune: bool):
    from implkit.plan.run import make_plan

    with _tenant_session(workspace_dir, name, "plan") as (ws, tenant, provider, state):
        desired, source = _desired(blueprint_path, tenant)
        result = make_plan(provider, desired, state, tenant=name, prune=prune,
                           manual=_manual(desired, tenant.provider), source=source, neighbours=ws.neighbours(name))
        return result, desired


@click.command("plan")
@click.argument("tenant", required=False)
@click.option("-b", "--blueprint", "blueprint_path", type=click.Path(dir_okay=False),
              help="Blueprint file (default: the tenant's blueprint in implkit.yaml).")
@json_format_option("the plan (JSON: schema_version 1)")
@output_option(old=("--out",), name="out", type=click.Path(dir_okay=False), help="Save the plan for `apply --plan`.")
@click.option("--prune", is_flag=True, help="Also delete objects the blueprint does not describe.")
@click.option("--all", "all_", is_flag=True, help="Plan every tenant of the workspace (in parallel).")
@fleet_options
@_workspace_option
@break_stale_lock_option
def plan(tenant: str | None, blueprint_path: str | None, as_json: bool, out: str | None, prune: bool,
         all_: bool, tenant_patterns: str | None, shard: str | None, jobs: int | None,
         workspace_dir: str | None) -> int:
    """Show what apply would change on TENANT: exit 0 no changes, 2 changes, 1 error, 3 bad input."""
    from implkit.plan.run import write_plan_file
    from implkit.plan.show import render_json, render_text

    names = _tenant_names(workspace_dir, tenant, all_, tenant_patterns, shard)
    if not tenant:
        if out:
            raise click.UsageError(say(_MESSAGES, "out_with_all"))
        return _for_all(names, lambda n: plan_one(workspace_dir, n, blueprint_path, prune)[0], as_json, jobs=jobs)
    result, desired = plan_one(workspace_dir, names[0], blueprint_path, prune)
    click.echo(render_json(result) if as_json else coloured_plan(render_text(result)), nl=False)
    if out:
        write_plan_file(out, result, desired)
        _stderr(say(_MESSAGES, "saved", out=out, tenant=names[0]))
    if result.manual and _structure_by_hand(workspace_dir, names[0]):
        return EXIT_CHANGES      # nothing to apply, but the manual rows are outstanding work
    return result.exit_code()


def _structure_by_hand(workspace_dir: str | None, name: str) -> bool:
    """Whether TENANT's CRM takes no structure over its API (Directum RX): its plan is all manual rows."""
    from implkit.workspace import Workspace

    return Workspace.discover(workspace_dir).tenant(name).provider == "directum"


def coloured_plan(text: str) -> str:
    """A rendered plan with each change line in its action's colour (terraform's convention: + green,
    ~ yellow, - red), manual steps cyan — when stdout takes colour (implkit.terminal decides)."""
    import re

    from implkit.plan.changes import CREATE, DELETE, REPLACE, UPDATE
    from implkit.plan.show import SYMBOLS
    from implkit.terminal import color_enabled, paint

    if not color_enabled():
        return text
    roles = {SYMBOLS[REPLACE]: "replace", SYMBOLS[CREATE]: "create", SYMBOLS[UPDATE]: "update",
             SYMBOLS[DELETE]: "delete", "!": "manual", "?": "dim"}
    leading = re.compile(r"^(\s*)(" + "|".join(re.escape(s) for s in sorted(roles, key=len, reverse=True)) + r") ")
    lines = []
    for line in text.split("\n"):
        found = leading.match(line)
        if found:
            line = found.group(1) + paint(line[found.end(1):], roles[found.group(2)])
        elif line.startswith("# "):
            line = paint(line, "heading")
        lines.append(line)
    return "\n".join(lines)


# --- apply ------------------------------------------------------------------------------------


def apply_one(workspace_dir: str | None, name: str, *, blueprint_path: str | None, plan_file: str | None,
              yes: bool, prune: bool, allow_destroy: bool, echo=click.echo, quiet: bool = False,
              progress=None):  # noqa: ANN001
    """Apply to one tenant; `quiet` does not show the plan when nothing is asked (--yes); `progress`
    (a terminal.Reporter, default: lines on stderr) hears of every object written."""
    from implkit.plan.run import apply_blueprint, read_plan_file
    from implkit.plan.show import render_text

    saved = None
    if plan_file:
        if blueprint_path:
            raise click.UsageError(say(_MESSAGES, "plan_and_b"))
        saved, desired = read_plan_file(plan_file)
        if saved.tenant and saved.tenant != name:
            raise InputError(say(_MESSAGES, "other_tenant", file=plan_file, saved=saved.tenant, name=name))
        prune = saved.prune
    if not yes and not sys.stdin.isatty():
        raise InputError(say(_MESSAGES, "needs_yes"))

    def confirm(shown) -> bool:
        if not quiet or not yes:   # what a user confirms is shown, --quiet or not
            echo(coloured_plan(render_text(shown)), nl=False)
        if yes:
            return True
        return click.confirm(say(_MESSAGES, "confirm"), default=False, err=True)

    with _tenant_session(workspace_dir, name, "apply") as (ws, tenant, provider, state):
        source = None
        if saved is None:
            desired, source = _desired(blueprint_path, tenant)
        shown, result = apply_blueprint(
            provider, desired, state, tenant=name, prune=prune, allow_destroy=allow_destroy,
            manual=_manual(desired, tenant.provider), saved=saved, confirm=confirm,
            progress=progress or (lambda m: _stderr(f"[{name}] {m}")), source=source, neighbours=ws.neighbours(name))
    return shown, result


@click.command("apply")
@click.argument("tenant", required=False)
@click.option("-b", "--blueprint", "blueprint_path", type=click.Path(dir_okay=False),
              help="Blueprint file (default: the tenant's blueprint in implkit.yaml).")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False),
              help="Apply exactly this saved plan (refused if the tenant changed since).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--prune", is_flag=True, help="Also delete objects the blueprint does not describe.")
@click.option("--allow-destroy", is_flag=True,
              help="Allow changes that lose data (field type changes, deleted fields, stages, options).")
@click.option("--all", "all_", is_flag=True, help="Apply to every tenant of the workspace (in parallel; needs --yes).")
@fleet_options
@_workspace_option
@break_stale_lock_option
@quiet_option
def apply(tenant: str | None, blueprint_path: str | None, plan_file: str | None, yes: bool, prune: bool,
          allow_destroy: bool, all_: bool, tenant_patterns: str | None, shard: str | None, jobs: int | None,
          workspace_dir: str | None, quiet: bool) -> int:
    """Apply a blueprint (or a saved plan) to TENANT. Re-running finishes an interrupted apply.
    On a terminal a bar per kind of object shows the progress; piped, a line per kind."""
    from implkit.terminal import Reporter

    names = _tenant_names(workspace_dir, tenant, all_, tenant_patterns, shard)
    if not tenant:
        if not yes:
            raise InputError(say(_MESSAGES, "all_needs_yes"))
        if plan_file:
            raise click.UsageError(say(_MESSAGES, "plan_with_all"))

        with Reporter(quiet=quiet) as report:
            def run(n: str):
                shown, result = apply_one(workspace_dir, n, blueprint_path=blueprint_path, plan_file=None, yes=True,
                                          prune=prune, allow_destroy=allow_destroy, quiet=True,
                                          progress=for_tenant(report, n))
                return shown, result
            return _for_all(names, run, False, applying=True, jobs=jobs)
    with Reporter(quiet=quiet, prefix=f"[{names[0]}] ") as report:
        shown, result = apply_one(workspace_dir, names[0], blueprint_path=blueprint_path, plan_file=plan_file,
                                  yes=yes, prune=prune, allow_destroy=allow_destroy, quiet=quiet, progress=report)
    if quiet and result is not None:
        return EXIT_OK
    if result is None:
        click.echo(say(_MESSAGES, "cancelled"))
        return EXIT_FAILURE
    if _structure_by_hand(workspace_dir, names[0]):
        from implkit.providers.directum.client import WHY_NOTHING_WRITTEN

        click.echo(say(_MESSAGES, "manual_steps", why=say(WHY_NOTHING_WRITTEN, "why"),
                       steps=count_noun(len(shown.manual), *_MANUAL), tenant=names[0]))
        return EXIT_OK
    click.echo(result.summary() if shown.changes else say(_MESSAGES, "nothing_to_apply"))
    return EXIT_OK


# --- drift and export -------------------------------------------------------------------------


@click.command("drift")
@click.argument("tenant", required=False)
@json_format_option("the drift report")
@click.option("--all", "all_", is_flag=True, help="Check every tenant of the workspace (in parallel).")
@fleet_options
@_workspace_option
@break_stale_lock_option
def drift(tenant: str | None, as_json: bool, all_: bool, tenant_patterns: str | None, shard: str | None,
          jobs: int | None, workspace_dir: str | None) -> int:
    """What changed in TENANT by hand since the last apply: exit 0 none, 2 drift found."""
    from implkit.plan.run import drift as drift_of
    from implkit.plan.show import render_json, render_text

    def one(name: str):
        with _tenant_session(workspace_dir, name, "drift") as (ws, _tenant, provider, state):
            return drift_of(provider, state, tenant=name, neighbours=ws.neighbours(name))

    names = _tenant_names(workspace_dir, tenant, all_, tenant_patterns, shard)
    if not tenant:
        return _for_all(names, one, as_json, jobs=jobs)
    result = one(tenant)
    click.echo(render_json(result) if as_json else coloured_plan(render_text(result)), nl=False)
    return result.exit_code()


@click.command("export")
@click.argument("tenant")
@output_option(old=("--out",), name="out", type=click.Path(dir_okay=False), required=True,
               help="Where to write the blueprint YAML.")
@click.option("--name", help="metadata.name of the exported blueprint (default: the tenant's subdomain).")
@_workspace_option
@break_stale_lock_option
def export(tenant: str, out: str, name: str | None, workspace_dir: str | None) -> int:
    """Write a blueprint from TENANT's live configuration; planning it against TENANT shows no changes."""
    from implkit.plan.changes import kind_count
    from implkit.plan.run import export as export_of
    from implkit.yamlio import atomic_write, dump_yaml

    with _tenant_session(workspace_dir, tenant, "export") as (_ws, _tenant, provider, _state):
        blueprint = export_of(provider, name=name or tenant)
        reference = provider.metadata_comment() if _tenant.provider == "directum" else ""
    header = say(_MESSAGES, "exported_header", tenant=tenant, company=blueprint.company or "") + reference
    atomic_write(out, header + dump_yaml(blueprint.to_dict()))
    _stderr(say(_MESSAGES, "wrote", out=out, pipelines=kind_count("pipeline", len(blueprint.pipelines)),
                fields=kind_count("field", len(blueprint.fields)), roles=kind_count("role", len(blueprint.roles))))
    return EXIT_OK


# --- every tenant -----------------------------------------------------------------------------


def _for_all(names: list[str], work, as_json: bool, applying: bool = False, jobs: int | None = None) -> int:
    """Run `work(name)` for every tenant in parallel (`jobs` at once, default up to 8); print a summary
    table; the worst exit code wins."""
    import json

    from tabulate import tabulate

    def one(name: str) -> dict[str, Any]:
        try:
            value = work(name)
        except ImplkitError as error:
            return {"tenant": name, "exit": error.exit_code,
                    "result": say(_MESSAGES, "error", text=error).splitlines()[0]}
        if applying:
            shown, result = value
            text = result.summary() if result is not None and shown.changes else say(_MESSAGES, "no_changes")
            return {"tenant": name, "exit": EXIT_OK, "result": text}
        return {"tenant": name, "exit": value.exit_code(), "result": value.summary()}

    if not names:  # an empty shard (more CI jobs than tenants) has nothing to do
        click.echo("[]" if as_json else say(_MESSAGES, "empty_selection"))
        return EXIT_OK
    with ThreadPoolExecutor(max_workers=min(jobs or 8, len(names))) as pool:
        rows = list(pool.map(one, names))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        click.echo(tabulate([(r["tenant"], r["exit"], r["result"]) for r in rows],
                            headers=say(_MESSAGES, "headers").split("|")))
    codes = {r["exit"] for r in rows}
    for code in (EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_CHANGES):
        if code in codes:
            return code
    return EXIT_OK
