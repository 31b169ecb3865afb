"""Check units in a second process (`implkit.audit.lanes`): what the main process reads of them, the
scratch file they leave while the run is open, and a second process that fails or dies.

That a process lane finds what the in-process engine finds, record for record, is the equivalence
test's (`test_audit_engine_equivalence.py`, with `processes=True`)."""

from __future__ import annotations

import dataclasses
import stat
import tempfile
from pathlib import Path

import pytest

from implkit.audit import lanes
from implkit.audit.checks import load_checks
from implkit.audit.engine import AuditOptions, process_lane, run_checks
from implkit.errors import InputError, RuntimeFailure

NOW = 1_700_000_000  # audit_support's now
RECORDS = {
    "leads": [{"id": 1, "created_at": "now-40d", "price": 500, "contacts": [{"id": 5, "is_main": True}]},
              {"id": 2, "created_at": "now-40d"}, {"id": 3, "created_at": "now-2d"}],
    "contacts": [{"id": 5, "name": "Анна Петрова"}],
}


def _checks(*ids):
    by_id = {c.id: c for c in load_checks()}
    return [by_id[i] for i in ids]


@pytest.fixture
def started(monkeypatch):
    """Every process lane the engine starts, as it starts it."""
    made: list[lanes.ProcessLane] = []
    original = lanes.ProcessLane.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)
    monkeypatch.setattr(lanes.ProcessLane, "__init__", spy)
    return made


