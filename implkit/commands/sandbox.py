"""`implkit sandbox`: run, fill and inspect the local amoCRM emulator and its Bitrix24 portals (`bitrix24` subgroup)."""

from __future__ import annotations

from pathlib import Path

import click

from implkit.commands import quiet_option
from implkit.errors import InputError, Location, Problem, RuntimeFailure
from implkit.lang import count_noun, say

_MESSAGES = {
    "no_db": {"ru": "нет базы песочницы", "en": "no sandbox database"},
    "file_not_found": {"ru": "файл не найден", "en": "file not found"},
    "unknown_account": {"ru": "нет такого аккаунта песочницы", "en": "unknown sandbox account"},
    "no_account": {"ru": "в этой базе нет аккаунта {name!r}", "en": "no account {name!r} in this database"},
    "cannot_create_account": {"ru": "не удаётся создать аккаунт", "en": "cannot create the account"},
    "created_account": {"ru": "создан аккаунт {name} (id {id}); базовый путь {path}",
                        "en": "created account {name} (id {id}); base path {path}"},
    "cannot_seed_account": {"ru": "не удаётся заполнить аккаунт", "en": "cannot seed the account"},
    "seeded": {"ru": "заполнено {name}: {summary}", "en": "seeded {name}: {summary}"},
    "seed_summary": {"ru": "{records}; заложено находок: {planted}, проверок с ними: {checks_n} (seed {seed}), "
                           "за {seconds} с",
                     "en": "{records}; {planted} planted findings over {checks} (seed {seed}) in {seconds} s"},
    "unknown_portal": {"ru": "нет такого портала песочницы", "en": "unknown sandbox portal"},
    "no_portal": {"ru": "в этой базе нет портала {name!r}", "en": "no portal {name!r} in this database"},
    "cannot_create_portal": {"ru": "не удаётся создать портал", "en": "cannot create the portal"},
    "created_portal": {"ru": "создан портал {name} (id {id}, тариф {plan}); базовый путь {path}",
                       "en": "created portal {name} (id {id}, {plan} plan); base path {path}"},
    "enterprise": {"ru": "«Энтерпрайз»", "en": "enterprise"},
    "standard": {"ru": "стандартный", "en": "standard"},
    "cannot_seed_portal": {"ru": "не удаётся заполнить портал", "en": "cannot seed the portal"},
    "cannot_create_webhook": {"ru": "не удаётся создать вебхук", "en": "cannot create the webhook"},
    "webhook": {"ru": "вебхук пользователя {user} на {portal}: {url}  (USER_ID/SECRET записан в {file})",
                "en": "webhook of user {user} on {portal}: {url}  (USER_ID/SECRET written to {file})"},
    "cannot_install": {"ru": "не удаётся установить приложение", "en": "cannot install the application"},
    "installed": {"ru": "приложение {client} установлено на {portal} для пользователя {user}; токены записаны в "
                        "{file}; client_endpoint {client_endpoint}, token_endpoint {token_endpoint}",
                  "en": "application {client} installed on {portal} for user {user}; tokens written to {file}; "
                        "client_endpoint {client_endpoint}, token_endpoint {token_endpoint}"},
    "bad_portal": {"ru": "неверное имя портала", "en": "bad portal name"},
    "portal_line": {"ru": "  {name}: {url}   (дописывайте /rest/... как к https://{name}.bitrix24.ru)",
                    "en": "  {name}: {url}   (append /rest/... as to https://{name}.bitrix24.ru)"},
    "get_webhook": {"ru": "вебхук: implkit sandbox bitrix24 webhook PORTAL --db {db} --url {url}",
                    "en": "get a webhook with: implkit sandbox bitrix24 webhook PORTAL --db {db} --url {url}"},
    "unknown_instance": {"ru": "нет такого экземпляра песочницы", "en": "unknown sandbox instance"},
    "no_instance": {"ru": "в этой базе нет экземпляра Directum {name!r}",
                    "en": "no Directum instance {name!r} in this database"},
    "cannot_create_instance": {"ru": "не удаётся создать экземпляр", "en": "cannot create the instance"},
    "created_instance": {"ru": "создан экземпляр Directum {name} (id {id}); базовый путь {path}; логин {login!r}, "
                               "LOGIN:PASSWORD записан в {file}",
                         "en": "created Directum instance {name} (id {id}); base path {path}; login {login!r}, "
                               "LOGIN:PASSWORD written to {file}"},
    "cannot_seed_instance": {"ru": "не удаётся заполнить экземпляр", "en": "cannot seed the instance"},
    "instance_line": {"ru": "  {name}: {url}   (дописывайте /odata/... как к https://HOST/Integration)",
                      "en": "  {name}: {url}   (append /odata/... as to https://HOST/Integration)"},
    "drx_summary": {"ru": "{companies}, {persons}, банков: {banks}, {contacts}; заложено: {planted}",
                    "en": "{companies}, {persons}, {banks} banks, {contacts}; planted: {planted}"},
}
#: the seeded records by kind: Russian forms for 1, 2-4, 5 and English for 1, many
_RECORDS = {
    "contacts": (("контакт", "контакта", "контактов"), ("contact", "contacts")),
    "companies": (("компания", "компании", "компаний"), ("company", "companies")),
    "leads": (("сделка", "сделки", "сделок"), ("lead", "leads")),
    "deals": (("сделка", "сделки", "сделок"), ("deal", "deals")),
    "tasks": (("задача", "задачи", "задач"), ("task", "tasks")),
    "notes": (("примечание", "примечания", "примечаний"), ("note", "notes")),
    "events": (("событие", "события", "событий"), ("event", "events")),
    "activities": (("дело", "дела", "дел"), ("activity", "activities")),
    "persons": (("персона", "персоны", "персон"), ("person", "persons")),
    "checks": (("проверка", "проверки", "проверок"), ("check", "checks")),
}
LEADS_B24 = (("лид", "лида", "лидов"), ("lead", "leads"))  # Bitrix24 keeps leads apart from deals
AMOCRM_KINDS = ("contacts", "companies", "leads", "tasks", "notes", "events")
BITRIX24_KINDS = ("deals", "contacts", "companies", "leads", "activities", "tasks")


