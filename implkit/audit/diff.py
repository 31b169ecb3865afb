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

A 1M + 1M account fails about 6 million records an audit, so nothing here
makes an object per record unless a format asks for that record: the runs
are compared per entity as sorted integer arrays (`History.failing`), and a
cell's labels (`Labels`) are made when read — ten for a table, a chunk at a
time for csv and for json (`dumps`). `bench/audit_diff.py` measures it.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from collections.abc import Iterator, Sequence
from itertools import repeat
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


def audit_diff(history: History, *, check_entities: dict[str, str] | None = None,
               every_id: bool = True) -> dict[str, Any]:
    """The last audit against the one before it (plain data; `before` is None after the first audit).

    Each cell is {"count": n, "ids": the records' labels, sorted}. `every_id=False` leaves the labels
    unmade until read (a `Labels` sequence): a table shows 10 of a cell's million, csv streams them; json
    needs the list (the default, so the result is plain data to any reader)."""
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
        old = history.failing(before["id"], check_id) if was else None
        new = history.failing(after["id"], check_id) if now else None
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
        for change, parts in _compare(old or {}, new or {}).items():
            labels = Labels(parts, entity)
            row[change] = {"count": len(labels), "ids": labels.as_list() if every_id else labels}
            out["totals"][change] += len(labels)
        out["checks"].append(row)
    return out


def _compare(old: dict[str, tuple], new: dict[str, tuple]) -> dict[str, list[tuple]]:
    """Two runs' records (`History.failing`) → change → [(entity, sorted int ids, sorted other ids)], the
    entities in order: the report's order (by entity; its integer ids, then the others)."""
    import numpy as np

    none = (np.empty(0, dtype=np.int64), [])
    out: dict[str, list[tuple]] = {c: [] for c in CHANGES}
    for entity in sorted(old.keys() | new.keys()):
        (was_ints, was_others), (now_ints, now_others) = old.get(entity, none), new.get(entity, none)
        # both sorted and distinct (decode_ids): a mask keeps the order, so nothing is sorted again
        known = np.isin(now_ints, was_ints, assume_unique=True)
        kept = np.isin(was_ints, now_ints, assume_unique=True)
        was_set, now_set = set(was_others), set(now_others)
        out["new"].append((entity, now_ints[~known], [i for i in now_others if i not in was_set]))
        out["fixed"].append((entity, was_ints[~kept], [i for i in was_others if i not in now_set]))
        out["still_open"].append((entity, now_ints[known], [i for i in now_others if i in was_set]))
    return out


