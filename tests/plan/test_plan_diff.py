"""The pure diff: matching, renames, adoption, destructive changes, drift, prune, exit codes."""

from __future__ import annotations

from dataclasses import replace

from implkit.model import AccountInfo, Blueprint, ManualStep
from implkit.plan.changes import CREATE, DELETE, REPLACE, UPDATE, Plan, StateView
from implkit.plan.diff import plan, stage_sorts
from implkit.plan.show import render_json, render_text
from implkit.providers.amocrm.mapping import CAPABILITIES as CAPS
from implkit.providers.base import (
    LiveConfig, LiveField, LiveFieldGroup, LiveGroup, LiveOption, LivePipeline, LiveRole, LiveStage,
)

BP = {
    "apiVersion": "implkit/v1", "kind": "Blueprint", "metadata": {"name": "t", "version": "1"},
    "groups": [{"key": "sales", "name": "Отдел продаж"}],
    "roles": [{"key": "manager", "name": "Менеджер", "rights": {"leads": {"view": "own", "add": "all"}}}],
    "pipelines": [{"key": "sales", "name": "Продажи", "is_main": True, "won_name": "Оплачено", "stages": [
        {"key": "new", "name": "Новый", "color": "#fffeb2"},
        {"key": "qual", "name": "Квалификация", "required_fields": ["field.leads.source"]},
    ]}],
    "fields": {"leads": [{"key": "source", "name": "Источник", "type": "select", "options": ["Сайт", "Звонок"],
                          "group": "Маркетинг"}],
               "contacts": [{"key": "phone", "name": "Телефон", "type": "phone"}]},
    "loss_reasons": [{"key": "price", "name": "Дорого"}],
}


def blueprint(**changes) -> Blueprint:
    data = {**BP, **changes}
    return Blueprint.from_dict(data)


def applied_live() -> LiveConfig:
    """The tenant as apply leaves it for BP (ids: pipeline 1, stages 11/12, group g1, fields 21/22, role 31)."""
    return LiveConfig(
        account=AccountInfo("100", "acme"),
        pipelines=(LivePipeline("1", "Продажи", 1, True, (
            LiveStage("10", "Неразобранное", 10, "#c1c1c1", "unsorted"),
            LiveStage("11", "Новый", 20, "#fffeb2"),
            LiveStage("12", "Квалификация", 30, "#fffd7f"),
            LiveStage("142", "Оплачено", 10000, None, "won"),
            LiveStage("143", "Закрыто и не реализовано", 11000, None, "lost"))),),
        field_groups=(LiveFieldGroup("leads", "default", "Основное", 0, True),
                      LiveFieldGroup("leads", "g1", "Маркетинг", 10)),
        fields=(LiveField("leads", "21", "Источник", "select", options=(LiveOption("1", "Сайт", 10),
                                                                        LiveOption("2", "Звонок", 20)),
                          group_id="g1", required_at=(("1", "12"),)),
                LiveField("contacts", "22", "Телефон", "phone", code="PHONE", is_predefined=True,
                          is_deletable=False)),
        roles=(LiveRole("31", "Менеджер", (("leads", (("add", "all"), ("view", "own"), ("edit", "all"))),)),),
        groups=(LiveGroup("0", "Отдел продаж"),),
        loss_reasons=(),
    )


IDS = {"pipeline.sales": "1", "pipeline.sales.stage.new": "11", "pipeline.sales.stage.qual": "12",
       "field_group.leads.Маркетинг": "g1", "field.leads.source": "21", "field.contacts.phone": "22",
       "role.manager": "31"}


def test_applied_tenant_has_no_changes_and_exit_0():
    p = plan(blueprint(), StateView(IDS, blueprint()), applied_live(), CAPS, tenant="acme")
    assert p.changes == () and p.drift == ()
    assert p.exit_code() == 0
    assert "No changes." in render_text(p)
    # the group exists live: its manual step is satisfied; the loss reason is not
    steps = [ManualStep("group.sales", "Create group"), ManualStep("loss_reason.price", "Add reason")]
    p = plan(blueprint(), StateView(IDS), applied_live(), CAPS, manual=steps)
    assert [m.address for m in p.manual] == ["loss_reason.price"]
    assert p.exit_code() == 0


def test_empty_tenant_creates_everything_in_dependency_order():
    live = LiveConfig(account=AccountInfo("100", "acme"))
    p = plan(blueprint(), StateView(), live, CAPS)
    kinds = [c.kind for c in p.changes]
    assert kinds == ["pipeline", "stage", "stage", "field_group", "field", "field", "role"]
    assert all(c.action == CREATE for c in p.changes)
    assert p.exit_code() == 2
    assert p.summary() == "7 to create, 0 to update, 0 to delete, 2 manual"
    stage = next(c for c in p.changes if c.address == "pipeline.sales.stage.qual")
    assert stage.attr("sort") == 30 and stage.parent == "pipeline.sales"
    field = next(c for c in p.changes if c.address == "field.leads.source")
    assert field.attr("required_at") == ("pipeline.sales.stage.qual",)
    assert field.attr("group") == "field_group.leads.Маркетинг"


