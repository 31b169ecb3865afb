"""Plan/apply against the amoCRM sandbox in-process: convergence, zero-write re-apply, faults, rate, renames."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from implkit.blueprint import load_blueprint
from implkit.errors import ConflictError, InputError
from implkit.http import MemoryTokenStore, OAuth2Session, TokenSet
from implkit.http.ratelimit import max_in_window
from implkit.model import Blueprint
from implkit.plan.run import apply_blueprint, drift, export, make_plan, read_plan_file, write_plan_file
from implkit.workspace.state import AccountMismatch, StateStore

from plan_rig import ROOT, SandboxRig, writes

FIXTURE = Path(__file__).parent / "fixtures" / "blueprint.yaml"
PRESETS = sorted((ROOT / "blueprints" / "presets").glob("*.yaml"))


def configuration(rig: SandboxRig, subdomain: str) -> dict[str, Counter]:
    """What the account holds, read from the sandbox store directly: names counted, to spot duplicates."""
    account_id = rig.sandbox.account_id(subdomain)
    q = rig.sandbox.store.query
    return {
        "pipelines": Counter(r["name"] for r in q("SELECT name FROM pipelines WHERE account_id=?", (account_id,))),
        "statuses": Counter(f"{r['pipeline_id']}/{r['name']}" for r in q(
            "SELECT pipeline_id, name FROM statuses WHERE account_id=?", (account_id,))),
        "fields": Counter(f"{r['entity_type']}/{r['name']}" for r in q(
            "SELECT entity_type, name FROM custom_fields WHERE account_id=?", (account_id,))),
        "groups": Counter(f"{r['entity_type']}/{r['name']}" for r in q(
            "SELECT entity_type, name FROM custom_field_groups WHERE account_id=?", (account_id,))),
        "roles": Counter(r["name"] for r in q("SELECT name FROM roles WHERE account_id=?", (account_id,))),
    }


def assert_no_duplicates(rig: SandboxRig, subdomain: str) -> None:
    for kind, names in configuration(rig, subdomain).items():
        duplicated = {n: c for n, c in names.items() if c > 1}
        assert not duplicated, f"duplicate {kind}: {duplicated}"


def converged(rig, provider, bp, state) -> None:
    """After apply: plan shows no changes, and a second apply sends no write request."""
    again = make_plan(provider, bp, state)
    assert again.changes == (), [c.address for c in again.changes]
    assert again.exit_code() == 0
    before = len(rig.log("acme"))
    _shown, result = apply_blueprint(provider, bp, state)
    assert writes(rig.log("acme")[before:]) == []
    assert result is None or result.created == result.updated == result.deleted == 0


def test_fixture_blueprint_applies_converges_and_reapplies_with_zero_writes(rig, state):
    provider = rig.provider("acme", rig.account("acme"))
    bp = load_blueprint(FIXTURE)
    first = make_plan(provider, bp, state)
    assert first.exit_code() == 2 and first.to_create > 0
    _shown, result = apply_blueprint(provider, bp, state)
    assert result.created == first.to_create
    # pipelines with their stages go in one request; each kind batches per entity
    posts = Counter(r["path"].split("/api/v4/")[1].split("?")[0] for r in writes(rig.log("acme"))
                    if r["method"] == "POST")
    assert posts["leads/pipelines"] == 1
    assert posts["leads/custom_fields"] == 1 and posts["contacts/custom_fields"] == 1
    converged(rig, provider, bp, state)
    assert_no_duplicates(rig, "acme")
    live = provider.read_config()
    sales = next(p for p in live.pipelines if p.name == "Продажи")
    assert sales.is_main
    assert [s.name for s in sales.stages if s.kind == "won"] == ["Оплачено"]
    new = next(s for s in sales.stages if s.name == "Новая заявка")
    assert new.color == "#c1e0ff" and new.description == "Связаться в течение 15 минут."
    phone = next(f for f in live.fields if f.entity == "contacts" and f.code == "PHONE")
    assert state.get_ids()["field.contacts.phone"] == int(phone.id) or str(state.get_ids()["field.contacts.phone"]) == phone.id
    lead_phone = next(f for f in live.fields if f.name == "Телефон из заявки")
    assert lead_phone.type == "text"  # multitext exists on contacts and companies only
    source = next(f for f in live.fields if f.name == "Источник")
    assert len(source.required_at) == 2


@pytest.mark.skipif(not PRESETS, reason="no presets in blueprints/presets yet")
@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_each_preset_applies_to_an_empty_account_and_converges(tmp_path, preset):
    rig = SandboxRig(tmp_path)
    try:
        provider = rig.provider("acme", rig.account("acme"))
        state = StateStore(tmp_path / "state.db")
        bp = load_blueprint(preset)
        apply_blueprint(provider, bp, state)
        converged(rig, provider, bp, state)
        assert_no_duplicates(rig, "acme")
        state.close()
    finally:
        rig.close()


def test_rename_with_same_key_is_one_update_request(rig, state):
    provider = rig.provider("acme", rig.account("acme"))
    bp = load_blueprint(FIXTURE)
    apply_blueprint(provider, bp, state)
    data = bp.to_dict()
    data["pipelines"][0]["stages"][1]["name"] = "Квалификация лида"
    renamed = Blueprint.from_dict(data)
    p = make_plan(provider, renamed, state)
    assert [(c.action, c.address) for c in p.changes] == [("update", "pipeline.sales.stage.qualified")]
    before = len(rig.log("acme"))
    apply_blueprint(provider, renamed, state)
    sent = writes(rig.log("acme")[before:])
    assert [r["method"] for r in sent] == ["PATCH"]
    converged(rig, provider, renamed, state)


def test_field_type_change_needs_allow_destroy(rig, state):
    provider = rig.provider("acme", rig.account("acme"))
    bp = load_blueprint(FIXTURE)
    apply_blueprint(provider, bp, state)
    data = bp.to_dict()
    data["fields"]["leads"][1]["type"] = "text"  # budget: numeric -> text
    changed = Blueprint.from_dict(data)
    before = len(rig.log("acme"))
    with pytest.raises(InputError, match="--allow-destroy"):
        apply_blueprint(provider, changed, state)
    assert writes(rig.log("acme")[before:]) == []
    apply_blueprint(provider, changed, state, allow_destroy=True)
    budget = [f for f in provider.read_config().fields if f.name == "Бюджет"]
    assert [f.type for f in budget] == ["text"]
    converged(rig, provider, changed, state)


def test_state_of_another_account_is_refused(rig, state):
    provider = rig.provider("acme", rig.account("acme"))
    apply_blueprint(provider, load_blueprint(FIXTURE), state)
    other = rig.provider("other", rig.account("other"))
    before = len(rig.log("other"))
    with pytest.raises(AccountMismatch) as refused:
        apply_blueprint(other, load_blueprint(FIXTURE), state)
    assert refused.value.exit_code == 3
    assert writes(rig.log("other")[before:]) == []


def test_drift_names_hand_made_changes_and_apply_restores(rig, state):
    token = rig.account("acme")
    provider = rig.provider("acme", token)
    bp = load_blueprint(FIXTURE)
    apply_blueprint(provider, bp, state)
    assert drift(provider, state).exit_code() == 0
    stage_id = state.get_ids()["pipeline.sales.stage.new"]
    pipeline_id = state.get_ids()["pipeline.sales"]
    provider.http.patch(f"/api/v4/leads/pipelines/{pipeline_id}/statuses/{stage_id}", json={"name": "Лид"})
    report = drift(provider, state)
    assert report.exit_code() == 2
    assert [(d.address, d.diffs[0].before, d.diffs[0].after) for d in report.drift] == [
        ("pipeline.sales.stage.new", "Новая заявка", "Лид")]
    p = make_plan(provider, bp, state)
    assert [c.address for c in p.changes] == ["pipeline.sales.stage.new"] and p.drift
    apply_blueprint(provider, bp, state)
    assert drift(provider, state).exit_code() == 0


def test_saved_plan_is_refused_when_the_tenant_changed(rig, state, tmp_path):
    provider = rig.provider("acme", rig.account("acme"))
    bp = load_blueprint(FIXTURE)
    saved = make_plan(provider, bp, state, tenant="acme")
    write_plan_file(tmp_path / "plan.json", saved, bp)
    loaded, desired = read_plan_file(tmp_path / "plan.json")
    assert loaded == saved and desired == bp
    provider.http.post("/api/v4/leads/pipelines", json=[{"name": "Ручная", "sort": 500, "is_main": False,
                                                         "is_unsorted_on": True}])
    before = len(rig.log("acme"))
    with pytest.raises(ConflictError, match="stale"):
        apply_blueprint(provider, desired, state, tenant="acme", saved=loaded)
    assert writes(rig.log("acme")[before:]) == []
    fresh = make_plan(provider, bp, state, tenant="acme")
    _shown, result = apply_blueprint(provider, bp, state, tenant="acme", saved=fresh)
    assert result.created == fresh.to_create


def configure_by_hand(provider) -> None:
    """A tenant a consultant set up in the UI: through the API directly, no implkit involved."""
    http = provider.http
    [pipeline] = http.post("/api/v4/leads/pipelines", json=[{
        "name": "Опт", "sort": 20, "is_main": False, "is_unsorted_on": True,
        "_embedded": {"statuses": [{"name": "Заявка", "sort": 20, "color": "#fff000"},
                                   {"name": "Счёт", "sort": 30, "color": "#ffc8c8"},
                                   {"id": 142, "name": "Отгружено"}]}}])["_embedded"]["pipelines"]
    invoice = next(s for s in pipeline["_embedded"]["statuses"] if s["name"] == "Счёт")
    [group] = http.post("/api/v4/leads/custom_fields/groups",
                        json=[{"name": "Логистика", "sort": 5}])["_embedded"]["custom_field_groups"]
    http.post("/api/v4/leads/custom_fields", json=[
        {"name": "Склад", "type": "select", "sort": 10, "group_id": group["id"],
         "enums": [{"value": "Москва", "sort": 1}, {"value": "Казань", "sort": 2}],
         "required_statuses": [{"pipeline_id": pipeline["id"], "status_id": invoice["id"]}]},
        {"name": "Вес, кг", "type": "numeric", "sort": 20},
        {"name": "Адрес доставки", "type": "smart_address", "sort": 30}])
    http.post("/api/v4/companies/custom_fields", json=[{"name": "ОКПО", "type": "text", "sort": 40}])
    http.post("/api/v4/roles", json={"name": "Логист", "rights": {
        "leads": {"view": "G", "edit": "M", "add": "A", "delete": "D", "export": "D"}}})


def test_export_then_plan_round_trips_with_no_changes(rig, state, tmp_path):
    from implkit.yamlio import atomic_write, dump_yaml

    provider = rig.provider("acme", rig.account("acme"))
    configure_by_hand(provider)
    exported = export(provider, name="acme")
    path = tmp_path / "exported.yaml"
    atomic_write(path, dump_yaml(exported.to_dict()))
    reloaded = load_blueprint(path)  # the export is a valid blueprint file
    p = make_plan(provider, reloaded, state)
    assert p.changes == (), [(c.action, c.address, c.diffs) for c in p.changes]
    assert p.exit_code() == 0
    wholesale = reloaded.pipeline("opt")
    assert wholesale is not None and wholesale.won_name == "Отгружено"
    assert [s.name for s in wholesale.stages] == ["Заявка", "Счёт"]
    assert wholesale.stage("schet").required_fields == ("field.leads.sklad",)
    role = next(r for r in reloaded.roles if r.name == "Логист")
    assert role.rights_dict()["leads"] == {"view": "group", "edit": "own", "add": "all", "delete": "none",
                                           "export": "none"}
    assert not any(f.name == "Адрес доставки" for f in reloaded.fields)  # smart_address: no neutral type
    # applying it binds every object by name and writes nothing
    before = len(rig.log("acme"))
    apply_blueprint(provider, reloaded, state)
    assert writes(rig.log("acme")[before:]) == []
    assert state.get_ids()["field.leads.sklad"]


@pytest.mark.parametrize("seed", [1, 2, 3, 5, 6, 14])  # seeds whose faults hit writes (others hit reads only)
def test_apply_converges_under_server_errors_and_dropped_connections(rig, state, seed):
    token = rig.account("acme")
    rig.sandbox.set_faults("acme", "5xx=0.1,drop=0.05", seed=seed)
    provider = rig.provider("acme", token, max_retries=10)
    bp = load_blueprint(FIXTURE)
    _shown, result = apply_blueprint(provider, bp, state)
    faults = [r for r in rig.log("acme") if r["status"] == 0 or r["status"] >= 500]  # 0: dropped, no answer
    assert any(r["method"] == "POST" for r in faults)
    assert result.reconciliations >= 1  # a write's outcome was unknown: re-read, never repeated blindly
    rig.sandbox.set_faults("acme", None)
    converged(rig, provider, bp, state)
    assert_no_duplicates(rig, "acme")


def test_apply_survives_token_expiry_with_oauth_refresh(rig, state):
    import httpx

    rig.sandbox.create_account("acme")
    client = rig.sandbox.oauth_client("acme")
    base = "http://sandbox" + rig.sandbox.base_url("acme")
    with httpx.Client(transport=rig.transport) as http:
        tokens = http.post(f"{base}/oauth2/access_token", json={
            "client_id": client["client_id"], "client_secret": client["client_secret"],
            "grant_type": "authorization_code", "code": client["code"],
            "redirect_uri": client["redirect_uri"]}).json()
    store = MemoryTokenStore(TokenSet(tokens["access_token"], tokens["refresh_token"],
                                      rig.clock.now() + tokens["expires_in"]))
    auth = OAuth2Session(f"{base}/oauth2/access_token", client_id=client["client_id"],
                         client_secret=client["client_secret"], redirect_uri=client["redirect_uri"],
                         store=store, transport=rig.transport, clock=rig.clock.now)
    provider = rig.provider("acme", "unused")
    provider.http.auth = auth
    rig.sandbox.set_faults("acme", "expire_token_after=7", seed=1)
    bp = load_blueprint(FIXTURE)
    apply_blueprint(provider, bp, state)
    assert auth.refreshes >= 2
    rig.sandbox.set_faults("acme", None)
    converged(rig, provider, bp, state)
    assert_no_duplicates(rig, "acme")


def test_a_429_storm_finishes_and_the_client_never_exceeds_its_rate(tmp_path):
    # another integration eats the account's budget: the server admits 3 requests a second
    rig = SandboxRig(tmp_path, integration_rps=3)
    try:
        provider = rig.provider("acme", rig.account("acme"), rate=6.0, max_retries=20)
        state = StateStore(tmp_path / "state.db")
        bp = load_blueprint(FIXTURE)
        apply_blueprint(provider, bp, state)
        log = rig.log("acme")
        assert sum(1 for r in log if r["status"] == 429) > 0  # it was a storm
        assert max_in_window([r["at"] for r in log]) <= 6  # the configured rate, counted by the server
        assert all(r["status"] != 403 for r in log)  # never blocked
        rig.sandbox.app.runtime("acme").limiter.integration_rps = 7
        converged(rig, provider, bp, state)
        assert_no_duplicates(rig, "acme")
        state.close()
    finally:
        rig.close()


def test_at_the_configured_rate_no_request_is_refused(rig, state):
    provider = rig.provider("acme", rig.account("acme"), rate=6.0)
    apply_blueprint(provider, load_blueprint(FIXTURE), state)
    log = rig.log("acme")
    assert all(r["status"] != 429 for r in log)
    assert max_in_window([r["at"] for r in log]) <= 6


def test_plan_json_is_machine_readable(rig, state):
    from implkit.plan.show import render_json

    provider = rig.provider("acme", rig.account("acme"))
    data = json.loads(render_json(make_plan(provider, load_blueprint(FIXTURE), state, tenant="acme")))
    assert data["schema_version"] == 1
    assert data["summary"]["has_changes"] is True
    assert {c["kind"] for c in data["changes"]} == {"pipeline", "stage", "field_group", "field", "role"}


def test_won_and_lost_renames_patch_the_system_stages(rig, state):
    provider = rig.provider("acme", rig.account("acme"))
    bp = load_blueprint(FIXTURE)
    apply_blueprint(provider, bp, state)
    data = bp.to_dict()
    data["pipelines"][1]["won_name"] = "Закрыто: сделано"
    renamed = Blueprint.from_dict(data)
    p = make_plan(provider, renamed, state)
    [change] = p.changes
    assert change.address == "pipeline.service" and [d.attr for d in change.diffs] == ["won_name"]
    before = len(rig.log("acme"))
    apply_blueprint(provider, renamed, state)
    [patch] = writes(rig.log("acme")[before:])
    assert patch["method"] == "PATCH" and patch["path"].endswith("/statuses/142")
    service = next(p for p in provider.read_config().pipelines if p.name == "Сервис")
    assert [s.name for s in service.stages if s.kind == "won"] == ["Закрыто: сделано"]
    sales = next(p for p in provider.read_config().pipelines if p.name == "Продажи")
    assert [s.name for s in sales.stages if s.kind == "won"] == ["Оплачено"]  # 142 is per pipeline
    converged(rig, provider, renamed, state)


def test_prune_deletes_what_the_blueprint_does_not_describe(rig, state):
    provider = rig.provider("acme", rig.account("acme"))
    bp = load_blueprint(FIXTURE)
    apply_blueprint(provider, bp, state)
    provider.http.post("/api/v4/leads/custom_fields", json=[{"name": "Лишнее", "type": "text", "sort": 900}])
    assert make_plan(provider, bp, state).changes == ()  # left alone without --prune
    pruned = make_plan(provider, bp, state, prune=True)
    deleted = {c.name for c in pruned.changes if c.action == "delete"}
    assert {"Лишнее", "Воронка"} <= deleted  # the sign-up pipeline is not in the blueprint either
    assert not any(c.name in ("Телефон", "Email") for c in pruned.changes)  # predefined: never
    with pytest.raises(InputError, match="--allow-destroy"):
        apply_blueprint(provider, bp, state, prune=True)
    apply_blueprint(provider, bp, state, prune=True, allow_destroy=True)
    names = {f.name for f in provider.read_config().fields}
    assert "Лишнее" not in names and "Телефон" in names
    assert make_plan(provider, bp, state, prune=True).changes == ()


def test_a_refused_write_names_the_blueprint_object(rig, state):
    from implkit.errors import ApiError
    from implkit.providers.base import Operation

    provider = rig.provider("acme", rig.account("acme"))
    provider.read_config()
    bad = Operation("field.leads.broken", "field", "Сломано",
                    attrs=(("name", "Сломано"), ("options", ()), ("type", "select")))
    with pytest.raises(ApiError) as refused:
        provider.create("field", [bad], {}.get, lambda a, i: None)
    assert "field.leads.broken: enums" in str(refused.value)
