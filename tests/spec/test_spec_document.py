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