def test_rename_with_same_key_is_an_update_matched_by_state_id():
    bp = blueprint(pipelines=[{**BP["pipelines"][0], "name": "Продажи B2B"}])
    p = plan(bp, StateView(IDS), applied_live(), CAPS)
    assert [(c.action, c.address) for c in p.changes] == [(UPDATE, "pipeline.sales")]
    assert p.changes[0].diffs[0].before == "Продажи" and p.changes[0].diffs[0].after == "Продажи B2B"
    assert "~ name: \"Продажи\" → \"Продажи B2B\"" in render_text(p)


def test_adoption_by_name_without_state():
    p = plan(blueprint(), StateView(), applied_live(), CAPS)
    assert p.changes == ()
    assert dict(p.bindings)["pipeline.sales.stage.qual"] == "12"
    assert dict(p.bindings)["field.contacts.phone"] == "22"  # by code PHONE


def test_field_type_change_is_a_destructive_replace():
    fields = {**BP["fields"], "leads": [{"key": "source", "name": "Источник", "type": "text",
                                         "group": "Маркетинг"}]}
    p = plan(blueprint(fields=fields), StateView(IDS), applied_live(), CAPS)
    [c] = [c for c in p.changes if c.address == "field.leads.source"]
    assert c.action == REPLACE and c.destructive
    assert p.summary().startswith("1 to create, 0 to update, 1 to delete")


def test_option_removal_is_destructive_option_addition_is_not():
    def with_options(options):
        return blueprint(fields={**BP["fields"], "leads": [{**BP["fields"]["leads"][0], "options": options}]})

    removed = plan(with_options(["Сайт"]), StateView(IDS), applied_live(), CAPS)
    assert removed.changes[0].destructive and "Звонок" in removed.changes[0].destructive
    added = plan(with_options(["Сайт", "Звонок", "Выставка"]), StateView(IDS), applied_live(), CAPS)
    assert added.changes[0].action == UPDATE and added.changes[0].destructive is None


def test_drift_is_reported_separately_and_the_update_restores():
    live = applied_live()
    p0 = live.pipelines[0]
    renamed = replace(p0, stages=tuple(replace(s, name="Новый лид") if s.id == "11" else s for s in p0.stages))
    live = replace(live, pipelines=(renamed,))
    p = plan(blueprint(), StateView(IDS, blueprint()), live, CAPS)
    assert [d.address for d in p.drift] == ["pipeline.sales.stage.new"]
    assert p.drift[0].diffs[0].before == "Новый" and p.drift[0].diffs[0].after == "Новый лид"
    assert [(c.action, c.address) for c in p.changes] == [(UPDATE, "pipeline.sales.stage.new")]
    assert "changed outside implkit" in render_text(p)
    drift_only = plan(blueprint(), StateView(IDS, blueprint()), live, CAPS, mode="drift")
    assert drift_only.changes == () and drift_only.exit_code() == 2
    clean = plan(blueprint(), StateView(IDS, blueprint()), applied_live(), CAPS, mode="drift")
    assert clean.exit_code() == 0 and "No drift" in render_text(clean)


def test_object_deleted_by_hand_is_drift_and_recreated():
    live = applied_live()
    live = replace(live, roles=())
    p = plan(blueprint(), StateView(IDS, blueprint()), live, CAPS)
    assert [(d.address, d.gone) for d in p.drift] == [("role.manager", True)]
    assert [(c.action, c.address) for c in p.changes] == [(CREATE, "role.manager")]


def test_prune_deletes_unmanaged_objects_and_marks_data_loss():
    live = applied_live()
    extra_field = LiveField("leads", "29", "Старое поле", "text")
    p0 = live.pipelines[0]
    extra_stage = LiveStage("13", "Лишний", 40, "#fff000")
    live = replace(live, fields=live.fields + (extra_field,),
                   pipelines=(replace(p0, stages=p0.stages + (extra_stage,)),))
    kept = plan(blueprint(), StateView(IDS), live, CAPS)
    assert kept.changes == ()  # left alone without prune
    pruned = plan(blueprint(), StateView(IDS), live, CAPS, prune=True)
    assert [(c.action, c.address) for c in pruned.changes] == [
        (DELETE, "field.leads.#29"), (DELETE, "pipeline.sales.stage.#13")]
    assert all(c.destructive for c in pruned.changes)
    # predefined groups and fields and system stages are never pruned
    assert not any("default" in c.address or "#142" in c.address for c in pruned.changes)