def _counted(kind: str, count: int, nouns=None) -> str:
    from implkit.lang import current, number

    ru, en = nouns or _RECORDS[kind]
    text = count_noun(count, ru, en)
    return number(count, current()) + text[len(str(count)):]


def seeded_line(name: str, result, kinds: tuple[str, ...], leads=None) -> str:
    """What `sandbox seed` (and the demo, seeding the same way) prints once an account is seeded."""
    return say(_MESSAGES, "seeded", name=name, summary=_seed_summary(result, kinds, leads))


def _seed_summary(result, kinds: tuple[str, ...], leads=None) -> str:
    """A seeder's SeedSummary (counts, defects, seed, seconds) as one line in the user's language."""
    records = ", ".join(_counted(k, result.counts[k], leads if k == "leads" else None) for k in kinds)
    from implkit.lang import current, number

    return say(_MESSAGES, "seed_summary", records=records, planted=number(sum(result.defects.values()), current()),
               checks=_counted("checks", len(result.defects)), checks_n=number(len(result.defects), current()),
               seed=result.seed, seconds=f"{result.seconds:.1f}".replace(".", "," if current() == "ru" else "."))


def _store(db: str):
    from implkit.sandbox.store import Store

    if not Path(db).is_file():
        raise InputError(say(_MESSAGES, "no_db"), [Problem(Location(db, key="--db"), say(_MESSAGES, "file_not_found"))])
    return Store(db)


def _account_id(store, db: str, subdomain: str) -> int:
    from implkit.sandbox.amocrm.models import account_by_subdomain

    account = account_by_subdomain(store, subdomain)
    if account is None:
        raise InputError(say(_MESSAGES, "unknown_account"), [Problem(Location(db, key="subdomain"),
                                                                     say(_MESSAGES, "no_account", name=subdomain))])
    return account["id"]


