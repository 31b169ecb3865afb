"""The consultant's checklist has each step once; duplicate automations are a validation warning."""

from __future__ import annotations

import re

import pytest

from implkit.data import blueprints_dir, data_root
from implkit.model import FEATURES
from implkit.model import Blueprint
from implkit.spec.context import manual_checklist
from implkit.yamlio import load_yaml, to_plain

from spec_helpers import FIXTURES

PRESET = blueprints_dir() / "presets" / "b2b-services.yaml"
PRESETS = sorted((blueprints_dir() / "presets").glob("*.yaml"))


def preset() -> Blueprint:
    return Blueprint.from_dict(to_plain(load_yaml(PRESET)))


def test_a_presets_own_step_absorbs_the_derived_steps_for_the_same_thing():
    steps = manual_checklist(preset(), "amocrm", "ru")
    titles = [s["title"] for s in steps]
    assert len(titles) == len(set(titles))
    # the derived "Мессенджер: подключить «WhatsApp»" etc. are inside the preset's own step, not next to it
    assert not [t for t in titles if re.match(r"(Мессенджер|Телефония|Форма на сайте|Шаблон документа): подключить", t)]
    assert not [t for t in titles if t.startswith("Настроить контроль дублей для воронки")]
    messengers = next(s for s in steps if s["title"].startswith("Подключить мессенджеры"))
    assert messengers["details"].endswith("Входит: «WhatsApp», «Telegram».")
    duplicates = next(s for s in steps if s["title"] == "Настроить контроль дублей отдельно для каждой воронки")
    assert duplicates["details"] == "Входит: «Продажи», «Повторные продажи», «Сервис»."
    templates = next(s for s in steps if s["title"].startswith("Загрузить шаблоны"))
    assert "Входит: «Коммерческое предложение», «Договор», «Счёт на оплату», «Акт выполненных работ»." in templates["details"]
    # only the first own step of a feature absorbs: checking recordings stays a step of its own
    assert "Проверить запись разговоров и привязку звонков к сделке" in titles
    # 2 groups + 16 automations (3 of them letters and SMS) + mail and SMS connection + duplicate control + 8 loss reasons + 4 connection steps + reports
    # + the 7 own steps that absorbed nothing (12 own steps, 5 of them absorbed derived ones)
    # + 4 company fields required at a stage (amoCRM's API marks only deal fields; issue 20)
    assert len(steps) == 2 + 16 + 2 + 1 + 8 + 4 + 1 + 7 + 4
    assert sum(t.startswith("Сделать поле компании «") for t in titles) == 4


def test_without_own_steps_the_derived_ones_stay():
    blueprint = Blueprint.from_dict(to_plain(load_yaml(FIXTURES / "b2b.yaml")))
    titles = [s["title"] for s in manual_checklist(blueprint, "amocrm", "ru")]
    assert "Мессенджер: подключить «WhatsApp»" in titles and "Подключить корпоративную почту" in titles


# The shape b2b-services and manufacturer had: a channel's own first-contact task next to the digital
# pipeline's task for every new lead.
CHANNEL_TASKS = (
    "      - {key: missed_call_task, on: create, stage: new, do: create_task, text: Перезвонить, due: 15m,\n"
    "         params: {task_type: call, condition: missed_call}}\n"
    "      - {key: web_form_task, on: create, stage: new, do: create_task, text: Связаться по заявке, due: 15m,\n"
    "         params: {task_type: call, condition: web_form}}\n")


def with_channel_tasks(tmp_path):
    text = PRESET.read_text(encoding="utf-8").replace("    automations:\n", "    automations:\n" + CHANNEL_TASKS, 1)
    path = tmp_path / "b2b.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_same_event_same_action_is_a_validation_warning(run_cli, tmp_path):
    path = with_channel_tasks(tmp_path)
    result = run_cli("blueprint", "validate", path)
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # first_contact_task (enter «new», call task, any lead) repeats missed_call_task and web_form_task
    # (created in «new», call task, on a condition): a missed call or a form gets two call tasks
    assert len(warnings) == 2
    line = next(n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if "key: first_contact_task" in text)
    assert all(f"b2b.yaml:{line}:" in w for w in warnings)
    assert "'missed_call_task'" in warnings[0] and "'web_form_task'" in warnings[1]


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_no_preset_gives_a_lead_the_same_automation_twice(run_cli, path):
    result = run_cli("blueprint", "validate", path)
    assert result.exit_code == 0 and "warning:" not in result.stderr, result.stderr
    bp = Blueprint.from_dict(to_plain(load_yaml(path)))
    assert sum(1 for p in bp.pipelines for a in p.automations) > 0  # the check had automations to compare


@pytest.mark.parametrize("answers", sorted((data_root("examples") / "answers").glob("*.yaml")), ids=lambda p: p.stem)
def test_no_composed_blueprint_gives_a_lead_the_same_automation_twice(run_cli, tmp_path, answers):
    """Every feature module at once (the most automations composition can bring together)."""
    features = [f for f in FEATURES if f != "base"]
    output = tmp_path / "composed.yaml"
    composed = run_cli("blueprint", "compose", "--answers", answers, "-o", output,
                       *[arg for f in features for arg in ("--include", f)])
    assert composed.exit_code == 0, composed.output
    result = run_cli("blueprint", "validate", output)
    assert result.exit_code == 0 and "warning:" not in result.stderr, result.stderr


def test_different_conditions_or_actions_are_not_duplicates(run_cli, tmp_path):
    source = (FIXTURES / "b2b.yaml").read_text(encoding="utf-8").replace(
        "    automations:\n",
        "    automations:\n"
        "      - {key: a, on: create, stage: new, do: create_task, text: A, params: {condition: web_form}}\n"
        "      - {key: b, on: create, stage: new, do: create_task, text: B, params: {condition: missed_call}}\n"
        "      - {key: c, on: enter, stage: new, do: notify, text: C}\n"
        "      - {key: d, on: enter, stage: qualified, do: create_task, text: D}\n", 1)
    path = tmp_path / "bp.yaml"
    path.write_text(source, encoding="utf-8")
    result = run_cli("blueprint", "validate", path)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    # only the fixture's own "enter new → create_task" against a and b (no condition overlaps both)
    assert len(warnings) == 2 and all("'a'" in w or "'b'" in w for w in warnings)


def test_spec_render_passes_the_warning_on(run_cli, tmp_path):
    result = run_cli("spec", "render", "-b", with_channel_tasks(tmp_path), "--date", "2026-01-15",
                     "-o", tmp_path / "spec.md")
    assert result.exit_code == 0
    assert result.stderr.count("one lead would get it twice") == 2
