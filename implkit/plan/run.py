"""Plan, apply, drift and export for one tenant: the package functions the commands call.

Each takes a Provider (already connected) and the tenant's state store
(`implkit.workspace.state.StateStore` or anything with its methods), so
tests can drive them in-process against the sandbox.

Saved plans (`plan -o FILE`, `apply --plan FILE`): the file holds the Plan
JSON plus the desired blueprint it was computed from. Applying it re-reads
the tenant and recomputes the plan; when the fingerprint of what was read
(live configuration + state ids) differs from the saved one, the plan is
stale and apply refuses with exit 1 (`ConflictError`: the world changed,
not the input), as Terraform refuses a stale saved plan. A plan file made
for another tenant or account, or one that does not parse, is bad input
(exit 3).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable

from implkit.errors import ConflictError, InputError
from implkit.lang import say
from implkit.model import Blueprint, ManualStep
from implkit.plan import diff
from implkit.plan.apply import ApplyResult, StateAccess, converge, refuse_destructive
from implkit.plan.changes import PLAN_SCHEMA_VERSION, Plan, StateView, canonical_json
from implkit.plan.export import export_blueprint
from implkit.providers.base import LiveConfig, Provider
from implkit.yamlio import atomic_write

Progress = Callable[[str], None]
PLAN_FILE_KIND = "implkit-plan"


class StoreAccess(StateAccess):
    """The executor's view of a StateStore: ids as strings."""

    def __init__(self, store: Any):
        self.store = store

    def ids(self) -> dict[str, str]:
        return {a: str(r) for a, r in self.store.get_ids().items()}

    def record(self, address: str, remote_id: str) -> None:
        self.store.record(address, remote_id)

    def forget(self, address: str) -> None:
        self.store.forget(address)


def state_view(store: Any) -> StateView:
    last = store.last_applied()
    return StateView(ids=StoreAccess(store).ids(), last_applied=_blueprint_from_text(last.blueprint) if last else None)


_RUN_MESSAGES = {
    "other_account": {"ru": "состояние этого клиента относится к аккаунту CRM {bound}, а его учётные данные ведут "
                            "в аккаунт {live}; отказ (проверьте URL и токен клиента или зарегистрируйте другой "
                            "аккаунт отдельным клиентом)",
                      "en": "this tenant's state belongs to CRM account {bound}, but its credentials reach account "
                            "{live}; refusing (check the tenant's URL and token, or register the other account "
                            "as its own tenant)"},
    "shared_account": {"ru": "клиент {name!r} уже привязан к аккаунту CRM {account}, куда ведут и учётные данные "
                             "этого клиента; два клиента на одном аккаунте удаляли бы объекты друг друга при "
                             "--prune. Отказ; если два описания действительно делят аккаунт, объявите это у этого "
                             "клиента (shares_account_with: {name} в implkit.yaml или `tenant add ... "
                             "--shares-account-with {name}`)",
                       "en": "tenant {name!r} is already bound to CRM account {account}, which this tenant's "
                             "credentials reach too; two tenants on one account would delete each other's objects "
                             "with --prune. Refusing; if two blueprints really share the account, declare it on "
                             "this tenant (shares_account_with: {name} in implkit.yaml, or `tenant add ... "
                             "--shares-account-with {name}`)"},
    "cannot_apply": {"ru": "описание (blueprint) нельзя применить к {crm} в таком виде",
                     "en": "the blueprint cannot be applied to {crm} as written"},
    "plan_account": {"ru": "сохранённый план сделан для аккаунта {saved}, а этот клиент ведёт в аккаунт {live}",
                     "en": "the saved plan is for account {saved}, this tenant reaches account {live}"},
    "stale": {"ru": "сохранённый план устарел: клиент (или его состояние) изменился после того, как план был "
                    "сделан; ничего не записано. Сделайте план заново.",
              "en": "the saved plan is stale: the tenant (or its state) changed since the plan was made; nothing "
                    "was written. Make a new plan."},
    "never_applied": {"ru": "к клиенту {tenant!r} ещё ничего не применялось, поэтому расхождений искать не с чем",
                      "en": "nothing has been applied to tenant {tenant!r} yet, so there is nothing to drift from"},
}


def check_account(store: Any, live: LiveConfig) -> None:
    """Refuse (exit 3) when the state belongs to another account than the credentials reach."""
    bound = store.account_id
    if bound is not None and str(bound) != str(live.account.id):
        from implkit.workspace.state import AccountMismatch

        raise AccountMismatch(say(_RUN_MESSAGES, "other_account", bound=bound, live=live.account.id))


