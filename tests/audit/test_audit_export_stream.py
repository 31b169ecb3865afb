"""The JSON and CSV reports and the worklists list every failing record, streamed from the run a chunk at a
time (names looked up per chunk) instead of a report built whole: what they write is, byte for byte, what
the whole report rendered (`build_report(every_record=True)` → `render`, the in-memory path kept as the
oracle), in both languages; a file is written through a temp file and nothing is left on a failure."""

from __future__ import annotations

import csv
import io
import json
import math
import stat
from collections import defaultdict
from decimal import Decimal

import pytest

from audit_support import build_snapshot
from implkit.audit import AuditOptions, run_audit
from implkit.audit.diff import Labels
from implkit.audit.report import (CSV_COLUMNS, RecordExport, build_report, csv_rows, encode_json, lookup_records,
                                  render, render_csv, write_worklists, _slug)
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.amocrm.records import AmoRecords
from implkit.workspace import CredentialSource, init_workspace

WEB = "https://acme.amocrm.ru"
# names a CSV must quote and JSON must escape: quotes, a comma, a line break, a tab, a character beyond the BMP
ODD_NAMES = ['Сделка "Альфа", №1', "две\nстроки", "таб\tи \\ слэш 🚀"]


@pytest.fixture
def synced(sync_rig, tmp_path):
    """A seeded sandbox account synced into a snapshot; some deals renamed with characters to escape."""
    seed = pytest.importorskip("implkit.sandbox.amocrm.seed")
    seed.seed_account(sync_rig.sandbox.store, sync_rig.account_id, contacts=60, seed=3, now=int(sync_rig.clock.now()))
    path = tmp_path / "s.sqlite"
    with Snapshot(path) as snap:
        sync_snapshot(AmoRecords(sync_rig.http()), snap, clock=sync_rig.clock.now, web_url=WEB)
        for n, name in enumerate(ODD_NAMES):
            snap.db.execute("UPDATE leads SET name = ? WHERE id % 7 = ?", (name, n))
    return path, sync_rig


def _whole(outcome, path, lang):
    """The report of every record, built whole in memory as the audit did before it streamed (the oracle)."""
    with Snapshot(path, reader=True) as snap:
        users = {uid: name for uid, name in snap.db.execute("SELECT id, name FROM users")}
        full = build_report(outcome.run, tenant="acme", web_url=snap.get_meta("web_url"),
                            analytics=outcome.report["analytics"], trend=outcome.report["trend"], lang=lang,
                            users=users, crm="amocrm", records=lookup_records(snap, outcome.run), every_record=True)
    full["diff"] = outcome.report["diff"]
    return full


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("lanes", ["threads", "processes"])
def test_streamed_json_and_csv_are_the_bytes_of_the_whole_report(synced, tmp_path, monkeypatch, fmt, lang, lanes):
    """`processes`: as for a big snapshot, the checks after the first lane's run in a second process, and
    every record is read back from its scratch file."""
    path, rig = synced
    if lanes == "processes":
        from implkit.audit import lanes as lane_module

        monkeypatch.setattr(lane_module, "PROCESSES_FROM", 0)
        monkeypatch.setattr("os.cpu_count", lambda: 2)  # two lanes even on a one-core runner
        ran = lane_module.ProcessLane.run
        taken: list[str] = []
        monkeypatch.setattr(lane_module.ProcessLane, "run", lambda lane, unit: taken.extend(c.id for c in unit)
                            or ran(lane, unit))
    monkeypatch.setattr(RecordExport, "CHUNK", 7)  # many chunks, and a check's records split across them
    monkeypatch.setattr(Labels, "CHUNK", 5)  # the diff's ids too
    for _ in range(2):  # the second audit carries the diff against the first (its ids are lazy cells)
        outcome = run_audit(path, tmp_path / "h.sqlite", tenant="acme", options=AuditOptions(), fmt=fmt, lang=lang,
                            clock=rig.clock.now)
    try:
        full = _whole(outcome, path, lang)
        failing = sum(len(f.get("records") or ()) for f in full["findings"])
        assert failing > 100 and all(len(f.get("records") or ()) <= f.get("samples", 0)
                                     for f in outcome.report["findings"])  # the report itself: samples only
        pieces: list[str] = []
        outcome.write(pieces.append)  # written a chunk at a time, as `-o FILE` and stdout take it
        streamed = "".join(pieces)
        assert len(pieces) > failing // 7 and streamed == render(full, fmt)
        assert outcome.text == streamed
    finally:
        outcome.run.close()
    assert lanes == "threads" or taken  # the second process ran checks whose records were written above
    if fmt == "json":
        report = json.loads(streamed)
        assert sum(len(f.get("records") or ()) for f in report["findings"]) == failing
        assert full["diff"]["before"] is not None
        assert sum(len(c["still_open"]["ids"]) for c in report["diff"]["checks"]) == report["diff"]["totals"]["still_open"] > 5
        names = {r["name"] for f in report["findings"] for r in f.get("records") or ()}
    else:
        rows = list(csv.reader(io.StringIO(streamed)))
        assert len(rows) == 1 + failing
        names = {r[CSV_COLUMNS.index("name")] for r in rows[1:]}
    assert set(ODD_NAMES) <= names  # the odd names made it through intact


