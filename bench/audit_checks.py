"""CPU seconds of each SQL check's runs on a snapshot: population, tally, head and the whole ordered run.

    .venv/bin/python bench/audit_checks.py SNAPSHOT [CHECK_ID ...] [--checks DIR]

For every SQL check of `audits/` (or the ids given) the runs the engine makes, one at a time on one
connection (no threads, so the figures are the SQL's own), in CPU seconds of this process
(`time.process_time`: the machine may be shared, wall time would measure the neighbours):

- pop: the population query;
- tally: the engine's `GROUP BY responsible_user_id` over the check's SQL without its ORDER BY;
- head: the engine's ordered run read as far as the samples and every manager's first record;
- ordered: the check's whole ordered SQL written into a temp table (what a run that keeps every record
  of a check costs: its sort included), and a digest of those records in order (equal digests before
  and after a rewrite: the same records in the same order).

The engine's shared tables (snapshot.AUDIT_TABLES) are built first and timed on their own lines.
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

from implkit.audit.checks import load_checks, sql_parameters  # noqa: E402
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
        db, guard = readers.sql
        chosen = [c for c in checks if not c.builtin and c.sql and (not args.ids or c.id in args.ids)
                  and not c.unsupported_reason("amocrm")]
        needed = {name for c in chosen for name in audit_tables_of(c)}
        for name in AUDIT_TABLES:  # in dependency order; only those the chosen checks read
            if name in needed:
                start = time.process_time()
                readers.tables([name])
                print(f"table {name}: {time.process_time() - start:.2f}", flush=True)
        totals = [0.0] * 4
        for check in chosen:
            params = sql_parameters(check, now=now, exempt_stage_ids=[])
            records = _SqlRecords(readers, check, params, now)
            figures = []
            start = time.process_time()
            population = records.run("population").fetchone()[0] if check.population else None
            figures.append(time.process_time() - start)
            start = time.process_time()
            tally = records.tally()
            figures.append(time.process_time() - start)
            start = time.process_time()
            records.head(check.samples)
            figures.append(time.process_time() - start)
            start = time.process_time()
            with guard.engine_tables(db):
                db.execute("DROP TABLE IF EXISTS temp.bench_ordered")
                db.execute(f"CREATE TEMP TABLE bench_ordered AS {check.sql}", params)
            figures.append(time.process_time() - start)
            # every record, in order, as a digest: the same figure before and after a rewrite means the
            # same records in the same order (read outside the timing)
            digest, kept = hashlib.sha256(), 0
            for row in db.execute("SELECT * FROM temp.bench_ordered ORDER BY rowid"):
                digest.update(repr(tuple(row)).encode())
                kept += 1
            with guard.engine_tables(db):
                db.execute("DROP TABLE temp.bench_ordered")
            assert kept == tally.count, (check.id, kept, tally.count)
            totals = [a + b for a, b in zip(totals, figures)]
            print(f"{check.id}: pop {figures[0]:.2f} tally {figures[1]:.2f} head {figures[2]:.2f}"
                  f" ordered {figures[3]:.2f}  n={tally.count} population={population}"
                  f" digest={digest.hexdigest()[:12]}", flush=True)
        print("totals pop %.2f tally %.2f head %.2f ordered %.2f" % tuple(totals))
        readers.close()


if __name__ == "__main__":
    main()
