"""plan / apply / drift / export on a Bitrix24 sandbox portal, through the CRM-neutral plan package."""

from __future__ import annotations

import pytest
from b24p_rig import PRESETS, manual, preset, written

from implkit.model import Blueprint
from implkit.plan.run import apply_blueprint, drift, export, make_plan


def apply(portal, bp, provider=None, **kw):
    provider = provider or portal.provider()
    try:
        return apply_blueprint(provider, bp, portal.state, tenant="acme", manual=manual(bp), **kw)
    finally:
        provider.close()


def plan(portal, bp, provider=None):
    provider = provider or portal.provider()
    try:
        return make_plan(provider, bp, portal.state, tenant="acme", manual=manual(bp))
    finally:
        provider.close()


@pytest.mark.parametrize("name", PRESETS)
def test_preset_applies_to_an_empty_portal_then_nothing_changes(portal, name):
    bp = preset(name)  # composed for amoCRM; only the tenant's provider differs
    first = plan(portal, bp)
    assert first.changes and all(c.action == "create" for c in first.changes)
    shown, result = apply(portal, bp)
    assert result.created == len(first.changes)
    assert plan(portal, bp).changes == ()

    seq = portal.last_seq()
    _shown, again = apply(portal, bp)
    after = portal.log(seq)
    assert again.created == again.updated == again.deleted == 0
    assert written(after) == 0 and len(after) == 1  # one read of the configuration, nothing written


def test_apply_groups_writes_into_batches_of_fifty(portal):
    bp = preset("b2b-services")
    seq = portal.last_seq()
    _shown, result = apply(portal, bp)
    log = portal.log(seq)
    writes = [r for r in log if r["entities_written"]]
    assert all(r["path"].endswith("/batch") for r in log)
    # 3 pipelines: add, list their fresh stages, stages in one batch; 32 fields: one batch
    assert len(writes) == 3 and result.requests == 4
    # 48 objects in 3 write requests (plus the fresh pipelines' default stages renamed, dropped or moved)
    assert written(log) >= result.created == 48


def test_live_configuration_reads_as_the_blueprint(portal):
    bp = preset("b2b-services")
    apply(portal, bp)
    provider = portal.provider()
    live = provider.read_config()
    provider.close()
    sales = next(p for p in live.pipelines if p.name == "Продажи")
    assert sales.id == "0" and sales.is_main  # the main pipeline took over the default one
    names = [s.name for s in sales.stages if s.kind == "normal"]
    assert names == [s.name for s in bp.pipeline("sales").stages]
    kinds = [s.kind for s in sales.stages]
    assert kinds.index("won") > max(i for i, k in enumerate(kinds) if k == "normal")
    source = next(f for f in live.fields if f.entity == "leads" and f.name == "Источник")
    assert source.type == "select" and source.code == "SOURCE"
    assert [o.value for o in sorted(source.options, key=lambda o: o.sort)] == list(bp.field("field.leads.source").options)


def test_roles_automations_and_groups_are_manual_rows(portal):
    bp = preset("b2b-services")
    result = plan(portal, bp)
    manual_addresses = {m.address for m in result.manual}
    assert {r.address for r in bp.roles} <= manual_addresses
    assert any(".automation." in a for a in manual_addresses)
    assert not any(c.kind in ("role", "field_group") for c in result.changes)


def test_changes_to_the_blueprint_are_updates_and_converge(portal):
    bp = preset("b2b-services")
    apply(portal, bp)
    data = bp.to_dict()
    sales = next(p for p in data["pipelines"] if p["key"] == "sales")
    sales["name"] = "Продажи B2B"
    sales["stages"][1]["name"] = "Квалификация лида"
    sales["stages"].append({"key": "extra", "name": "Доп. этап"})
    sales["won_name"] = "Оплачено"
    source = next(f for f in data["fields"]["leads"] if f["key"] == "source")
    source["options"] = [*source["options"][1:], "Партнёр"]  # one removed, one added
    changed = Blueprint.from_dict(data)
    result = plan(portal, changed)
    kinds = {(c.action, c.kind) for c in result.changes}
    assert {("update", "pipeline"), ("update", "stage"), ("create", "stage"), ("update", "field")} <= kinds
    apply(portal, changed, allow_destroy=True)
    assert plan(portal, changed).changes == ()
    provider = portal.provider()
    live = provider.read_config()
    provider.close()
    pipeline = next(p for p in live.pipelines if p.id == "0")
    assert pipeline.name == "Продажи B2B"
    assert next(s for s in pipeline.stages if s.kind == "won").name == "Оплачено"
    assert [s.kind for s in pipeline.stages].index("won") > [s.name for s in pipeline.stages].index("Доп. этап")


