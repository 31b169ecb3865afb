"""The spec as a document one signs: A4 with Russian margins, title page, contents, page numbers, signatures.

The Word checks read the document's XML (word/document.xml, footer, settings)
rather than trusting python-docx's view of it.
"""

from __future__ import annotations

import io
import re
import zipfile

import docx

from spec_helpers import FIXTURES

INTEGRATOR = "Студия внедрения «Пример»"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def render(run_cli, tmp_path, fmt: str, *extra: str):
    output = tmp_path / f"spec.{fmt}"
    result = run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--date", "2026-01-15",
                     "--integrator", INTEGRATOR, "-o", output, *extra)
    assert result.exit_code == 0, result.output
    return output


def parts(path) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist() if name.endswith(".xml")}


def test_docx_is_a4_with_russian_margins(run_cli, tmp_path):
    xml = parts(render(run_cli, tmp_path, "docx"))["word/document.xml"]
    size = re.search(r"<w:pgSz ([^>]*)/>", xml).group(1)
    margins = dict(re.findall(r'w:(\w+)="(\d+)"', re.search(r"<w:pgMar ([^>]*)/>", xml).group(1)))
    # twentieths of a point: 1 mm = 56.69 twips
    assert 'w:w="11906"' in size and 'w:h="16838"' in size  # 210 × 297 mm
    mm = {side: round(int(margins[side]) / 56.6929) for side in ("left", "right", "top", "bottom")}
    assert mm == {"left": 30, "right": 15, "top": 20, "bottom": 20}


def test_docx_has_a_toc_field_word_updates_on_open(run_cli, tmp_path):
    xml = parts(render(run_cli, tmp_path, "docx"))
    document = xml["word/document.xml"]
    assert re.search(r'<w:fldChar w:fldCharType="begin" w:dirty="true"/>', document)
    assert re.search(r'<w:instrText xml:space="preserve"> TOC \\o "1-2" \\h \\z \\u </w:instrText>', document)
    assert document.count('w:fldCharType="end"') >= 1
    assert '<w:updateFields w:val="true"/>' in xml["word/settings.xml"]
    # the contents come after the title page and before section 2
    text = " ".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", document))
    assert text.index("Содержание") < text.index("2. Цели и масштаб внедрения")
    assert "<w:t>1. Титульный лист</w:t>" in document  # the heading, not the HTML list of sections


def test_docx_has_page_numbers_but_not_on_the_title_page(run_cli, tmp_path):
    xml = parts(render(run_cli, tmp_path, "docx"))
    footers = [body for name, body in xml.items() if name.startswith("word/footer")]
    assert any(re.search(r"<w:instrText[^>]*> PAGE </w:instrText>", f) for f in footers)
    assert "<w:titlePg/>" in xml["word/document.xml"]


def test_docx_title_page_then_contents_then_body(run_cli, tmp_path):
    document = docx.Document(str(render(run_cli, tmp_path, "docx")))
    paragraphs = document.paragraphs
    breaks = [i for i, p in enumerate(paragraphs) if 'w:type="page"' in p._p.xml]
    assert len(breaks) >= 2
    title_page = [p.text for p in paragraphs[:breaks[0]]]
    assert title_page[0] == "Техническое задание на внедрение CRM"
    for expected in ("Заказчик: ООО «Ромашка»", f"Исполнитель: {INTEGRATOR}", "Версия документа: 1.2.0",
                     "Дата: 15 января 2026 г."):
        assert expected in title_page


def test_docx_ends_with_the_signature_block(run_cli, tmp_path):
    document = docx.Document(str(render(run_cli, tmp_path, "docx")))
    last = [[cell.text for cell in row.cells] for row in document.tables[-1].rows]
    assert last[0] == ["Сторона", "Должность", "ФИО", "Подпись", "Дата"]
    assert last[1][:2] == ["Заказчик: ООО «Ромашка»", "Генеральный директор"]
    assert last[-1][:2] == [f"Исполнитель: {INTEGRATOR}", "Руководитель проекта"]
    assert all(row[2:] == ["", "", ""] for row in last[1:])


def test_html_prints_to_a4_with_the_same_structure(run_cli, tmp_path):
    text = render(run_cli, tmp_path, "html", "--lang", "en").read_text(encoding="utf-8")
    assert re.search(r"@page \{ size: A4; margin: 20mm 15mm 20mm 30mm;", text)
    assert "@bottom-center { content: counter(page)" in text
    assert '<section class="title-page">' in text and ".title-page { break-after: page;" in text
    assert '<nav class="toc" data-title="Contents">' in text and "<li>12. Approval and signatures</li>" in text
    assert text.index("</section>") < text.index('<nav class="toc"') < text.index("<h2>2. Goals and scope</h2>")
    assert "<th>Signature</th>" in text[text.index("<h2>12. Approval and signatures</h2>"):]