@pytest.fixture(autouse=True)
def temp_root(tmp_path, monkeypatch):
    """A temp folder of this test's own: the scratch folders it finds there are its lanes' (tests in
    parallel make theirs in the system's)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _own_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("implkit-audit-*")}


def test_a_lane_process_runs_its_units_into_a_private_file_deleted_with_the_run(make_snapshot, started):
    snap = make_snapshot(RECORDS)
    before = _own_folders()
    run = run_checks(snap, load_checks(), AuditOptions(), workers=2, processes=True)
    with run:
        [lane] = started
        folder = lane.readers.folder
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # tenant data: the user's alone
        assert lane._process.returncode == 0  # finished (its results came back), not left running
        assert lane.readers in run._readers  # closed with the run
        d03 = run.result("D03")
        assert d03.count == 2 and sorted(r.id for r in d03.samples(5)) == [1, 2]  # read from its file, here
    assert not folder.exists() and _own_folders() == before


def test_small_snapshots_stay_in_one_process_and_big_ones_start_a_second(make_snapshot, started, monkeypatch):
    snap = make_snapshot(RECORDS)
    run_checks(snap, load_checks(), AuditOptions(), workers=2).close()
    assert started == []  # a third of a second to start one: not for a small snapshot
    monkeypatch.setattr(lanes, "PROCESSES_FROM", snap.path.stat().st_size)
    run_checks(snap, load_checks(), AuditOptions(), workers=2).close()
    assert len(started) == 1


def test_a_lane_runs_sql_checks_and_leaves_the_built_ins_here():
    d03, d10, c01 = _checks("D03", "D10", "C01")
    assert lanes.can_run([d03]) and lanes.can_run([d10])  # D10's required fields become SQL
    assert not lanes.can_run([c01]) and not lanes.can_run([d03, c01])  # the duplicates pass reads this process's
    assert not lanes.can_run([dataclasses.replace(d03, requires=("blueprint",))])  # the lane has no blueprint


@pytest.mark.parametrize("sql", [
    "INSERT INTO scratch.failing_0 (c0) VALUES (9) RETURNING c0 AS id",  # D03's records, filled before
    "CREATE TABLE scratch.mine AS SELECT id FROM leads",
    "DROP TABLE scratch.failing_0",
])
def test_a_check_in_a_lane_cannot_write_its_scratch_file(make_snapshot, sql, english):
    snap = make_snapshot(RECORDS)
    d03, d08 = _checks("D03", "D08")
    lane = process_lane(snap.path, NOW, [], AuditOptions())
    try:
        assert lane.run([d03])[0].count == 2
        with pytest.raises(InputError) as caught:
            lane.run([dataclasses.replace(d08, sql=sql)])
        assert "may only read" in str(caught.value) and "D08.yaml" in str(caught.value)
    finally:
        lane.stop()
        lane.readers.close()


def test_bad_check_sql_in_a_lane_is_the_same_bad_input_and_leaves_nothing(make_snapshot, started, english):
    snap = make_snapshot(RECORDS)
    c01, d08 = _checks("C01", "D08")
    writer = dataclasses.replace(d08, sql="DELETE FROM leads RETURNING id")
    before = _own_folders()
    with pytest.raises(InputError) as caught:  # the duplicates pass stays here: the lane takes the writer
        run_checks(snap, [c01, writer], AuditOptions(), workers=2, processes=True)
    assert "may only read" in str(caught.value) and "D08.yaml" in str(caught.value)
    assert [lane._process.returncode for lane in started] == [0]  # the lane ran it, answered, and stopped
    assert _own_folders() == before
    assert snap.db.execute("SELECT count(*) FROM leads").fetchone()[0] == 3


def test_a_lane_that_dies_is_a_runtime_failure_in_the_users_language(make_snapshot, monkeypatch):
    snap = make_snapshot(RECORDS)
    original = lanes.ProcessLane.__init__

    def killed(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._process.kill()
        self._process.wait()
    monkeypatch.setattr(lanes.ProcessLane, "__init__", killed)
    only_sql = [c for c in load_checks() if lanes.can_run([c]) and c.id.startswith("D")]
    before = _own_folders()
    with pytest.raises(RuntimeFailure) as caught:  # the lane takes the second unit; it cannot run it
        run_checks(snap, only_sql, AuditOptions(), workers=2, processes=True)
    assert "второй процесс аудита неожиданно завершился" in str(caught.value)
    assert _own_folders() == before


def test_a_lane_is_not_handed_the_blueprint_or_the_bindings(make_snapshot):
    """Only the options a SQL check reads cross to the other process (the blueprint stays here)."""
    snap = make_snapshot(RECORDS)
    options = AuditOptions(thresholds={"D03": 5}, bindings={"pipeline.sales": 1}, crm="amocrm")
    lane = process_lane(snap.path, NOW, [], options)
    try:
        [d03] = lane.run(_checks("D03"))
        assert d03.threshold == {"max_count": 5} and d03.status == "pass"  # its threshold crossed
    finally:
        lane.stop()
        lane.readers.close()


def test_ids_read_in_the_lanes_are_the_ids_read_afterwards(make_snapshot, monkeypatch):
    """`run_checks(ids=True)` reads each check's failing ids where it ran (a lane process sends them
    back); the history gets the same ids as when it reads them from the run afterwards."""
    from implkit.audit.history import unpack_ids, pack_grouped

    snap = make_snapshot(RECORDS)
    with run_checks(snap, load_checks(), AuditOptions(), workers=1) as later:
        expected = {r.check.id: unpack_ids(pack_grouped(r.ids_by_entity())) for r in later.results if r.ran}
    with run_checks(snap, load_checks(), AuditOptions(), workers=2, processes=True, ids=True) as prefetched:
        def refused(*args, **kwargs):
            raise AssertionError("the ids were read again after the run")
        monkeypatch.setattr("implkit.audit.engine._SqlRecords.ids_by_entity", refused)
        got = {r.check.id: unpack_ids(pack_grouped(r.ids_by_entity())) for r in prefetched.results if r.ran}
    assert got == expected and any(expected.values())


def test_a_run_never_closed_leaves_no_scratch_folder_once_collected(make_snapshot, started):
    import gc

    snap = make_snapshot(RECORDS)
    run = run_checks(snap, load_checks(), AuditOptions(), workers=2, processes=True)
    [lane] = started
    folder = lane.readers.folder
    assert folder.is_dir()
    del run, lane, started[:]
    gc.collect()
    assert not folder.exists()
