"""What changed between two audits of a tenant, record by record: the curator's week.

Per check, the failing records of the later audit against the earlier one
(both read from the audit history's packed failing ids): **new** (failing now,
not before), **fixed** (failing before, not now) and **still open** (both).
A record that left the snapshot (deleted in the CRM) counts as fixed: the
history keeps ids, not the records. A check whose evaluation changed between
the two audits (its identity) is still compared, but marked, because a record
may be new or fixed only because the rule moved.

`audit_diff(history)` compares the last two audits; `diff_lines` renders the
section every audit report carries and `render_diff` the `audit diff`
command's output (table, md, json, csv, html).
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

from implkit.lang import say_in
from implkit.audit.history import History

CHANGES = ("new", "fixed", "still_open")
MESSAGES: dict[str, dict[str, str]] = {
    "title": {"ru": "Изменения с прошлого аудита ({before} → {after})",
              "en": "Changes since the previous audit ({before} → {after})"},
    "none": {"ru": "Аудитов ещё нет: сначала `implkit audit {tenant}`.",
             "en": "No audits kept yet: run `implkit audit {tenant}` first."},
    "first": {"ru": "Это первый аудит: сравнивать не с чем.", "en": "This is the first audit: nothing to compare."},
    "nothing": {"ru": "Нарушения те же, что в прошлый раз.", "en": "The same failing records as last time."},
    "totals": {"ru": "Новых: {new}, исправлено: {fixed}, осталось: {still_open}.",
               "en": "New: {new}, fixed: {fixed}, still open: {still_open}."},
    "columns": {"ru": "проверка|новые|исправлено|осталось|новые записи|исправленные записи",
                "en": "check|new|fixed|still open|new records|fixed records"},
    "csv_columns": {"ru": "проверка|изменение|тип записи|id", "en": "check|change|entity|id"},
    "new": {"ru": "новое", "en": "new"},
    "fixed": {"ru": "исправлено", "en": "fixed"},
    "still_open": {"ru": "осталось", "en": "still open"},
    "redefined": {"ru": "правило проверки изменилось между аудитами", "en": "the check's rule changed between the audits"},
    "not_run_before": {"ru": "в прошлый раз не выполнялась", "en": "did not run last time"},
    "not_run_now": {"ru": "сейчас не выполнялась", "en": "did not run this time"},
    "more": {"ru": "и ещё {n}", "en": "and {n} more"},
}
SHOWN_IDS = 10  # ids listed per cell in table/md/html; json and csv carry all of them


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


def audit_diff(history: History, *, check_entities: dict[str, str] | None = None) -> dict[str, Any]:
    """The last audit against the one before it (plain data; `before` is None after the first audit)."""
    runs = history.runs(2)
    if not runs:
        return {"before": None, "after": None, "checks": []}
    after = runs[-1]
    before = runs[0] if len(runs) == 2 else None
    out: dict[str, Any] = {"before": _run(before), "after": _run(after), "checks": [],
                           "totals": {c: 0 for c in CHANGES}}
    if before is None:
        return out
    trend = history.trend(2)
    for check_id in sorted(trend):
        points = {p["run"]: p for p in trend[check_id]}
        was, now = points.get(before["id"]), points.get(after["id"])
        old = history.failing_ids(before["id"], check_id) if was else None
        new = history.failing_ids(after["id"], check_id) if now else None
        if old is None and new is None:
            continue
        entity = (check_entities or {}).get(check_id)
        row: dict[str, Any] = {"id": check_id, "entity": entity, "note": None}
        if old is None:
            row["note"] = "not_run_before"
        elif new is None:
            row["note"] = "not_run_now"
        elif was["identity"] != now["identity"]:
            row["note"] = "redefined"
        old, new = old or set(), new or set()
        for change, refs in (("new", new - old), ("fixed", old - new), ("still_open", new & old)):
            ids = [_label(ref, entity) for ref in sorted(refs, key=_order)]
            row[change] = {"count": len(ids), "ids": ids}
            out["totals"][change] += len(ids)
        out["checks"].append(row)
    return out


def _run(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    from datetime import datetime, timezone

    return {"id": run["id"], "at": run["at"], "snapshot_at": run["snapshot_at"],
            "at_iso": datetime.fromtimestamp(run["at"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _order(ref: tuple[str, Any]) -> tuple:
    entity, record_id = ref
    return (entity, 0, record_id, "") if isinstance(record_id, int) else (entity, 1, 0, str(record_id))


def _label(ref: tuple[str, Any], entity: str | None) -> str:
    """An id as the report writes it: bare for the check's own entity, `entity:id` otherwise."""
    return str(ref[1]) if ref[0] == entity else f"{ref[0]}:{ref[1]}"


