"""The audit diff against the straightforward computation: two runs' failing records as sets of (entity, id),
new = now − before, fixed = before − now, still open = both, each sorted by entity, integer ids before the
others, labelled bare for the check's own entity. Record for record, in every format, on a generated history
with integer and string ids (negative, beyond 64 bits, ids with a colon), several entities per check, a
redefined check, a check not run before, one not run now, one that never ran, one unchanged, one empty."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest

from implkit.audit import diff as diff_module
from implkit.audit.diff import CHANGES, Labels, audit_diff, render_diff
from implkit.audit.history import History, pack_ids

BEFORE, AFTER = 1, 2
ENTITIES = {"A": "leads", "B": "contacts", "C": "leads", "D": "tasks", "F": "leads", "G": "leads", "H": "leads",
            "I": "leads"}  # E: a check the entities' map does not know (every label carries its entity)
STRINGS = ["5", "pipeline.sales.stage.x", "lead:7", "Ab:c", "этап:1", 'кавычки "x"', ":x", "leads:9"]


def _ids(rng: random.Random, n: int, low: int = -50, high: int = 5_000) -> set[int]:
    return set(rng.sample(range(low, high), n))


def _generated(rng: random.Random) -> dict[str, dict[int, set[tuple[str, object]]]]:
    """check → run → its failing (entity, id) records; a run missing: the check did not run then."""
    def overlap(entity: str, n: int, new: int, fixed: int, **kw) -> tuple[set, set]:
        pool = list(_ids(rng, n + new + fixed, **kw))
        shared, gone, came = pool[:n], pool[n:n + fixed], pool[n + fixed:]
        return {(entity, i) for i in shared + gone}, {(entity, i) for i in shared + came}

    checks: dict[str, dict[int, set]] = {}
    leads, contacts, configs = overlap("leads", 900, 120, 80), overlap("contacts", 300, 40, 60), \
        ({("config", s) for s in STRINGS[:6]}, {("config", s) for s in STRINGS[2:]})
    checks["A"] = {run: leads[k] | contacts[k] | configs[k] | {("leads", s) for s in STRINGS[k::2]}
                   for k, run in enumerate((BEFORE, AFTER))}
    b_before, b_after = overlap("contacts", 500, 70, 30)
    checks["B"] = {BEFORE: b_before | {("companies", 2**70), ("companies", -3)},
                   AFTER: b_after | {("companies", 2**70), ("companies", 2**63)}}
    checks["C"] = {AFTER: overlap("leads", 200, 0, 0)[1] | {("leads", "7")}}
    checks["D"] = {BEFORE: overlap("tasks", 150, 0, 0)[0]}
    e_before, e_after = overlap("leads", 400, 50, 50)
    checks["E"] = {BEFORE: e_before | {("tasks", 4), ("contacts", "x:y")}, AFTER: e_after | {("tasks", 4)}}
    same = overlap("leads", 100, 0, 0)[0]
    checks["G"] = {BEFORE: same, AFTER: set(same)}
    checks["H"] = {BEFORE: set(), AFTER: set()}
    i_before, i_after = overlap("leads", 50, 10, 10, low=2**63 - 40, high=2**63 + 40)  # across int64's edge
    checks["I"] = {BEFORE: i_before, AFTER: i_after}
    return checks


def _history(path, checks) -> History:
    history = History(path)
    for run in (BEFORE, AFTER):
        history.db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)", (run, 1_800_000_000 + run * 86400,
                                                                         1_800_000_000, 9, 1, 1))
        for check in [*checks, "F"]:  # F: a result kept without records (unsupported: it did not run)
            ran = run in checks.get(check, {})
            if not ran and check != "F":
                continue
            identity = f"{check}-{run}" if check == "B" else check
            history.db.execute("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (run, check, identity, "warning", "fail" if ran else "unsupported",
                                len(checks[check][run]) if ran else None, None, None))
            if ran:
                history.db.execute("INSERT INTO failing VALUES (?, ?, ?)", (run, check, pack_ids(checks[check][run])))
    return history


def _expected(checks, entities) -> dict:
    """The diff's checks and totals by plain set operations on the generated records."""
    def order(ref):
        entity, record_id = ref
        return (entity, 0, record_id, "") if isinstance(record_id, int) else (entity, 1, 0, record_id)

    rows, totals = [], {c: 0 for c in CHANGES}
    for check in sorted(checks):
        runs = checks[check]
        before, after = runs.get(BEFORE), runs.get(AFTER)
        entity = entities.get(check)
        note = ("not_run_before" if before is None else "not_run_now" if after is None
                else "redefined" if check == "B" else None)
        before, after = before or set(), after or set()
        row = {"id": check, "entity": entity, "note": note}
        for change, refs in (("new", after - before), ("fixed", before - after), ("still_open", after & before)):
            labels = [str(i) if e == entity else f"{e}:{i}" for e, i in sorted(refs, key=order)]
            row[change] = {"count": len(labels), "ids": labels}
            totals[change] += len(labels)
        rows.append(row)
    return {"checks": rows, "totals": totals}


