"""Plan versus actual matches funnel steps by a stable reference per pipeline, never by display name:
two pipelines with stages of the same names are never summed, the first step is never empty, and no
report format prints `None`."""

from __future__ import annotations

import json

import pytest

from audit_support import NOW, build_snapshot

from implkit.audit import AuditOptions, run_audit
from implkit.model import Blueprint

DAY = 86400
SERVICE = 200
SERVICE_STAGES = [{"id": 21, "name": "Первичный контакт", "sort": 20}, {"id": 23, "name": "КП отправлено", "sort": 40},
                  {"id": 142, "name": "Успешно реализовано", "sort": 10000},
                  {"id": 143, "name": "Закрыто и не реализовано", "sort": 11000}]


def _move(eid, lead, before, after, at, pipeline=100):
    return {"id": eid, "type": "lead_status_changed", "entity_type": "lead", "entity_id": lead, "created_at": at,
            "value_before": [{"lead_status": {"id": before, "pipeline_id": pipeline}}],
            "value_after": [{"lead_status": {"id": after, "pipeline_id": pipeline}}]}


# Sales (100): 4 deals created in the period, 2 reached «КП отправлено» (13), 1 won.
# Service (200): 3 deals created in the period, 2 reached its own «КП отправлено» (23), none won.
LEADS = [
    {"id": 1, "status_id": 142, "price": 100, "created_at": "now-20d", "closed_at": "now-10d"},
    {"id": 2, "status_id": 143, "created_at": "now-20d", "closed_at": "now-5d", "responsible_user_id": 2},
    {"id": 3, "status_id": 13, "price": 500, "created_at": "now-15d", "responsible_user_id": 2},
    {"id": 4, "status_id": 11, "price": 50, "created_at": "now-3d"},
    {"id": 5, "pipeline_id": SERVICE, "status_id": 23, "created_at": "now-12d"},
    {"id": 6, "pipeline_id": SERVICE, "status_id": 23, "created_at": "now-11d"},
    {"id": 7, "pipeline_id": SERVICE, "status_id": 21, "created_at": "now-2d"},
]
EVENTS = [_move("a1", 1, 11, 13, NOW - 15 * DAY), _move("a2", 1, 13, 142, NOW - 10 * DAY),
          _move("c1", 3, 11, 13, NOW - 14 * DAY)]


def _blueprint(funnel):
    stages = [{"key": "new", "name": "Первичный контакт"}, {"key": "offer", "name": "КП отправлено"}]
    return Blueprint.from_dict({
        "metadata": {"name": "t", "version": "1"}, "sizing": {"sellers": 2},
        "pipelines": [{"key": "sales", "name": "Продажи", "stages": stages},
                      {"key": "service", "name": "Сервис", "stages": stages}],
        "analytics": {"plan": {"revenue_month": 400000, "avg_check": 40000, "working_days": 20}, "funnel": funnel}})


BINDINGS = {"pipeline.sales": 100, "pipeline.service": SERVICE, "pipeline.sales.stage.new": 11,
            "pipeline.sales.stage.offer": 13, "pipeline.service.stage.new": 21, "pipeline.service.stage.offer": 23}


@pytest.fixture
def snapshot_path(tmp_path):
    path = tmp_path / "snapshot.sqlite"
    snap = build_snapshot(path, {"leads": LEADS, "events": EVENTS})
    snap.insert("pipelines", [{"id": SERVICE, "name": "Сервис", "sort": 2, "stages": SERVICE_STAGES}])
    snap.close()
    return path


def _plan(snapshot_path, funnel, fmt="json", lang="ru"):
    options = AuditOptions(blueprint=_blueprint(funnel), bindings=BINDINGS, only=("D08",))
    outcome = run_audit(snapshot_path, None, tenant="acme", options=options, fmt=fmt, lang=lang,
                        clock=lambda: NOW)
    return outcome.report["analytics"]["plan"], outcome.text


def test_a_step_addressed_to_one_pipeline_counts_only_that_pipeline(snapshot_path):
    plan, _ = _plan(snapshot_path, [
        {"key": "lead", "name": "Лид", "conversion": 0.5},
        {"key": "offer", "name": "КП отправлено", "conversion": 0.5, "stage": "pipeline.sales.stage.offer"}])
    assert [p["name"] for p in plan["pipelines"]] == ["Продажи"]  # the service pipeline is not in this plan
    steps = {s["key"]: s for s in plan["steps"]}
    assert (steps["offer"]["actual"], steps["offer"]["basis"]) == (2, "stage")  # not 4: «КП отправлено» twice
    assert (steps["lead"]["actual"], steps["lead"]["basis"]) == (4, "cohort")  # the sales cohort, not 7
    assert (steps["sale"]["actual"], steps["sale"]["basis"]) == (1, "sale")
    assert [s["needed"] for s in plan["steps"]] == [40, 20, 10]


def test_a_step_without_stage_is_counted_on_the_blueprint_stage_of_its_key_per_pipeline(snapshot_path):
    plan, _ = _plan(snapshot_path, [
        {"key": "lead", "name": "Лид", "conversion": 0.5},
        {"key": "offer", "name": "Предложение", "conversion": 0.5}])
    by_pipeline = {p["name"]: {s["key"]: (s["actual"], s["basis"]) for s in p["steps"]} for p in plan["pipelines"]}
    assert by_pipeline == {
        "Продажи": {"lead": (4, "cohort"), "offer": (2, "key"), "sale": (1, "sale")},
        "Сервис": {"lead": (3, "cohort"), "offer": (2, "key"), "sale": (0, "sale")},
    }


def test_a_step_named_like_a_stage_is_not_matched_by_its_name(snapshot_path):
    plan, _ = _plan(snapshot_path, [
        {"key": "lead", "name": "Лид", "conversion": 0.5},
        {"key": "kp", "name": "КП отправлено", "conversion": 0.5}])
    for pipeline in plan["pipelines"]:
        kp = next(s for s in pipeline["steps"] if s["key"] == "kp")
        assert (kp["actual"], kp["basis"]) == (None, "none")


@pytest.mark.parametrize("fmt", ["table", "md", "html", "json", "csv"])
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_no_report_format_prints_none(snapshot_path, fmt, lang):
    _, text = _plan(snapshot_path, [
        {"key": "lead", "name": "Лид", "conversion": 0.5},
        {"key": "kp", "name": "КП отправлено", "conversion": 0.5}], fmt=fmt, lang=lang)
    assert "None" not in text
    if fmt == "md":
        assert ("План и факт — Продажи" if lang == "ru" else "Plan vs actual — Продажи") in text
        assert ("| КП отправлено |" in text) and "—" in text
    if fmt == "json":
        json.loads(text)
