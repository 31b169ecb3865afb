"""Stages in check parameters and exempt stages: by blueprint key or CRM id, so a rename in the CRM
changes nothing; a stage the tenant does not have is bad input naming the stage and the file."""

from __future__ import annotations

import pytest

from audit_support import PIPELINE, STAGES, build_snapshot

from implkit.audit.checks import load_checks
from implkit.audit.engine import AuditOptions, run_checks
from implkit.errors import InputError
from implkit.model import Blueprint

BLUEPRINT = Blueprint.from_dict({
    "apiVersion": "implkit/v1", "kind": "Blueprint", "metadata": {"name": "t", "version": "1.0.0"},
    "pipelines": [{"key": "sales", "name": "Продажи", "stages": [
        {"key": "first", "name": "Первичный контакт"}, {"key": "qualified", "name": "Квалификация"},
        {"key": "offer", "name": "КП отправлено"}, {"key": "contract", "name": "Договор"}]}]})
BINDINGS = {"pipeline.sales": PIPELINE, "pipeline.sales.stage.first": 11, "pipeline.sales.stage.qualified": 12,
            "pipeline.sales.stage.offer": 13, "pipeline.sales.stage.contract": 14}
RECORDS = {"leads": [
    {"id": 1, "status_id": 13, "price": 0, "created_at": "now-20d"},
    {"id": 2, "status_id": 14, "price": 0, "created_at": "now-3d"},
    {"id": 3, "status_id": 12, "price": 0, "created_at": "now-9d"},
    {"id": 4, "status_id": 11, "price": 500, "created_at": "now-9d",
     "contacts": [{"id": 7, "is_main": True}]},
    {"id": 5, "status_id": 11, "price": 500, "created_at": "now-1h"}],
    "tasks": [{"id": 9, "entity_type": "leads", "entity_id": 4, "complete_till": "now-1d"}]}
PARAMETERS = {"D09": {"from_stages": ["sales.offer"]},
              "D04": {"stage_days": {"pipeline.sales.stage.qualified": 30, "13": 30}}}


def _renamed() -> list[dict]:
    return [{**s, "name": s["name"] + " (новое название)"} if s["id"] in (12, 13) else s for s in STAGES]


def _results(path, stages, **options) -> dict[str, list]:
    snap = build_snapshot(path, RECORDS, stages=stages)
    try:
        run = run_checks(snap, load_checks(), AuditOptions(**options), workers=1)
        return {r.check.id: sorted(x.id for x in r.failing) for r in run.results if r.ran}
    finally:
        snap.close()


@pytest.mark.parametrize("exempt", [["pipeline.sales.stage.first"], ["sales.first"], ["first"], [11], ["11"]])
def test_a_stage_renamed_in_the_crm_changes_no_result(tmp_path, exempt):
    options = dict(blueprint=BLUEPRINT, bindings=BINDINGS, parameters=PARAMETERS, exempt_stages=tuple(exempt))
    before = _results(tmp_path / "a.sqlite", STAGES, **options)
    after = _results(tmp_path / "b.sqlite", _renamed(), **options)
    # F02 reports the rename itself: that is configuration drift, not a changed data-quality result
    assert {k: v for k, v in after.items() if k != "F02"} == {k: v for k, v in before.items() if k != "F02"}
    assert before["D09"] == [1, 2]          # from the offer stage on (the key is bound to id 13)
    assert before["D04"] == []              # 30 days allowed in qualified and offer; deal 4's stage is exempt
    assert 4 not in before["D02"]           # deal 4's overdue task is in an exempt stage
    plain = _results(tmp_path / "c.sqlite", STAGES, exempt_stages=tuple(exempt), blueprint=BLUEPRINT,
                     bindings=BINDINGS)
    assert plain["D04"] == [1, 3] and plain["D09"] == []  # the defaults: 7 days everywhere, won deals only


def test_without_bindings_a_key_goes_through_the_blueprint_name(tmp_path):
    got = _results(tmp_path / "a.sqlite", STAGES, blueprint=BLUEPRINT, parameters={"D09": {"from_stages": ["offer"]}})
    assert got["D09"] == [1, 2]


