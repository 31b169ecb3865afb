"""Full-sync throughput against amoCRM's rate limit, over loopback HTTP, in real time.

    .venv/bin/python bench/sync.py [--contacts 3000] [--rate 7]

Seeds a sandbox account (`implkit.sandbox.seed`), serves it on 127.0.0.1
with the documented limits (7 requests/s per integration, 429 beyond, with
`Retry-After`), and runs a full `sync` into a fresh snapshot through the
HttpClient and its rate limiter at `--rate`. Prints:

- records/s ÷ (page size 250 × allowed rps) — the bound DESIGN.md names;
  events come 100 a page and small lists less than a page, so this ratio
  cannot reach 1 on a real account;
- rate-bound efficiency: the fewest requests the pages need (records per
  stream ÷ that stream's page size, at least one) at the allowed rps, ÷ the
  sync's wall time — how close the sync runs to the rate limit;
- 429 answers seen by the sandbox and by the client (the target is zero),
  and an incremental re-sync's request count.

Targets: efficiency ≥ 0.9, zero 429s.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from implkit.audit.snapshot import Snapshot  # noqa: E402
from implkit.audit.sync import sync_snapshot  # noqa: E402
from implkit.http import AMOCRM_RATE, BearerToken, HttpClient, RateLimiter  # noqa: E402
from implkit.providers.amocrm.records import AmoRecords  # noqa: E402
from implkit.sandbox import Sandbox, serve_in_thread  # noqa: E402
from implkit.sandbox.seed import seed_account  # noqa: E402

PAGE = 250


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=AMOCRM_RATE,
                        help="the client's rate limit, requests/s (its limiter keeps 5 %% headroom)")
    parser.add_argument("--allowed", type=float, default=7.0, help="the server's limit, requests/s")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="implkit-bench-sync-"))
    sandbox = Sandbox(tmp / "sandbox.db", integration_rps=int(args.allowed))
    account = sandbox.create_account("acme")
    seeded = seed_account(sandbox.store, account, contacts=args.contacts, seed=1)
    with serve_in_thread(sandbox) as root:
        http = HttpClient(root + sandbox.base_url("acme"), auth=BearerToken(sandbox.token("acme")),
                          rate=RateLimiter(args.rate))
        reader = AmoRecords(http)
        with http, Snapshot(tmp / "snapshot.sqlite") as snapshot:
            started = time.monotonic()
            summary = sync_snapshot(reader, snapshot, requests=lambda: http.stats.total)
            seconds = time.monotonic() - started
            full_requests = http.stats.total
            again = sync_snapshot(reader, snapshot, requests=lambda: http.stats.total)
    refused = sum(1 for r in sandbox.request_log("acme") if r["status"] == 429)
    limits = {s.name: s.limit for s in reader.streams}
    minimum = 1 + sum(max(1, math.ceil(s.records / limits[s.name])) for s in summary.streams)  # + GET /account
    rate_bound_seconds = minimum / args.allowed
    per_second = summary.records / seconds
    print(f"seeded {args.contacts} contacts: {seeded.counts['leads']} leads, {seeded.counts['tasks']} tasks, "
          f"{seeded.counts['notes']} notes, {seeded.counts['events']} events")
    print(f"full sync: {summary.records} records, {full_requests} requests, {seconds:.1f} s "
          f"({full_requests / seconds:.2f} requests/s, client limit {args.rate:g}, server allows {args.allowed:g})")
    print(f"records/s ÷ (page {PAGE} × {args.allowed:g} rps) = {per_second:.0f} / {PAGE * args.allowed:.0f} "
          f"= {per_second / (PAGE * args.allowed):.2f}")
    print(f"rate-bound efficiency = ({minimum} requests at {args.allowed:g}/s = {rate_bound_seconds:.1f} s) "
          f"÷ {seconds:.1f} s = {rate_bound_seconds / seconds:.2f}  (target ≥ 0.9)")
    print(f"429 answers: sandbox log {refused}, client saw {http.stats.by_status.get(429, 0)}, "
          f"retries {http.stats.retries}  (target 0)")
    print(f"incremental re-sync with nothing changed: {again.requests - full_requests} requests, "
          f"{again.records} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
