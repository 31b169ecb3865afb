"""Benchmark: seed an emulated amoCRM account and print rows/second per table and in total.

    .venv/bin/python bench/sandbox_seed.py                      # 100,000 contacts
    .venv/bin/python bench/sandbox_seed.py --contacts 1000000   # the scale run

Per table: rows, seconds spent in `Store.bulk_insert` for that table, rows per
second of that insert time, and rows per second of the whole seeding time
(generation included). Wall-clock and CPU seconds are both printed: on a
shared machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from implkit.sandbox.amocrm.models import bootstrap_account  # noqa: E402
from implkit.sandbox.amocrm.seed import seed_account  # noqa: E402
from implkit.sandbox.store import Store  # noqa: E402


class TimedStore(Store):
    """A Store that accounts the time and rows of every bulk insert, per table."""

    def __init__(self, path):
        self.insert_seconds: dict[str, float] = defaultdict(float)
        super().__init__(path)

    def bulk_insert(self, table, rows, *, chunk=5000):
        started = time.perf_counter()
        count = super().bulk_insert(table, rows, chunk=chunk)
        self.insert_seconds[table] += time.perf_counter() - started
        return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="SQLite file to seed (default: a temporary one, removed afterwards)")
    parser.add_argument("--truth", help="where to write the ground-truth JSON (default: next to the database)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="implkit-bench-") as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "sandbox.db"
        truth = Path(args.truth) if args.truth else db.with_suffix(".truth.json")
        store = TimedStore(db)
        account = bootstrap_account(store, f"bench{int(time.time())}")
        wall, cpu = time.perf_counter(), time.process_time()
        summary = seed_account(store, account, contacts=args.contacts, seed=args.seed, ground_truth_path=truth)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

        rows = []
        total = 0
        for table, count in sorted(summary.counts.items(), key=lambda kv: -kv[1]):
            insert = store.insert_seconds.get(table, 0.0)
            total += count
            rows.append([table, f"{count:,}", f"{insert:.2f}", f"{count / insert:,.0f}" if insert else "-",
                         f"{count / wall:,.0f}"])
        rows.append(["total", f"{total:,}", f"{sum(store.insert_seconds.values()):.2f}", "",
                     f"{total / wall:,.0f}"])
        print(f"seed_account: {args.contacts:,} contacts, seed {args.seed}")
        print(tabulate(rows, headers=["table", "rows", "insert s", "rows/s (insert)", "rows/s (overall)"],
                       colalign=("left", "right", "right", "right", "right")))
        print(f"total: {wall:.1f} s wall, {cpu:.1f} s CPU, {total / wall:,.0f} records/s "
              f"({total / cpu:,.0f} per CPU second); database {db.stat().st_size / 1e6:,.0f} MB")
        print("planted: " + ", ".join(f"{k} {v}" for k, v in summary.defects.items()))
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
