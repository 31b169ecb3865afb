"""Work rules (регламент) tied to the audit checks that verify them; the curator's role, routine and feedback."""

from __future__ import annotations

import re

from implkit.data import audits_dir, blueprints_dir
from implkit.model import Blueprint
from implkit.spec.rules import work_rules
from implkit.spec.facts import resolve
from implkit.yamlio import load_yaml, to_plain

from spec_helpers import FIXTURES

PRESET = blueprints_dir() / "presets" / "b2b-services.yaml"


def blueprint(path=PRESET) -> Blueprint:
    return Blueprint.from_dict(to_plain(load_yaml(path)))


def check_ids() -> set[str]:
    return {to_plain(load_yaml(p))["id"] for p in audits_dir().glob("*.yaml")}


def test_every_rule_names_existing_checks():
    bp = blueprint()
    rules = work_rules(bp, resolve(bp, None, None), "ru")
    assert len(rules) == 10
    ids = check_ids()
    for rule in rules:
        assert rule["checks"], rule["key"]
        assert {c["id"] for c in rule["checks"]} <= ids
    # the checks' titles come from audits/*.yaml, in the spec's language
    first = next(r for r in rules if r["key"] == "next_task")
    assert first["checks"][0] == {"id": "D01", "title": to_plain(load_yaml(audits_dir() / "D01.yaml"))["title"]["ru"]}


def test_rules_follow_the_blueprint():
    """The minimal blueprint has no channels, required fields, loss reasons, plan or INN: no rules about them."""
    bp = blueprint(FIXTURES / "minimal.yaml")
    keys = [r["key"] for r in work_rules(bp, resolve(bp, None, None), "en")]
    assert keys == ["next_task", "task_result", "client_card", "no_stale", "closed_tasks"]


def test_response_time_comes_from_the_kpi(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    assert run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--date", "2026-01-15", "-o", output).exit_code == 0
    text = output.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| 1 | Новая заявка из любого канала"))
    assert "в течение 15 мин в рабочее время" in row and "| D05, D06 — " in row
    stale = next(line for line in text.splitlines() if "Сделка не остаётся без движения" in line)
    assert "не реже чем раз в 7\u00a0дней" in stale  # D03's own parameter


def rendered_with_answers(run_cli, tmp_path, extra_answers: str) -> str:
    """The fixture blueprint's Markdown ТЗ for the fixture answers plus `extra_answers` (lines under `answers:`)."""
    path = tmp_path / "answers.yaml"
    path.write_text((FIXTURES / "answers-no-phone.yaml").read_text(encoding="utf-8") + extra_answers, encoding="utf-8")
    output = tmp_path / "spec.md"
    result = run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--answers", path, "--date", "2026-01-15",
                     "-o", output)
    assert result.exit_code == 0, result.output
    return output.read_text(encoding="utf-8")


def test_curator_from_the_answers(run_cli, tmp_path):
    text = rendered_with_answers(run_cli, tmp_path, "  curator: integrator\n  crm_discipline_bonus: true\n")
    curator = text[text.index("### Куратор CRM"):text.index("### Регламент работы в CRM")]
    assert curator.startswith("### Куратор CRM\n\nКуратор CRM — интегратор (исполнитель) по договору сопровождения. ")
    assert "допущение" not in curator
    assert "| Куратор CRM | Сделки | все | все | запрещено | запрещено | запрещено |" in curator
    assert "Дисциплина CRM в мотивации" in curator
    assert "Куратор CRM" not in text[text.index("### Допущения"):text.index("## 3.")]


def test_curator_not_given_is_an_assumption(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    assert run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--lang", "en", "--date", "2026-01-15",
                   "-o", output).exit_code == 0
    text = output.read_text(encoding="utf-8")
    assert "The CRM curator is a dedicated employee of the client (assumption: " in text
    assert re.search(r"^\| \d+ \| CRM curator \| a dedicated employee of the client \| questionnaire default \| ☐ \|$",
                     text, re.M)
    assert "CRM discipline in the bonus" not in text


def report_rows(run_cli, tmp_path, crm: str, heading: str) -> tuple[str, list[tuple[str, str]]]:
    """The fixture's spec for one CRM, and its built-in reports table as (name, implkit command) rows."""
    output = tmp_path / "spec.md"
    assert run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--crm", crm, "--date", "2026-01-15",
                   "-o", output).exit_code == 0
    text = output.read_text(encoding="utf-8")
    table = text[text.index(f"| {heading} |"):text.index("### Показатели эффекта внедрения")]
    return text, re.findall(r"^\| ([^|]+) \| [^|]+ \| [^|]+ \| ([^|]+) \|$", table, re.M)[2:]


