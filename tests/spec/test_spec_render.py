"""`implkit spec render`: golden files, determinism, escaping of data, DOCX structure, bad input.

Regenerate the golden files (after an intended change, then review the diff):

    IMPLKIT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/spec
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import docx
import pytest

from implkit.data import blueprints_dir

from spec_helpers import FIXTURES

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("IMPLKIT_UPDATE_GOLDEN") == "1"
DATE = "2026-01-15"
INTEGRATOR = "Студия внедрения «Пример»"
PRESETS = ("b2b-services", "retail", "manufacturer")
HOSTILE = "ООО <script>alert(1)</script> **bold** {{ 7*7 }} {% raw %} a|b"


def render(run_cli, blueprint: Path, output: Path, *extra: str):
    return run_cli("spec", "render", "-b", blueprint, "--date", DATE, "--integrator", INTEGRATOR,
                   "-o", output, *extra)


def check_golden(produced: Path, name: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(produced.read_bytes())
    assert golden.exists(), f"no golden file {name}: run IMPLKIT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/spec"
    assert produced.read_bytes() == golden.read_bytes(), (
        f"{name} differs from its golden file; if the change is intended, regenerate with "
        "IMPLKIT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/spec and review the diff")


def blueprint_source(name: str) -> Path:
    if name == "fixture-b2b":
        return FIXTURES / "b2b.yaml"
    path = blueprints_dir() / "presets" / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"preset {name} is not in blueprints/presets yet")
    return path


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("name", ["fixture-b2b", *PRESETS])
def test_golden(run_cli, tmp_path, name, lang, fmt):
    output = tmp_path / f"spec.{fmt}"
    result = render(run_cli, blueprint_source(name), output, "--lang", lang)
    assert result.exit_code == 0, result.output
    check_golden(output, f"{name}.{lang}.{fmt}")


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("fmt", ["md", "html", "docx"])
def test_minimal_blueprint_renders_every_section(run_cli, tmp_path, fmt, lang):
    output = tmp_path / f"spec.{fmt}"
    result = render(run_cli, FIXTURES / "minimal.yaml", output, "--lang", lang)
    assert result.exit_code == 0, result.output
    if fmt == "docx":
        headings = [p.text for p in docx.Document(str(output)).paragraphs if p.style.name == "Heading 1"]
        assert len(headings) == 12
        return
    text = output.read_text(encoding="utf-8")
    nothing = "Не предусмотрено." if lang == "ru" else "Not in scope."
    assert text.count(nothing) >= 8  # pipelines, fields, automations, groups, rights, integrations, KPI, reports
    assert ("План продаж не задан" if lang == "ru" else "No sales plan is set") in text


def test_group_without_sellers_takes_the_matrix_column(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    assert render(run_cli, FIXTURES / "minimal-group.yaml", output, "--lang", "en").exit_code == 0
    text = output.read_text(encoding="utf-8")
    assert "| Telephony | ★★★ | no | — |" in text  # group 5-10 of the matrix
    # 100 000 / 30 000 → 4 sales; 4 / 0.25 = 16; no sellers: no per-seller norms
    assert "| Lead | 25% (assumption) | 16 | — | — | — |" in text


@pytest.mark.parametrize("fmt", ["md", "html", "docx"])
def test_same_inputs_same_bytes(run_cli, tmp_path, fmt):
    first, second = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    assert render(run_cli, FIXTURES / "b2b.yaml", first).exit_code == 0
    assert render(run_cli, FIXTURES / "b2b.yaml", second).exit_code == 0
    assert first.read_bytes() == second.read_bytes()


def test_russian_by_default_and_format_from_extension(run_cli, tmp_path):
    output = tmp_path / "spec.html"
    assert render(run_cli, FIXTURES / "b2b.yaml", output).exit_code == 0
    text = output.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert '<html lang="ru">' in text and "Техническое задание" in text


def test_format_option_overrides_the_extension(run_cli, tmp_path):
    output = tmp_path / "spec.txt"
    assert render(run_cli, FIXTURES / "b2b.yaml", output, "--format", "md").exit_code == 0
    assert output.read_text(encoding="utf-8").startswith("# Техническое задание")


def test_contents_of_every_section(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    assert render(run_cli, FIXTURES / "b2b.yaml", output).exit_code == 0
    text = output.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert [h.split(" ", 1)[0] for h in headings] == [f"{n}." for n in range(1, 13)]
    # 1 title page
    assert "- **Заказчик:** ООО «Ромашка»" in text
    assert "b2b-test 1.2.0" in text and "15 января 2026 г." in text and INTEGRATOR in text
    # 2 sizing from the blueprint's seller count: matrix group 2-5, reasons printed
    assert "| Телефония | ★★☆ | да | Матрица, группа 3–5 продавцов: рекомендуется |" in text
    assert "| Несколько воронок | — | не актуально для отдела такого размера |" in text
    # 3 roadmap: the curator's daily data-quality check
    assert "Куратор ежедневно проверяет качество данных" in text
    # 4 pipelines: stages in order, required fields, what moves a deal on
    assert ("| 2 | Квалифицирован | — | Источник, Потребность | "
            "Переход в «Встреча», когда заполнены: Дата встречи |") in text
    # 5 fields with options and where required
    assert "| Источник | список | Сайт, Телефон, WhatsApp, Telegram | Продажи → Квалифицирован | — |" in text
    # 6 automations and distribution
    assert "| Новая заявка | при переходе в этап | создать задачу «Связаться с клиентом», срок 15 мин | — |" in text
    assert "| Входящие заявки по очереди | по очереди | Продажи → Новая заявка | Отдел продаж |" in text
    # 7 rights matrix
    assert "| Менеджер | Сделки | только свои | только свои | все | запрещено | запрещено |" in text
    # 8 integrations: where a lead lands
    assert "| Мессенджер | WhatsApp | Продажи → Новая заявка | — |" in text
    # 10 manual checklists for both CRMs
    assert "### amoCRM" in text and "### Bitrix24" in text
    assert "- [ ] Создать роль «Менеджер» и выдать права" in text
    # 11 acceptance and glossary
    assert "### Глоссарий" in text


def test_worked_decomposition_in_the_spec(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    assert render(run_cli, FIXTURES / "b2b.yaml", output).exit_code == 0
    text = output.read_text(encoding="utf-8")
    nbsp = "\u00a0"
    assert f"- **План выручки в месяц:** 800{nbsp}000{nbsp}₽" in text
    assert f"- **План выручки на продавца в месяц:** 200{nbsp}000{nbsp}₽" in text  # 800 000 / 4 sellers
    rows = re.findall(r"^\| (Лид|Квалифицирован|Встреча|КП отправлено|Продажа \(оплата\)) \| ([^|]+) \| (\d+) \| (\d+) \| ([^|]+) \| ([^|]+) \|$",
                      text, re.M)
    # month per seller = ceil(needed / 4); week = month × 5 / 21 and day = month / 21, both rounded UP to a tenth
    assert [(step, int(n), int(s), w, d) for step, _, n, s, w, d in rows][:5] == [
        ("Лид", 240, 60, "14,3", "2,9"), ("Квалифицирован", 144, 36, "8,6", "1,8"), ("Встреча", 72, 18, "4,3", "0,9"),
        ("КП отправлено", 50, 13, "3,1", "0,7"), ("Продажа (оплата)", 20, 5, "1,2", f"0,3 (1 раз в 4{nbsp}рабочих дня)"),
    ]
    assert f"| Встреча | 70{nbsp}% (допущение) | 72 |" in text


def test_answers_drive_the_sizing_and_the_target_crm(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    result = render(run_cli, FIXTURES / "b2b.yaml", output, "--answers", FIXTURES / "answers-no-phone.yaml")
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert "поправками на ответы анкеты" in text
    # no phone among the lead channels: telephony drops from ★★☆ to ★☆☆, with the reason
    line = next(line for line in text.splitlines() if line.startswith("| Телефония |"))
    assert "★☆☆ (по матрице ★★☆)" in line and "Телефон не канал заявок" in line
    # the answers name Bitrix24 as the target: only its checklist
    assert "### Bitrix24" in text and "### amoCRM" not in text


def test_crm_option_selects_one_checklist(run_cli, tmp_path):
    output = tmp_path / "spec.md"
    assert render(run_cli, FIXTURES / "b2b.yaml", output, "--crm", "amocrm", "--lang", "en").exit_code == 0
    text = output.read_text(encoding="utf-8")
    assert "### amoCRM" in text and "### Bitrix24" not in text
    assert "- [ ] Create the user group “Отдел продаж”" in text


@pytest.fixture
def hostile_blueprint(tmp_path) -> Path:
    source = (FIXTURES / "b2b.yaml").read_text(encoding="utf-8")
    company = HOSTILE.replace('"', '\\"')
    path = tmp_path / "hostile.yaml"
    source = source.replace('company: "ООО «Ромашка»"', f'company: "{company}"')
    # the pipeline's name lands in headings, table cells and checklist items
    source = source.replace("    name: Продажи\n", f'    name: "P {company}"\n')
    path.write_text(source, encoding="utf-8")
    return path


def test_hostile_company_name_is_text_in_markdown(run_cli, tmp_path, hostile_blueprint):
    output = tmp_path / "spec.md"
    assert render(run_cli, hostile_blueprint, output).exit_code == 0
    text = output.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("- **Заказчик:**"))
    assert line == (r"- **Заказчик:** ООО \<script\>alert(1)\</script\> \*\*bold\*\* {{ 7\*7 }} {% raw %} a\|b")
    assert "<script>" not in text and "49" not in line
    assert "**bold**" not in text and " a|b" not in text  # nowhere: headings, cells, checklists
    assert r"### Воронка «P ООО \<script\>alert(1)\</script\> \*\*bold\*\* {{ 7\*7 }} {% raw %} a\|b» (основная)" in text


def test_hostile_company_name_is_text_in_html(run_cli, tmp_path, hostile_blueprint):
    output = tmp_path / "spec.html"
    assert render(run_cli, hostile_blueprint, output).exit_code == 0
    text = output.read_text(encoding="utf-8")
    assert "<script" not in text and "<strong>bold" not in text
    assert f"<td>P ООО &lt;script&gt;alert(1)&lt;/script&gt; **bold** {{{{ 7*7 }}}} {{% raw %}} a|b → Новая заявка</td>" in text
    assert ("<li><strong>Заказчик:</strong> ООО &lt;script&gt;alert(1)&lt;/script&gt; **bold** "
            "{{ 7*7 }} {% raw %} a|b</li>") in text
    assert "<title>Техническое задание на внедрение CRM — ООО &lt;script&gt;" in text


def test_hostile_company_name_is_text_in_docx(run_cli, tmp_path, hostile_blueprint):
    output = tmp_path / "spec.docx"
    assert render(run_cli, hostile_blueprint, output).exit_code == 0
    document = docx.Document(str(output))
    texts = [p.text for p in document.paragraphs]
    assert f"Заказчик: {HOSTILE}" in texts
    assert f"Воронка «P {HOSTILE}» (основная)" in texts
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    assert f"P {HOSTILE} → Квалифицирован" in cells
    assert document.core_properties.title.startswith(HOSTILE)


def test_docx_has_word_headings_and_real_tables(run_cli, tmp_path):
    output = tmp_path / "spec.docx"
    assert render(run_cli, FIXTURES / "b2b.yaml", output).exit_code == 0
    document = docx.Document(str(output))
    headings = [(p.style.name, p.text) for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    assert headings[0] == ("Title", "Техническое задание на внедрение CRM")
    assert ("Heading 1", "4. Воронки продаж") in headings
    assert ("Heading 1", "7. Роли, права, куратор и регламент работы в CRM") in headings
    assert ("Heading 2", "Воронка «Продажи» (основная)") in headings
    tables = [[[cell.text for cell in row.cells] for row in t.rows] for t in document.tables]
    pipeline = next(t for t in tables if t[0][:2] == ["№", "Этап"])
    assert [row[1] for row in pipeline[1:]] == ["Новая заявка", "Квалифицирован", "Встреча", "КП отправлено"]
    rights = next(t for t in tables if t[0][:2] == ["Роль", "Объект"])
    assert rights[0][2:] == ["Просмотр", "Изменение", "Добавление", "Удаление", "Экспорт"]
    assert ["Менеджер", "Сделки", "только свои", "только свои", "все", "запрещено", "запрещено"] in rights
    assert any(p.style.name == "List Bullet" for p in document.paragraphs)
    # deterministic archive: fixed member timestamps
    with zipfile.ZipFile(io.BytesIO(output.read_bytes())) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_html_is_self_contained_with_a_print_stylesheet(run_cli, tmp_path):
    output = tmp_path / "spec.html"
    assert render(run_cli, FIXTURES / "b2b.yaml", output, "--lang", "en").exit_code == 0
    text = output.read_text(encoding="utf-8")
    assert "@media print" in text and "@page" in text
    for external in ("<script", "<link", "src=", "href=", "@import", "url("):
        assert external not in text
    assert text.count("<table>") == text.count("</table>") >= 10


def test_html_tags_are_balanced(run_cli, tmp_path):
    from html.parser import HTMLParser

    class Balance(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.open: list[str] = []
            self.mismatched: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag != "meta":
                self.open.append(tag)

        def handle_endtag(self, tag):
            if self.open and self.open[-1] == tag:
                self.open.pop()
            else:
                self.mismatched.append(tag)

    output = tmp_path / "spec.html"
    assert render(run_cli, FIXTURES / "b2b.yaml", output).exit_code == 0
    checker = Balance()
    checker.feed(output.read_text(encoding="utf-8"))
    assert checker.open == [] and checker.mismatched == []


# --- bad input: exit 3, a clear message, nothing written ----------------------------------


def bad(run_cli, tmp_path, *args: str, output_name: str = "spec.md"):
    output = tmp_path / output_name
    result = run_cli("spec", "render", *args, "-o", output)
    assert result.exit_code == 3, result.output
    assert not output.exists()
    assert list(tmp_path.iterdir()) == [p for p in tmp_path.iterdir() if p.suffix == ".yaml"]  # no temp files left
    return result.output


def test_missing_blueprint(run_cli, tmp_path):
    message = bad(run_cli, tmp_path, "-b", tmp_path / "absent.yaml")
    assert "absent.yaml" in message and "no such file" in message


def test_invalid_blueprint_names_file_line_and_key(run_cli, tmp_path):
    source = (FIXTURES / "b2b.yaml").read_text(encoding="utf-8")
    path = tmp_path / "invalid.yaml"
    path.write_text(source.replace("type: monetary", "type: money"), encoding="utf-8")
    line = next(n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "type: money" in text)
    message = bad(run_cli, tmp_path, "-b", path)
    assert f"invalid.yaml:{line}:" in message and "money" in message


def test_yaml_syntax_error(run_cli, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("metadata: {name: x\n", encoding="utf-8")
    assert "broken.yaml:" in bad(run_cli, tmp_path, "-b", path)


def test_unknown_extension(run_cli, tmp_path):
    message = bad(run_cli, tmp_path, "-b", FIXTURES / "b2b.yaml", output_name="spec.pdf")
    assert "'.pdf'" in message and "--format" in message


def test_unknown_format(run_cli, tmp_path):
    assert "'pdf'" in bad(run_cli, tmp_path, "-b", FIXTURES / "b2b.yaml", "--format", "pdf")


def test_bad_lang(run_cli, tmp_path):
    assert "--lang" in bad(run_cli, tmp_path, "-b", FIXTURES / "b2b.yaml", "--lang", "de")


def test_bad_date(run_cli, tmp_path):
    assert "YYYY-MM-DD" in bad(run_cli, tmp_path, "-b", FIXTURES / "b2b.yaml", "--date", "15.01.2026")


def test_bad_crm(run_cli, tmp_path):
    assert "--crm" in bad(run_cli, tmp_path, "-b", FIXTURES / "b2b.yaml", "--crm", "salesforce")


def test_missing_answers_file(run_cli, tmp_path):
    assert "nope.yaml" in bad(run_cli, tmp_path, "-b", FIXTURES / "b2b.yaml", "--answers", tmp_path / "nope.yaml")


def test_missing_output_option_is_a_usage_error(run_cli):
    assert run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml").exit_code == 3
