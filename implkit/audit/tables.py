"""One renderer for the period reports (sales, load, feed, goals): a title, note lines and titled tables,
as a terminal table, Markdown, HTML or CSV; JSON is the report's own data.

A report builds its cells already as the reader's language writes them (`cell`, `lang.number`,
`lang.percent`): a missing figure is «—», never `None`. CSV is one table a spreadsheet can sum, which
each report gives itself (`csv_headers`, `csv_rows`: raw figures, an empty cell for a missing one).
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from typing import Any, Sequence

_CSS = ("body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}"
        "table{border-collapse:collapse;margin-bottom:1.5rem}td,th{border-bottom:1px solid #eee;padding:.25rem .5rem;"
        "text-align:left;vertical-align:top}td.n{text-align:right}")


@dataclass
class Section:
    title: str
    headers: Sequence[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)  # lines under the title, above the table
    empty: str = ""  # what to say instead of an empty table


@dataclass
class Rendered:
    title: str
    notes: list[str]
    sections: list[Section]
    data: dict[str, Any]  # the JSON form
    csv_headers: Sequence[str] = ()
    csv_rows: list[list[Any]] = field(default_factory=list)


_NUMBER_TD = '<td class="n">'


def cell(value: Any) -> str:
    """A value as a report prints it: a missing one is «—», never `None`."""
    return "—" if value is None or value == "" else str(value)


def render(doc: Rendered, fmt: str, lang: str) -> str:
    if fmt == "json":
        return json.dumps({"lang": lang, **doc.data}, ensure_ascii=False, indent=2, default=str) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(doc.csv_headers)
        writer.writerows([[("" if c is None else c) for c in row] for row in doc.csv_rows])
        return out.getvalue()
    if fmt == "html":
        return _html(doc, lang)
    from tabulate import tabulate

    md = fmt == "md"
    lines = [("# " if md else "") + doc.title, ""]
    if doc.notes:
        lines += [*doc.notes, ""]
    for section in doc.sections:
        lines += [("## " if md else "") + section.title, ""]
        if section.notes:
            lines += [*section.notes, ""]
        if section.rows:
            lines += [tabulate([[cell(c) for c in row] for row in section.rows], headers=list(section.headers),
                               tablefmt="github" if md else "simple", disable_numparse=True), ""]
        elif section.empty:
            lines += [section.empty, ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _html(doc: Rendered, lang: str) -> str:
    def e(text: str) -> str:  # element content: quotes need no escaping there («ООО "Ромашка"» stays readable)
        return html.escape(text, quote=False)

    parts = [f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{e(doc.title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{e(doc.title)}</h1>"]
    parts += [f"<p>{e(line)}</p>" for line in doc.notes]
    for section in doc.sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        parts += [f"<p>{e(line)}</p>" for line in section.notes]
        if section.rows:
            parts.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in section.headers) + "</tr>")
            for row in section.rows:
                parts.append("<tr>" + "".join((_NUMBER_TD if isinstance(c, (int, float)) else "<td>")
                                              + f"{e(cell(c))}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        elif section.empty:
            parts.append(f"<p>{e(section.empty)}</p>")
    return "".join(parts) + "</body></html>\n"
