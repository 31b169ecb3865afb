"""CPU seconds of each SQL check's runs on a snapshot: population, the ordered run, the figures.

    .venv/bin/python bench/audit_checks.py SNAPSHOT [CHECK_ID ...] [--checks DIR]

For every SQL check of `audits/` (or the ids given) the runs the engine makes, one at a time on one
connection (no threads, so the figures are the SQL's own), in CPU seconds of this process
(`time.process_time`: the machine may be shared, wall time would measure the neighbours):

- pop: the population query;
- ordered: the check's SQL run once, in its order, into its temp table (engine `_Readers.fill`): what a
  check costs, its sort included;
- tally: count, budget and managers read back from that table;

and a digest of the records in the table, in order (equal digests before and after a rewrite: the same
records in the same order). The engine's shared tables (snapshot.AUDIT_TABLES) the chosen checks read
are built first and timed on their own lines, unless sync stored them in the snapshot for its time.

`--checks DIR` reads the check files of another folder (another checkout's `audits/`), for a
before/after on the same snapshot. Opening the snapshot applies this checkout's schema (its indexes),
so measure on a copy of a shared file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from implkit.audit.checks import Check, load_checks, run_check_sql, sql_parameters  # noqa: E402
from implkit.audit.engine import _Readers, _SqlRecords, audit_tables_of  # noqa: E402
from implkit.audit.snapshot import AUDIT_TABLES, Snapshot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshot")
    parser.add_argument("ids", nargs="*")
    parser.add_argument("--checks", help="The folder of check files to run (default: this checkout's audits/).")
    args = parser.parse_args()
    checks = load_checks(Path(args.checks)) if args.checks else load_checks()
    with Snapshot(Path(args.snapshot)) as snap:
        now = snap.snapshot_at
        readers = _Readers(snap, threaded=False, now=now)
        db, _ = readers.sql
        chosen = [c for c in checks if not c.builtin and c.sql and (not args.ids or c.id in args.ids)
                  and not c.unsupported_reason("amocrm")]
        needed = {name for c in chosen for name in audit_tables_of(c)}
        if readers.stored:  # sync stored them for the snapshot's time: read as they are, nothing to build
            print("tables: stored in the snapshot (Snapshot.build_audit_tables)", flush=True)
        for name in AUDIT_TABLES:  # in dependency order; only those the chosen checks read
            if name in needed and not readers.stored:
                start = time.process_time()
                readers.tables([name])
                print(f"table {name}: {time.process_time() - start:.2f}", flush=True)
        totals = [0.0] * 3
        for check in chosen:
            params = sql_parameters(check, now=now, exempt_stage_ids=[])
            figures = []
            start = time.process_time()
            population = readers_population(readers, check, params)
            figures.append(time.process_time() - start)
            start = time.process_time()
            records = _SqlRecords(readers, check, params)
            figures.append(time.process_time() - start)
            start = time.process_time()
            tally = records.tally()
            figures.append(time.process_time() - start)
            # every record, in order, as a digest (read outside the timing)
            digest = hashlib.sha256()
            for row in db.execute(f"SELECT * FROM {records.table} ORDER BY rowid"):
                digest.update(repr(tuple(row)).encode())
            totals = [a + b for a, b in zip(totals, figures)]
            print(f"{check.id}: pop {figures[0]:.2f} ordered {figures[1]:.2f} tally {figures[2]:.2f}"
                  f"  n={tally.count} population={population} digest={digest.hexdigest()[:12]}", flush=True)
        print("totals pop %.2f ordered %.2f tally %.2f" % tuple(totals))
        readers.close()


def readers_population(readers: _Readers, check: Check, params: dict) -> int | None:
    """The check's population, run as the engine runs it (on the check connection, through its guard)."""
    if not check.population:
        return None
    db, guard = readers.sql
    return run_check_sql(db, guard, check, "population", params).fetchone()[0]


if __name__ == "__main__":
    main()
