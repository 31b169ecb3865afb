"""Opening a snapshot while another connection reads it never hides a view from the reader."""

from __future__ import annotations

import threading

from implkit.audit.snapshot import Snapshot


def test_reopening_the_snapshot_never_hides_the_touches_view_from_a_reader(tmp_path):
    path = tmp_path / "snapshot.sqlite"
    Snapshot(path).close()
    errors: list[Exception] = []
    stop = threading.Event()

    def read_touches() -> None:
        reader = Snapshot(path, reader=True)
        try:
            while not stop.is_set():
                try:
                    reader.db.execute("SELECT count(*) FROM touches").fetchone()
                except Exception as exc:  # the failure this test exists to catch
                    errors.append(exc)
                    return
        finally:
            reader.close()

    thread = threading.Thread(target=read_touches)
    thread.start()
    try:
        for _ in range(300):  # each open upgrades the schema: drop and re-create the view
            Snapshot(path).close()
    finally:
        stop.set()
        thread.join()
    assert errors == []


def test_a_reader_connection_does_not_create_a_schema(tmp_path):
    path = tmp_path / "empty.sqlite"
    reader = Snapshot(path, reader=True)
    try:
        assert reader.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        reader.close()
