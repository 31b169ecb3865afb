"""Directum RX in the audit: the snapshot sync of the counterparty directory and the vendor's duplicate rules.

`sync_directum(reader, snapshot)` reads the streams of `implkit.providers.directum.odata.DirectumRecords`
(employees, counterparties, contacts) whole — counterparties carry no modification date, so there is
no incremental mode — and replaces the tables of `directum_schema.py` in one transaction per stream.

Validity verdicts stored with each row (reference/directum-rx.md §3):

- TIN: digits only, not starting with 00, 10 or 12 digits for a company or bank and 12 for a person,
  control digits of the FNS algorithm — the server's own BeforeSave check, which legacy and imported
  data may have skipped; not judged for nonresidents (the vendor turns the check off for them);
- KPP (TRRC): the FNS form NNNNPPNNN, PP digits or capital Latin letters — the vendor checks it only in
  the UI, so API writes carry anything;
- PSRN (ОГРН): 13 digits with the control digit (first 12 mod 11, mod 10) or 15 (first 14 mod 13,
  mod 10); the server checks only the length.

`duplicate_groups(snapshot, rule)` implements the vendor's duplicate definitions (§5) as the builtin
`directum_duplicates` of the audit engine.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from implkit.audit.normalize import inn_is_valid
from implkit.audit.sync import MESSAGES, PAGES, RECORDS
from implkit.lang import count_noun, say

TRRC = re.compile(r"^\d{4}[\dA-Z]{2}\d{3}$")


def tin_valid(tin: str | None, kind: str, nonresident: bool) -> int | None:
    value = (tin or "").strip()
    if not value or nonresident:
        return None
    lengths = (12,) if kind == "person" else (10, 12)
    ok = value.isdigit() and len(value) in lengths and not value.startswith("00") and inn_is_valid(value)
    return int(ok)


def trrc_valid(trrc: str | None) -> int | None:
    value = (trrc or "").strip()
    return None if not value else int(bool(TRRC.match(value)))


def psrn_valid(psrn: str | None, nonresident: bool) -> int | None:
    value = (psrn or "").strip()
    if not value or nonresident:
        return None
    if not value.isdigit():
        return 0
    if len(value) == 13:
        return int(int(value[:12]) % 11 % 10 == int(value[12]))
    if len(value) == 15:
        return int(int(value[:14]) % 13 % 10 == int(value[14]))
    return 0


def name_key(name: str | None) -> str | None:
    value = " ".join((name or "").split()).lower()
    return value or None


@dataclass
class StreamSummary:
    name: str
    mode: str
    records: int = 0
    pages: int = 0


@dataclass
class DirectumSyncSummary:
    records: int = 0
    pages: int = 0
    requests: int = 0
    streams: list[StreamSummary] = field(default_factory=list)


TABLES = {"employees": "drx_employees", "counterparties": "drx_counterparties", "contacts": "drx_contacts"}


def _rows(stream: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if stream == "counterparties":
        return [{**r, "name_key": name_key(r["name"]), "nonresident": int(bool(r["nonresident"])),
                 "tin_valid": tin_valid(r["tin"], r["type"], r["nonresident"]),
                 "trrc_valid": trrc_valid(r["trrc"]) if r["type"] != "person" else None,
                 "psrn_valid": psrn_valid(r["psrn"], r["nonresident"])} for r in rows]
    if stream == "contacts":
        return [{**r, "name_key": name_key(r["name"])} for r in rows]
    return rows


def sync_directum(reader, snapshot, *, web_url: str | None = None, progress: Callable[[str], None] = lambda _m: None,
                  clock: Callable[[], float] = time.time) -> DirectumSyncSummary:
    """A full read of every stream into the snapshot; `snapshot_at` is set when all of them are in."""
    started = int(clock())
    summary = DirectumSyncSummary()
    for stream in reader.STREAMS:
        table = TABLES[stream]
        pages: list[list[dict[str, Any]]] = []
        for page in reader.read(stream):        # read whole first: a failed read leaves the old rows
            pages.append(_rows(stream, page))
        result = StreamSummary(stream, "full", sum(len(p) for p in pages), len(pages))
        with snapshot.transaction() as db:
            db.execute(f"DELETE FROM {table}")
            for page in pages:
                if page:
                    columns = list(page[0])
                    db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                   f"({', '.join(':' + c for c in columns)})", page)
        summary.streams.append(result)
        summary.records += result.records
        summary.pages += result.pages
        progress(say(MESSAGES, "full_read", stream=stream, records=count_noun(result.records, *RECORDS),
                     pages=count_noun(result.pages, *PAGES)))
    summary.requests = reader.requests_sent()
    snapshot.set_meta(snapshot_at=started, web_url=web_url, crm="directum")
    return summary


# --- the vendor's duplicate rules -----------------------------------------------------------------

# rule -> (SQL selecting (id, key) for every record in a group, entity, what the key means)
RULES: dict[str, tuple[str, str]] = {
    # the cleaning template's duplicate: same TIN and KPP (companies; TIN not empty)
    "tin_trrc": ("""
        SELECT c.id, 'TIN ' || c.tin || ' / KPP ' || c.trrc AS key FROM drx_counterparties c
         WHERE c.type = 'company' AND coalesce(c.tin, '') <> '' AND coalesce(c.trrc, '') <> ''
           AND EXISTS (SELECT 1 FROM drx_counterparties o WHERE o.id <> c.id AND o.type = 'company'
                       AND o.tin = c.tin AND o.trrc = c.trrc)""", "counterparties"),
    # the base platform rule: same TIN and one side's KPP empty (companies and banks)
    "tin_empty_trrc": ("""
        SELECT c.id, 'TIN ' || c.tin AS key FROM drx_counterparties c
         WHERE c.type IN ('company', 'bank') AND coalesce(c.tin, '') <> ''
           AND EXISTS (SELECT 1 FROM drx_counterparties o WHERE o.id <> c.id AND o.type IN ('company', 'bank')
                       AND o.tin = c.tin
                       AND (coalesce(o.trrc, '') = '') <> (coalesce(c.trrc, '') = ''))""", "counterparties"),
    # the cleaning template's possible duplicate: same TIN, another (non-empty) KPP
    "tin_other_trrc": ("""
        SELECT c.id, 'TIN ' || c.tin AS key FROM drx_counterparties c
         WHERE c.type = 'company' AND coalesce(c.tin, '') <> '' AND coalesce(c.trrc, '') <> ''
           AND EXISTS (SELECT 1 FROM drx_counterparties o WHERE o.id <> c.id AND o.type = 'company'
                       AND o.tin = c.tin AND coalesce(o.trrc, '') <> '' AND o.trrc <> c.trrc)""", "counterparties"),
    # the base rule when no TIN is given: the same name ignoring case, TIN empty
    "name_no_tin": ("""
        SELECT c.id, 'name ' || c.name_key AS key FROM drx_counterparties c
         WHERE coalesce(c.tin, '') = '' AND c.name_key IS NOT NULL
           AND EXISTS (SELECT 1 FROM drx_counterparties o WHERE o.id <> c.id AND coalesce(o.tin, '') = ''
                       AND o.name_key = c.name_key AND o.type = c.type)""", "counterparties"),
    # ContactServerFunctions.GetDuplicates: same name, same company, not closed
    "contact_name": ("""
        SELECT c.id, 'company ' || c.company_id || ' / ' || c.name AS key FROM drx_contacts c
         WHERE coalesce(c.status, '') <> 'Closed'
           AND EXISTS (SELECT 1 FROM drx_contacts o WHERE o.id <> c.id AND coalesce(o.status, '') <> 'Closed'
                       AND o.company_id = c.company_id AND o.name = c.name)""", "contacts"),
}


def duplicate_groups(db, rule: str) -> tuple[list[int], list[dict[str, Any]], int]:
    """(every id in a group, the groups with the record to keep, the population) for one vendor rule.

    The record kept is the one the cleaning template would take as the original: active before closed,
    with a KPP before without, then the oldest (lowest id)."""
    sql, entity = RULES[rule]
    table = "drx_contacts" if entity == "contacts" else "drx_counterparties"
    members: dict[str, list[int]] = {}
    for row_id, key in db.execute(sql):
        members.setdefault(key, []).append(row_id)
    groups = []
    for key, ids in sorted(members.items(), key=lambda item: min(item[1])):
        if entity == "contacts":
            order = sorted(ids)
        else:
            marks = ",".join("?" * len(ids))
            ranked = db.execute(f"SELECT id FROM drx_counterparties WHERE id IN ({marks}) ORDER BY "
                                f"status = 'Closed', coalesce(trrc, '') = '', id", ids).fetchall()
            order = [r[0] for r in ranked]
        groups.append({"rule": rule, "key": key, "keep": order[0], "merge": order[1:]})
    population = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return sorted(i for ids in members.values() for i in ids), groups, population