def test_export_then_plan_shows_no_changes(portal):
    apply(portal, preset("manufacturer"))
    provider = portal.provider()
    exported = export(provider, name="acme")
    provider.close()
    assert exported.pipelines and exported.fields
    portal.state.close()
    from implkit.workspace.state import StateStore

    portal.state = StateStore(portal.tmp / "fresh-state.db")  # a new tenant adopting the portal as it is
    again = plan(portal, exported)
    assert again.changes == (), [c.address for c in again.changes]
    assert again.bindings  # everything matched by name


def test_drift_reports_hand_edits_and_apply_restores(portal):
    bp = preset("b2b-services")
    apply(portal, bp)
    provider = portal.provider()
    live = provider.read_config()
    provider.close()
    stage = next(s for p in live.pipelines if p.id == "0" for s in p.stages if s.kind == "normal")
    assert portal.call("crm.status.update", {"id": stage.id, "fields": {"NAME": "Переименован руками"}})["result"]
    provider = portal.provider()
    report = drift(provider, portal.state, tenant="acme")
    provider.close()
    assert [d.address for d in report.drift] == ["pipeline.sales.stage.new"]
    apply(portal, bp)
    assert plan(portal, bp).changes == ()


def test_stage_sorted_past_the_success_stage_moves_the_final_stages(portal):
    data = preset("b2b-services").to_dict()
    sales = next(p for p in data["pipelines"] if p["key"] == "sales")
    sales["stages"] += [{"key": f"s{i}", "name": f"Этап {i}"} for i in range(6)]  # 13 stages: sorts up to 130
    bp = Blueprint.from_dict(data)
    apply(portal, bp)
    assert plan(portal, bp).changes == ()
    statuses = portal.call("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}})["result"]
    success = next(int(s["SORT"]) for s in statuses if s["SEMANTICS"] == "S")
    assert max(int(s["SORT"]) for s in statuses if not s["SEMANTICS"]) < success


def test_a_refused_write_names_the_blueprint_object_and_no_secret(portal):
    from implkit.errors import ApiError
    from implkit.providers.base import Operation

    bp = preset("retail")
    apply(portal, bp)
    provider = portal.provider()
    live = provider.read_config()
    field = next(f for f in live.fields if f.entity == "leads" and f.type == "select")
    assert portal.call("crm.deal.userfield.delete", {"id": field.id})["result"] is True  # deleted by hand
    op = Operation(address="field.leads.gone", kind="field", name=field.name, attrs=(("name", "Новое имя"),),
                   remote_id=field.id, changed=("name",))
    with pytest.raises(ApiError) as error:
        provider.update("field", [op], lambda a: None, lambda a, r: None)
    provider.close()
    assert "field.leads.gone" in str(error.value) and "not found" in str(error.value)
    assert portal.secret not in str(error.value)


def test_the_default_pipeline_keeps_stages_that_hold_deals(portal):
    deal = portal.call("crm.deal.add", {"fields": {"TITLE": "Живая сделка", "STAGE_ID": "PREPARATION"}})["result"]
    before = {s["STATUS_ID"]: s["NAME"] for s in portal.call("crm.status.list",
                                                            {"filter": {"ENTITY_ID": "DEAL_STAGE"}})["result"]}
    bp = preset("b2b-services")
    apply(portal, bp)
    assert plan(portal, bp).changes == ()
    after = {s["STATUS_ID"]: s["NAME"] for s in portal.call("crm.status.list",
                                                           {"filter": {"ENTITY_ID": "DEAL_STAGE"}})["result"]}
    stage = portal.call("crm.deal.get", {"id": deal})["result"]["STAGE_ID"]
    assert after[stage] == before[stage] == before["PREPARATION"]  # the deal's stage still means what it meant
    names = set(after.values())
    assert {s.name for s in bp.pipeline("sales").stages} <= names