PORT_HELP = ("Port to listen on (default: the one this database was served on last, so the tenants' URLs "
             "still lead to it, else 8765); 0 picks a free port.")


@click.group()
def sandbox() -> None:
    """Run and seed the local amoCRM emulator (SQLite-backed); Bitrix24 portals: `implkit sandbox bitrix24`."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (loopback only).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help=PORT_HELP)
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite file to keep (default: a temporary one).")
@click.option("--rate-limit", "rate_limit", default=7, show_default=True, type=click.IntRange(1),
              help="Requests per second per integration before 429.")
@click.option("--account-rate-limit", default=50, show_default=True, type=click.IntRange(1),
              help="Requests per second per account (all integrations) before 429.")
@click.option("--block-after", default=100, show_default=True, type=click.IntRange(1),
              help="429 answers within a minute that block the account (403 until reset).")
@click.option("--latency", default="50-150ms", show_default=True,
              help='How long an admitted request takes to be answered, as over the internet: "80ms", '
                   '"50-150ms" (random in the range), or "0" for none.')
@click.option("--rate-tolerance", "rate_tolerance", default=50, show_default=True, type=click.IntRange(0, 500),
              help="Milliseconds of tolerance at the edge of the one-second rate window (docs/sandbox.md).")
@click.option("--faults", help='Fault injection, e.g. "5xx=0.1,drop=0.02,latency=50ms,expire_token_after=100".')
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the fault decisions.")
@click.option("--account", "accounts", multiple=True, help="Account subdomain to create if missing (repeatable; "
              "default: demo when the database has none).")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host.")
def serve(host, port, db, rate_limit, account_rate_limit, block_after, latency, rate_tolerance, faults, seed,
          accounts, allow_remote) -> int:
    """Serve the emulator: http://HOST:PORT/amocrm/SUBDOMAIN stands for https://SUBDOMAIN.amocrm.ru."""
    from implkit.sandbox.serve import serve_forever

    serve_forever(db=db, host=host, port=port, accounts=tuple(accounts), integration_rps=rate_limit,
                  account_rps=account_rate_limit, block_after=block_after, faults=faults, seed=seed,
                  allow_remote=allow_remote, announce=lambda lines: click.echo("\n".join(lines)),
                  latency=latency, edge_tolerance_ms=rate_tolerance)
    return 0


@sandbox.command("create-account")
@click.argument("subdomain")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite file (created if missing).")
@click.option("--name", help="Account name (default: the subdomain).")
def create_account(subdomain: str, db: str, name: str | None) -> int:
    """Create an account as amoCRM does on sign-up (admin, pipeline «Воронка», predefined fields)."""
    from implkit.sandbox.amocrm.models import bootstrap_account
    from implkit.sandbox.amocrm.operations import base_path
    from implkit.sandbox.store import Store

    try:
        account_id = bootstrap_account(Store(db), subdomain, name)
    except ValueError as error:
        raise InputError(say(_MESSAGES, "cannot_create_account"),
                         [Problem(Location(db, key="subdomain"), str(error))]) from None
    click.echo(say(_MESSAGES, "created_account", name=subdomain, id=account_id, path=base_path(subdomain)))
    return 0


@sandbox.command()
@click.argument("subdomain")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="The sandbox's SQLite file.")
def token(subdomain: str, db: str) -> int:
    """Issue a long-lived token for SUBDOMAIN and print it (the only command that shows one)."""
    from implkit.sandbox.amocrm.models import issue_long_lived_token

    store = _store(db)
    click.echo(issue_long_lived_token(store, _account_id(store, db, subdomain)))
    return 0


