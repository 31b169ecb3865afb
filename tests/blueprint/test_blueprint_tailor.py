"""Tailoring: answers narrow the modules' catalogues; absent answers keep the defaults."""

from __future__ import annotations

from blueprint_support import assessment_with

from implkit.blueprint import parse_blueprint
from implkit.blueprint.compose import compose
from implkit.model import FEATURES

ALL = assessment_with({f: 3 for f in FEATURES}, sellers=60, group="30-100")
BASE_ANSWERS = {"company_name": "ООО Тест", "sellers": 60, "revenue_plan_month": 1000000, "average_check": 50000}


def composed(**answers):
    return parse_blueprint(compose({**BASE_ANSWERS, **answers}, assessment=ALL))


def keys(bp, kind):
    return [i.key for i in bp.integrations if i.kind == kind]


def test_lead_channels_pick_messengers_and_source_options():
    bp = composed(lead_channels=["website_forms", "vk", "avito", "phone"])
    assert keys(bp, "messenger") == ["vk", "avito"]
    options = bp.field("field.leads.source").options
    assert "ВКонтакте" in options and "Авито" in options
    assert "WhatsApp" not in options and "Telegram" not in options and "Instagram" not in options


def test_no_messenger_named_keeps_the_default_pair():
    assert keys(composed(lead_channels=["phone"]), "messenger") == ["whatsapp", "telegram"]
    assert keys(composed(), "messenger") == ["whatsapp", "telegram"]


def test_telephony_provider_names_the_integration():
    [pbx] = [i for i in composed(telephony_provider="uis").integrations if i.kind == "telephony"]
    assert pbx.name == "IP-телефония UIS"
    assert dict(pbx.settings)["provider"] == "uis"
    [generic] = [i for i in composed(telephony_provider="other").integrations if i.kind == "telephony"]
    assert generic.name == "IP-телефония (Mango Office / UIS / Sipuni)"


def test_documents_keep_named_templates_and_their_automations():
    bp = composed(documents=["commercial_offer", "invoice"])
    assert keys(bp, "document") == ["proposal", "invoice"]
    generating = [a.params for a in bp.pipeline("sales").automations if a.do == "generate_document"]
    assert [dict(p)["template"] for p in generating] == ["proposal", "invoice"]
    everything = composed(documents=[])
    assert keys(everything, "document") == ["proposal", "contract", "invoice", "act"]


def test_bi_tool_replaces_datalens():
    assert keys(composed(bi_tool="Power BI"), "bi") == ["power_bi", "roistat"]
    assert keys(composed(bi_tool=""), "bi") == ["datalens", "roistat"]


def test_segments_become_groups_after_sales():
    bp = composed(segments=["Москва", "Регионы"])
    assert [(g.key, g.name) for g in bp.groups][:3] == [
        ("sales", "Отдел продаж"), ("moskva", "Отдел продаж — Москва"), ("regiony", "Отдел продаж — Регионы")]
    assert [g.key for g in composed(segments=["Москва"]).groups] == ["sales", "account_management"]


def test_header_names_the_answers_that_tailored():
    text = compose({**BASE_ANSWERS, "lead_channels": ["vk"], "bi_tool": "Power BI"}, assessment=ALL)
    assert "# tailored by: lead_channels, bi_tool\n" in text
