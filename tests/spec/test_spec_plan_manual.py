"""The spec's manual checklist and `plan`'s manual rows come from one function (issue 20).

For every shipped preset and every CRM the plan is computed, as `implkit plan` computes it, on an
empty account with the CRM provider's real capabilities, and compared with the spec's checklist in
the same language: each checklist item is a plan row, and each plan row is a checklist item or is
named inside the own step that absorbs it (the checklist merges "connect WhatsApp" into the
preset's own "connect the messengers" step, see `manual_checklist`).
"""

from __future__ import annotations

import re

import pytest

from implkit.blueprint import load_blueprint
from collections import Counter

from implkit.blueprint.manual import STAGE_REQUIRED_BY_API, every_manual_step
from implkit.data import blueprints_dir
from implkit.plan.diff import StateView, plan
from implkit.providers.amocrm.mapping import CAPABILITIES as AMOCRM
from implkit.providers.base import AccountInfo, LiveConfig
from implkit.providers.bitrix24.mapping import CAPABILITIES as BITRIX24
from implkit.providers.directum.client import DirectumProvider
from implkit.spec.context import manual_checklist

CAPABILITIES = {"amocrm": AMOCRM, "bitrix24": BITRIX24, "directum": DirectumProvider.capabilities}
PRESETS = sorted(p.stem for p in (blueprints_dir() / "presets").glob("*.yaml"))


def preset(name: str):
    return load_blueprint(blueprints_dir() / "presets" / f"{name}.yaml")


def plan_rows(blueprint, crm: str):
    empty = LiveConfig(account=AccountInfo("1", "empty"))
    return plan(blueprint, StateView(ids={}), empty, CAPABILITIES[crm], manual=every_manual_step(blueprint, crm, "en")).manual


def test_every_preset_is_compared():
    assert PRESETS == ["b2b-services", "manufacturer", "retail"]


@pytest.mark.parametrize("crm", sorted(CAPABILITIES))
@pytest.mark.parametrize("name", PRESETS)
def test_the_checklist_and_the_plan_list_the_same_manual_steps(name, crm):
    blueprint = preset(name)
    rows = plan_rows(blueprint, crm)
    checklist = manual_checklist(blueprint, crm, "en")
    titles = [s["title"] for s in checklist]
    # the plan's own rows for kinds the provider cannot write that no step covers: Bitrix24's user groups
    # only (the provider does not create departments, though department.add could; see test_spec_manual)
    own_rows = [r for r in rows if r.title.endswith(" by hand")]
    assert [r.address.split(".")[0] for r in own_rows] == ["group"] * len(blueprint.groups) * (crm == "bitrix24")
    rows = [r for r in rows if r not in own_rows]
    assert not Counter(titles) - Counter(r.title for r in rows)  # nothing in the spec the plan does not list
    covers = " ".join(s["details"].split("Covers: ", 1)[1] for s in checklist if "Covers: " in s["details"])
    absorbed = [r for r in rows if r.title not in titles]
    for row in absorbed:  # only derived steps an own step took in, each named in its "Covers:"
        assert row.address.startswith("integration.") or row.address.endswith(".duplicate_control"), row
        name_ = re.search(r"“(.+)”", row.title).group(1)
        assert f"“{name_}”" in covers, row
    assert len(titles) == len(rows) - len(absorbed)
    # the stage-required fields are in both (they were plan-only before issue 20)
    required = [r for r in rows if ".required." in r.address]
    expected = sum(1 for p in blueprint.pipelines for s in p.stages for a in s.required_fields
                   if blueprint.field(a).entity not in STAGE_REQUIRED_BY_API[crm])
    assert len(required) == expected
    assert expected > 0 or (crm, name) == ("amocrm", "retail")  # retail requires deal fields only
    assert all(r.title in titles for r in required)


@pytest.mark.parametrize("crm", sorted(CAPABILITIES))
def test_the_manual_steps_know_what_each_providers_api_makes_required(crm):
    """The plan writes stage requirements for `required_entities`; the steps cover every other entity."""
    assert STAGE_REQUIRED_BY_API[crm] == CAPABILITIES[crm].required_entities


def test_a_required_field_step_in_russian_and_english():
    blueprint = preset("b2b-services")
    ru = [s["title"] for s in manual_checklist(blueprint, "amocrm", "ru")]
    assert "Сделать поле компании «ИНН» обязательным на этапе «Согласование договора» воронки «Продажи»" in ru
    # amoCRM marks deal fields required itself: no step for them
    assert not [t for t in ru if t.startswith("Сделать поле сделки")]
    b24 = [s for s in every_manual_step(blueprint, "bitrix24", "ru") if ".required." in s.key]
    assert "Сделать поле сделки «Источник» обязательным на этапе «Квалификация» воронки «Продажи»" in [s.title for s in b24]
    assert all("REST API Битрикс24 не задаёт обязательность поля по стадиям" in s.details for s in b24)
    en = [r for r in plan_rows(blueprint, "amocrm") if ".required." in r.address]
    assert en[0].title == "Make the company field “ИНН” required at stage “Согласование договора” of pipeline “Продажи”"
    assert en[0].details == "the amocrm API sets required stages on lead fields only"