def protected_ids(store: Any, live: LiveConfig, neighbours: Iterable[Any]) -> frozenset[tuple[str, str]]:
    """Refuse (exit 3) a tenant whose account another tenant's state is bound to, unless the two are
    declared as sharing it; return the objects the sharing tenants manage, which prune never deletes.

    `neighbours`: `implkit.workspace.core.Neighbour`s (name, bound account id, shares, state ids).
    """
    from implkit.workspace.state import AccountMismatch

    account = str(live.account.id)
    protected: set[tuple[str, str]] = set()
    for n in neighbours:
        if n.account_id is None or str(n.account_id) != account:
            continue
        if not n.shares:
            raise AccountMismatch(say(_RUN_MESSAGES, "shared_account", name=n.name, account=account))
        for address, rid in n.ids.items():
            kind = diff.kind_of(address)
            if kind:
                protected.add((kind, str(rid)))
    return frozenset(protected)


def check_blueprint(provider: Provider, desired: Blueprint, source: str | None) -> None:
    """What the CRM cannot take as written (amoCRM: `add` only all/none...) → InputError naming file:line:col."""
    problems_of = getattr(provider, "blueprint_problems", None)
    found = problems_of(desired) if problems_of else []
    if not found:
        return
    from implkit.errors import Location, Problem

    tree = None
    if source and Path(source).is_file():
        from implkit.yamlio import load_yaml

        try:
            tree = load_yaml(source)
        except InputError:
            tree = None
    problems = []
    for path, message in found:
        if tree is not None:
            from implkit.yamlio import location_of

            where = location_of(tree, path, source or "<blueprint>")
        else:
            where = Location(source or "<blueprint>", key=".".join(str(p) for p in path))
        problems.append(Problem(where, message))
    raise InputError(say(_RUN_MESSAGES, "cannot_apply", crm=provider.capabilities.crm), problems)


def make_plan(provider: Provider, desired: Blueprint, store: Any, *, tenant: str = "", prune: bool = False,
              manual: Iterable[ManualStep] = (), mode: str = "normal", source: str | None = None,
              neighbours: Iterable[Any] = ()) -> Plan:
    check_blueprint(provider, desired, source)
    live = provider.read_config()
    check_account(store, live)
    protected = protected_ids(store, live, neighbours)
    return diff.plan(desired, state_view(store), live, provider.capabilities, tenant=tenant, prune=prune,
                     manual=manual, mode=mode, protected=protected)


def apply_blueprint(provider: Provider, desired: Blueprint, store: Any, *, tenant: str = "", prune: bool = False,
                    allow_destroy: bool = False, manual: Iterable[ManualStep] = (), saved: Plan | None = None,
                    confirm: Callable[[Plan], bool] | None = None, progress: Progress = lambda _m: None,
                    source: str | None = None, neighbours: Iterable[Any] = ()) -> tuple[Plan, ApplyResult | None]:
    """Plan, confirm, then converge. Returns (the plan shown, the result; None when declined)."""
    manual = tuple(manual)
    check_blueprint(provider, desired, source)
    live = provider.read_config()
    check_account(store, live)
    protected = protected_ids(store, live, neighbours)
    current = diff.plan(desired, state_view(store), live, provider.capabilities, tenant=tenant, prune=prune,
                        manual=manual, protected=protected)
    if saved is not None:
        if saved.account_id != current.account_id:
            raise InputError(say(_RUN_MESSAGES, "plan_account", saved=saved.account_id, live=current.account_id))
        if saved.fingerprint != current.fingerprint or saved.changes != current.changes:
            raise ConflictError(say(_RUN_MESSAGES, "stale"))
    refuse_destructive(current, allow_destroy)
    if current.changes and confirm is not None and not confirm(current):
        return current, None
    store.bind_account(live.account.id)
    if current.changes and hasattr(store, "backup"):
        store.backup()
    result = converge(provider, desired, StoreAccess(store), tenant=tenant, prune=prune,
                      allow_destroy=allow_destroy, manual=manual, first_plan=current, progress=progress,
                      protected=protected)
    _record_applied(store, desired)
    return current, result


def drift(provider: Provider, store: Any, *, tenant: str = "", neighbours: Iterable[Any] = ()) -> Plan:
    """The tenant against the last applied blueprint: what changed by hand (exit 2 when anything did)."""
    last = store.last_applied()
    if last is None:
        raise InputError(say(_RUN_MESSAGES, "never_applied", tenant=tenant))
    return make_plan(provider, _blueprint_from_text(last.blueprint), store, tenant=tenant, mode="drift",
                     neighbours=neighbours)


def config_comparison(provider: Provider, desired: Blueprint, store: Any, *, tenant: str = "",
                      manual: Iterable[ManualStep] = (), neighbours: Iterable[Any] = ()) -> Plan:
    """The comparison the audit's F02/U01 report, made by the same function `drift` and `plan` use.

    Once something has been applied: exactly `drift` (what changed since, and what sits in managed
    containers undescribed). Before that: the plan against the tenant's blueprint (what apply would
    create or change, and the same undescribed objects), since there is nothing to drift from yet.
    """
    if store.last_applied() is not None:
        return drift(provider, store, tenant=tenant, neighbours=neighbours)
    return make_plan(provider, desired, store, tenant=tenant, manual=manual, neighbours=neighbours)