def test_sign_off_follows_the_blueprint_and_answers(run_cli, tmp_path):
    """No head of sales in the answers: no head of sales among the approvers or the signatures."""
    text = render(run_cli, tmp_path, "md", "--answers", FIXTURES / "answers-no-phone.yaml").read_text(encoding="utf-8")
    signoff = text[text.index("## 12."):]
    assert "Руководитель отдела продаж" not in signoff
    assert "| Маркетинг |" in signoff  # website forms and WhatsApp are marketing channels
    assert "| ИТ и информационная безопасность |" in signoff  # telephony is in the blueprint


# --- roadmap dates, training, 1C -------------------------------------------------------------


def answers_file(tmp_path, extra: str):
    path = tmp_path / "answers.yaml"
    path.write_text((FIXTURES / "answers-no-phone.yaml").read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


def test_roadmap_dates_from_the_clients_start(run_cli, tmp_path):
    path = answers_file(tmp_path, '  project_start: "2026-02-02"\n  one_c: both\n')
    text = render(run_cli, tmp_path, "md", "--answers", path).read_text(encoding="utf-8")
    roadmap = text[text.index("## 3."):text.index("## 4.")]
    assert "Старт — 2 февраля 2026 г.; длительности этапов — типовые (допущение;" in roadmap
    assert "(допущение: заказчик не назвал дату" not in roadmap
    rows = re.findall(r"^\| ([^|]+) \| ([^|]+) \| ([^|]+) \|", roadmap, re.M)
    dates = [d.replace("\\", "") for _, d, _ in rows[2:9]]  # after the header and the --- line
    # 1 + 2 + 1 + 1 + 4 + 1 weeks, each stage Monday → Friday, then management ongoing
    assert dates == ["02.02.2026 — 06.02.2026 (1\u00a0неделя)", "09.02.2026 — 20.02.2026 (2\u00a0недели)",
                     "23.02.2026 — 27.02.2026 (1\u00a0неделя)", "02.03.2026 — 06.03.2026 (1\u00a0неделя)",
                     "09.03.2026 — 03.04.2026 (4\u00a0недели)", "06.04.2026 — 10.04.2026 (1\u00a0неделя)",
                     "с 13.04.2026, постоянно"]
    assumptions = text[text.index("### Допущения"):text.index("## 3.")]
    assert "Дата начала внедрения" not in assumptions
    assert "| Длительности этапов дорожной карты | типовые, всего 10\u00a0недель |" in assumptions
    # 1C both ways, from the answers
    assert "| Учётная система | 1С: обмен в обе стороны" in text


def test_roadmap_start_not_given_is_an_assumption(run_cli, tmp_path):
    text = render(run_cli, tmp_path, "md").read_text(encoding="utf-8")  # dated Thursday 2026-01-15
    assert "Старт — 19 января 2026 г. (допущение: заказчик не назвал дату; понедельник после даты ТЗ); " in text
    assert "| Дата начала внедрения | 19 января 2026 г. | значение анкеты по умолчанию | ☐ |" in text
    assert "Учётная система" not in text  # nobody asked for 1C


def test_training_plan_follows_the_team(run_cli, tmp_path):
    text = render(run_cli, tmp_path, "md", "--answers", FIXTURES / "answers-no-phone.yaml").read_text(encoding="utf-8")
    training = text[text.index("### План обучения"):text.index("## 4.")]
    who = re.findall(r"^\| ([^|]+) \| [^|]+ \| [^|]+ \| ([^|]+) \|$", training, re.M)[2:]
    # no head of sales in the answers; 4 sellers
    assert who == [("Собственник / директор", "1\u00a0час"), ("Продавцы (4\u00a0продавца)", "4\u00a0часа"),
                   ("Куратор CRM", "2\u00a0часа")]


def test_bad_start_date_names_the_answers_file_line(run_cli, tmp_path):
    path = answers_file(tmp_path, "  project_start: 2 февраля\n")
    line = len(path.read_text(encoding="utf-8").splitlines())
    output = tmp_path / "spec.md"
    result = run_cli("spec", "render", "-b", FIXTURES / "b2b.yaml", "--answers", path, "-o", output)
    assert result.exit_code == 3
    assert f"answers.yaml:{line}:" in result.output and "YYYY-MM-DD" in result.output
    assert not output.exists()