def test_reorder_stages_renumbers_only_what_is_needed():
    bp = blueprint(pipelines=[{**BP["pipelines"][0], "stages": list(reversed(BP["pipelines"][0]["stages"]))}])
    p = plan(bp, StateView(IDS), applied_live(), CAPS)
    assert {c.address: dict((d.attr, d.after) for d in c.diffs) for c in p.changes} == {
        "pipeline.sales.stage.new": {"sort": 30}, "pipeline.sales.stage.qual": {"sort": 20}}


def test_stage_sorts_fit_new_stages_between_existing_ones():
    assert stage_sorts([20, None, 30], CAPS) == [20, 25, 30]
    assert stage_sorts([None, None], CAPS) == [20, 30]
    assert stage_sorts([30, 20], CAPS) == [20, 30]  # wrong order: canonical
    assert stage_sorts([20, None, None, 21], CAPS) == [20, 30, 40, 50]  # no room: canonical


def test_plan_json_round_trips_and_carries_schema_version():
    import json
    p = plan(blueprint(), StateView(), LiveConfig(account=AccountInfo("100", "acme")), CAPS, tenant="acme")
    data = json.loads(render_json(p))
    assert data["schema_version"] == 1 and data["summary"]["create"] == 7
    assert Plan.from_json_dict(data) == p


def test_plan_is_pure_and_fingerprint_tracks_the_live_config():
    a = plan(blueprint(), StateView(IDS), applied_live(), CAPS)
    b = plan(blueprint(), StateView(IDS), applied_live(), CAPS)
    assert a == b
    live = applied_live()
    changed = replace(live, roles=(replace(live.roles[0], name="Другой"),))
    assert plan(blueprint(), StateView(IDS), changed, CAPS).fingerprint != a.fingerprint


def test_requirements_at_stages_the_blueprint_does_not_describe_are_kept_unless_prune():
    live = applied_live()
    p0 = live.pipelines[0]
    extra = LiveStage("13", "Ручной этап", 40, "#fff000")
    source = replace(live.fields[0], required_at=(("1", "12"), ("1", "13")))
    live = replace(live, pipelines=(replace(p0, stages=p0.stages + (extra,)),),
                   fields=(source,) + live.fields[1:])
    assert plan(blueprint(), StateView(IDS), live, CAPS).changes == ()
    pruned = plan(blueprint(), StateView(IDS), live, CAPS, prune=True)
    [update] = [c for c in pruned.changes if c.address == "field.leads.source"]
    assert update.attr("required_at") == ("pipeline.sales.stage.qual",)
    # and a requirement at a stage implkit never applied is not drift either
    assert plan(blueprint(), StateView(IDS, blueprint()), live, CAPS, mode="drift").drift == ()


def test_deletions_are_listed_first_in_the_text():
    live = applied_live()
    live = replace(live, roles=live.roles + (LiveRole("39", "Стажёр"),))
    text = render_text(plan(blueprint(), StateView(IDS), live, CAPS, prune=True))
    assert text.index("Will delete (1):") < text.index("# role.#39 will be deleted")
    assert '- role.#39 "Стажёр"' in text


def test_the_words_printed_and_the_exit_code_always_agree():
    empty = LiveConfig(account=AccountInfo("100", "acme"))
    drifted = replace(applied_live(), roles=())
    cases = [
        plan(blueprint(), StateView(IDS, blueprint()), applied_live(), CAPS),
        plan(blueprint(), StateView(), empty, CAPS),
        plan(blueprint(), StateView(IDS, blueprint()), drifted, CAPS),
        plan(blueprint(), StateView(IDS, blueprint()), applied_live(), CAPS, mode="drift"),
        plan(blueprint(), StateView(IDS, blueprint()), drifted, CAPS, mode="drift"),
        plan(blueprint(), StateView(IDS), applied_live(), CAPS, manual=[ManualStep("x", "Do it")]),
    ]
    for p in cases:
        text = render_text(p)
        quiet = "No changes." in text or "No drift." in text
        assert quiet == (p.exit_code() == 0), text
        assert (p.exit_code() == 0) == (not render_json(p).count('"has_changes": true'))


# --- undescribed objects, interrupted creations, shared accounts -------------------------------


def _with_extra(live: LiveConfig, *stages: LiveStage, reasons=()) -> LiveConfig:
    from implkit.providers.base import LiveLossReason

    p = live.pipelines[0]
    return replace(live, pipelines=(replace(p, stages=p.stages[:3] + stages + p.stages[3:]),),
                   loss_reasons=tuple(LiveLossReason(rid, name) for rid, name in reasons))