@pytest.fixture(params=[None, 3], ids=["chunks-default", "chunks-of-3"])
def generated(request, tmp_path, monkeypatch):
    if request.param:  # labels made three at a time: every slice crosses chunks and entities
        monkeypatch.setattr(Labels, "CHUNK", request.param)
    checks = _generated(random.Random(19))
    history = _history(tmp_path / "history.sqlite", checks)
    yield checks, history
    history.close()


def test_the_diff_is_the_set_computation_record_for_record(generated):
    checks, history = generated
    expected = _expected(checks, ENTITIES)
    assert all(expected["totals"][c] > 100 for c in CHANGES)  # every kind of change is exercised
    listed = audit_diff(history, check_entities=ENTITIES)
    lazy = audit_diff(history, check_entities=ENTITIES, every_id=False)
    assert [c["id"] for c in listed["checks"]] == list("ABCDEGHI")  # F never ran: not compared
    assert listed["checks"] == expected["checks"] and listed["totals"] == expected["totals"]
    assert lazy["checks"] == expected["checks"] and lazy["totals"] == expected["totals"]
    assert all(type(c[change]["ids"]) is list for c in listed["checks"] for change in CHANGES)
    assert {c["id"]: c["note"] for c in lazy["checks"]} == {
        "A": None, "B": "redefined", "C": "not_run_before", "D": "not_run_now", "E": None, "G": None, "H": None,
        "I": None}
    plain = {**listed, "checks": expected["checks"]}  # the run stamps are the history's, not under test
    for lang in ("ru", "en"):
        for fmt in ("json", "csv", "table", "md", "html"):
            want = render_diff(plain, fmt, lang, "acme")
            assert render_diff(listed, fmt, lang, "acme") == want, (fmt, lang)
            assert render_diff(lazy, fmt, lang, "acme") == want, (fmt, lang)
    rows = list(csv.reader(io.StringIO(render_diff(lazy, "csv", "en", "acme"))))
    assert len(rows) == 1 + sum(expected["totals"].values())
    assert {(r[2], r[3]) for r in rows if r[0] == "B" and r[1] == "new"} >= {("companies", str(2**63))}
    parsed = json.loads(render_diff(lazy, "json", "en", "acme"))
    assert parsed["checks"] == expected["checks"]
    # the audit report's json (the diff beside the findings) is json.dumps's text of the plain lists
    from implkit.audit.report import render_json

    report = {"tenant": "acme", "findings": [{"id": "A", "records": [{"id": 1, "at": object}]}], "diff": lazy}
    assert render_json(report) == json.dumps({**report, "diff": plain}, ensure_ascii=False, indent=2,
                                             default=str) + "\n"


