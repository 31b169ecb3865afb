"""`private_file` makes a file 0600 without ever opening one that exists: closing any descriptor of a SQLite
database drops every POSIX lock this process holds on it, so another thread's transaction would lose its lock
(a fleet's plan opens its neighbours' state while their own threads write it)."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys

from implkit.files import private_file

_WRITE_FROM_ANOTHER_PROCESS = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
try:
    db.execute("BEGIN IMMEDIATE")
except sqlite3.OperationalError as error:
    print("refused:", error)
else:
    print("got the write lock")
"""


def test_a_held_write_lock_survives_private_file(tmp_path):
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    private_file(path)            # as a second StateStore of the same file, in this process, does first
    other = subprocess.run([sys.executable, "-c", _WRITE_FROM_ANOTHER_PROCESS, str(path)], capture_output=True,
                           text=True, timeout=60)
    holder.execute("COMMIT")
    assert other.stdout.startswith("refused: database is locked"), other.stdout + other.stderr


def test_it_creates_a_missing_file_0600_and_tightens_an_existing_one(tmp_path):
    fresh = private_file(tmp_path / "new" / "state.db")
    assert fresh.exists() and stat.S_IMODE(fresh.stat().st_mode) == 0o600
    old = tmp_path / "old.db"
    old.write_text("kept")
    os.chmod(old, 0o644)
    companion = tmp_path / "old.db-wal"
    companion.write_text("")
    os.chmod(companion, 0o644)
    private_file(old)
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and stat.S_IMODE(companion.stat().st_mode) == 0o600
    assert old.read_text() == "kept"