@pytest.mark.usefixtures("english")  # reads English refusals
@pytest.mark.parametrize(("ref", "where"), [
    ("Счёт выставлен", "exempt_stages"), ("sales.nonexistent", "exempt_stages"), (77, "exempt_stages")])
def test_an_exempt_stage_the_tenant_does_not_have_is_bad_input(tmp_path, ref, where):
    with pytest.raises(InputError) as caught:
        _results(tmp_path / "a.sqlite", STAGES, blueprint=BLUEPRINT, exempt_stages=(ref,),
                 settings_file=str(tmp_path / "implkit.yaml"))
    assert f"no stage {ref!r}" in str(caught.value) and where in str(caught.value)


@pytest.mark.usefixtures("english")  # reads English refusals
def test_a_display_name_that_was_renamed_is_bad_input_not_a_silent_zero(tmp_path):
    options = dict(parameters={"D09": {"from_stages": ["КП отправлено"]}})
    assert _results(tmp_path / "a.sqlite", STAGES, **options)["D09"] == [1, 2]
    with pytest.raises(InputError) as caught:
        _results(tmp_path / "b.sqlite", _renamed(), **options)
    assert "no stage 'КП отправлено'" in str(caught.value)


def test_parameters_for_an_unknown_check_are_bad_input(tmp_path):
    with pytest.raises(InputError, match="Z99"):
        _results(tmp_path / "a.sqlite", STAGES, parameters={"Z99": {"days": 1}})


def test_the_cli_names_the_stage_and_the_workspace_file(run_cli, tmp_path):
    from implkit.workspace import CredentialSource, init_workspace
    from implkit.yamlio import dump_yaml, load_yaml

    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", RECORDS).close()
    config_path = tmp_path / "ws" / "implkit.yaml"
    config = load_yaml(config_path)
    config["tenants"]["acme"]["audit"] = {"parameters": {"D04": {"stage_days": {"Переговоры": 3}}}}
    config_path.write_text(dump_yaml(config), encoding="utf-8")
    result = run_cli("audit", "acme", "--workspace", tmp_path / "ws")
    assert result.exit_code == 3, result.output
    assert f"{config_path}:" in result.output and "Переговоры" in result.output
    assert "Traceback" not in result.output
    assert not (ws.tenant_dir("acme") / "audit-history.sqlite").exists()
    config["tenants"]["acme"]["audit"] = {"parameters": {"D04": {"stage_days": {"12": 3}}}}
    config_path.write_text(dump_yaml(config), encoding="utf-8")
    assert run_cli("audit", "acme", "--workspace", tmp_path / "ws", "--checks", "D04").exit_code == 0


@pytest.mark.usefixtures("english")  # reads English refusals
@pytest.mark.parametrize(("thresholds", "message"), [
    ({"D03": "lots"}, "got 'lots'"), ({"D03": -1}, "got -1"), ({"D03": float("nan")}, "got nan"),
    ({"D03": {"max_share": 2}}, "at most 1"), ({"D03": {"max_count": 1.5}}, "whole number"),
    ({"D03": {"most": 3}}, "max_count or max_share"), ({"Z99": 3}, "no check Z99"), ({"D03": True}, "got True")])
def test_bad_tenant_thresholds_are_bad_input(tmp_path, thresholds, message):
    with pytest.raises(InputError) as caught:
        _results(tmp_path / "a.sqlite", STAGES, thresholds=thresholds)
    assert message in str(caught.value) and "thresholds" in str(caught.value)


def test_the_cli_names_a_bad_threshold_in_the_workspace_file(run_cli, tmp_path):
    from implkit.workspace import CredentialSource, init_workspace
    from implkit.yamlio import dump_yaml, load_yaml

    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", RECORDS).close()
    config_path = tmp_path / "ws" / "implkit.yaml"
    config = load_yaml(config_path)
    config["tenants"]["acme"]["audit"] = {"thresholds": {"D03": "lots"}}
    config_path.write_text(dump_yaml(config), encoding="utf-8")
    result = run_cli("audit", "acme", "--workspace", tmp_path / "ws")
    assert result.exit_code == 3, result.output
    line = next(i for i, text in enumerate(config_path.read_text().splitlines(), 1) if "D03: lots" in text)
    assert f"{config_path}:{line}:" in result.output and "'lots'" in result.output
    assert "Traceback" not in result.output