@sandbox.command()
@click.argument("subdomain")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="The sandbox's SQLite file.")
@click.option("--contacts", default=1000, show_default=True, type=click.IntRange(1), help="How many contacts.")
@click.option("--seed", "seed_value", default=0, show_default=True, type=int, help="Random seed (same seed, same data).")
@click.option("--ground-truth", type=click.Path(dir_okay=False), help="Write the planted defects here (JSON).")
@quiet_option
def seed(subdomain: str, db: str, contacts: int, seed_value: int, ground_truth: str | None, quiet: bool) -> int:
    """Fill SUBDOMAIN with realistic data and planted data-quality defects (created if missing)."""
    from implkit.sandbox.amocrm.models import account_by_subdomain, bootstrap_account
    from implkit.sandbox.amocrm.seed import seed_account
    from implkit.sandbox.store import Store
    from implkit.terminal import Reporter, Tick

    store = Store(db)
    account = account_by_subdomain(store, subdomain)
    account_id = account["id"] if account else bootstrap_account(store, subdomain)
    try:
        with Reporter(quiet=quiet) as report:
            result = seed_account(store, account_id, contacts=contacts, seed=seed_value, ground_truth_path=ground_truth,
                                  progress=lambda entity, done, total: report(Tick(entity, done, total)))
    except ValueError as error:   # e.g. the account already has data
        raise InputError(say(_MESSAGES, "cannot_seed_account"),
                         [Problem(Location(db, key=subdomain), str(error))]) from None
    if not quiet:
        click.echo(seeded_line(subdomain, result, AMOCRM_KINDS))
    return 0


# --- Bitrix24 portals: `implkit sandbox bitrix24 ...` ---------------------------------------------------------
# One subgroup, so that the amoCRM commands above and these evolve apart. Each command opens the sandbox's
# SQLite file through the `Sandbox` facade and calls the portal operations the demo and the control routes
# use (implkit/sandbox/bitrix24/operations.py).

def _portal_sandbox(db: str, *, must_exist: bool = True):
    from implkit.sandbox import Sandbox

    if must_exist and not Path(db).is_file():
        raise InputError(say(_MESSAGES, "no_db"), [Problem(Location(db, key="--db"), say(_MESSAGES, "file_not_found"))])
    return Sandbox(db)


def _known_portal(sandbox, db: str, name: str) -> None:
    from implkit.sandbox.bitrix24.operations import UnknownPortal, portal_id

    try:
        portal_id(sandbox.bitrix24, name)
    except UnknownPortal:
        raise InputError(say(_MESSAGES, "unknown_portal"), [Problem(Location(db, key="portal"),
                                                                    say(_MESSAGES, "no_portal", name=name))]) from None


def _write_secret(path: str, text: str) -> None:
    from implkit.yamlio import atomic_write

    atomic_write(Path(path), text + "\n", mode=0o600)


@sandbox.group("bitrix24")
def bitrix24() -> None:
    """Bitrix24 portals: create, seed, webhook, OAuth application, serve (http://HOST:PORT/bitrix24/PORTAL
    stands for https://PORTAL.bitrix24.ru)."""


@bitrix24.command("create")
@click.argument("portal")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite file (created if missing).")
@click.option("--title", help="Company name shown for the portal (default: the portal name).")
@click.option("--enterprise", is_flag=True, help="Enterprise plan: the 5 req/s, burst 250 bucket (else 2/s, 50).")
def b24_create(portal: str, db: str, title: str | None, enterprise: bool) -> int:
    """Create a portal as a new cloud portal starts (admin, pipeline «Общая», lead statuses, directories)."""
    from implkit.sandbox.bitrix24 import operations

    with _portal_sandbox(db, must_exist=False) as sandbox:
        try:
            created = operations.create_portal(sandbox.bitrix24, portal, title, enterprise=enterprise)
        except ValueError as error:
            raise InputError(say(_MESSAGES, "cannot_create_portal"),
                             [Problem(Location(db, key="portal"), str(error))]) from None
    click.echo(say(_MESSAGES, "created_portal", name=portal, id=created["id"], path=created["base_path"],
                   plan=say(_MESSAGES, "enterprise" if enterprise else "standard")))
    return 0


