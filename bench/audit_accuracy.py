"""Precision and recall of every check on a seeded sandbox account.

    .venv/bin/python bench/audit_accuracy.py [--contacts 2000] [--seed 7]

Seeds an amoCRM sandbox account with planted defects and their ground
truth (`implkit.sandbox.seed`), syncs it over loopback HTTP into a snapshot
exactly as `implkit sync` does, runs every check, and prints per check the
records expected, reported, true positives, precision and recall. The
sandbox's rate limits are raised for the run: these are accuracy figures,
not times (bench/sync.py measures the sync under the real limit).

Targets: deterministic checks 1.0 / 1.0; duplicates (C01–C04) ≥ 0.98.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from implkit.audit.accuracy import misses, score_run  # noqa: E402
from implkit.audit.checks import load_checks  # noqa: E402
from implkit.audit.engine import AuditOptions, run_checks  # noqa: E402
from implkit.audit.snapshot import Snapshot  # noqa: E402
from implkit.audit.sync import sync_snapshot  # noqa: E402
from implkit.http import BearerToken, HttpClient, RateLimiter  # noqa: E402
from implkit.providers.amocrm.records import AmoRecords  # noqa: E402
from implkit.sandbox import Sandbox, serve_in_thread  # noqa: E402
from implkit.sandbox.seed import seed_account  # noqa: E402

DUPLICATES = ("C01", "C02", "C03", "C04")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", type=int, default=1_800_000_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="implkit-audit-accuracy-"))
    sandbox = Sandbox(tmp / "sandbox.db", integration_rps=10_000, account_rps=10_000)
    account = sandbox.create_account("acme")
    summary = seed_account(sandbox.store, account, contacts=args.contacts, seed=args.seed, now=args.now)
    truth = summary.ground_truth
    with serve_in_thread(sandbox) as root:
        http = HttpClient(root + sandbox.base_url("acme"), auth=BearerToken(sandbox.token("acme")),
                          rate=RateLimiter(10_000))
        with http, Snapshot(tmp / "snapshot.sqlite") as snapshot:
            sync = sync_snapshot(AmoRecords(http), snapshot, clock=lambda: args.now,
                                 requests=lambda: http.stats.total)
            run = run_checks(snapshot, load_checks(), AuditOptions())
    print(f"seeded {args.contacts} contacts (seed {args.seed}): {summary.counts['leads']} leads, "
          f"{summary.counts['tasks']} tasks, {summary.counts['events']} events; synced {sync.records} records "
          f"in {sync.requests} requests")
    print(f"{'check':<6} {'expected':>8} {'reported':>8} {'tp':>6} {'precision':>9} {'recall':>7}")
    worst = 0
    for score in score_run(run, truth):
        floor = 0.98 if score.check_id in DUPLICATES else 1.0
        ok = score.precision >= floor and score.recall >= floor
        worst += not ok
        print(f"{score.check_id:<6} {score.expected:>8} {score.reported:>8} {score.true_positives:>6} "
              f"{score.precision:>9.3f} {score.recall:>7.3f}{'' if ok else '  below target'}")
        if not ok:
            print(f"       {misses(run, truth, score.check_id)}")
    for check_id in DUPLICATES:
        details = run.result(check_id).details
        print(f"{check_id}: {details['groups']} groups, {details['compared_pairs']:,} pairs compared in "
              f"{details['blocks']} blocks (largest {details['largest_block']}), "
              f"{len(details['truncated_blocks'])} big blocks compared by sorted neighbourhood")
    not_scored = sorted(r.check.id for r in run.results if r.check.id not in truth["defects"])
    print(f"not planted by the seeder (nothing to score): {', '.join(not_scored)}")
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
