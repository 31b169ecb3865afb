"""One source of truth: a preset rendered with a client's answers says one company, one seller count, one plan.

The answers below describe a company unlike the b2b-services preset (25 sellers
instead of 8, another plan and check, e-mail among the channels): every figure
the spec prints must be the client's, the preset's own figures may appear only
in the table of differences, and the conflicts go to stderr.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from implkit.data import blueprints_dir

NBSP = "\u00a0"
ANSWERS = """\
questionnaire: 1
lang: ru
answers:
  company_name: "ООО «Вектор»"
  industry: services
  sellers: 25
  has_head_of_sales: true
  lead_channels: [website_forms, whatsapp, phone, email]
  telephony_provider: mango
  documents: [contract, invoice]
  sales_processes: [new_sales, b2b]
  average_check: 60000
  revenue_plan_month: 3000000
  sales_cycle_days: 30
  target_crm: amocrm
"""


def preset() -> Path:
    return blueprints_dir() / "presets" / "b2b-services.yaml"


def render(run_cli, tmp_path: Path, answers: str | None, *extra: str, name: str = "spec.md"):
    args = ["spec", "render", "-b", preset(), "--date", "2026-01-15", "-o", tmp_path / name, *extra]
    if answers is not None:
        path = tmp_path / "answers.yaml"
        path.write_text(answers, encoding="utf-8")
        args += ["--answers", path]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result, (tmp_path / name).read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = text.find("\n### ", start + len(heading))
    return text[start:following if following >= 0 else len(text)]


def test_answers_give_one_company_one_seller_count_one_plan(run_cli, tmp_path):
    result, text = render(run_cli, tmp_path, ANSWERS)
    differences = section(text, "### Источник данных ТЗ и расхождения")
    rest = text.replace(differences, "")
    # the company: the client's everywhere; the preset's name only in the differences table
    assert "- **Заказчик:** ООО «Вектор»" in text
    assert "B2B-услуги" not in rest and "| Заказчик | B2B-услуги (6–10 менеджеров) | ООО «Вектор» |" in differences
    # the sellers: every "N продавц…" outside the differences says 25
    counts = {int(n) for n in re.findall(rf"(\d+){NBSP}продавц", rest)}
    assert counts == {25}
    assert "- **Продавцов:** 25" in rest and "группа «11–30»" in rest
    # the plan: the client's plan and check, never the preset's
    assert f"3{NBSP}000{NBSP}000{NBSP}₽" in rest and f"60{NBSP}000{NBSP}₽" in rest
    assert f"800{NBSP}000{NBSP}₽" not in rest and f"40{NBSP}000{NBSP}₽" not in rest
    assert f"= 50{NBSP}продаж в месяц" in rest  # 3 000 000 / 60 000
    assert f"- **План выручки на продавца в месяц:** 120{NBSP}000{NBSP}₽" in rest
    # nobody said the client deferred anything
    assert "по решению заказчика" not in text
    assert "требуется решение заказчика" in text
    # conflicts: on stderr and in the document
    for what in ("заказчик", "число продавцов", "план выручки в месяц", "средний чек", "каналы заявок"):
        assert f"warning: {what}: в конфигурации" in result.stderr
    assert "warning: функция «Сложное распределение заявок»" in result.stderr
    assert f"| Число продавцов | 8{NBSP}продавцов | 25{NBSP}продавцов |" in differences
    assert "| Сложное распределение заявок | ★★☆ | рекомендуется добавить |" in differences


def test_answered_email_channel_is_not_dropped(run_cli, tmp_path):
    _, text = render(run_cli, tmp_path, ANSWERS)
    integrations = text[text.index("## 8."):text.index("## 9.")]
    assert "| Электронная почта | Электронная почта (назван заказчиком; в конфигурации нет — добавить) |" in integrations
    assert "| Мессенджер | Telegram (заказчик не назвал этот канал — подтвердить или исключить) |" in integrations


def test_deferred_only_when_the_client_said_so(run_cli, tmp_path):
    answers = ANSWERS.replace("  target_crm", "  deferred_features: [external_analytics]\n  target_crm")
    _, text = render(run_cli, tmp_path, answers)
    out = section(text, "### Сознательно не входит")
    assert "| Внешняя аналитика | ★★☆ | отложено по решению заказчика; рекомендуется добавить следующим этапом |" in out
    assert text.count("по решению заказчика") == 1


def test_same_answers_same_facts_in_english(run_cli, tmp_path):
    result, text = render(run_cli, tmp_path, ANSWERS, "--lang", "en")
    assert "- **Client:** ООО «Вектор»" in text
    assert f"The sales team has 25{NBSP}sellers" in text
    assert "warning: number of sellers: the blueprint says “8”, the client's answers say “25”" in result.stderr


# --- assumptions -----------------------------------------------------------------------------


def assumptions(text: str, heading: str = "### Допущения (подтвердить)") -> list[tuple[str, str, str]]:
    table = section(text, heading)
    return [(what, value, source) for what, value, source in
            re.findall(r"^\| \d+ \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ☐ \|$", table, re.M)]


def test_every_value_the_client_did_not_give_is_an_assumption(run_cli, tmp_path):
    _, text = render(run_cli, tmp_path, ANSWERS)
    rows = assumptions(text)
    # working days were not answered; the conversions come from the preset; the rest is the client's
    assert rows == [
        ("Рабочих дней в месяце", f"21{NBSP}рабочий день", "типовое значение пресета"),
        ("Конверсия шага «Лид» в следующий", f"60{NBSP}%", "типовое значение пресета"),
        ("Конверсия шага «Квалифицирован» в следующий", f"50{NBSP}%", "типовое значение пресета"),
        ("Конверсия шага «Встреча» в следующий", f"70{NBSP}%", "типовое значение пресета"),
        ("Конверсия шага «КП отправлено» в следующий", f"40{NBSP}%", "типовое значение пресета"),
        ("Куратор CRM", "отдельный сотрудник заказчика", "значение анкеты по умолчанию"),
        ("Дата начала внедрения", "19 января 2026 г.", "значение анкеты по умолчанию"),
        ("Длительности этапов дорожной карты", f"типовые, всего 10{NBSP}недель", "значение анкеты по умолчанию"),
    ]
    # ... and each is marked where it is used
    assert "- **Рабочих дней в месяце:** 21 (допущение)" in text
    assert f"| Лид | 60{NBSP}% (допущение) |" in text
    assert "- **Средний чек:** 60" in text and "- **Средний чек:** 60\u00a0000\u00a0₽ (допущение)" not in text


def test_an_answered_value_is_not_an_assumption(run_cli, tmp_path):
    _, text = render(run_cli, tmp_path, ANSWERS.replace("  target_crm", "  working_days: 20\n  target_crm"))
    assert [what for what, _, _ in assumptions(text)][:1] == ["Конверсия шага «Лид» в следующий"]
    assert "- **Рабочих дней в месяце:** 20\n" in text


def test_without_answers_a_presets_figures_are_all_assumptions(run_cli, tmp_path):
    _, text = render(run_cli, tmp_path, None, "--lang", "en")
    rows = assumptions(text, "### Assumptions (to confirm)")
    assert [(what, source) for what, _, source in rows][:5] == [
        ("Client", "preset's typical value"), ("Number of sellers", "preset's typical value"),
        ("Monthly revenue plan", "preset's typical value"), ("Average check", "preset's typical value"),
        ("Working days a month", "preset's typical value"),
    ]
    assert "- **Client:** B2B-услуги (6–10 менеджеров) (assumption)" in text
    assert "- **Monthly revenue plan:** RUB\u00a0800,000 (assumption)" in text


def test_answers_without_a_plan_in_the_blueprint(run_cli, tmp_path):
    """A blueprint with no plan takes the client's plan; working days are the questionnaire's default."""
    source = preset().read_text(encoding="utf-8")
    cut = source.index("  plan:\n    revenue_month")
    end = source.index("manual:", cut)
    blueprint = tmp_path / "noplan.yaml"
    blueprint.write_text(source[:cut] + source[end:], encoding="utf-8")
    answers = tmp_path / "answers.yaml"
    answers.write_text(ANSWERS, encoding="utf-8")
    result = run_cli("spec", "render", "-b", blueprint, "--answers", answers, "--date", "2026-01-15",
                     "-o", tmp_path / "spec.md")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "spec.md").read_text(encoding="utf-8")
    assert ("Рабочих дней в месяце", f"21{NBSP}рабочий день", "значение анкеты по умолчанию") in assumptions(text)
    assert "план выручки" not in result.stderr  # nothing to conflict with


@pytest.mark.parametrize("n, expected", [(1, "продавец"), (2, "продавца"), (4, "продавца"), (5, "продавцов"),
                                          (11, "продавцов"), (12, "продавцов"), (21, "продавец"), (22, "продавца"),
                                          (25, "продавцов"), (101, "продавец"), (111, "продавцов")])
def test_russian_plural_agreement(n, expected):
    from implkit.spec.formatting import plural

    assert plural(n, ("продавец", "продавца", "продавцов"), "ru") == expected


def test_count_groups_digits_and_agrees():
    from implkit.spec.formatting import count

    assert count(21, ("рабочий день", "рабочих дня", "рабочих дней"), "ru") == f"21{NBSP}рабочий день"
    assert count(1500, ("продажа", "продажи", "продаж"), "ru") == f"1{NBSP}500{NBSP}продаж"
    assert count(0.4, ("встреча", "встречи", "встреч"), "ru") == f"0,4{NBSP}встречи"
    assert count(1, ("seller", "sellers"), "en") == f"1{NBSP}seller"
    assert count(1500, ("seller", "sellers"), "en") == f"1,500{NBSP}sellers"


def test_roadmap_connects_the_clients_channels(run_cli, tmp_path):
    _, text = render(run_cli, tmp_path, ANSWERS)
    row = next(line for line in text.splitlines() if line.startswith("| 2. Первое приближение: каналы |"))
    channels = re.search(r"Подключение каналов заявок: ([^;]+);", row).group(1)
    assert channels == ("WhatsApp, IP-телефония (Mango Office / UIS / Sipuni), Заявка с сайта, Обратный звонок, "
                        "Электронная почта")  # Telegram was not named by the client; e-mail was
    assert "Цели KPI — типовые значения пресета (допущение)" in text


def test_current_state_is_what_the_client_said(run_cli, tmp_path):
    answers = ANSWERS.replace("  target_crm", "  products: Консалтинг по логистике\n  current_tools: Excel и 1С\n"
                                              "  one_c: to_crm\n  target_crm")
    _, text = render(run_cli, tmp_path, answers)
    current = section(text, "### Текущее состояние (со слов заказчика)")
    assert "- **Что продаёт:** Консалтинг по логистике" in current
    assert "- **Где ведутся клиенты сейчас:** Excel и 1С" in current
    assert "- **Откуда приходят заявки:** Формы на сайте, WhatsApp, Телефон, Электронная почта" in current
    assert "- **Обмен с 1С:** Из 1С в CRM: товары, цены, остатки, оплаты" in current
    assert "Рабочих дней" not in current  # a default is not a description of the company


def test_without_answers_the_current_state_is_left_to_the_interviews(run_cli, tmp_path):
    _, text = render(run_cli, tmp_path, None)
    assert section(text, "### Текущее состояние (со слов заказчика)").startswith(
        "### Текущее состояние (со слов заказчика)\n\nАнкета заказчика не заполнялась")
