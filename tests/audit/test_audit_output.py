"""Complete, actionable output: CSV and JSON carry every failing record, the samples say what they leave
out, worklists per manager, links to the record itself, failing ids kept in the history."""

from __future__ import annotations

import csv
import io
import json

import pytest

from audit_support import build_snapshot

from implkit.audit import AuditOptions, run_audit
from implkit.audit.history import History, pack_ids, unpack_ids
from implkit.audit.report import record_link
from implkit.workspace import CredentialSource, init_workspace

LOST = [{"id": i, "status_id": 143, "name": f"Сделка {i}", "price": 100 * i,
         "responsible_user_id": 1 if i % 3 else 2} for i in range(1, 26)]
LOST.append({"id": 30, "status_id": 143, "name": "Ничья", "responsible_user_id": None})
TASKS = [{"id": 70, "entity_type": "leads", "entity_id": 1, "complete_till": "now-1d", "text": "Перезвонить"}]


@pytest.fixture
def workspace(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    snap = build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {"leads": LOST, "tasks": TASKS})
    snap.set_meta(web_url="https://acme.amocrm.ru")
    snap.close()
    return tmp_path / "ws"


def test_csv_lists_every_failing_record_with_name_owner_budget_and_link(run_cli, workspace):
    result = run_cli("audit", "acme", "--workspace", workspace, "--format", "csv", "--checks", "D08,T01",
                     env={"IMPLKIT_LANG": None})  # the default language
    assert result.exit_code == 2, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:7] == ["проверка", "название проверки", "важность", "статус проверки", "тип записи", "id",
                           "ссылка"]  # Russian by default
    d08 = [r for r in rows[1:] if r[0] == "D08"]
    assert len(d08) == 26  # every record, not the 10 samples
    first = next(r for r in d08 if r[5] == "25")
    assert first[6] == "https://acme.amocrm.ru/leads/detail/25" and first[7] == "Сделка 25"
    assert first[8] == "Анна" and first[10] == "2500"
    t01 = next(r for r in rows[1:] if r[0] == "T01")
    # a task has no page of its own: the link is its deal's card, the task id is in the row
    assert t01[4:8] == ["задача", "70", "https://acme.amocrm.ru/leads/detail/1", "Перезвонить"]
    assert t01[12:] == ["сделка:1", "https://acme.amocrm.ru/leads/detail/1"]
    english = run_cli("audit", "acme", "--workspace", workspace, "--format", "csv", "--checks", "D08", "--lang", "en")
    assert english.stdout.splitlines()[0].startswith("check,title,severity,status,entity,id,link")


def test_json_has_complete_lists_and_samples_say_what_they_leave_out(run_cli, workspace):
    report = json.loads(run_cli("audit", "acme", "--workspace", workspace, "--format", "json",
                                "--checks", "D08").stdout)
    d08 = report["findings"][0]
    assert d08["count"] == 26 and len(d08["records"]) == 26
    assert len(d08["examples"]) == 10 and d08["left_out"] == 16
    table = run_cli("audit", "acme", "--workspace", workspace, "--checks", "D08").stdout
    assert "показано 10 из 26" in table and "--format csv" in table
    md = run_cli("audit", "acme", "--workspace", workspace, "--checks", "D08", "--format", "md").stdout
    assert md.count("https://acme.amocrm.ru/leads/detail/") == 10 and "показано 10 из 26" in md
    assert "Цикл сделки (закрытые за период)" in run_cli("audit", "acme", "--workspace", workspace, "--format",
                                                         "md").stdout
    html = run_cli("audit", "acme", "--workspace", workspace, "--checks", "D08", "--format", "html").stdout
    assert "показано 10 из 26" in html


def test_by_manager_writes_one_worklist_per_responsible_user(run_cli, workspace, tmp_path):
    folder = tmp_path / "worklists"
    result = run_cli("audit", "acme", "--workspace", workspace, "--checks", "D08,T01", "--by-manager", folder)
    assert result.exit_code == 2, result.output
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["1-анна.csv", "2-борис.csv", "без-ответственного.csv"]
    rows = {name: list(csv.reader((folder / name).open(encoding="utf-8")))[1:] for name in files}
    assert {r[8] for r in rows["1-анна.csv"]} == {"Анна"}
    assert len(rows["2-борис.csv"]) == 8 and {r[5] for r in rows["без-ответственного.csv"]} == {"30"}
    everything = list(csv.reader(io.StringIO(run_cli("audit", "acme", "--workspace", workspace, "--checks",
                                                     "D08,T01", "--format", "csv").stdout)))[1:]
    assert sum(len(r) for r in rows.values()) == len(everything)


