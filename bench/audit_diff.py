"""CPU seconds and peak memory of `implkit audit diff` (the history comparison every audit report carries)
at the size of a 1M + 1M account, against reading the two audits' packed ids once.

    .venv/bin/python bench/audit_diff.py [--scale 1.0] [--format table,json] [--keep DIR]

Builds an audit history of two runs (not timed): the checks and failing counts of the seeded 1M contacts +
1M leads account (bench/audit_scale.py; about 6.4 million failing records per run over 28 checks, most
of them leads and contacts, a few with records of another type, one with string ids), each check's
records 80% still open, 10% new and 10% fixed, ids scattered over their table's id range; one check
changed its rule between the runs and one did not run before. The ids are packed by the history's own
`pack_ids`, so the blobs are the ones `implkit audit` writes.

Then, each in a fresh child process (so its peak memory is its own):

- the bound: every failing blob of the two runs decompressed and decoded once (`history.decode_ids`): no
  comparison can read the history faster;
- for each --format: `audit_diff` and `render_diff` as the `audit diff` command runs them, in CPU seconds
  (user + system, which a machine shared with other work does not inflate), the ratio to the bound, the
  peak resident memory, and the totals (new / fixed / still open) so two runs can be compared.

Targets (issue #19, the diff's part): the whole diff of a table report in ≤ 2 s CPU and ≤ 500 MB at 1M + 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (check, record type, failing records per run at 1M + 1M: bench/audit_scale.py's seeded account, checks
# whose ids the history keeps — failing or passing with a count); the id range is the record type's table
CHECKS = [("D01", "leads", 343_393), ("D02", "leads", 164_168), ("D03", "leads", 727_203),
          ("D04", "leads", 605_561), ("D05", "leads", 124_924), ("D06", "leads", 873_694),
          ("D07", "leads", 872_893), ("D08", "leads", 62_673), ("D09", "leads", 31_567),
          ("D10", "leads", 112_398), ("D12", "leads", 72_912), ("D13", "leads", 394_385),
          ("D15", "leads", 300_247), ("D17", "leads", 156_535), ("C01", "contacts", 1_298),
          ("C02", "contacts", 94), ("C03", "contacts", 1_290), ("C06", "contacts", 1_111),
          ("C07", "contacts", 223_676), ("C08", "contacts", 28_162), ("C09", "contacts", 36_644),
          ("C10", "contacts", 103_508), ("C11", "contacts", 998_989), ("C14", "contacts", 39_908),
          ("T01", "tasks", 164_168), ("T02", "tasks", 112_435), ("U03", "users", 1), ("F01", "config", 4)]
TABLES = {"leads": 1_000_000, "contacts": 1_000_000, "tasks": 1_100_000, "users": 30, "companies": 300_000}
OTHER = {"C01": "companies", "C03": "companies"}  # duplicates: a contact's pair may be a company
REDEFINED, NOT_RUN_BEFORE = "D13", "D17"


def _refs(rng, check: str, entity: str, count: int, scale: float) -> tuple[list, list]:
    """(before, after): the check's (entity, id) records in each run, 80% shared, 10% only before, 10% only
    after."""
    import numpy as np

    if entity == "config":  # string ids (the blueprint's keys)
        keys = [f"pipeline.sales.stage.{i}" for i in range(count * 2)]
        return [(entity, k) for k in keys[:count]], [(entity, k) for k in keys[1:count + 1]]
    table = max(int(TABLES[entity] * scale), 2)
    total = min(max(round(count * scale / 0.9), 1), table)
    ids = (rng.choice(table, total, replace=False) * 3 + 1_000_000).tolist()  # scattered over the table's ids
    shared, fixed, new = ids[:total * 8 // 10], ids[total * 8 // 10:total * 9 // 10], ids[total * 9 // 10:]
    refs = ([(entity, i) for i in shared + fixed], [(entity, i) for i in shared + new])
    if check in OTHER:  # every tenth record of another type
        for run in refs:
            run.extend((OTHER[check], i) for _, i in run[::10])
    return refs


def build(path: Path, scale: float) -> int:
    """The history file with two runs; returns the failing records of the later run."""
    import numpy as np

    from implkit.audit.history import History, pack_ids

    rng = np.random.default_rng(19)
    history = History(path)
    db = history.db
    db.execute("BEGIN")
    for run_id in (1, 2):
        db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)", (run_id, 1_800_000_000 + run_id * 7 * 86400,
                                                                 1_800_000_000 + run_id * 7 * 86400,
                                                                 len(CHECKS), 20, 5))
    records = 0
    for check, entity, count in CHECKS:
        before, after = _refs(rng, check, entity, count, scale)
        records += len(after)
        for run_id, refs in ((1, before), (2, after)):
            if run_id == 1 and check == NOT_RUN_BEFORE:
                continue
            identity = f"{check}-v{run_id}" if check == REDEFINED else f"{check}-v1"
            db.execute("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (run_id, check, identity, "warning", "fail", len(refs), TABLES.get(entity), None))
            db.execute("INSERT INTO failing VALUES (?, ?, ?)", (run_id, check, pack_ids(refs)))
    db.execute("COMMIT")
    history.close()
    return records


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(path: Path, what: str) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    import sqlite3

    from implkit.audit.diff import audit_diff, render_diff
    from implkit.audit.history import History, decode_ids

    start, wall = cpu(), time.perf_counter()
    out: dict = {}
    if what == "build":
        out["records"] = build(path, float(os.environ["BENCH_SCALE"]))
    elif what == "bound":
        db = sqlite3.connect(str(path))
        ids = 0
        for (blob,) in db.execute("SELECT ids FROM failing"):  # either layout, decoded once (history.decode_ids)
            for ints, others in decode_ids(blob).values():
                ids += len(ints) + len(others)
        db.close()
        out["ids"] = ids
    else:
        history = History(path)
        entities = {check: entity for check, entity, _ in CHECKS}
        result = audit_diff(history, check_entities=entities, **_every_id(what))
        out["diff_cpu"] = cpu() - start
        text = render_diff(result, what, "ru", "bench")
        out["chars"] = len(text)
        out["totals"] = result["totals"]
        history.close()
    out["cpu"], out["wall"] = cpu() - start, time.perf_counter() - wall
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _every_id(fmt: str) -> dict:
    """As `implkit audit diff` asks: the labels made as the format reads them (the diff before this
    option made them all)."""
    import inspect

    from implkit.audit.diff import audit_diff

    return {"every_id": False} if "every_id" in inspect.signature(audit_diff).parameters else {}


def measure(path: Path, what: str, scale: float = 1.0) -> dict:
    """`what` in a child process: Linux counts the RSS a parent had when it started a child in the child's
    peak, so this process stays small and even the build runs apart."""
    done = subprocess.run([sys.executable, __file__, "--child", what, str(path)], capture_output=True, text=True,
                          env={**os.environ, "BENCH_SCALE": str(scale)})
    if done.returncode:
        sys.exit(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: the failing records of 1M + 1M")
    parser.add_argument("--format", default="table,json", help="comma-separated: table, md, html, json, csv")
    parser.add_argument("--keep", type=Path, help="build the history here once and reuse it")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child[1]), args.child[0])
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        path = folder / f"diff-history-{args.scale:g}.sqlite"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            built = measure(path, "build", args.scale)
            print(f"history built in {built['wall']:.1f} s: {built['records']:,} failing records in the"
                  f" later run, {len(CHECKS)} checks, {path.stat().st_size / 1e6:.1f} MB", flush=True)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        bound = measure(path, "bound")
        print(f"bound (decompress + decode both runs' blobs once): {bound['cpu']:.2f} s CPU, {bound['ids']:,} ids,"
              f" peak {bound['peak_mb']:.0f} MB", flush=True)
        for fmt in args.format.split(","):
            got = measure(path, fmt)
            print(f"{fmt}: audit_diff {got['diff_cpu']:.2f} s CPU, with render_diff {got['cpu']:.2f} s CPU"
                  f" ({got['wall']:.2f} s wall) = {got['cpu'] / bound['cpu']:.1f}× the bound; peak"
                  f" {got['peak_mb']:.0f} MB; {got['chars']:,} characters; totals {got['totals']}", flush=True)


if __name__ == "__main__":
    main()