@bitrix24.command("seed")
@click.argument("portal")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite file (created if missing).")
@click.option("--deals", default=1000, show_default=True, type=click.IntRange(1), help="How many deals.")
@click.option("--seed", "seed_value", default=0, show_default=True, type=int, help="Random seed (same seed, same data).")
@click.option("--ground-truth", type=click.Path(dir_okay=False), help="Write the planted defects here (JSON).")
@quiet_option
def b24_seed(portal: str, db: str, deals: int, seed_value: int, ground_truth: str | None, quiet: bool) -> int:
    """Fill PORTAL with realistic data and planted data-quality defects (the portal is created if missing)."""
    from implkit.sandbox.bitrix24 import operations
    from implkit.terminal import Reporter, Tick

    with _portal_sandbox(db, must_exist=False) as sandbox:
        try:
            with Reporter(quiet=quiet) as report:
                summary = operations.seed(sandbox.bitrix24, portal, deals=deals, seed_value=seed_value,
                                          ground_truth_path=ground_truth,
                                          progress=lambda entity, done, total: report(Tick(entity, done, total)))
        except ValueError as error:   # a bad portal name, or a portal that already has records
            raise InputError(say(_MESSAGES, "cannot_seed_portal"),
                             [Problem(Location(db, key=portal), str(error))]) from None
    if not quiet:
        click.echo(seeded_line(portal, summary, BITRIX24_KINDS, leads=LEADS_B24))
    return 0


@bitrix24.command("webhook")
@click.argument("portal")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="The sandbox's SQLite file.")
@click.option("--user", "user_id", default=1, show_default=True, type=click.IntRange(1), help="The webhook's owner.")
@click.option("--scope", default="crm,user,user_brief,user_basic,department,task", show_default=True,
              help="Comma-separated scopes the webhook is granted.")
@click.option("--url", "root_url", help="The served sandbox's root (e.g. http://127.0.0.1:8765) to print a full URL.")
@click.option("--secret-file", type=click.Path(dir_okay=False),
              help="Write USER_ID/SECRET here (mode 600, the form `implkit tenant add --token-file` reads) and "
                   "print the URL with the secret masked.")
def b24_webhook(portal: str, db: str, user_id: int, scope: str, root_url: str | None, secret_file: str | None) -> int:
    """Create an incoming webhook and print its URL (the secret is shown once, as the portal's UI shows it)."""
    from implkit.sandbox.bitrix24 import operations

    scopes = tuple(s.strip() for s in scope.split(",") if s.strip())
    with _portal_sandbox(db) as sandbox:
        _known_portal(sandbox, db, portal)
        try:
            path = operations.webhook_path(sandbox.bitrix24, portal, user_id, scopes)
        except ValueError as error:   # a user the portal does not have
            raise InputError(say(_MESSAGES, "cannot_create_webhook"),
                             [Problem(Location(db, key="--user"), str(error))]) from None
    url = (root_url.rstrip("/") if root_url else "") + path
    if secret_file:
        user, secret = path.rstrip("/").split("/")[-2:]
        _write_secret(secret_file, f"{user}/{secret}")
        url = url.replace(f"/{secret}/", "/***/")
        click.echo(say(_MESSAGES, "webhook", user=user_id, portal=portal, url=url, file=secret_file))
    else:
        click.echo(url)
    return 0


@bitrix24.command("oauth-app")
@click.argument("portal")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="The sandbox's SQLite file.")
@click.option("--client-id", default="local.sandbox", show_default=True, help="The application's client_id.")
@click.option("--user", "user_id", default=1, show_default=True, type=click.IntRange(1),
              help="The user who installs the application.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the token pair and endpoints here (JSON, mode 600) instead of printing them.")
