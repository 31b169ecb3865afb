"""The audit report: one plain-data document, rendered as a table, JSON, CSV, Markdown or one HTML file.

Every finding names its records (ids, names, CRM links, responsible
managers, budgets and the value that failed), not just a count. JSON and CSV
carry every failing record; the table, Markdown and HTML show samples
(`samples` in the check's YAML) and say how many are left out and how to get
all of them. `write_worklists` writes one CSV per responsible manager. The
HTML is self-contained: inline CSS and inline-SVG charts (funnel, findings
by severity, manager load, trend), no script, no external request.

Links go to the record itself where the CRM has a page for it (deals,
contacts, companies; Bitrix24 users); a task (an amoCRM task, a Bitrix24
activity) has no page of its own and links to the record it belongs to,
with its own id in the row. Texts are data (`MESSAGES`), Russian by default.

A check can render its details its own way: `DETAIL_RENDERERS[builtin]`
(the duplicates built-in registers one) returns extra lines for the table,
Markdown and HTML.

Why this file is long: one report document is rendered in five formats (table, JSON, CSV, Markdown,
HTML) that must say the same things in the same order and language; kept together, a section added
to one format is seen to be missing from the others, which the golden and no-English tests then
check.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone
from itertools import islice
from json.encoder import encode_basestring as _encode_string
from pathlib import Path
from typing import Any, Callable, Iterator

from tabulate import tabulate

from implkit.audit import report_duplicates as duplicate_groups
from implkit.audit.engine import AuditRun, CheckResult
from implkit.audit.words import WORDS, word  # noqa: F401  (diff.py and the reports share them)
from implkit.lang import number, percent, plural_ru, say_in

FORMATS = ("table", "json", "csv", "md", "html")
# Record pages per CRM (the account's web address + path). amoCRM documents no page per task or per
# user: a task links to the card it belongs to, a user to the users' list.
LINK_PATHS = {
    "amocrm": {"leads": "/leads/detail/{id}", "contacts": "/contacts/detail/{id}",
               "companies": "/companies/detail/{id}", "users": "/settings/users/"},
    "bitrix24": {"leads": "/crm/deal/details/{id}/", "contacts": "/crm/contact/details/{id}/",
                 "companies": "/crm/company/details/{id}/", "users": "/company/personal/user/{id}/"},
}

MESSAGES: dict[str, dict[str, str]] = {
    "audit_of": {"ru": "Аудит {tenant} — снимок {at}", "en": "Audit of {tenant} — snapshot {at}"},
    "summary": {"ru": "Выполнено проверок: {ran}; сверх порога: ошибки — {errors}, предупреждения — {warnings}; "
                      "не поддерживается: {unsupported}, пропущено: {skipped}.",
                "en": "{ran} checks ran: {errors} errors and {warnings} warnings over threshold; "
                      "{unsupported} unsupported, {skipped} skipped."},
    "eg": {"ru": "например", "en": "e.g."},
    "left_out": {"ru": "показано {shown} из {count}; все записи: --format csv или --format json, по менеджерам: "
                       "--by-manager ПАПКА",
                 "en": "{shown} of {count} shown; every record: --format csv or --format json, per manager: "
                       "--by-manager DIR"},
    "records": {"ru": "запись|записи|записей", "en": "record|records|records"},
    "of": {"ru": "из", "en": "of"},
    "budget_at_risk": {"ru": "бюджет под риском", "en": "budget at risk"},
    "why": {"ru": "Почему", "en": "Why"},
    "fix": {"ru": "Что сделать", "en": "Fix"},
    "analytics": {"ru": "Аналитика", "en": "Analytics"},
    "method": {"ru": "Метод", "en": "Method"},
    "method_text": {"ru": "когорта — сделки, созданные за период; этап достигнут, если сделка вошла в него или в любой "
                          "следующий (включая успех), по событиям смены этапа; цикл — по сделкам, закрытым за период",
                    "en": "cohort: deals created in the period; reached(stage) = entered it or any later stage (won "
                          "included), from stage-change events; cycle: deals closed in the period"},
    "funnel_columns": {"ru": "этап|достигли|конверсия", "en": "stage|reached|conversion"},
    "plan_of": {"ru": "План и факт — {pipeline}", "en": "Plan vs actual — {pipeline}"},
    "plan_columns_full": {"ru": "шаг|нужно|на продавца|в день|факт|факт на продавца|выполнено|как считали",
                          "en": "step|needed|per seller|per day|actual|actual per seller|done|counted by"},
    "basis_stage": {"ru": "этап шага", "en": "the step's stage"},
    "basis_key": {"ru": "этап с ключом шага", "en": "the stage with the step's key"},
    "basis_cohort": {"ru": "все сделки, созданные за период", "en": "every deal created in the period"},
    "basis_sale": {"ru": "выигранные сделки", "en": "won deals"},
    "basis_none": {"ru": "шаг не связан с этапом (нужен stage в analytics.funnel)",
                   "en": "the step has no stage (set stage in analytics.funnel)"},
    "plan_error": {"ru": "План не разложить: {error}", "en": "The plan cannot be decomposed: {error}"},
    "cohort_line": {"ru": "Когорта {cohort}, выиграно {won}, проиграно {lost}, конверсия в продажу {win_rate}, "
                          "средний чек {average_check}.",
                    "en": "Cohort {cohort}, won {won}, lost {lost}, win rate {win_rate}, average check "
                          "{average_check}."},
    "cycle_line": {"ru": "Цикл сделки (закрытые за период): выигранные — медиана {won} дн. ({won_n}), "
                         "проигранные — {lost} дн. ({lost_n}); из {cohort} сделок, созданных за период, "
                         "открыты {open}.",
                   "en": "Sales cycle (deals closed in the period): won median {won} days ({won_n}), lost {lost} "
                         "days ({lost_n}); of {cohort} deals created in the period, {open} are still open."},
    "cycle_lower_bound": {"ru": "Большая часть когорты ещё открыта: цикл — нижняя оценка, сделки, которые "
                                "закроются позже, его удлинят.",
                          "en": "Most of the cohort is still open: the cycle is a lower bound; deals that close "
                                "later will lengthen it."},
    "cycle_few": {"ru": "Закрытых сделок меньше {n}: по медиане не судить.",
                  "en": "Fewer than {n} closed deals: do not judge by the median."},
    "response_line": {"ru": "Медиана первого ответа: {minutes} мин.", "en": "Response median {minutes} min."},
    "chart_severity": {"ru": "Нарушения по важности", "en": "Findings by severity"},
    "chart_funnel": {"ru": "Воронка", "en": "Funnel"},
    "chart_load": {"ru": "Загрузка менеджеров", "en": "Manager load"},
    "chart_trend": {"ru": "Динамика (нарушений за прогон)", "en": "Trend (failing records per run)"},
    "findings": {"ru": "Нарушения", "en": "Findings"},
    "no_data": {"ru": "нет данных", "en": "no data"},
    "no_history": {"ru": "истории ещё нет", "en": "no history yet"},
}
HEADERS = {"ru": ["проверка", "важность", "статус", "записей", "доля", "бюджет под риском", "название"],
           "en": ["check", "severity", "status", "count", "share", "budget at risk", "title"]}
# count, share and budget right-aligned: the formatted figures are text to tabulate
ALIGN = ("left", "left", "left", "right", "right", "right", "left")
CSV_COLUMNS = ("check", "title", "severity", "status", "entity", "id", "link", "name", "responsible",
               "responsible_user_id", "budget", "value", "parent", "parent_link")
CSV_HEADERS = {"ru": ("проверка", "название проверки", "важность", "статус проверки", "тип записи", "id", "ссылка",
                      "название", "ответственный", "id ответственного", "бюджет", "значение", "родительская запись",
                      "ссылка на родительскую запись"),
               "en": CSV_COLUMNS}


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


def counted(n: int, key: str, lang: str) -> str:
    """`n` with its noun in agreement: 1 запись, 2 записи, 5 записей (21 запись, 11 записей)."""
    one, few, many = msg(key, lang).split("|")
    if lang != "ru":
        return f"{n} {one if n == 1 else many}"
    return f"{n} {plural_ru(n, one, few, many)}"


# A record's name (a task's text and the record it belongs to) by entity, read by id.
NAME_QUERIES = {"leads": "SELECT id, name, NULL, NULL FROM leads", "contacts": "SELECT id, name, NULL, NULL FROM contacts",
                "companies": "SELECT id, name, NULL, NULL FROM companies",
                "tasks": "SELECT id, text, entity_type, entity_id FROM tasks",
                "users": "SELECT id, name, NULL, NULL FROM users",
                "custom_fields": "SELECT id, name, NULL, NULL FROM custom_fields"}


def lookup_records(snapshot: Any, run: AuditRun, *, every_record: bool = True) -> dict[tuple[str, Any], dict[str, Any]]:
    """Names of the failing records (and a task's parent record), read once from the snapshot: of every
    record (the records then stay with the run, for the report to list), or (`every_record=False`) of
    the samples a table, Markdown or HTML report shows."""
    wanted: dict[str, set] = defaultdict(set)
    for result in run.results:
        if not result.ran:
            continue
        for ref in result.failing if every_record else result.samples(result.check.samples):
            wanted[ref.entity].add(ref.id)
    return record_names(snapshot.db, wanted)


def record_names(db: Any, wanted: dict[str, Any]) -> dict[tuple[str, Any], dict[str, Any]]:
    """(entity, id) → name (and a task's parent) of the integer ids in `wanted` (entity → ids)."""
    out: dict[tuple[str, Any], dict[str, Any]] = {}
    for entity, ids in wanted.items():
        if entity not in NAME_QUERIES:
            continue
        numeric = sorted(i for i in ids if isinstance(i, int))
        for start in range(0, len(numeric), 500):
            chunk = numeric[start:start + 500]
            for record_id, name, parent_entity, parent_id in db.execute(
                    f"{NAME_QUERIES[entity]} WHERE id IN ({','.join('?' * len(chunk))})", chunk):
                out[(entity, record_id)] = {"name": name or "", "parent_entity": parent_entity,
                                            "parent_id": parent_id}
    return out


def build_report(run: AuditRun, *, tenant: str, web_url: str | None, analytics: dict[str, Any] | None,
                 trend: dict[str, list[dict[str, Any]]] | None, lang: str = "ru",
                 users: dict[int, str] | None = None, crm: str = "amocrm",
                 records: dict[tuple[str, Any], dict[str, Any]] | None = None,
                 every_record: bool = True) -> dict[str, Any]:
    """The report as plain data. `every_record=False` (a table, Markdown or HTML report, which show the
    samples only): each finding's `records` are its samples, and no other record is read."""
    users = users or {}
    links = _Links(web_url, crm)
    findings = [_finding(r, links, lang, users, records or {}, every_record) for r in run.results]
    ran = [r for r in run.results if r.ran]
    return {
        "tenant": tenant, "lang": lang, "crm": crm,
        "snapshot_at": run.snapshot_at,
        "snapshot_at_iso": _iso(run.snapshot_at),
        "summary": {
            "checks": len(run.results), "ran": len(ran),
            "failed": {sev: sum(1 for r in ran if r.status == "fail" and r.check.severity == sev)
                       for sev in ("error", "warning")},
            "unsupported": sum(1 for r in run.results if r.status == "unsupported"),
            "skipped": sum(1 for r in run.results if r.status == "skipped"),
            "budget_at_risk": sum(r.budget_at_risk for r in ran if r.check.entity == "leads"
                                  and r.check.id in ("D01", "D02", "D03")),
        },
        "findings": findings,
        "analytics": analytics,
        "trend": trend or {},
    }


class _Links:
    def __init__(self, web_url: str | None, crm: str):
        self.base = web_url.rstrip("/") if web_url else None
        self.paths = LINK_PATHS.get(crm, LINK_PATHS["amocrm"])

    def __call__(self, entity: str | None, record_id: Any) -> str | None:
        if not self.base or entity not in self.paths or record_id is None:
            return None
        return self.base + self.paths[entity].format(id=record_id)


def _record(ref: Any, links: _Links, users: dict[int, str], records: dict) -> dict[str, Any]:
    info = records.get((ref.entity, ref.id)) or {}
    parent = (info.get("parent_entity"), info.get("parent_id")) if info.get("parent_id") else (None, None)
    return {"entity": ref.entity, "id": ref.id, "name": info.get("name"),
            "budget": ref.budget, "value": ref.value,
            "responsible": users.get(ref.responsible_user_id) if ref.responsible_user_id else None,
            "responsible_user_id": ref.responsible_user_id,
            "link": links(ref.entity, ref.id) if ref.entity != "tasks" else links(*parent),
            "parent": f"{parent[0]}:{parent[1]}" if parent[0] else None, "parent_link": links(*parent)}


def _finding(result: CheckResult, links: _Links, lang: str, users: dict[int, str],
             records: dict, every_record: bool = True) -> dict[str, Any]:
    check = result.check
    out: dict[str, Any] = {
        "id": check.id, "name": check.name, "title": check.title.get(lang) or check.title["en"],
        "severity": check.severity, "entity": check.entity, "status": result.status, "builtin": check.builtin,
    }
    if not result.ran:
        out["reason"] = result.reason
        return out
    by_manager = manager_counts(result, users)
    out.update({
        "count": result.count, "population": result.population,
        "share": round(result.share, 4) if result.share is not None else None,
        "budget_at_risk": result.budget_at_risk, "threshold": result.threshold,
        "why": check.why.get(lang) or check.why["en"], "fix": check.fix.get(lang) or check.fix["en"],
        "records": [_record(r, links, users, records)
                    for r in (result.failing if every_record else result.samples(check.samples))],
        "samples": check.samples,
        "by_manager": by_manager,
    })
    out["examples"] = out["records"][:check.samples]
    out["left_out"] = max(0, result.count - check.samples)
    if result.details:
        details = dict(result.details)
        out["details"] = details
    return out


def manager_counts(result: CheckResult, users: dict[int, str]) -> dict[str, int]:
    """Failing records per responsible manager's name, most first; equal counts in the order of each
    manager's first record in the check's order (read only when two counts are equal)."""
    tally = result.tally.managers

    def by_name(uids: Any) -> Counter:
        counts: Counter = Counter()
        for uid in uids:
            if uid is not None and uid in tally:
                counts[users.get(uid, f"#{uid}")] += tally[uid]
        return counts

    counts = by_name(tally)
    if len(set(counts.values())) < len(counts):  # a tie: most_common keeps the order counted in
        counts = by_name(result.manager_order())
    return dict(counts.most_common())


def record_link(web_url: str | None, entity: str, record_id: Any, crm: str = "amocrm") -> str | None:
    return _Links(web_url, crm)(entity, record_id)


def _iso(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ts else None


def render(report: dict[str, Any], fmt: str) -> str:
    return {"table": render_table, "json": render_json, "csv": render_csv, "md": render_markdown,
            "html": render_html}[fmt](report)


def render_json(report: dict[str, Any]) -> str:
    """Every failing record of every check (`records`); `examples` are the first `samples` of them."""
    from implkit.audit.diff import dumps  # json.dumps's text; the diff's ids encoded without a string each

    return dumps(report, default=str) + "\n"


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per failing record of every check that ran (under its threshold too: it is still a record
    to fix)."""
    return [row for f in report["findings"] for row in _rows_of(f, f.get("records") or ())]


def render_csv(report: dict[str, Any], rows: list[dict[str, Any]] | None = None) -> str:
    lang = report.get("lang", "ru")
    return _csv_text([CSV_HEADERS.get(lang, CSV_COLUMNS)]) + _csv_lines(csv_rows(report) if rows is None else rows,
                                                                         lang)


def _csv_text(lines: Any) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue()


def _csv_lines(rows: Any, lang: str) -> str:
    """The rows as CSV lines, each cell as `_csv_value` writes it; a code's word (severity, status, record
    type) looked up once per chunk (millions of rows, a handful of codes)."""
    words: dict[tuple[str, Any], Any] = {}

    def cell(column: str, value: Any) -> Any:
        if value is None:
            return ""
        if column not in ("severity", "status", "entity"):
            return _csv_value(column, value, lang) if column == "parent" else value
        said = words.get((column, value))
        if said is None:
            said = words[(column, value)] = _csv_value(column, value, lang)
        return said

    return _csv_text([cell(k, row.get(k)) for k in CSV_COLUMNS] for row in rows)


def _csv_value(column: str, value: Any, lang: str) -> Any:
    """Codes (severity, status, record type, a parent's type) in the report's language; the rest as is."""
    if value is None:
        return ""
    if column in ("severity", "status", "entity"):
        return word(value, lang)
    if column == "parent" and isinstance(value, str) and ":" in value:
        entity, _, record_id = value.partition(":")
        return f"{word(entity, lang)}:{record_id}"
    return value


# --- every record, streamed (json, csv, worklists) -------------------------------------------------

class RecordExport:
    """Every failing record of a run, for the exports that list them all (JSON, CSV, worklists), read from
    each check's records a chunk at a time and named per chunk from the snapshot: at a million failing
    records a report built whole took gigabytes; this holds one chunk. `outcome.run` must still be open."""

    CHUNK = 5000

    def __init__(self, run: AuditRun, snapshot_path: str | Path, *, users: dict[int, str],
                 web_url: str | None, crm: str):
        self.run, self.path, self.users, self.links = run, Path(snapshot_path), users, _Links(web_url, crm)

    def chunks(self, result: CheckResult) -> Iterator[list[dict[str, Any]]]:
        """The result's failing records as the report lists them (`_record`), `CHUNK` at a time, in order."""
        from implkit.audit.snapshot import Snapshot

        refs = result.refs()
        with Snapshot(self.path, reader=True) as snapshot:
            snapshot.db.row_factory = None  # plain tuples: a million names read
            # names are read by id, a chunk's scattered over the table: a small page cache does as well as
            # a big one, which would sit on top of the checks' connections' caches
            snapshot.db.execute("PRAGMA cache_size=-8000")
            while True:
                chunk = list(islice(refs, self.CHUNK))
                if not chunk:
                    return
                wanted: dict[str, set] = defaultdict(set)
                for ref in chunk:
                    wanted[ref.entity].add(ref.id)
                names = record_names(snapshot.db, wanted)
                yield [_record(ref, self.links, self.users, names) for ref in chunk]

    def rows(self, report: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """`csv_rows` of the report, a chunk at a time."""
        for finding, result in zip(report["findings"], self.run.results):
            if "records" not in finding:
                continue
            for chunk in self.chunks(result):
                yield _rows_of(finding, chunk)


def _rows_of(finding: dict[str, Any], records: Any) -> list[dict[str, Any]]:
    head = {"check": finding["id"], "title": finding["title"], "severity": finding["severity"],
            "status": finding["status"]}
    return [{**head, **r} for r in records]  # a record's keys (`_record`) are all CSV columns


def _every_record(report: dict[str, Any], export: RecordExport | None) -> Iterator[list[dict[str, Any]]]:
    """The report's CSV rows in chunks: streamed by `export`, or those of a report that lists them all."""
    if export is not None:
        yield from export.rows(report)
    else:
        for finding in report["findings"]:
            if finding.get("records"):
                yield _rows_of(finding, finding["records"])


def write_csv(report: dict[str, Any], export: RecordExport, write: Callable[[str], Any]) -> None:
    """`render_csv` of the report with every record, written a chunk at a time through `write`."""
    lang = report.get("lang", "ru")
    write(_csv_text([CSV_HEADERS.get(lang, CSV_COLUMNS)]))
    for rows in export.rows(report):
        write(_csv_lines(rows, lang))


class _Streamed:
    """Stands for a list in the report while JSON is written, the list itself written in its place a chunk
    at a time (`write_json`): a finding's every record, a diff cell's every id."""

    def __init__(self, write: Callable[[str, Callable[[str], Any]], None]):
        self.write = write  # (the indent of the list's line, write)


def write_json(report: dict[str, Any], export: RecordExport, write: Callable[[str], Any]) -> None:
    """`render_json` of the report with every record, written through `write`: the report without its
    records and diff ids encoded by `diff.write_json` (as `diff.dumps` encodes it), each list streamed where
    it goes."""
    from implkit.audit.diff import write_json as write_held

    def records(result: CheckResult) -> _Streamed:
        return _Streamed(lambda indent, out: _json_records(export.chunks(result), indent, out))

    findings = [{**f, "records": records(r)} if "records" in f else f
                for f, r in zip(report["findings"], export.run.results)]
    write_held({**report, "findings": findings, "diff": _streamed_ids(report.get("diff"))}, write, held=_Streamed,
               emit=lambda streamed, indent, out: streamed.write(indent, out), default=str)
    write("\n")


def _streamed_ids(value: Any) -> Any:
    """A copy of the diff with each cell's lazy ids (`diff.Labels`) to be streamed (`_json_labels`)."""
    from implkit.audit.diff import Labels

    if isinstance(value, Labels):
        return _Streamed(lambda indent, out: _json_labels(value, indent, out))
    if isinstance(value, dict):
        return {k: _streamed_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_streamed_ids(v) for v in value]
    return value


def _json_labels(labels: Any, indent: str, write: Callable[[str], Any]) -> None:
    """A diff cell's ids as `Labels.json_array` writes them (json.dumps's list of strings), a chunk at a time."""
    if not len(labels):
        write("[]")
        return
    between = ",\n" + indent + "  "
    write("[" + between[1:])
    for lo in range(0, len(labels), labels.CHUNK):
        write(("" if lo == 0 else between) + between.join(map(_encode_string, labels[lo:lo + labels.CHUNK])))
    write("\n" + indent + "]")


def _json_records(chunks: Iterator[list[dict[str, Any]]], indent: str, write: Callable[[str], Any]) -> None:
    """A list of records as json.dumps(ensure_ascii=False, indent=2, default=str) writes it on a line indented
    by `indent`: `[]`, or an object per record a level deeper."""
    item, key = indent + "  ", indent + "    "
    first = True
    for chunk in chunks:
        parts = []
        for record in chunk:
            fields = ",\n".join(f"{key}{_JSON_KEYS[k] if k in _JSON_KEYS else encode_json(k, key)}: "
                                f"{encode_json(v, key)}" for k, v in record.items())
            parts.append(f"{'[' if first else ','}\n{item}{{\n{fields}\n{item}}}")
            first = False
        write("".join(parts))
    write("[]" if first else f"\n{indent}]")


_JSON_KEYS = {k: json.dumps(k) for k in ("entity", "id", "name", "budget", "value", "responsible",
                                         "responsible_user_id", "link", "parent", "parent_link")}


def encode_json(value: Any, indent: str) -> str:
    """One value as json.dumps(ensure_ascii=False, indent=2, default=str) writes it on a line indented by
    `indent`: strings, integers and null directly (the C encoder), anything else through json.dumps."""
    kind = type(value)
    if kind is str:
        return _encode_string(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False, indent=2, default=str).replace("\n", "\n" + indent)


def write_worklists(report: dict[str, Any], folder: str | Path, export: RecordExport | None = None) -> list[Path]:
    """One CSV per responsible manager (records with no responsible in their own file); the paths written.
    Rows are appended to each manager's temp file as they come (`export`: streamed from the run; else the
    report's own `records`), and every file is renamed into place at the end; on a failure none is left."""
    import tempfile

    lang = report.get("lang", "ru")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    temps: dict[Any, tuple[Path, str]] = {}  # responsible user id -> (temp file, the worklist's stem)
    try:
        for rows in _every_record(report, export):
            groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                groups[row.get("responsible_user_id")].append(row)
            for user_id, group in groups.items():
                if user_id not in temps:
                    name = group[0].get("responsible") or ""
                    stem = (f"{user_id}-{_slug(name)}" if name else str(user_id)) if user_id is not None else \
                        ("без-ответственного" if lang == "ru" else "no-owner")
                    fd, tmp = tempfile.mkstemp(prefix=f".{stem}.csv.", suffix=".tmp", dir=folder)  # 0600
                    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                        fh.write(_csv_text([CSV_HEADERS.get(lang, CSV_COLUMNS)]))
                    temps[user_id] = (Path(tmp), stem)
                with open(temps[user_id][0], "a", encoding="utf-8", newline="") as fh:
                    fh.write(_csv_lines(group, lang))
        written = []
        for tmp, _ in temps.values():  # on disk before any is renamed into place, as atomic_write's
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        for user_id, (tmp, stem) in sorted(temps.items(), key=lambda kv: (kv[0] is None, str(kv[0]))):
            path = folder / f"{stem}.csv"
            os.replace(tmp, path)
            written.append(path)
        return written
    except BaseException:
        for tmp, _ in temps.values():
            tmp.unlink(missing_ok=True)
        raise


def _slug(text: str) -> str:
    return re.sub(r"[^\w]+", "-", text.strip().lower()).strip("-")[:40] or "user"


# Per-check extra lines (table / md / html) by the check's built-in: (finding, fmt, lang) -> lines.
DETAIL_RENDERERS: dict[str, Callable[[dict[str, Any], str, str], list[str]]] = {}


def _duplicates_details(finding: dict[str, Any], fmt: str, lang: str) -> list[str]:
    """The duplicate checks' groups (records, keep, evidence) and the pass's figures: implkit.audit.report_duplicates."""
    if not finding.get("count") or not duplicate_groups.has_groups(finding):
        return []
    if fmt == "md":
        return duplicate_groups.markdown_lines(finding, lang)
    return duplicate_groups.text_lines(finding, lang)  # html: render_html takes html_block instead


DETAIL_RENDERERS["duplicates"] = _duplicates_details


def _details(finding: dict[str, Any], fmt: str, lang: str) -> list[str]:
    renderer = DETAIL_RENDERERS.get(finding.get("builtin") or "")
    return renderer(finding, fmt, lang) if renderer else []


def _left_out(finding: dict[str, Any], lang: str) -> str | None:
    if not finding.get("left_out"):
        return None
    return msg("left_out", lang, shown=len(finding["examples"]), count=finding["count"])


def _rows(report: dict[str, Any]) -> list[list[Any]]:
    lang = report.get("lang", "ru")
    rows = []
    for f in report["findings"]:
        if f["status"] in ("unsupported", "skipped"):
            rows.append([f["id"], word(f["severity"], lang), word(f["status"], lang), "", "", "", f["title"]])
            continue
        # numbers as the reader's language writes them: «5,9 %», «41 428 000» / "5.9%", "41,428,000"
        share = percent(f["share"], lang) if f.get("share") is not None else ""
        rows.append([f["id"], word(f["severity"], lang), word(f["status"], lang),
                     f["count"], share, number(f["budget_at_risk"], lang) if f["budget_at_risk"] else "", f["title"]])
    return rows


def _summary(report: dict[str, Any]) -> str:
    s = report["summary"]
    return msg("summary", report.get("lang", "ru"), ran=s["ran"], errors=s["failed"]["error"],
               warnings=s["failed"]["warning"], unsupported=s["unsupported"], skipped=s["skipped"])


def render_table(report: dict[str, Any]) -> str:
    lang = report.get("lang", "ru")
    lines = [msg("audit_of", lang, tenant=report["tenant"], at=report["snapshot_at_iso"]),
             tabulate(_rows(report), headers=HEADERS.get(lang, HEADERS["en"]), tablefmt="simple", colalign=ALIGN),
             "", _summary(report)]
    for f in report["findings"]:
        if f["status"] == "fail" and f.get("examples"):
            ids = ", ".join(f"{word(e['entity'], lang)}:{e['id']}" if e["entity"] != f["entity"] else str(e["id"])
                            for e in f["examples"])
            left = _left_out(f, lang)
            lines.append(f"  {f['id']} {msg('eg', lang)} {ids}" + (f" ({left})" if left else ""))
        lines += [f"  {line}" for line in _details(f, "table", lang)]
    lines += ["", *_diff_section(report, "table")]
    return "\n".join(lines) + "\n"


def _diff_section(report: dict[str, Any], fmt: str) -> list[str]:
    from implkit.audit.diff import diff_html, diff_lines

    lang = report.get("lang", "ru")
    return [diff_html(report.get("diff"), lang)] if fmt == "html" else diff_lines(report.get("diff"), fmt, lang)


def _label(e: dict[str, Any], lang: str = "en") -> str:
    name = f" «{e['name']}»" if e.get("name") else ""
    value = f" — {e['value']}" if e.get("value") not in (None, "") else ""
    who = f" ({e['responsible']})" if e.get("responsible") else ""
    return f"{word(e['entity'], lang)} {e['id']}{name}{value}{who}"


def _cycle_lines(p: dict[str, Any], lang: str) -> list[str]:
    c = p["cycle_days"]
    lines = [msg("cycle_line", lang, won=c["won"]["median"] if c["won"]["median"] is not None else "—",
                 won_n=c["won"]["closed"], lost=c["lost"]["median"] if c["lost"]["median"] is not None else "—",
                 lost_n=c["lost"]["closed"], cohort=c["cohort"], open=c["cohort_open"])]
    if c["lower_bound"]:
        lines.append(msg("cycle_lower_bound", lang))
    if not c["won"]["enough"]:
        from implkit.audit.analytics import MIN_CLOSED

        lines.append(msg("cycle_few", lang, n=MIN_CLOSED))
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    lang = report.get("lang", "ru")
    out = [f"# {msg('audit_of', lang, tenant=report['tenant'], at=report['snapshot_at_iso'])}", "",
           _summary(report), "", tabulate(_rows(report), headers=HEADERS.get(lang, HEADERS["en"]), tablefmt="github",
                                      colalign=ALIGN),
           ""]
    for f in report["findings"]:
        if f["status"] != "fail":
            continue
        out += [f"## {f['id']} {f['title']}", "", counted(f["count"], "records", lang)
                + (f", {f['share']:.1%} {msg('of', lang)} {f['population']}" if f.get("share") is not None else "")
                + (f", {msg('budget_at_risk', lang)} {f['budget_at_risk']}" if f["budget_at_risk"] else "") + ".", "",
                f"*{msg('why', lang)}:* {f['why']}", "", f"*{msg('fix', lang)}:* {f['fix']}", ""]
        if duplicate_groups.has_groups(f):  # groups with their keep and evidence stand for the examples
            out += [*_details(f, "md", lang), ""]
            continue
        for e in f["examples"]:
            label = _label(e, lang)
            out.append(f"- [{label}]({e['link']})" if e["link"] else f"- {label}")
        left = _left_out(f, lang)
        if left:
            out.append(f"- … {left}")
        out += [*_details(f, "md", lang), ""]
    out += _diff_section(report, "md")
    analytics = report.get("analytics")
    if analytics:
        out += [f"## {msg('analytics', lang)}", "", f"{msg('method', lang)}: {msg('method_text', lang)}.", ""]
        for p in analytics["pipelines"]:
            out += [f"### {p['name']}", "",
                    msg("cohort_line", lang, cohort=p["cohort"], won=p["won"], lost=p["lost"],
                        win_rate=_pct(p["win_rate"]), average_check=_cell(p["average_check"])),
                    *_cycle_lines(p, lang), "",
                    tabulate([[st["stage"], st["reached"], _pct(st["conversion_from_previous"])]
                              for st in p["funnel"]], headers=msg("funnel_columns", lang).split("|"),
                             tablefmt="github"), ""]
        for title, rows in plan_tables(analytics.get("plan"), lang):
            out += [f"### {title}", ""]
            out += [tabulate(rows, headers=msg("plan_columns_full", lang).split("|"), tablefmt="github")
                    if rows else "", ""]
    return "\n".join(out) + "\n"


def _cell(value: Any) -> str:
    """A figure as a report prints it: a missing one is «—», never `None`."""
    return "—" if value is None or value == "" else str(value)


def plan_tables(plan: dict[str, Any] | None, lang: str) -> list[tuple[str, list[list[str]]]]:
    """Plan versus actual, one table per compared pipeline: (title, rows); rows empty with an error title."""
    if not plan:
        return []
    if plan.get("error"):
        return [(msg("plan_error", lang, error=plan["error"]), [])]
    out = []
    for p in plan.get("pipelines") or [{"name": "", "steps": plan.get("steps") or []}]:
        rows = [[_cell(st["name"] or st["key"]), _cell(st["needed"]), _cell(st["per_seller"]), _cell(st["per_day"]),
                 _cell(st["actual"]), _cell(st["actual_per_seller"]), _pct(st.get("done_share")),
                 msg("basis_" + st.get("basis", "none"), lang)] for st in p["steps"]]
        out.append((msg("plan_of", lang, pipeline=p["name"]), rows))
    return out


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


# --- HTML ----------------------------------------------------------------------------------------

SEVERITY_COLOURS = {"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eee;padding:.3rem .5rem;text-align:left;vertical-align:top}
.fail{color:#c62828;font-weight:600}.pass{color:#2e7d32}.muted{color:#777}.charts{display:flex;flex-wrap:wrap;gap:2rem}
.chart{flex:1 1 320px}details{margin:.3rem 0}code{background:#f4f4f4;padding:0 .2rem}
"""


def render_html(report: dict[str, Any]) -> str:
    e = html.escape
    lang = report.get("lang", "ru")
    title = msg("audit_of", lang, tenant=report["tenant"], at=report["snapshot_at_iso"])
    parts = [f"<!doctype html><html lang=\"{e(lang)}\"><head><meta charset=\"utf-8\"><title>{e(title)}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>{e(title)}</h1>",
             f"<p>{e(_summary(report))}</p>",
             "<div class=charts>",
             _chart(msg("chart_severity", lang), _severity_svg(report, lang)),
             _chart(msg("chart_funnel", lang), _funnel_svg(report)),
             _chart(msg("chart_load", lang), _load_svg(report)),
             _chart(msg("chart_trend", lang), _trend_svg(report)),
             f"</div><h2>{e(msg('findings', lang))}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADERS.get(lang, HEADERS["en"]))
             + "</tr>"]
    for row, f in zip(_rows(report), report["findings"]):
        cls = "fail" if f["status"] == "fail" else "pass" if f["status"] == "pass" else "muted"
        parts.append("<tr class=\"%s\">" % cls + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
    parts.append("</table>")
    parts += _diff_section(report, "html")
    for f in report["findings"]:
        if not f.get("count"):
            continue
        parts.append(f"<details><summary><b>{e(f['id'])}</b> {e(f['title'])} — {f['count']}</summary>"
                     f"<p>{e(f['why'])}</p><p><i>{e(f['fix'])}</i></p><ul>")
        for ex in f["examples"]:
            label = e(_label(ex, lang))
            parts.append(f"<li><a href=\"{e(ex['link'])}\">{label}</a></li>" if ex["link"] else f"<li>{label}</li>")
        left = _left_out(f, lang)
        if left:
            parts.append(f"<li class=muted>… {e(left)}</li>")
        extra = (duplicate_groups.html_block(f, lang) if duplicate_groups.has_groups(f)
                 else "".join(f"<p class=muted>{e(line)}</p>" for line in _details(f, "html", lang)))
        parts.append("</ul>" + extra + "</details>")
    analytics = report.get("analytics")
    if analytics:
        parts.append(f"<h2>{e(msg('analytics', lang))}</h2><p class=muted>{e(msg('method_text', lang))}</p>")
        for p in analytics["pipelines"]:
            parts.append(f"<h3>{e(p['name'])}</h3><p>" + e(" ".join([
                msg("cohort_line", lang, cohort=p["cohort"], won=p["won"], lost=p["lost"],
                    win_rate=_pct(p["win_rate"]), average_check=_cell(p["average_check"])),
                *_cycle_lines(p, lang), msg("response_line", lang, minutes=_cell(p["response_minutes"]["median"]))]))
                + "</p>")
        for title, rows in plan_tables(analytics.get("plan"), lang):
            parts.append(f"<h3>{e(title)}</h3>")
            if rows:
                parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in
                                                     msg("plan_columns_full", lang).split("|")) + "</tr>")
                parts += ["<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows]
                parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _chart(title: str, svg: str) -> str:
    return f"<div class=chart><h3>{html.escape(title)}</h3>{svg}</div>"


def _bars(items: list[tuple[str, float, str]], width: int = 360, lang: str = "en") -> str:
    """Horizontal bars: (label, value, colour)."""
    if not items:
        return f"<p class=muted>{msg('no_data', lang)}</p>"
    top = max(v for _, v, _ in items) or 1
    row = 22
    out = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{row * len(items) + 4}\" "
           f"role=\"img\">"]
    bar_area = width - 150 - 70  # labels left of x=150; room on the right for the widest value
    for i, (label, value, colour) in enumerate(items):
        w = int(bar_area * value / top)
        y = i * row
        shown = f"{value:,.0f}".replace(",", "\u00a0") if float(value).is_integer() else f"{value:,.1f}"
        out.append(f"<text x=\"0\" y=\"{y + 15}\" font-size=\"12\">{html.escape(label[:22])}</text>"
                   f"<rect x=\"150\" y=\"{y + 3}\" width=\"{max(w, 1)}\" height=\"16\" fill=\"{colour}\"/>"
                   f"<text x=\"{154 + w}\" y=\"{y + 15}\" font-size=\"11\">{shown}</text>")
    out.append("</svg>")
    return "".join(out)


def _severity_svg(report: dict[str, Any], lang: str = "en") -> str:
    counts = Counter()
    for f in report["findings"]:
        if f["status"] == "fail":
            counts[f["severity"]] += f["count"]
    return _bars([(word(sev, lang), counts[sev], SEVERITY_COLOURS[sev]) for sev in ("error", "warning", "info")],
                 lang=lang)


def _funnel_svg(report: dict[str, Any]) -> str:
    analytics = report.get("analytics") or {}
    pipelines = analytics.get("pipelines") or []
    if not pipelines:
        return f"<p class=muted>{msg('no_data', report.get('lang', 'ru'))}</p>"
    main = max(pipelines, key=lambda p: p["cohort"])
    return _bars(lang=report.get("lang", "ru"), items=[(st["stage"], st["reached"], "#2e7d32" if st["kind"] == "won" else "#1976d2")
                  for st in main["funnel"]])


def _load_svg(report: dict[str, Any]) -> str:
    managers = (report.get("analytics") or {}).get("managers") or []
    return _bars([(m["name"], m["open_deals"], "#6a1b9a") for m in managers[:12]], lang=report.get("lang", "ru"))


def _trend_svg(report: dict[str, Any]) -> str:
    totals: Counter = Counter()
    for series in (report.get("trend") or {}).values():
        for point in series:
            totals[point["run"]] += point["count"] or 0
    if not totals:
        return f"<p class=muted>{msg('no_history', report.get('lang', 'ru'))}</p>"
    runs = sorted(totals)
    width, height = 360, 120
    top = max(totals.values()) or 1
    step = (width - 20) / max(len(runs) - 1, 1)
    points = " ".join(f"{10 + i * step:.1f},{height - 10 - (height - 20) * totals[r] / top:.1f}"
                      for i, r in enumerate(runs))
    return (f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\">"
            f"<polyline fill=\"none\" stroke=\"#c62828\" stroke-width=\"2\" points=\"{points}\"/>"
            + "".join(f"<circle cx=\"{10 + i * step:.1f}\" cy=\"{height - 10 - (height - 20) * totals[r] / top:.1f}\" "
                      f"r=\"3\" fill=\"#c62828\"/>" for i, r in enumerate(runs))
            + "</svg>")
