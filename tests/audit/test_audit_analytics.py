"""Sales analytics on a hand-built snapshot: cohort conversion from stage-change events, win rate,
average check, cycle, loss reasons, response time, manager load, plan decomposition vs actuals."""

from __future__ import annotations

from audit_support import NOW

from implkit.audit.analytics import Period, sales_analytics
from implkit.model import Blueprint

DAY = 86400


def _move(event_id, lead, before, after, at):
    return {"id": event_id, "type": "lead_status_changed", "entity_type": "lead", "entity_id": lead,
            "created_at": at, "pipeline_before": 100, "status_before": before, "pipeline_after": 100,
            "status_after": after}


RECORDS = {
    "loss_reasons": [{"id": 7, "name": "Дорого"}],
    "leads": [
        {"id": 1, "status_id": 142, "price": 100, "created_at": "now-20d", "closed_at": "now-10d",
         "responsible_user_id": 1},
        {"id": 2, "status_id": 143, "loss_reason_id": 7, "created_at": "now-20d", "closed_at": "now-5d",
         "responsible_user_id": 2},
        {"id": 3, "status_id": 13, "price": 500, "created_at": "now-15d", "responsible_user_id": 2},
        {"id": 4, "status_id": 11, "price": 50, "created_at": "now-3d", "responsible_user_id": 1},
        {"id": 5, "status_id": 12, "price": 70, "created_at": "now-90d", "responsible_user_id": 1},  # not in cohort
    ],
    "events": [
        _move("a1", 1, 11, 12, NOW - 19 * DAY), _move("a2", 1, 12, 13, NOW - 15 * DAY),
        _move("a3", 1, 13, 142, NOW - 10 * DAY),
        _move("b1", 2, 11, 12, NOW - 18 * DAY), _move("b2", 2, 12, 143, NOW - 5 * DAY),
        _move("c1", 3, 11, 13, NOW - 14 * DAY),  # skipped «Квалификация»: still reached it
    ],
    "notes": [{"id": 90, "entity_type": "leads", "entity_id": 1, "note_type": "call_out",
               "created_at": NOW - 20 * DAY + 600},
              {"id": 91, "entity_type": "leads", "entity_id": 3, "note_type": "call_out",
               "created_at": NOW - 15 * DAY + 1800}],
    "tasks": [{"id": 70, "entity_type": "leads", "entity_id": 4, "responsible_user_id": 1, "complete_till": "now-1h"},
              {"id": 71, "entity_type": "leads", "entity_id": 3, "responsible_user_id": 2}],
}


def test_cohort_funnel_counts_a_deal_at_every_stage_up_to_the_furthest_it_reached(make_snapshot):
    snap = make_snapshot(RECORDS)
    result = sales_analytics(snap, Period(NOW - 30 * DAY, NOW))
    pipeline = result["pipelines"][0]
    assert pipeline["cohort"] == 4
    reached = {step["stage"]: step["reached"] for step in pipeline["funnel"]}
    assert reached == {"Первичный контакт": 4, "Квалификация": 3, "КП отправлено": 2, "Договор": 1,
                       "Успешно реализовано": 1}
    conversions = [step["conversion_from_previous"] for step in pipeline["funnel"]]
    assert conversions == [None, 0.75, 0.6667, 0.5, 1.0]
    assert pipeline["win_rate"] == 0.5 and pipeline["overall_conversion"] == 0.25
    assert pipeline["average_check"] == 100 and pipeline["won_budget"] == 100
    cycle = pipeline["cycle_days"]
    assert cycle["basis"] == "closed_in_period" and cycle["median"] == 10.0
    assert cycle["won"] == {"closed": 1, "median": 10.0, "mean": 10.0, "enough": False}
    assert cycle["lost"] == {"closed": 1, "median": 15.0, "mean": 15.0, "enough": False}
    assert (cycle["cohort"], cycle["cohort_open"], cycle["cohort_open_share"], cycle["lower_bound"]) == (4, 2, 0.5,
                                                                                                          False)
    assert pipeline["loss_reasons"] == {"Дорого": 1}
    assert pipeline["response_minutes"] == {"answered": 2, "unanswered": 2, "median": 20.0}
    by_manager = {m["user_id"]: m for m in pipeline["managers"]}
    assert by_manager[1]["won"] == 1 and by_manager[2]["lost"] == 1 and by_manager[2]["win_rate"] == 0.0


def test_manager_load_is_the_state_at_snapshot_time(make_snapshot):
    snap = make_snapshot(RECORDS)
    load = {m["user_id"]: m for m in sales_analytics(snap, Period(NOW - 30 * DAY, NOW))["managers"]}
    assert load[1]["open_deals"] == 2 and load[1]["open_budget"] == 120
    assert load[1]["open_tasks"] == 1 and load[1]["overdue_tasks"] == 1
    assert load[2]["open_deals"] == 1 and load[2]["overdue_tasks"] == 0
    assert load[1]["new_deals"] == 2 and load[1]["new_deals_per_day"] == round(2 / 30, 2)