def test_links_go_to_the_record_on_each_crm():
    assert record_link("https://a.amocrm.ru", "contacts", 5) == "https://a.amocrm.ru/contacts/detail/5"
    assert record_link("https://p.bitrix24.ru/", "leads", 7, "bitrix24") == "https://p.bitrix24.ru/crm/deal/details/7/"
    assert record_link("https://p.bitrix24.ru", "users", 3, "bitrix24") == "https://p.bitrix24.ru/company/personal/user/3/"
    assert record_link("https://p.bitrix24.ru", "tasks", 3, "bitrix24") is None  # activities: the parent's card
    assert record_link(None, "leads", 1) is None


def test_history_keeps_the_failing_ids_of_each_run(tmp_path):
    snap = build_snapshot(tmp_path / "snap.sqlite", {"leads": LOST, "tasks": TASKS})
    snap.close()
    options = AuditOptions(only=("D08", "T01", "D12"))
    run_audit(tmp_path / "snap.sqlite", tmp_path / "history.sqlite", tenant="acme", options=options)
    history = History(tmp_path / "history.sqlite")
    try:
        run_id = history.runs()[-1]["id"]
        assert history.failing_ids(run_id, "D08") == {("leads", i) for i in [*range(1, 26), 30]}
        assert history.failing_ids(run_id, "T01") == {("tasks", 70)}
        assert history.failing_ids(run_id, "Z99") is None
    finally:
        history.close()


def test_failing_ids_are_packed_compactly_and_round_trip():
    refs = [("leads", i * 3 + 1_000_000) for i in range(100_000)] + [("config", "pipeline.sales.stage.x"),
                                                                      ("contacts", 5), ("contacts", 5)]
    blob = pack_ids(refs)
    assert unpack_ids(blob) == set(refs)
    assert len(blob) < 2_000  # regular gaps compress to almost nothing (scattered ids: about a byte each)


@pytest.mark.parametrize("refs, binary", [
    ([("leads", 3), ("leads", 1), ("leads", 3), ("events", "e1"), ("contacts", 5)], True),  # twice listed
    ([("leads", -5), ("leads", 2 ** 62), ("leads", 7)], True),  # negative, and a gap wider than 32 bits
    ([("leads", 1), ("leads", 2 ** 8), ("leads", 2 ** 8 + 2 ** 16)], True),  # gaps of one, two, four bytes
    ([("tasks", "a"), ("tasks", 1.5), ("tasks", None), ("tasks", 2)], True),  # other ids, as strings
    ([("leads", 2 ** 70), ("leads", 3)], False),  # beyond 64 bits: the JSON layout
    ([("leads", -2 ** 63), ("leads", 2 ** 63 - 1)], False),  # each fits 64 bits, the gap between them not
    ([], True),
])
def test_every_kind_of_id_round_trips_through_either_layout(refs, binary):
    import numpy as np

    from implkit.audit.history import PACKED, pack_grouped

    expected = {(e, i) if type(i) is int else (e, str(i)) for e, i in refs}  # noqa: E721
    blob = pack_ids(refs)
    assert unpack_ids(blob) == expected
    assert blob.startswith(PACKED) == binary
    ints = [i for e, i in refs if e == "leads" and type(i) is int]  # noqa: E721
    if ints and binary:  # the engine's numpy arrays pack to the same records as lists
        assert unpack_ids(pack_grouped([("leads", np.array(ints, dtype=np.int64))])) == {("leads", i) for i in ints}


def test_histories_written_before_the_binary_layout_still_read(tmp_path):
    """A blob of the original JSON layout (gaps from 0, other ids) reads back as it was written."""
    import json
    import zlib

    old = zlib.compress(json.dumps({"leads": {"d": [5, 2, 10], "o": []}, "config": {"d": [], "o": ["x"]}}).encode(), 9)
    assert unpack_ids(old) == {("leads", 5), ("leads", 7), ("leads", 17), ("config", "x")}


def test_a_worklist_folder_that_cannot_be_made_is_bad_input_and_nothing_is_written(run_cli, workspace, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    out = tmp_path / "report.csv"
    result = run_cli("audit", "acme", "--workspace", workspace, "--format", "csv", "-o", out,
                     "--by-manager", blocker / "worklists")
    assert result.exit_code == 3, result.output
    assert "--by-manager" in result.output and "Traceback" not in result.output
    assert not out.exists()
    assert not (workspace / ".implkit" / "tenants" / "acme" / "audit-history.sqlite").exists()


@pytest.mark.parametrize(("n", "ru", "en"), [(1, "1 запись", "1 record"), (2, "2 записи", "2 records"),
                                             (5, "5 записей", "5 records"), (11, "11 записей", "11 records"),
                                             (21, "21 запись", "21 records"), (24, "24 записи", "24 records"),
                                             (112, "112 записей", "112 records"), (0, "0 записей", "0 records")])
def test_counts_agree_with_their_noun(n, ru, en):
    from implkit.audit.report import counted

    assert counted(n, "records", "ru") == ru and counted(n, "records", "en") == en