class Labels(Sequence):
    """A cell's record ids as the report writes them — bare for the check's own entity, `entity:id`
    otherwise — made only when read: a slice makes its labels, iteration makes them a chunk at a time.
    Equal to a list of the same labels."""

    CHUNK = 1 << 16

    def __init__(self, parts: list[tuple[str, Any, list]], entity: str | None):
        # (the labels' prefix, sorted int ids, sorted other ids) per entity with records
        self._parts = [("" if kind == entity else f"{kind}:", ints, others)
                       for kind, ints, others in parts if len(ints) or others]
        self._len = sum(len(ints) + len(others) for _, ints, others in self._parts)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step != 1:
                return self.as_list()[index]
            return [label for chunk in self._chunks(start, stop) for label in chunk]
        position = index + self._len if index < 0 else index
        if not 0 <= position < self._len:
            raise IndexError("label index out of range")
        return next(self._chunks(position, position + 1))[0]

    def __iter__(self) -> Iterator[str]:
        for chunk in self._chunks(0, self._len):
            yield from chunk

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (Labels, list, tuple)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  (a list's kind of equality)

    def __repr__(self) -> str:
        return f"Labels({self[:3]!r}, {self._len} in all)"

    def as_list(self) -> list[str]:
        return [label for chunk in self._chunks(0, self._len) for label in chunk]

    def json_array(self, indent: str) -> str:
        """The labels as json.dumps(indent=2) writes a list whose line is indented by `indent`."""
        from json.encoder import encode_basestring

        if not self._len:
            return "[]"
        between = ",\n" + indent + "  "
        return "[" + between[1:] + between.join(between.join(map(encode_basestring, chunk))
                                               for chunk in self._chunks(0, self._len)) + "\n" + indent + "]"

    def _chunks(self, start: int, stop: int) -> Iterator[list[str]]:
        """The labels at [start, stop), at most CHUNK at a time."""
        for prefix, values in self._runs():
            if start < len(values) and stop > 0:
                for lo in range(max(start, 0), min(stop, len(values)), self.CHUNK):
                    yield _labelled(prefix, values[lo:min(stop, len(values), lo + self.CHUNK)])
            start, stop = start - len(values), stop - len(values)

    def _runs(self) -> Iterator[tuple[str, Any]]:
        for prefix, ints, others in self._parts:
            yield prefix, ints
            yield prefix, others

    def split(self, entity: str | None) -> Iterator[tuple[str, list[str]]]:
        """(entity, ids) runs of `_split` over the labels, integer ids a chunk at a time: an integer has no
        colon, so `prefix` + any integer splits as `prefix` + "0" does, with the integer for the 0."""
        for prefix, values in self._runs():
            if isinstance(values, list):  # other ids: each its own split
                yield from ((kind, [record_id]) for kind, record_id in
                            (_split(label, entity) for label in _labelled(prefix, values)))
                continue
            kind, probe = _split(prefix + "0", entity)
            for lo in range(0, len(values), self.CHUNK):
                yield kind, _labelled(probe[:-1], values[lo:lo + self.CHUNK])


def _labelled(prefix: str, values: Any) -> list[str]:
    texts = map(str, values if isinstance(values, list) else values.tolist())  # numpy ints → Python's str
    return list(map(prefix.__add__, texts)) if prefix else list(texts)


def dumps(value: Any, default: Any = None) -> str:
    """`json.dumps(value, ensure_ascii=False, indent=2, default=default)`, the same text, for data holding
    lazy cells (`audit_diff(every_id=False)`): each cell's labels are encoded a chunk at a time into one
    string, where json's indented encoder makes a string per item and joins them at the end (6.4 million ids:
    about 500 MB of small strings on top of the labels themselves)."""
    pieces: list[str] = []
    write_json(value, pieces.append, held=Labels, emit=lambda cell, indent, write: write(cell.json_array(indent)),
               default=default)
    return "".join(pieces)


def write_json(value: Any, write: Any, *, held: type, emit: Any, default: Any = None) -> None:
    """`json.dumps(value, ensure_ascii=False, indent=2, default=default)` written through `write`, with each
    object of type `held` written in its place by `emit(obj, indent, write)` (`indent`: that of the line
    it sits on, where its array closes). The rest is json.dumps's own text, with a marker per held object
    that no record id or name holds; the diff's cells (`dumps`) and the report's every record
    (`report.write_json`) are written so."""
    from json.encoder import encode_basestring

    objects: list[Any] = []
    mark = f"\0held-{os.urandom(8).hex()}-"

    def hold(item: Any) -> Any:
        if isinstance(item, held):
            objects.append(item)
            return f"{mark}{len(objects) - 1}"
        if default is None:
            raise TypeError(f"Object of type {type(item).__name__} is not JSON serializable")
        return default(item)

    text = json.dumps(value, ensure_ascii=False, indent=2, default=hold)
    done = 0
    for found in re.finditer(re.escape(encode_basestring(mark)[:-1]) + r'(\d+)"', text):
        line = text.rfind("\n", 0, found.start()) + 1
        write(text[done:found.start()])
        emit(objects[int(found.group(1))], re.compile(" *").match(text, line).group(), write)
        done = found.end()
    write(text[done:])


def _split(label: str, entity: str | None) -> tuple[str, str]:
    """A label back into (entity, id): `entity:id`, or a bare id of the check's own entity."""
    kind, sep, record_id = label.partition(":")
    if not sep or not re.fullmatch(r"[a-z_]+", kind):
        return entity or "", label
    return kind, record_id


def _run(run: dict[str, Any] | None) -> dict[str, Any] | None:
    if run is None:
        return None
    from datetime import datetime, timezone

    return {"id": run["id"], "at": run["at"], "snapshot_at": run["snapshot_at"],
            "at_iso": datetime.fromtimestamp(run["at"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def changed(diff: dict[str, Any]) -> list[dict[str, Any]]:
    """The checks with something new or fixed (or a note), for the report's section."""
    return [c for c in diff.get("checks", ()) if c["new"]["count"] or c["fixed"]["count"] or c["note"]]


def _localised(label: str, lang: str) -> str:
    """`tasks:5` → `задача:5` in a Russian report (a bare id stays as it is)."""
    from implkit.audit.words import word

    entity, record_id = _split(label, None)
    return f"{word(entity, lang)}:{record_id}" if entity else label


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
        return dumps({"tenant": tenant, "lang": lang, **diff}) + "\n"
    if fmt == "csv":
        from implkit.audit.words import word

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(msg("csv_columns", lang).split("|"))
        for c in diff.get("checks", ()):
            for change in CHANGES:
                ids, entity = c[change]["ids"], c.get("entity")
                runs = ids.split(entity) if isinstance(ids, Labels) else (
                    (kind, [record_id]) for kind, record_id in (_split(label, entity) for label in ids))
                for kind, record_ids in runs:  # a run of rows written by the csv module's C loop
                    writer.writerows(zip(repeat(c["id"]), repeat(msg(change, lang)), repeat(word(kind, lang)),
                                         record_ids))
        return out.getvalue()
    if fmt == "html":
        return (f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{html.escape(tenant)}"
                f"</title></head><body>{diff_html(diff, lang)}</body></html>\n")
    if diff.get("after") is None:
        return msg("none", lang, tenant=tenant) + "\n"
    return "\n".join(diff_lines(diff, fmt, lang)) + "\n"

