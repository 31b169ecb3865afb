"""The spec as a Word document, built from the HTML rendering so both say exactly the same.

The HTML the templates produce uses a small set of elements (h1–h3, p, ul/li,
table/thead/tbody/tr/th/td, strong, span); this module walks them with the
standard library's HTMLParser (which also decodes the escaped data back to
text) and writes real Word structure with python-docx: Heading 1/2/3 styles,
bulleted lists, and tables with a header row, so a client can edit it.

A .docx is a zip: python-docx stamps each member with the current time, so
`to_docx` rewrites the archive with fixed timestamps and fixed core
properties; the same inputs then give the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import io
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_HEADINGS = {"h1": 0, "h2": 1, "h3": 2}  # h1 is the document title (Word's "Title" style)


@dataclass
class _Table:
    rows: list[list[str]] = field(default_factory=list)
    header_rows: int = 0


class _SpecHtml(HTMLParser):
    """Collects the body of the spec's HTML as a list of blocks: (kind, payload)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, object]] = []
        self._text: list[str] | None = None
        self._skip = 0  # inside <head>/<style>/<title>
        self._list_class: str | None = None
        self._table: _Table | None = None
        self._in_thead = False
        self._row: list[str] | None = None
        self._bold_label: str | None = None
        self._toc = 0  # inside <nav class="toc">: Word gets a TOC field instead of the list

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "nav" and dict(attrs).get("class") == "toc":
            self._toc += 1
            self.blocks.append(("toc", dict(attrs).get("data-title") or ""))
        elif self._toc:
            return
        elif tag in ("head", "style", "title", "script"):
            self._skip += 1
        elif tag in ("h1", "h2", "h3", "p", "li", "td", "th"):
            self._text = []
        elif tag == "ul":
            self._list_class = dict(attrs).get("class") or ""
        elif tag == "table":
            self._table = _Table()
        elif tag == "thead":
            self._in_thead = True
        elif tag == "tr":
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._toc:
            self._toc -= 1
        elif self._toc:
            return
        elif tag == "section":  # the title page ends: the rest starts on a new page
            self.blocks.append(("pagebreak", None))
        elif tag in ("head", "style", "title", "script"):
            self._skip -= 1
        elif tag in _HEADINGS or tag == "p":
            self.blocks.append((tag, self._take()))
        elif tag == "li":
            kind = "check" if self._list_class == "checklist" else "bullet"
            self.blocks.append((kind, self._take()))
        elif tag in ("td", "th") and self._row is not None:
            self._row.append(self._take())
        elif tag == "tr" and self._table is not None and self._row is not None:
            self._table.rows.append(self._row)
            if self._in_thead:
                self._table.header_rows += 1
            self._row = None
        elif tag == "thead":
            self._in_thead = False
        elif tag == "table" and self._table is not None:
            self.blocks.append(("table", self._table))
            self._table = None
        elif tag == "ul":
            self._list_class = None

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._toc and self._text is not None:
            self._text.append(data)

    def _take(self) -> str:
        text = " ".join("".join(self._text or ()).split())
        self._text = None
        return text


def to_docx(html: str, *, title: str, author: str, date: _dt.date, lang: str) -> bytes:
    parser = _SpecHtml()
    parser.feed(html)
    parser.close()

    document = Document()
    document.styles["Normal"].font.size = Pt(10.5)
    _page_setup(document)
    _page_numbers(document)
    _update_fields_on_open(document)
    properties = document.core_properties
    properties.title = title
    properties.author = author
    properties.last_modified_by = author
    properties.language = lang
    moment = _dt.datetime(date.year, date.month, date.day)
    properties.created = moment
    properties.modified = moment
    properties.revision = 1

    for kind, payload in parser.blocks:
        if kind in _HEADINGS:
            document.add_heading(str(payload), level=_HEADINGS[kind])
        elif kind == "p":
            document.add_paragraph(str(payload))
        elif kind == "bullet":
            document.add_paragraph(str(payload), style="List Bullet")
        elif kind == "check":
            document.add_paragraph("☐ " + str(payload))
        elif kind == "table":
            _add_table(document, payload)  # type: ignore[arg-type]
        elif kind == "pagebreak":
            document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        elif kind == "toc":
            _add_toc(document, str(payload))
    buffer = io.BytesIO()
    document.save(buffer)
    return _normalised_zip(buffer.getvalue())