def test_plan_decomposition_against_actuals(make_snapshot):
    blueprint = Blueprint.from_dict({
        "metadata": {"name": "t", "version": "1"}, "sizing": {"sellers": 4},
        "analytics": {"plan": {"revenue_month": 800000, "avg_check": 40000, "working_days": 21},
                      "funnel": [{"key": "lead", "name": "Первичный контакт", "conversion": 0.6},
                                 {"key": "qual", "name": "Квалификация", "conversion": 0.5},
                                 {"key": "meet", "name": "Встреча", "conversion": 0.7},
                                 {"key": "offer", "name": "КП отправлено", "conversion": 0.4}]}})
    snap = make_snapshot(RECORDS)
    plan = sales_analytics(snap, Period(NOW - 30 * DAY, NOW), blueprint=blueprint)["plan"]
    steps = {s["key"]: s for s in plan["steps"]}
    # rounding up at every step (domain.md §2.3): 20 sales → 50 → 72 → 144 → 240 leads
    assert [s["needed"] for s in plan["steps"]] == [240, 144, 72, 50, 20]
    assert steps["lead"]["per_seller"] == 60 and steps["lead"]["per_day"] == 3
    # the first step is every deal created in the period; a step named like a stage is not counted on it
    # (a display name is no reference): no `stage`, no blueprint stage of its key -> not measured
    assert steps["lead"]["actual"] == 4 and steps["lead"]["basis"] == "cohort" and steps["sale"]["actual"] == 1
    assert (steps["qual"]["actual"], steps["qual"]["basis"]) == (None, "none")
    assert steps["meet"]["actual"] is None
    assert steps["sale"]["actual_per_seller"] == 0.25
    managers = {m["user_id"]: m for m in plan["per_manager"]}
    assert managers[1]["won"] == 1 and managers[1]["target_sales"] == 5 and managers[1]["done_share"] == 0.2


def test_no_plan_without_a_blueprint(make_snapshot):
    assert sales_analytics(make_snapshot(RECORDS), Period(NOW - 30 * DAY, NOW))["plan"] is None


def test_the_cycle_counts_deals_closed_in_the_period_whenever_created(make_snapshot):
    """A deal created long before the period but closed in it counts; one closed before the period does not."""
    snap = make_snapshot({"leads": [
        {"id": 1, "status_id": 142, "created_at": "now-100d", "closed_at": "now-10d"},   # 90 days, counted
        {"id": 2, "status_id": 142, "created_at": "now-12d", "closed_at": "now-2d"},     # 10 days, counted
        {"id": 3, "status_id": 142, "created_at": "now-80d", "closed_at": "now-40d"},    # closed before the period
        {"id": 4, "status_id": 143, "created_at": "now-25d", "closed_at": "now-1d"}]})   # lost: 24 days
    cycle = sales_analytics(snap, Period(NOW - 30 * DAY, NOW))["pipelines"][0]["cycle_days"]
    assert cycle["won"]["closed"] == 2 and cycle["won"]["median"] == 50.0 and cycle["won"]["mean"] == 50.0
    assert cycle["lost"]["closed"] == 1 and cycle["lost"]["median"] == 24.0


def test_a_mostly_open_cohort_gives_no_confidently_short_cycle(make_snapshot):
    """Ten deals created in the period, one won fast, nine still open: a cohort cycle would say one day.
    The cycle of deals closed in the period says what closing really takes, and the report marks it."""
    leads = [{"id": i, "status_id": 12, "created_at": f"now-{i + 1}d"} for i in range(1, 10)]
    leads.append({"id": 10, "status_id": 142, "created_at": "now-3d", "closed_at": "now-2d"})
    leads += [{"id": 20 + i, "status_id": 142, "created_at": f"now-{60 + i}d", "closed_at": f"now-{5 + i}d"}
              for i in range(5)]
    snap = make_snapshot({"leads": leads})
    pipeline = sales_analytics(snap, Period(NOW - 30 * DAY, NOW))["pipelines"][0]
    cycle = pipeline["cycle_days"]
    assert cycle["won"]["closed"] == 6 and cycle["won"]["enough"]
    assert cycle["median"] == 55.0  # not 1 day: the five old deals that closed in the period count
    assert (cycle["cohort"], cycle["cohort_open"], cycle["lower_bound"]) == (10, 9, True)


def test_a_funnel_step_with_a_stage_counts_that_stage_by_id_whatever_its_name(make_snapshot):
    from implkit.audit.engine import AuditOptions, StageResolver
    from implkit.errors import InputError, Location

    blueprint = Blueprint.from_dict({
        "metadata": {"name": "t", "version": "1"}, "sizing": {"sellers": 4},
        "pipelines": [{"key": "sales", "name": "Продажи", "stages": [{"key": "offer", "name": "Предложение"}]}],
        "analytics": {"plan": {"revenue_month": 800000, "avg_check": 40000, "working_days": 21},
                      "funnel": [{"key": "lead", "name": "Лид", "conversion": 0.6},
                                 {"key": "offer", "name": "Предложение", "conversion": 0.4,
                                  "stage": "pipeline.sales.stage.offer"}]}})
    snap = make_snapshot(RECORDS)

    def actuals(bindings):
        resolver = StageResolver(snap, AuditOptions(blueprint=blueprint, bindings=bindings))
        plan = sales_analytics(snap, Period(NOW - 30 * DAY, NOW), blueprint=blueprint,
                               stage_ids=lambda refs, key: resolver.ids(refs, Location("bp.yaml", key=key)))["plan"]
        return {s["key"]: s["actual"] for s in plan["steps"]}

    # the stage is «КП отправлено» (id 13) in the CRM; the blueprint calls it «Предложение»
    assert actuals({"pipeline.sales.stage.offer": 13})["offer"] == 2
    assert actuals({"pipeline.sales.stage.offer": 13})["lead"] == 4  # the first step: the period's cohort
    try:
        actuals({})
    except InputError as exc:
        assert "pipeline.sales.stage.offer" in str(exc) and "bp.yaml" in str(exc)
    else:
        raise AssertionError("an unbound stage the tenant lacks by name must be bad input")