def b24_oauth_app(portal: str, db: str, client_id: str, user_id: int, output: str | None) -> int:
    """Install an OAuth application on PORTAL: its access and refresh tokens, client_endpoint (append the
    method, pass auth=ACCESS_TOKEN) and token_endpoint (the sandbox's oauth.bitrix.info, grant_type=refresh_token)."""
    import json

    from implkit.sandbox.bitrix24 import operations

    with _portal_sandbox(db) as sandbox:
        _known_portal(sandbox, db, portal)
        try:
            app = operations.oauth_install(sandbox.bitrix24, portal, client_id, user_id)
        except ValueError as error:
            raise InputError(say(_MESSAGES, "cannot_install"), [Problem(Location(db, key="--user"),
                                                                        str(error))]) from None
    text = json.dumps(app, indent=1)
    if output:
        _write_secret(output, text)
        click.echo(say(_MESSAGES, "installed", client=client_id, portal=portal, user=user_id, file=output,
                       client_endpoint=app["client_endpoint"], token_endpoint=app["token_endpoint"]))
    else:
        click.echo(text)
    return 0


@bitrix24.command("serve")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite file (created if missing).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help=PORT_HELP)
@click.option("--portal", "portals", multiple=True, help="Portal to create if missing (repeatable).")
@click.option("--faults", help='Fault injection, e.g. "5xx=0.1,drop=0.02,latency=50ms,expire_token_after=100".')
@click.option("--seed", "seed_value", default=0, show_default=True, type=int, help="Seed for the fault decisions.")
def b24_serve(db: str, port: int, portals: tuple[str, ...], faults: str | None, seed_value: int) -> int:
    """Serve the database's portals on 127.0.0.1 until Ctrl+C (the amoCRM accounts in it are served too)."""
    import threading

    from implkit.sandbox import Sandbox
    from implkit.sandbox.bitrix24 import operations
    from implkit.sandbox.serve import cannot_listen
    from implkit.sandbox.server import port_to_serve
    from implkit.sandbox.bitrix24.portal import list_portals
    from implkit.sandbox.faults import FaultSpecError, parse_faults
    from implkit.sandbox.serve import MESSAGES as SERVE

    try:
        spec = parse_faults(faults)
    except FaultSpecError as error:
        raise InputError(say(SERVE, "bad_faults"), [Problem(Location("--faults", key="faults"), str(error))]) from None
    with Sandbox(db, faults=spec, seed=seed_value) as sandbox:
        existing = {p["name"] for p in list_portals(sandbox.store)}
        for name in portals:
            if name not in existing:
                try:
                    operations.create_portal(sandbox.bitrix24, name)
                except ValueError as error:
                    raise InputError(say(_MESSAGES, "bad_portal"), [Problem(Location("--portal", key="portal"),
                                                                            str(error))]) from None
        serving = sandbox.serve("127.0.0.1", port)
        try:
            url = serving.__enter__()
        except RuntimeError:
            raise RuntimeFailure(cannot_listen("127.0.0.1", port_to_serve(sandbox.store, port))) from None
        try:
            click.echo(say(SERVE, "listening", url=url, db=db, temporary=""))
            for entry in list_portals(sandbox.store):
                click.echo(say(_MESSAGES, "portal_line", name=entry["name"], url=url + entry["base_path"]))
            click.echo(say(_MESSAGES, "get_webhook", db=db, url=url))
            click.echo(say(SERVE, "stop"))
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        finally:
            serving.__exit__(None, None, None)
    return 0


# --- Directum RX instances: `implkit sandbox directum ...` -----------------------------------------------------
# A subgroup of its own, as for Bitrix24. The instance's login and password are written only to a file
# the user names (mode 600), never printed.

def _directum_instance(store, db: str, name: str) -> dict:
    from implkit.sandbox.directum.models.instance import instance_by_name

    instance = instance_by_name(store, name)
    if instance is None:
        raise InputError(say(_MESSAGES, "unknown_instance"), [Problem(Location(db, key="instance"),
                                                                      say(_MESSAGES, "no_instance", name=name))])
    return instance


@sandbox.group("directum")
def directum() -> None:
    """Directum RX instances: create, seed, serve (http://HOST:PORT/directum/INSTANCE/Integration stands for
    https://HOST/Integration, the Integration Service)."""


@directum.command("create")
@click.argument("instance")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="SQLite file (created if missing).")
@click.option("--service", type=click.Choice(["Integration", "DrxIntegration"]), default="Integration",
              show_default=True, help="The service-name segment of the installation's URL.")
