"""Manual steps: what each CRM's API cannot configure, derived from a blueprint."""

from __future__ import annotations

import dataclasses

import pytest

from implkit.blueprint.manual import describe_action, format_duration, manual_steps
from implkit.model import Automation


def keys(steps):
    return [s.key for s in steps]


def test_amocrm_lists_digital_pipeline_groups_loss_reasons_and_channels(b2b):
    steps = manual_steps(b2b, "amocrm")
    assert keys(steps) == [
        "group.sales",
        "pipeline.sales.automation.new.enter.create_task",
        "pipeline.sales.automation.qualified.no_activity.notify",
        "pipeline.sales.automation.proposal.enter.generate_document",
        "pipeline.sales.duplicate_control",
        "distribution.incoming",
        "loss_reason.price",
        "loss_reason.competitor",
        "integration.document.proposal",
        "integration.messenger.whatsapp",
        "integration.telephony.mango",
        "integration.web_form.site",
        "analytics.reports",
        "mail",  # the blueprint's own manual step, passed through
    ]
    # amoCRM's API configures roles: no manual step for them
    assert not any(k.startswith("role.") for k in keys(steps))
    first = steps[1]
    assert first.feature == "digital_pipeline"
    assert "“Новая заявка”" in first.title and "due in 15 min" in first.title
    assert "Digital Pipeline" in first.details


def test_bitrix24_lists_roles_and_robots_but_not_groups_or_duplicate_control(b2b):
    steps = manual_steps(b2b, "bitrix24", "ru")
    assert keys(steps)[:2] == ["role.head", "role.manager"]
    assert "group.sales" not in keys(steps)  # department.add configures groups
    assert not any(k.endswith("duplicate_control") for k in keys(steps))
    robot = next(s for s in steps if s.key == "pipeline.sales.automation.new.enter.create_task")
    assert robot.title == ("Воронка «Продажи», этап «Новая заявка»: при переходе в этап — "
                           "создать задачу «Связаться с клиентом», срок 15 мин")
    assert "Роботы" in robot.details


def test_keys_are_unique_and_addresses_of_blueprint_objects(b2b):
    for crm in ("amocrm", "bitrix24"):
        steps = manual_steps(b2b, crm)
        assert len(set(keys(steps))) == len(steps)
        own = set(b2b.addresses())
        derived = [k for k in keys(steps) if k not in ("distribution.incoming", "analytics.reports", "mail")
                   and not k.endswith(".duplicate_control")]
        assert set(derived) <= own


def test_salesbot_adds_the_scenario_step(b2b):
    pipeline = b2b.pipelines[0]
    bot = Automation("enter", "new", "salesbot", key="greeting")
    blueprint = dataclasses.replace(b2b, pipelines=(dataclasses.replace(pipeline, automations=(bot,)),))
    assert "pipeline.sales.automation.greeting.scenario" in keys(manual_steps(blueprint, "amocrm"))


def test_no_integrations_no_duplicate_control(b2b):
    blueprint = dataclasses.replace(b2b, integrations=())
    assert not any(k.endswith("duplicate_control") for k in keys(manual_steps(blueprint, "amocrm")))


@pytest.mark.parametrize(("crm", "lang"), [("salesforce", "en"), ("amocrm", "de")])
def test_unknown_crm_or_language(b2b, crm, lang):
    with pytest.raises(ValueError):
        manual_steps(b2b, crm, lang)


def test_durations_and_actions():
    assert format_duration("15m", "ru") == "15 мин"
    assert format_duration("2d", "en") == "2 days"
    assert format_duration("1d", "en") == "1 day"
    assert format_duration("1d", "ru") == "1 день"
    assert [format_duration(f"{n}d", "ru") for n in (2, 5, 21)] == ["2 дня", "5 дней", "21 день"]
    assert format_duration("soon", "en") == "soon"
    assert describe_action(Automation("enter", "x", "unknown_action"), "en") == "unknown_action"


def test_channel_steps_name_where_new_leads_land(b2b):
    steps = {s.key: s for s in manual_steps(b2b, "bitrix24", "en")}
    assert steps["integration.web_form.site"].details.endswith("New leads: “Продажи” → “Новая заявка”. utm: yes")
    assert "unknown_number: create_deal" in steps["integration.telephony.mango"].details