def export(provider: Provider, *, name: str | None = None) -> Blueprint:
    return export_blueprint(provider.read_config(), name=name, palette=provider.capabilities.stage_palette)


# --- saved plans ----------------------------------------------------------------------------


_PLAN_MESSAGES = {
    "no_file": {"ru": "{file}: нет такого файла плана", "en": "{file}: no such plan file"},
    "damaged": {"ru": "файл плана повреждён", "en": "the plan file is damaged"},
    "not_json": {"ru": "не JSON ({reason}): файл обрезан или испорчен; сделайте план заново",
                 "en": "not JSON ({reason}): the file is truncated or corrupted; make the plan again"},
    "not_plan": {"ru": "не файл плана implkit (нет kind: {kind})", "en": "not an implkit plan file (no kind: {kind})"},
    "version": {"ru": "версия формата плана {found!r}, а эта версия implkit читает {expected}; сделайте план заново",
                "en": "plan schema version {found!r} is not {expected}; make the plan again with this implkit"},
    "checksum": {"ru": "содержимое не совпадает с контрольной суммой: файл изменён после `implkit plan -o`; "
                       "сделайте план заново",
                 "en": "the content does not match its checksum: the file was changed after `implkit plan -o`; "
                       "make the plan again"},
    "structure": {"ru": "не хватает или испорчено: {detail}", "en": "missing or malformed: {detail}"},
}


def _plan_checksum(data: dict) -> str:
    """sha256 of the plan file's content without its checksum, as canonical JSON."""
    body = {k: v for k, v in data.items() if k != "checksum"}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def write_plan_file(path: str | Path, plan: Plan, desired: Blueprint) -> None:
    # The checksum makes any edit (a fingerprint, a change, the blueprint) read as damage (exit 3), never as
    # a stale plan (exit 1, "the tenant changed"), which would send the user looking at the wrong thing.
    data = json.loads(json.dumps({"kind": PLAN_FILE_KIND, **plan.to_json_dict(), "desired": desired.to_dict()},
                                 ensure_ascii=False))
    data["checksum"] = _plan_checksum(data)
    atomic_write(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n", mode=0o600)  # the account's setup


def read_plan_file(path: str | Path) -> tuple[Plan, Blueprint]:
    """The saved plan and its blueprint; a file that is not exactly what `plan -o` wrote is InputError (exit 3)."""
    from implkit.errors import Location, Problem

    name = str(path)

    def damaged(message: str, line: int = 1, column: int = 1, key: str = "") -> InputError:
        return InputError(say(_PLAN_MESSAGES, "damaged"), [Problem(Location(name, line, column, key), message)])

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(say(_PLAN_MESSAGES, "no_file", file=name)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(say(_PLAN_MESSAGES, "not_json", reason=type(exc).__name__)) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise damaged(say(_PLAN_MESSAGES, "not_json", reason=getattr(exc, "msg", str(exc))), line, column) from None

    def line_of(key: str) -> int:
        found = text.find(f'"{key}"')
        return text.count("\n", 0, found) + 1 if found >= 0 else 1

    if not isinstance(data, dict) or data.get("kind") != PLAN_FILE_KIND:
        raise damaged(say(_PLAN_MESSAGES, "not_plan", kind=PLAN_FILE_KIND), line_of("kind"), 1, "kind")
    if data.get("schema_version") != PLAN_SCHEMA_VERSION:
        raise damaged(say(_PLAN_MESSAGES, "version", found=data.get("schema_version"), expected=PLAN_SCHEMA_VERSION),
                      line_of("schema_version"), 1, "schema_version")
    if data.get("checksum") != _plan_checksum(data):
        raise damaged(say(_PLAN_MESSAGES, "checksum"), line_of("checksum"), 1, "checksum")
    try:
        return Plan.from_json_dict(data), Blueprint.from_dict(data["desired"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(say(_PLAN_MESSAGES, "structure", detail=f"{type(exc).__name__}: {exc}")) from None


# --- last applied -------------------------------------------------------------------------------


def blueprint_text(desired: Blueprint) -> str:
    return canonical_json(desired.to_dict())


def _record_applied(store: Any, desired: Blueprint) -> None:
    text = blueprint_text(desired)
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    last = store.last_applied()
    if last is None or last.hash != digest:
        store.set_last_applied(desired.version, digest, text)


def _blueprint_from_text(text: str) -> Blueprint:
    try:
        return Blueprint.from_dict(json.loads(text))
    except ValueError:
        from implkit.yamlio import load_yaml, to_plain

        return Blueprint.from_dict(to_plain(load_yaml("<last applied>", text=text)))
