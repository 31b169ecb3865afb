"""Letters and SMS to clients (seed 001: amoCRM's «Отправить письмо» on stage events — a reminder of the
meeting, the proposal, a thank-you; seed 000: e-mail and SMS robots for 5–30 sellers).

No CRM API configures them (amocrm-api.md §8: Digital Pipeline triggers and mail connections are UI only;
Bitrix24 robots and SMS providers likewise), so each is a manual step of the plan and the checklist — never
an API call — and the spec has a section the client approves the texts in.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from implkit.blueprint import load_blueprint
from implkit.blueprint.manual import every_manual_step
from implkit.cli import cli
from implkit.data import blueprints_dir
from implkit.plan.diff import StateView, plan
from implkit.providers.amocrm.mapping import CAPABILITIES as AMOCRM
from implkit.providers.base import AccountInfo, LiveConfig
from implkit.providers.bitrix24.mapping import CAPABILITIES as BITRIX24
from implkit.workspace import CredentialSource, init_workspace

PRESETS = blueprints_dir() / "presets"
B2B = PRESETS / "b2b-services.yaml"
NBSP = "\u00a0"


def render(run_cli, tmp_path, path, lang="ru", *extra):
    output = tmp_path / f"spec.{lang}.md"
    result = run_cli("spec", "render", "-b", path, "--date", "2026-01-15", "--lang", lang, "-o", output, *extra)
    assert result.exit_code == 0, result.output
    return output.read_text(encoding="utf-8")


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end, text.index(start))]


def test_the_spec_lists_each_letter_and_sms_with_when_and_what(run_cli, tmp_path):
    text = render(run_cli, tmp_path, B2B)
    part = section(text, "### Письма и SMS клиентам", "## 9.")
    rows = re.findall(r"^\| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$", part, re.M)[2:]
    assert [(where, channel) for where, _, channel, _, _ in rows] == [
        ("Продажи → Первичный контакт", "письмо (e-mail)"), ("Продажи → Встреча", "SMS"),
        ("Продажи → Успешно реализовано", "письмо (e-mail)")]
    assert "Условие: заявка с формы сайта; Шаблон: Подтверждение заявки с сайта; Отправитель: ответственный за сделку" \
        in rows[0][4]
    # the reminder goes out a day before the meeting's date field, named, not keyed
    assert rows[1][4] == "Отправить заранее: 1 день; Дата из поля: Дата и время встречи"
    assert "Тексты писем и SMS согласует заказчик до запуска" in part
    # the won stage is the pipeline's own closing stage, by the name the preset gives it
    assert "| Успешно реализовано | при переходе в этап | отправить письмо «Спасибо за покупку" in text


def test_a_preset_without_letters_says_so(run_cli, tmp_path):
    text = render(run_cli, tmp_path, PRESETS / "retail.yaml", "en")
    assert "No automatic letters or SMS to clients: the seller writes to the client." in \
        section(text, "### Letters and SMS to clients", "## 9.")


def test_english_names_the_channels(run_cli, tmp_path):
    part = section(render(run_cli, tmp_path, PRESETS / "manufacturer.yaml", "en"), "### Letters and SMS to clients",
                   "## 9.")
    assert part.count("| letter (e-mail) |") == 2 and part.count("| SMS |") == 1
    assert "Sender: the deal's responsible user" in part


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_each_channel_is_one_manual_step_naming_its_templates(crm):
    steps = {s.key: s for s in every_manual_step(load_blueprint(B2B), crm, "ru")}
    assert steps["messaging.email"].title == \
        "Подключить почту для писем клиентам и завести шаблоны: «Подтверждение заявки с сайта», «Благодарность после оплаты»"
    assert steps["messaging.sms"].title == \
        "Подключить SMS-сервис и завести тексты SMS: «Напоминание о встрече — дата, время и адрес»"
    for key in ("pipeline.sales.automation.site_request_letter", "pipeline.sales.automation.meeting_reminder_sms",
                "pipeline.sales.automation.won_thanks_letter"):
        assert key in steps
    assert "«Успешно реализовано»" in steps["pipeline.sales.automation.won_thanks_letter"].title


@pytest.mark.parametrize("crm, capabilities", [("amocrm", AMOCRM), ("bitrix24", BITRIX24)])
def test_the_plan_lists_them_as_manual_rows_not_changes(crm, capabilities):
    blueprint = load_blueprint(B2B)
    empty = LiveConfig(account=AccountInfo("1", "empty"))
    result = plan(blueprint, StateView(ids={}), empty, capabilities, manual=every_manual_step(blueprint, crm, "en"))
    manual = {row.address for row in result.manual}
    assert {"messaging.email", "messaging.sms", "pipeline.sales.automation.meeting_reminder_sms"} <= manual
    changes = [c for c in result.changes if "automation" in c.address or "messaging" in c.address]
    assert changes == []


def test_apply_sends_no_request_for_them(tmp_path):
    """Applied to a sandbox account, the preset writes pipelines, fields and roles — and nothing for the
    letters and SMS, which the CRM's API cannot configure."""
    from implkit.sandbox import Sandbox, serve_in_thread

    sandbox = Sandbox(tmp_path / "sandbox.db")
    sandbox.create_account("acme")
    ws = init_workspace(tmp_path / "ws")
    with serve_in_thread(sandbox) as root:
        ws.add_tenant("acme", provider="amocrm", url=root + sandbox.base_url("acme"),
                      credentials=CredentialSource("env", var="ACME_TOKEN"))
        result = CliRunner().invoke(cli, ["apply", "acme", "-b", str(B2B), "--yes", "-w", str(tmp_path / "ws")],
                                    env={"ACME_TOKEN": sandbox.token("acme"), "IMPLKIT_LANG": "en"},
                                    catch_exceptions=False)
        log = sandbox.request_log("acme")
    sandbox.close()
    assert result.exit_code == 0, result.output
    assert "messaging.email" in result.output and "messaging.sms" in result.output
    writes = {(r["method"], re.sub(r"/\d+", "/{id}", r["path"].split("/api/v4", 1)[-1]))
              for r in log if r["method"] != "GET"}
    assert writes and all(path.startswith(("/leads/pipelines", "/leads/custom_fields", "/contacts/custom_fields",
                                           "/companies/custom_fields", "/roles"))
                          for _, path in writes), writes


def test_a_stage_keyed_won_is_bad_input(run_cli, tmp_path):
    text = B2B.read_text(encoding="utf-8").replace("      - key: negotiation\n", "      - key: won\n", 1)
    path = tmp_path / "bp.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row == "      - key: won")
    result = run_cli("blueprint", "validate", path)
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert f"bp.yaml:{line}:" in result.output and "'won'" in result.output and "reserved" in result.output
    output = tmp_path / "spec.md"
    assert run_cli("spec", "render", "-b", path, "-o", output).exit_code == 3 and not output.exists()


def test_send_sms_is_a_known_action_and_an_unknown_one_is_not(run_cli, tmp_path):
    text = B2B.read_text(encoding="utf-8").replace("        do: send_sms\n", "        do: send_pigeon\n", 1)
    path = tmp_path / "bp.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_cli("blueprint", "validate", path)
    assert result.exit_code == 3 and "send_pigeon" in result.output
    assert run_cli("blueprint", "validate", B2B).exit_code == 0