def test_builtin_reports_per_target_crm(run_cli, tmp_path):
    """amoCRM's six reports the seeds list (calls only with telephony); Bitrix24's counterparts when it is the target."""
    from implkit.spec.figures import BUILTIN_REPORTS, builtin_reports

    assert builtin_reports("amocrm", blueprint()) == list(BUILTIN_REPORTS)
    assert "calls" not in builtin_reports("amocrm", blueprint(FIXTURES / "minimal.yaml"))
    text, rows = report_rows(run_cli, tmp_path, "amocrm", "Отчёт (amoCRM)")
    assert [name for name, _ in rows] == ["Анализ продаж", "Сводный отчёт", "Отчёт по сотрудникам", "Лента событий",
                                          "Отчёт по звонкам", "Цели"]
    assert [command for _, command in rows] == ["implkit audit sales", "implkit audit load", "implkit audit activity",
                                                "implkit audit feed", "implkit audit calls", "implkit audit goals"]
    assert "Отчёт (Битрикс24)" not in text


# The audit commands other engineers add under these names (docs/spec.md); `activity` exists already.
def test_every_report_names_an_audit_command_that_exists():
    import click

    from implkit.cli import cli
    from implkit.spec.figures import AUDIT_COMMANDS, BUILTIN_REPORTS

    with click.Context(cli) as ctx:
        audit = cli.get_command(ctx, "audit")  # commands load lazily
        existing = set(audit.list_commands(ctx))
    assert set(AUDIT_COMMANDS) == set(BUILTIN_REPORTS)
    assert set(AUDIT_COMMANDS.values()) <= existing


def test_bitrix24_reports_are_named_only_where_a_vendor_page_names_them(run_cli, tmp_path):
    text, rows = report_rows(run_cli, tmp_path, "bitrix24", "Отчёт (Битрикс24)")
    assert len(rows) == 6
    # named (docs/spec.md has the page): the sales funnel component and the sales plan page; the rest described
    assert "«Воронка продаж»" in rows[0][0] and rows[5][0].startswith("План продаж")
    assert rows[1][0].startswith("Счётчики по каждому продавцу") and "статистика звонков" in rows[4][0]
    assert "Отчёт (amoCRM)" not in text


def test_effect_indicators_before_and_target(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    result = run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--answers", FIXTURES / "answers-no-phone.yaml",
                     "--date", "2026-01-15", "-o", output)
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    rows = dict((name, (before, target)) for name, before, target in
                re.findall(r"^\| ([^|]+) \| ([^|]+) \| ([^|]+) \| [^|]+ \|$",
                           text[text.index("### Показатели эффекта внедрения"):text.index("## 10.")], re.M))
    # 800 000 / 40 000 = 20 sales; 240 leads (the worked example); 4 sellers; the answered 14-day cycle
    assert rows["Контактов (новых заявок) на продавца в месяц"] == ("замер до запуска", "60")
    assert rows["Заявок на одну продажу"] == ("замер до запуска", "12")
    assert rows["Продаж на продавца в месяц"] == ("замер до запуска", "5")
    assert rows["Выручка на продавца в месяц"] == ("замер до запуска", "200\u00a0000\u00a0₽")
    assert rows["Цикл сделки"] == ("14\u00a0дней", "14\u00a0дней")
    assert rows["Просроченных контактов (задач)"] == ("замер до запуска", "0")


def test_points_motivation_when_the_client_wants_it(run_cli, tmp_path):
    """Per-seller monthly norms (the worked example: 60, 36, 18, 13, 5) × example points 1, 2, 5, 3, 10 = 311."""
    text = rendered_with_answers(run_cli, tmp_path, "  crm_discipline_bonus: true\n")
    section = text[text.index("### Мотивация: баллы за опережающие показатели"):text.index("### KPI")]
    rows = re.findall(r"^\| ([^|]+) \| (\d*) \| (\d*) \| (\d+) \|$", section, re.M)
    assert rows == [("Лид", "60", "1", "60"), ("Квалифицирован", "36", "2", "72"), ("Встреча", "18", "5", "90"),
                    ("КП отправлено", "13", "3", "39"), ("Продажа (оплата)", "5", "10", "50"),
                    ("Норма баллов в месяц", "", "", "311")]


def test_no_motivation_section_unless_asked(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    assert run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--answers", FIXTURES / "answers-no-phone.yaml",
                   "-o", output).exit_code == 0
    assert "### Мотивация" not in output.read_text(encoding="utf-8")