# A4 and the margins of Russian business documents (ГОСТ Р 7.0.97-2016, 5.1): left 30 mm,
# right 10 mm at least (15 here, so a hole punch and a binding both leave the text alone),
# top and bottom 20 mm.
A4 = (Mm(210), Mm(297))
MARGINS = {"left": Mm(30), "right": Mm(15), "top": Mm(20), "bottom": Mm(20)}


def _page_setup(document) -> None:  # noqa: ANN001
    for section in document.sections:
        section.page_width, section.page_height = A4
        section.left_margin, section.right_margin = MARGINS["left"], MARGINS["right"]
        section.top_margin, section.bottom_margin = MARGINS["top"], MARGINS["bottom"]
        section.different_first_page_header_footer = True  # no number on the title page


def _field(paragraph, instruction: str, placeholder: str = "") -> None:  # noqa: ANN001
    """A complex field (w:fldChar begin / instrText / separate / result / end) Word computes."""
    def char(kind: str):  # noqa: ANN202
        element = OxmlElement("w:fldChar")
        element.set(qn("w:fldCharType"), kind)
        if kind == "begin":
            element.set(qn("w:dirty"), "true")  # stale: Word recomputes it on open
        return element

    paragraph.add_run()._r.append(char("begin"))
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    paragraph.add_run()._r.append(instr)
    paragraph.add_run()._r.append(char("separate"))
    paragraph.add_run(placeholder)
    paragraph.add_run()._r.append(char("end"))


def _page_numbers(document) -> None:  # noqa: ANN001
    for section in document.sections:
        paragraph = section.footer.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _field(paragraph, "PAGE", "1")


def _update_fields_on_open(document) -> None:  # noqa: ANN001
    """Word asks to update the fields (the table of contents) when the document opens."""
    settings = document.settings.element
    update = OxmlElement("w:updateFields")
    update.set(qn("w:val"), "true")
    # CT_Settings is a sequence: updateFields goes before these (ECMA-376 Part 1, 17.15.1.78)
    later = {qn(f"w:{name}") for name in _AFTER_UPDATE_FIELDS} | {
        "{http://schemas.openxmlformats.org/officeDocument/2006/math}mathPr",
        "{http://schemas.openxmlformats.org/schemaLibrary/2006/main}schemaLibrary"}
    following = next((child for child in settings if child.tag in later), None)
    if following is None:
        settings.append(update)
    else:
        following.addprevious(update)


_AFTER_UPDATE_FIELDS = ("hdrShapeDefaults", "footnotePr", "endnotePr", "compat", "docVars", "rsids",
                        "attachedSchema", "themeFontLang", "clrSchemeMapping", "doNotIncludeSubdocsInStats",
                        "doNotAutoCompressPictures", "forceUpgrade", "captions", "readModeInkLockDown",
                        "smartTagType", "shapeDefaults", "doNotEmbedSmartTags", "decimalSymbol", "listSeparator")


def _add_toc(document, title: str) -> None:  # noqa: ANN001
    heading = document.add_paragraph(title)
    heading.runs[0].bold = True
    _field(document.add_paragraph(), 'TOC \\o "1-2" \\h \\z \\u', "…")
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def _add_table(document, table: _Table) -> None:  # noqa: ANN001
    width = max(len(row) for row in table.rows)
    word_table = document.add_table(rows=len(table.rows), cols=width)
    word_table.style = "Table Grid"
    word_table.alignment = WD_TABLE_ALIGNMENT.LEFT
    for r, row in enumerate(table.rows):
        for c, text in enumerate(row):
            cell = word_table.cell(r, c)
            cell.text = text
            if r < table.header_rows:
                for run in cell.paragraphs[0].runs:
                    run.bold = True
    document.add_paragraph()


def _normalised_zip(data: bytes) -> bytes:
    """The same archive with every member's timestamp fixed, in the same order."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()