def test_a_lazy_cell_reads_like_the_list(generated):
    checks, history = generated
    lazy = {c["id"]: c for c in audit_diff(history, check_entities=ENTITIES, every_id=False)["checks"]}
    listed = {c["id"]: c for c in audit_diff(history, check_entities=ENTITIES)["checks"]}
    cells = 0
    for check, row in lazy.items():
        for change in CHANGES:
            labels, plain = row[change]["ids"], listed[check][change]["ids"]
            assert isinstance(labels, Labels) and len(labels) == len(plain) == row[change]["count"]
            assert list(labels) == plain and labels == plain and plain == labels
            for part in (slice(0, 10), slice(3, 17), slice(-5, None), slice(None, None, 2), slice(50, 10),
                         slice(len(plain) - 1, len(plain) + 5)):
                assert labels[part] == plain[part], (check, change, part)
            for i in (0, 1, len(plain) // 2, -1, -len(plain)):
                if plain:
                    assert labels[i] == plain[i]
            with pytest.raises(IndexError):
                labels[len(plain)]
            cells += 1
    assert cells == 8 * 3
    assert lazy["A"]["new"]["ids"] != lazy["A"]["fixed"]["ids"]


def test_failing_ids_read_back_what_was_packed(generated):
    checks, history = generated
    for check, runs in checks.items():
        for run, refs in runs.items():
            assert history.failing_ids(run, check) == refs
            decoded = history.failing(run, check)
            assert {(e, i) for e, (ints, others) in decoded.items() for i in [*ints.tolist(), *others]} == refs
    assert history.failing_ids(BEFORE, "C") is None and history.failing(BEFORE, "F") is None
    assert diff_module.SHOWN_IDS == 10


def test_the_shared_postgres_history_gives_the_same_diff(pg_cluster, tmp_path):
    """The workspace's PostgreSQL history (PgHistoryDb) runs the same statements: its bytea blobs decode to
    the same records and the same diff as the local file's."""
    import uuid

    from implkit.workspace.postgres import PgHistoryDb, schema_for

    checks = _generated(random.Random(7))
    local = _history(tmp_path / "history.sqlite", checks)
    shared = _history(PgHistoryDb(pg_cluster.url, schema_for(str(uuid.uuid4()), "acme")), checks)
    try:
        want = audit_diff(local, check_entities=ENTITIES)
        got = audit_diff(shared, check_entities=ENTITIES, every_id=False)
        assert got["totals"] == want["totals"] and sum(want["totals"].values()) > 2_000
        assert got["checks"] == want["checks"]
        assert all(shared.failing_ids(run, check) == refs for check, runs in checks.items()
                   for run, refs in runs.items())
    finally:
        local.close()
        shared.close()


def test_blobs_written_by_hand_in_the_documented_format_read(tmp_path):
    """A history file from before: zlib(JSON {entity: {"d": deltas of sorted int ids, "o": other ids}}),
    written here without pack_ids (either key may be absent)."""
    import zlib

    def blob(value: dict) -> bytes:
        return zlib.compress(json.dumps(value).encode())

    history = History(tmp_path / "history.sqlite")
    try:
        for run, (leads, config) in enumerate([({"d": [3, 2, 5]}, {"o": ["a.b", "c"]}),
                                               ({"d": [5, 5], "o": ["x"]}, {"d": [], "o": ["c"]})], start=1):
            history.db.execute("INSERT INTO runs VALUES (?, 0, 0, 1, 1, 0)", (run,))
            history.db.execute("INSERT INTO results VALUES (?, 'D08', 'v', 'error', 'fail', 3, NULL, NULL)", (run,))
            history.db.execute("INSERT INTO failing VALUES (?, 'D08', ?)",
                               (run, blob({"leads": leads, "config": config})))
        assert history.failing_ids(1, "D08") == {("leads", 3), ("leads", 5), ("leads", 10), ("config", "a.b"),
                                                 ("config", "c")}
        got = audit_diff(history, check_entities={"D08": "leads"}, every_id=False)
        d08 = got["checks"][0]
        assert (d08["new"]["ids"], d08["fixed"]["ids"], d08["still_open"]["ids"]) == (
            ["x"], ["config:a.b", "3"], ["config:c", "5", "10"])
    finally:
        history.close()