def test_a_stage_and_a_loss_reason_the_blueprint_does_not_describe_are_listed_not_changed():
    live = _with_extra(applied_live(), LiveStage("13", "Руками", 40), reasons=[("70", "Дорого"), ("71", "Спам")])
    p = plan(blueprint(), StateView(IDS, blueprint()), live, CAPS, tenant="acme")
    assert p.changes == ()
    assert [(u.address, u.prunable) for u in p.unmanaged] == [("pipeline.sales.stage.#13", True),
                                                              ("loss_reason.#71", False)]
    assert p.exit_code() == 0  # plan: apply would write nothing
    assert "Not described in the blueprint (2)" in render_text(p)
    assert "--prune deletes 1 of them" in p.summary()
    d = plan(blueprint(), StateView(IDS, blueprint()), live, CAPS, tenant="acme", mode="drift")
    assert d.exit_code() == 2 and [u.address for u in d.unmanaged] == [u.address for u in p.unmanaged]
    assert [x.what for x in d.discrepancies()] == ["unmanaged", "unmanaged"]
    pruned = plan(blueprint(), StateView(IDS, blueprint()), live, CAPS, prune=True)
    assert [c.address for c in pruned.changes if c.action == DELETE] == ["pipeline.sales.stage.#13"]
    assert [u.address for u in pruned.unmanaged] == ["loss_reason.#71"]  # the API cannot delete it
    again = Plan.from_json_dict(p.to_json_dict())
    assert again.unmanaged == p.unmanaged


def test_loss_reasons_are_a_managed_list_only_when_the_blueprint_describes_one():
    live = _with_extra(applied_live(), reasons=[("71", "Спам")])
    p = plan(blueprint(loss_reasons=[]), StateView(IDS), live, CAPS)
    assert p.unmanaged == ()


def test_an_interrupted_creation_reuses_the_default_stages_and_removes_the_rest():
    from implkit.plan.changes import creating_marker
    from implkit.plan.diff import LEFTOVER_DELETED, LEFTOVER_REUSED

    live = applied_live()
    p0 = live.pipelines[0]
    defaults = (LiveStage("51", "Новая", 10), LiveStage("52", "Подготовка документов", 20),
                LiveStage("53", "В работе", 30))
    fresh = replace(live, pipelines=(replace(p0, id="5", is_main=False, stages=defaults + p0.stages[3:]),))
    bp = blueprint(pipelines=[{**BP["pipelines"][0], "is_main": False}])
    ids = {"pipeline.sales": "5", creating_marker("pipeline.sales"): "pending"}
    p = plan(bp, StateView(ids), fresh, CAPS)
    rows = [(c.action, c.address, c.remote_id, c.note) for c in p.changes if c.kind == "stage"]
    assert rows == [("update", "pipeline.sales.stage.new", "51", LEFTOVER_REUSED),
                    ("update", "pipeline.sales.stage.qual", "52", LEFTOVER_REUSED),
                    ("delete", "pipeline.sales.stage.#53", "53", LEFTOVER_DELETED)]
    assert not p.destructive and p.unmanaged == ()
    # without the marker the same stages are somebody's: left alone and listed
    q = plan(bp, StateView({"pipeline.sales": "5"}), fresh, CAPS)
    assert [c.action for c in q.changes if c.kind == "stage"] == ["create", "create"]
    assert [u.remote_id for u in q.unmanaged] == ["51", "52", "53"]


def test_a_taken_over_main_pipeline_is_finished_only_when_it_holds_no_deal():
    from implkit.plan.changes import creating_marker

    live = applied_live()
    p0 = live.pipelines[0]
    defaults = (LiveStage("51", "Новая", 10), LiveStage("52", "В работе", 20))
    ids = {"pipeline.sales": "1", creating_marker("pipeline.sales"): "pending"}
    for in_use, finished in ((True, False), (None, False), (False, True)):
        taken = replace(live, pipelines=(replace(p0, stages=defaults + p0.stages[3:], in_use=in_use),))
        p = plan(blueprint(), StateView(ids), taken, CAPS)
        reused = [c.remote_id for c in p.changes if c.note]
        assert (reused == ["51", "52"]) is finished, (in_use, reused)


def test_objects_another_tenant_of_the_account_manages_are_never_adopted_pruned_or_listed():
    live = _with_extra(applied_live(), LiveStage("13", "Их этап", 40))
    theirs = frozenset({("stage", "13"), ("field", "21")})
    ids = {a: r for a, r in IDS.items() if a != "field.leads.source"}
    p = plan(blueprint(), StateView(ids), live, CAPS, prune=True, protected=theirs)
    assert "pipeline.sales.stage.#13" not in {c.address for c in p.changes}
    assert [c.action for c in p.changes if c.address == "field.leads.source"] == ["create"]  # not adopted
    assert not [c for c in p.changes if c.remote_id in ("13", "21")]
    assert p.unmanaged == ()
