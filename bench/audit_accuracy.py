"""Precision and recall of every check on a seeded sandbox account.

    .venv/bin/python bench/audit_accuracy.py [--contacts 2000] [--seed 7]
    .venv/bin/python bench/audit_accuracy.py --crm bitrix24 [--deals 3000] [--seed 7]

Seeds an amoCRM sandbox account (`implkit.sandbox.amocrm.seed`) or a Bitrix24
portal (`implkit.sandbox.bitrix24.seed`) with planted defects and their
ground truth, syncs it into a snapshot exactly as `implkit sync` does
(amoCRM over loopback HTTP, Bitrix24 in-process), runs every check, and
prints per check the records expected, reported, true positives, precision
and recall, then which checks the CRM cannot run and why. The sandbox's
rate limits are raised for the run: these are accuracy figures, not times
(bench/sync.py measures the sync under the real limit).

    .venv/bin/python bench/audit_accuracy.py --messy [--seed N] [--deals 200]

Targets: deterministic checks 1.0 / 1.0; duplicates (C01–C04) ≥ 0.98.

`--messy`: an account filled the way people fill one (`implkit.sandbox.messy`:
hand-typed formats, people entered twice, office phones on the employees'
cards, links made later through `/link`, stage renames, pipeline moves, edits
by several users, future-dated `updated_at`, a manager who left), written into
an amoCRM account and a Bitrix24 portal from the same facts, synced over the
API in-process, audited; the truth comes from the generator's facts, not from
the checks. Prints precision and recall per check and CRM, which checks are
asserted (deterministic), which only reported, and which are unsupported on a
CRM and why. A random seed when none is given (printed: rerun with --seed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from implkit.audit.accuracy import misses, score_run, truth_parameters  # noqa: E402
from implkit.audit.checks import load_checks  # noqa: E402
from implkit.audit.engine import AuditOptions, run_checks  # noqa: E402
from implkit.audit.snapshot import Snapshot  # noqa: E402
from implkit.audit.sync import sync_snapshot  # noqa: E402
from implkit.http import BearerToken, HttpClient, RateLimiter  # noqa: E402
from implkit.providers.amocrm.records import AmoRecords  # noqa: E402
from implkit.sandbox import Sandbox, serve_in_thread  # noqa: E402
from implkit.sandbox.amocrm.seed import seed_account  # noqa: E402

DUPLICATES = ("C01", "C02", "C03", "C04")


def messy_audit(crm: str, seed: int, deals: int, folder: Path, now: int = 1_800_000_000):
    """(audit run, ground truth, tables that differ) of a messy account of `deals` deals on `crm`.

    amoCRM is synced twice: in full when a third of the history is left to happen, then incrementally
    at `now` — the run audits that incremental snapshot, and the tables where it differs from a fresh
    full sync are returned (none, if the sync never goes stale). Bitrix24: one full sync."""
    from implkit.http.asgi import SyncASGITransport
    from implkit.sandbox.app import Clock
    from implkit.sandbox.messy import generate, ground_truth

    folder.mkdir(parents=True, exist_ok=True)
    facts = generate(seed, deals=deals, now=now)
    clock = Clock()
    clock.freeze(now)  # the sandbox answers (Date, time.start) at the facts' "now"
    sandbox = Sandbox(folder / "sandbox.db", integration_rps=10_000, account_rps=10_000, clock=clock)
    transport = SyncASGITransport(sandbox.app)
    try:
        if crm == "amocrm":
            from implkit.sandbox.amocrm.messy import write_amocrm

            account = sandbox.create_account("messy")
            midway = now - (now - min(d.created for d in facts.deals)) // 3
            clock.freeze(midway)
            ids = write_amocrm(sandbox.store, account, facts, until=midway)
            http = HttpClient("http://sandbox" + sandbox.base_url("messy"), auth=BearerToken(sandbox.token("messy")),
                              rate=RateLimiter(10_000), transport=transport)
            reader = AmoRecords(http)
            with Snapshot(folder / f"{crm}.sqlite") as snapshot:
                sync_snapshot(reader, snapshot, clock=lambda: midway)
            clock.freeze(now)
            ids = write_amocrm(sandbox.store, account, facts, ids=ids)
        else:
            from implkit.providers.bitrix24 import open_records
            from implkit.sandbox.bitrix24.messy import write_bitrix24

            portal = sandbox.create_portal("messy")
            ids = write_bitrix24(sandbox.store, portal, facts)
            webhook = "/".join(sandbox.webhook_url("messy").rstrip("/").split("/")[-2:])
            reader = open_records("http://sandbox/bitrix24/messy", webhook, transport=transport,
                                  rate=RateLimiter(10_000))
        with Snapshot(folder / f"{crm}.sqlite") as snapshot:
            sync_snapshot(reader, snapshot, clock=lambda: now)
            truth = ground_truth(facts, ids, crm)
            # the account's regulation (D09's stages) set as its tenant would: audit.parameters
            run = run_checks(snapshot, load_checks(), AuditOptions(crm=crm, parameters=truth_parameters(truth)))
            with Snapshot(folder / f"{crm}-fresh.sqlite") as fresh:
                sync_snapshot(reader, fresh, clock=lambda: now)
                ours, theirs = snapshot.contents(), fresh.contents()
        differ = sorted(table for table in theirs if ours[table] != theirs[table])
        return run, truth, differ
    finally:
        transport.shutdown()
        sandbox.close()


def print_messy(seed: int, deals: int) -> int:
    """Score both CRMs; exit 1 when a deterministic check is below 1.0 / 1.0."""
    below = 0
    print(f"messy account: seed {seed}, {deals} deals (replay: --messy --seed {seed} --deals {deals})")
    for crm in ("amocrm", "bitrix24"):
        run, truth, differ = messy_audit(crm, seed, deals, Path(tempfile.mkdtemp(prefix=f"implkit-messy-{crm}-")))
        below += bool(differ)
        print(f"\n{crm}: the audited snapshot " + (f"DIFFERS from a fresh full sync in {', '.join(differ)}"
                                                     if differ else "equals a fresh full sync"))
        print(f"{'check':<6} {'expected':>8} {'reported':>8} {'tp':>6} {'precision':>9} {'recall':>7}")
        for score in score_run(run, truth):
            asserted = score.check_id in truth["deterministic"]
            ok = score.precision == 1.0 and score.recall == 1.0
            below += asserted and not ok
            note = "" if ok else ("  BELOW 1.0" if asserted else "  (reported only)")
            print(f"{score.check_id:<6} {score.expected:>8} {score.reported:>8} {score.true_positives:>6} "
                  f"{score.precision:>9.3f} {score.recall:>7.3f}{note}")
            if not ok:
                print(f"       {misses(run, truth, score.check_id)}")
                lookalikes = truth["defects"][score.check_id].get("indistinguishable")
                if lookalikes:  # two people no CRM data tells apart (implkit.sandbox.messy._lookalikes)
                    print(f"       two people indistinguishable by the CRM's data (not a check error): {lookalikes}")
        for check_id, why in truth["unsupported"].items():
            result = run.result(check_id)
            print(f"{check_id:<6} unsupported on {crm}: {why} (audit says: {result.status})")
        not_scored = sorted(r.check.id for r in run.results if r.check.id not in truth["defects"]
                            and r.check.id not in truth["unsupported"])
        print(f"no truth in the facts (not scored): {', '.join(not_scored)}")
    return 1 if below else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crm", choices=["amocrm", "bitrix24"], default="amocrm")
    parser.add_argument("--contacts", type=int, default=2000, help="amoCRM: contacts to seed")
    parser.add_argument("--seed", type=int, default=None, help="default 7; --messy: a random one, printed")
    parser.add_argument("--now", type=int, default=1_800_000_000)
    parser.add_argument("--messy", action="store_true", help="score on a messy account, amoCRM and Bitrix24")
    parser.add_argument("--deals", type=int, default=None, help="Bitrix24: deals to seed (3000); --messy: deals (200)")
    args = parser.parse_args()
    if args.messy:
        import random

        return print_messy(args.seed if args.seed is not None else random.SystemRandom().randrange(10 ** 6),
                           args.deals or 200)
    args.deals = args.deals or 3000
    args.seed = 7 if args.seed is None else args.seed
    tmp = Path(tempfile.mkdtemp(prefix="implkit-audit-accuracy-"))
    run, truth = bitrix24(args, tmp) if args.crm == "bitrix24" else amocrm(args, tmp)
    return report(run, truth)


def bitrix24(args, tmp: Path):
    from implkit.http.asgi import SyncASGITransport
    from implkit.providers.bitrix24 import open_records
    from implkit.sandbox.bitrix24.seed import seed_portal

    sandbox = Sandbox(tmp / "sandbox.db", clock=frozen_clock(args.now))
    portal = sandbox.create_portal("acme")
    summary = seed_portal(sandbox.store, portal, deals=args.deals, seed=args.seed, now=args.now)
    truth = summary.ground_truth
    webhook = "/".join(sandbox.webhook_url("acme").rstrip("/").split("/")[-2:])
    transport = SyncASGITransport(sandbox.app)
    try:
        reader = open_records("http://sandbox/bitrix24/acme", webhook, transport=transport,
                              rate=RateLimiter(10_000))
        with Snapshot(tmp / "snapshot.sqlite") as snapshot:
            sync = sync_snapshot(reader, snapshot, clock=lambda: args.now,
                                 requests=lambda: reader.api.http.stats.total)
            snapshot.set_meta(snapshot_at=args.now)
            run = run_checks(snapshot, load_checks(), AuditOptions(crm="bitrix24"))
    finally:
        transport.shutdown()
        sandbox.close()
    print(f"seeded {args.deals} deals (seed {args.seed}): {summary.counts['contacts']} contacts, "
          f"{summary.counts['activities']} activities; synced {sync.records} records in {sync.requests} requests")
    return run, truth


def frozen_clock(now: int):
    """The account's clock (Date, time.start) at the seed's "now": the sync takes its time from the server."""
    from implkit.sandbox.app import Clock

    clock = Clock()
    clock.freeze(now)
    return clock


def amocrm(args, tmp: Path):
    sandbox = Sandbox(tmp / "sandbox.db", integration_rps=10_000, account_rps=10_000, clock=frozen_clock(args.now))
    account = sandbox.create_account("acme")
    summary = seed_account(sandbox.store, account, contacts=args.contacts, seed=args.seed, now=args.now)
    truth = summary.ground_truth
    with serve_in_thread(sandbox) as root:
        http = HttpClient(root + sandbox.base_url("acme"), auth=BearerToken(sandbox.token("acme")),
                          rate=RateLimiter(10_000))
        with http, Snapshot(tmp / "snapshot.sqlite") as snapshot:
            sync = sync_snapshot(AmoRecords(http), snapshot, clock=lambda: args.now,
                                 requests=lambda: http.stats.total)
            run = run_checks(snapshot, load_checks(), AuditOptions(parameters=truth_parameters(truth)))
    print(f"seeded {args.contacts} contacts (seed {args.seed}): {summary.counts['leads']} leads, "
          f"{summary.counts['tasks']} tasks, {summary.counts['events']} events; synced {sync.records} records "
          f"in {sync.requests} requests")
    return run, truth


def report(run, truth) -> int:
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
        if "groups" not in details:
            continue
        print(f"{check_id}: {details['groups']} groups, {details['compared_pairs']:,} pairs compared in "
              f"{details['blocks']} blocks (largest {details['largest_block']}), "
              f"{len(details['truncated_blocks'])} big blocks compared by sorted neighbourhood")
    not_scored = sorted(r.check.id for r in run.results if r.check.id not in truth["defects"] and r.ran)
    print(f"not planted by the seeder (nothing to score): {', '.join(not_scored)}")
    for r in run.results:
        if r.status in ("unsupported", "skipped"):
            print(f"{r.status} {r.check.id}: {' '.join(r.reason.split())}")
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