@click.option("--max-entities", default=1000, show_default=True, type=click.IntRange(1),
              help="The server's cap on an unfiltered read (400 above it).")
@click.option("--credentials-file", required=True, type=click.Path(dir_okay=False),
              help="Write LOGIN:PASSWORD of the service user here (mode 600): the password is never printed.")
def drx_create(instance: str, db: str, service: str, max_entities: int, credentials_file: str | None) -> int:
    """Create an instance: the Administrator employee and the service user «Integration Service»."""
    from implkit.sandbox.directum.models.instance import create_instance
    from implkit.sandbox.store import Store

    try:
        created = create_instance(Store(db), instance, service=service, max_entities=max_entities)
    except ValueError as error:
        raise InputError(say(_MESSAGES, "cannot_create_instance"),
                         [Problem(Location(db, key="instance"), str(error))]) from None
    _write_secret(credentials_file, f"{created['login']}:{created['password']}")
    click.echo(say(_MESSAGES, "created_instance", name=instance, id=created["id"], path=created["base_path"],
                   login=created["login"], file=credentials_file))
    return 0


@directum.command("seed")
@click.argument("instance")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="The sandbox's SQLite file.")
@click.option("--companies", default=60, show_default=True, type=click.IntRange(15), help="How many clean companies.")
@click.option("--persons", default=20, show_default=True, type=click.IntRange(0), help="How many clean persons.")
@click.option("--seed", "seed_value", default=0, show_default=True, type=int, help="Random seed (same seed, same data).")
@click.option("--ground-truth", type=click.Path(dir_okay=False), help="Write the planted defects here (JSON).")
def drx_seed(instance: str, db: str, companies: int, persons: int, seed_value: int, ground_truth: str | None) -> int:
    """Fill INSTANCE with counterparties, contacts and planted data-quality defects."""
    from implkit.sandbox.directum.seed import seed_instance

    store = _store(db)
    found = _directum_instance(store, db, instance)
    try:
        truth = seed_instance(store, found["id"], companies=companies, persons=persons, seed=seed_value,
                              ground_truth_path=ground_truth)
    except ValueError as error:     # the instance already has counterparties
        raise InputError(say(_MESSAGES, "cannot_seed_instance"),
                         [Problem(Location(db, key=instance), str(error))]) from None
    counts = truth["counts"]
    click.echo(say(_MESSAGES, "seeded", name=instance, summary=say(
        _MESSAGES, "drx_summary", companies=_counted("companies", counts.get("Company", 0)),
        persons=_counted("persons", counts.get("Person", 0)), banks=counts.get("Bank", 0),
        contacts=_counted("contacts", counts.get("Contact", 0)),
        planted=", ".join(f"{k} {len(v['ids'])}" for k, v in truth["defects"].items()))))
    return 0


@directum.command("serve")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="The sandbox's SQLite file.")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help=PORT_HELP)
def drx_serve(db: str, port: int) -> int:
    """Serve the database's instances (and its amoCRM accounts and Bitrix24 portals) on 127.0.0.1 until Ctrl+C."""
    import threading

    from implkit.sandbox import Sandbox
    from implkit.sandbox.directum.models.instance import list_instances
    from implkit.sandbox.serve import MESSAGES as SERVE
    from implkit.sandbox.serve import cannot_listen
    from implkit.sandbox.server import port_to_serve

    _store(db)
    with Sandbox(db) as box:
        serving = box.serve("127.0.0.1", port)
        try:
            url = serving.__enter__()
        except RuntimeError:
            raise RuntimeFailure(cannot_listen("127.0.0.1", port_to_serve(box.store, port))) from None
        try:
            click.echo(say(SERVE, "listening", url=url, db=db, temporary=""))
            for entry in list_instances(box.store):
                click.echo(say(_MESSAGES, "instance_line", name=entry["name"], url=url + entry["base_path"]))
            click.echo(say(SERVE, "stop"))
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        finally:
            serving.__exit__(None, None, None)
    return 0