def changed(diff: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks with something new or fixed (or a note), for the report's section."""
    return [c for c in diff.get("checks", ()) if c["new"]["count"] or c["fixed"]["count"] or c["note"]]


def _localised(label: str, lang: str) -> str:
    """`tasks:5` → `задача:5` in a Russian report (a bare id stays as it is)."""
    from implkit.audit.words import word

    entity, sep, record_id = label.partition(":")
    return f"{word(entity, lang)}:{record_id}" if sep and re.fullmatch(r"[a-z_]+", entity) else label


def _ids(cell: dict[str, Any], lang: str, limit: int | None = SHOWN_IDS) -> str:
    ids = [_localised(i, lang) for i in (cell["ids"] if limit is None else cell["ids"][:limit])]
    text = ", ".join(ids)
    if limit is not None and cell["count"] > limit:
        text += ", " + msg("more", lang, n=cell["count"] - limit)
    return text


def _rows(diff: dict[str, Any], lang: str) -> list[list[Any]]:
    return [[c["id"] + (f" ({msg(c['note'], lang)})" if c["note"] else ""), c["new"]["count"], c["fixed"]["count"],
             c["still_open"]["count"], _ids(c["new"], lang), _ids(c["fixed"], lang)] for c in changed(diff)]


def diff_lines(diff: dict[str, Any] | None, fmt: str, lang: str) -> list[str]:
    """The "changes since the previous audit" section of an audit report (table and md; html: `diff_html`)."""
    from tabulate import tabulate

    if not diff or diff.get("after") is None:
        return []
    if diff.get("before") is None:
        title = msg("title", lang, before="—", after=diff["after"]["at_iso"])
        return [("## " if fmt == "md" else "") + title, "", msg("first", lang), ""]
    title = msg("title", lang, before=diff["before"]["at_iso"], after=diff["after"]["at_iso"])
    lines = [("## " if fmt == "md" else "") + title, "", msg("totals", lang, **diff["totals"]), ""]
    rows = _rows(diff, lang)
    if rows:
        lines += [tabulate(rows, headers=msg("columns", lang).split("|"),
                           tablefmt="github" if fmt == "md" else "simple"), ""]
    else:
        lines += [msg("nothing", lang), ""]
    return lines


def diff_html(diff: dict[str, Any] | None, lang: str) -> str:
    e = html.escape
    if not diff or diff.get("after") is None:
        return ""
    before = diff["before"]["at_iso"] if diff.get("before") else "—"
    parts = [f"<h2>{e(msg('title', lang, before=before, after=diff['after']['at_iso']))}</h2>"]
    if diff.get("before") is None:
        return parts[0] + f"<p>{e(msg('first', lang))}</p>"
    parts.append(f"<p>{e(msg('totals', lang, **diff['totals']))}</p>")
    rows = _rows(diff, lang)
    if not rows:
        return "".join(parts) + f"<p>{e(msg('nothing', lang))}</p>"
    parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in msg("columns", lang).split("|")) + "</tr>")
    parts += ["<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in rows]
    return "".join(parts) + "</table>"


def render_diff(diff: dict[str, Any], fmt: str, lang: str, tenant: str) -> str:
    """`implkit audit diff`: every id in json and csv, the first few per cell elsewhere."""
    if fmt == "json":
        return json.dumps({"tenant": tenant, "lang": lang, **diff}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        from implkit.audit.words import word

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(msg("csv_columns", lang).split("|"))
        for c in diff.get("checks", ()):
            for change in CHANGES:
                for label in c[change]["ids"]:
                    entity, sep, record_id = label.partition(":")
                    if not sep or not re.fullmatch(r"[a-z_]+", entity):  # a bare id of the check's own entity
                        entity, record_id = c.get("entity") or "", label
                    writer.writerow([c["id"], msg(change, lang), word(entity, lang), record_id])
        return out.getvalue()
    if fmt == "html":
        return (f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{html.escape(tenant)}"
                f"</title></head><body>{diff_html(diff, lang)}</body></html>\n")
    if diff.get("after") is None:
        return msg("none", lang, tenant=tenant) + "\n"
    return "\n".join(diff_lines(diff, fmt, lang)) + "\n"