def test_worklists_stream_per_manager_to_the_same_files_and_bytes(synced, tmp_path, monkeypatch):
    path, rig = synced
    monkeypatch.setattr(RecordExport, "CHUNK", 7)
    outcome = run_audit(path, None, tenant="acme", options=AuditOptions(), fmt="table", lang="ru", clock=rig.clock.now)
    try:
        written = outcome.write_worklists(tmp_path / "streamed")
        full = _whole(outcome, path, "ru")
    finally:
        outcome.run.close()
    # the oracle: every row grouped in memory, one render_csv per manager, as the worklists were written before
    groups = defaultdict(list)
    for row in csv_rows(full):
        groups[row["responsible_user_id"]].append(row)
    expected = {}
    for user_id, rows in groups.items():
        name = rows[0]["responsible"] or ""
        stem = (f"{user_id}-{_slug(name)}" if name else str(user_id)) if user_id is not None else "без-ответственного"
        expected[f"{stem}.csv"] = render_csv(full, rows)
    assert len(expected) >= 3 and sorted(p.name for p in written) == sorted(expected)
    assert sorted(p.name for p in (tmp_path / "streamed").iterdir()) == sorted(expected)  # no temp file left
    for p in written:
        assert p.read_bytes() == expected[p.name].encode("utf-8"), p.name
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert sum(len(list(csv.reader(p.open(encoding="utf-8")))) - 1 for p in written) == len(csv_rows(full))
    # and the old path (a report of every record, no export) still writes the same
    assert [p.read_bytes() for p in write_worklists(full, tmp_path / "whole")] == [p.read_bytes() for p in written]


@pytest.mark.parametrize("value", ["", "тест \"кавычки\" \\ \n\t\x00\x1f 🚀", 0, -5, 2 ** 70, None, True, False, 1.5,
                                   -0.0, 1e300, math.inf, -math.inf, math.nan, [1, "a", None], {"k": [1, {"x": 2}]},
                                   (), b"bytes", Decimal("1.10")])
def test_a_value_is_encoded_as_json_dumps_encodes_it(value):
    """A record's value comes from a check's SQL (or a built-in): any type json.dumps(default=str) takes."""
    expected = json.dumps({"records": [{"value": value}]}, ensure_ascii=False, indent=2, default=str)
    assert '{\n  "records": [\n    {\n      "value": ' + encode_json(value, "      ") + "\n    }\n  ]\n}" == expected


@pytest.fixture
def workspace(tmp_path):
    """Tenant `acme`: 26 lost deals without a loss reason (D08) of two managers and none, a task overdue (T01)."""
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    lost = [{"id": i, "status_id": 143, "name": ODD_NAMES[i % 3], "responsible_user_id": [1, 2, None][i % 3]}
            for i in range(1, 27)]
    snap = build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {
        "leads": lost, "tasks": [{"id": 9, "entity_type": "leads", "entity_id": 3, "complete_till": "now-1h"}]})
    snap.set_meta(web_url=WEB)
    snap.close()
    return tmp_path / "ws"


def test_o_file_is_written_through_a_temp_file_private_and_the_bytes_of_stdout(run_cli, workspace, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(RecordExport, "CHUNK", 5)
    out = tmp_path / "out" / "report.csv"
    result = run_cli("audit", "acme", "--workspace", workspace, "--format", "csv", "-o", out)
    assert result.exit_code == 2, result.output
    stdout = run_cli("audit", "acme", "--workspace", workspace, "--format", "csv").stdout
    assert out.read_bytes() == stdout.encode("utf-8")
    rows = list(csv.reader(io.StringIO(stdout)))
    assert sum(1 for r in rows if r[0] == "D08") == 26 and {"две\nстроки", ODD_NAMES[0]} <= {r[7] for r in rows}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and [p.name for p in out.parent.iterdir()] == ["report.csv"]
    report = tmp_path / "out" / "report.json"
    assert run_cli("audit", "acme", "--workspace", workspace, "--format", "json", "-o", report).exit_code == 2
    d08 = next(f for f in json.loads(report.read_text(encoding="utf-8"))["findings"] if f["id"] == "D08")
    assert d08["count"] == 26 and [r["id"] for r in d08["records"]] == list(range(1, 27))
    assert d08["records"][:10] == d08["examples"] and d08["records"][0]["link"] == f"{WEB}/leads/detail/1"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_failure_while_writing_leaves_the_old_file_and_no_temp_file(run_cli, workspace, tmp_path, monkeypatch, fmt):
    out = tmp_path / "out" / f"report.{fmt}"
    out.parent.mkdir()
    out.write_text("the previous report", encoding="utf-8")
    worklists = tmp_path / "worklists"
    real = RecordExport.chunks
    monkeypatch.setattr(RecordExport, "CHUNK", 5)

    def failing(self, result):
        for n, chunk in enumerate(real(self, result)):
            if n == 2:
                raise OSError(28, "No space left on device")
            yield chunk

    monkeypatch.setattr(RecordExport, "chunks", failing)
    result = run_cli("audit", "acme", "--workspace", workspace, "--format", fmt, "-o", out)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert out.read_text(encoding="utf-8") == "the previous report"
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    result = run_cli("audit", "acme", "--workspace", workspace, "--by-manager", worklists)
    assert result.exit_code == 1 and list(worklists.iterdir()) == []  # no worklist at all, not some of them


@pytest.mark.parametrize("lang, words", [("ru", "не удаётся создать папку"), ("en", "cannot make the folder")])
def test_an_o_file_in_a_folder_that_cannot_be_made_is_bad_input_and_nothing_is_written(run_cli, workspace, tmp_path,
                                                                                     lang, words):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    out = blocker / "reports" / "report.json"
    result = run_cli("--lang", lang, "audit", "acme", "--workspace", workspace, "--format", "json", "-o", out)
    assert result.exit_code == 3, result.output
    assert f"-o {out}" in result.output and words in result.output and "Traceback" not in result.output
    assert blocker.read_text(encoding="utf-8") == "x" and list(tmp_path.glob("**/*.json")) == []
    # refused before the audit ran: no history was written either
    assert not (workspace / ".implkit" / "tenants" / "acme" / "audit-history.sqlite").exists()
