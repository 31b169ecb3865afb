"""A fleet run: sync + audit of many sandbox tenants at once, against one at a time and the rate-limit bound.

    .venv/bin/python bench/fleet.py [--tenants 50] [--jobs 8] [--contacts 30] [--allowed 7] [--backend local]

Seeds `--tenants` sandbox amoCRM accounts (`implkit.sandbox.amocrm.seed`, `--contacts`
each), registers them as tenants of one workspace, serves them on 127.0.0.1
with the documented limit (`--allowed` requests/s per integration; each
account is its own integration, so each has its own budget), and then:

1. syncs (full) and audits every tenant one at a time, timing each: the sum
   of single-tenant times;
2. syncs (full) and audits them all again with `--jobs` tenants at once, the
   way `implkit sync --all --jobs N` does (each tenant under its lock, within
   its own rate limit): the fleet's wall time.

Prints both, their ratio, and the rate-limit bounds: the requests each
tenant's sync needed at `--allowed` per second — the slowest tenant alone
(the bound if all 50 ran at once) and the sum over `--jobs` lanes (the bound
with `--jobs` at once). The audit is CPU work on the local snapshot, which
the 2-core machine caps no matter how many jobs run.

`--backend postgres` keeps state, locks and audit history in the PostgreSQL
of $IMPLKIT_STATE_URL (snapshots stay local files).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from implkit.audit import HISTORY_FILE, SNAPSHOT_FILE, AuditOptions, run_audit  # noqa: E402
import implkit.commands.audit as audit_commands  # noqa: E402
from implkit.commands.audit import sync_one  # noqa: E402
from implkit.sandbox import Sandbox, serve_in_thread  # noqa: E402
from implkit.sandbox.amocrm.seed import seed_account  # noqa: E402
from implkit.workspace import CredentialSource, Workspace, init_workspace  # noqa: E402


def one_tenant(ws: Workspace, name: str) -> tuple[float, int]:
    """Full sync then audit of one tenant: (seconds, sync requests)."""
    started = time.perf_counter()
    synced = sync_one(str(ws.root), name, True)
    folder = ws.tenant_dir(name)
    run_audit(folder / SNAPSHOT_FILE, ws.backend.history(name, folder) or folder / HISTORY_FILE, tenant=name,
              options=AuditOptions(crm="amocrm"), fmt="json")
    return time.perf_counter() - started, synced.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--contacts", type=int, default=30, help="seeded contacts per account")
    parser.add_argument("--allowed", type=int, default=7, help="the server's limit per integration, requests/s")
    parser.add_argument("--backend", choices=["local", "postgres"], default="local")
    args = parser.parse_args()
    logging.getLogger("implkit.http").setLevel(logging.ERROR)
    audit_commands._stderr = lambda message: None  # the per-page progress of 50 syncs: the figures are below
    tmp = Path(tempfile.mkdtemp(prefix="implkit-bench-fleet-"))
    sandbox = Sandbox(tmp / "sandbox.db", integration_rps=args.allowed)
    ws = init_workspace(tmp / "ws")
    if args.backend == "postgres":
        config = ws.config_path
        config.write_text(config.read_text() + "state: {backend: postgres}\n")
        ws = Workspace.load(ws.root)
    names = [f"shop-{i:03d}" for i in range(args.tenants)]
    started = time.perf_counter()
    with serve_in_thread(sandbox) as root:
        for i, name in enumerate(names):
            account = sandbox.create_account(name)
            seed_account(sandbox.store, account, contacts=args.contacts, seed=i + 1)
            token = tmp / f"{name}.token"
            token.write_text(sandbox.token(name) + "\n")
            token.chmod(0o600)
            ws.add_tenant(name, provider="amocrm", url=root + sandbox.base_url(name),
                          credentials=CredentialSource("file", path=token))
        print(f"seeded {args.tenants} accounts × {args.contacts} contacts in {time.perf_counter() - started:.1f} s; "
              f"server {args.allowed} requests/s per integration; state backend {ws.backend.describe()}")
        single: dict[str, tuple[float, int]] = {}
        for name in names:
            single[name] = one_tenant(ws, name)
        print(f"one at a time: {sum(t for t, _ in single.values()):.1f} s in all "
              f"(slowest tenant {max(t for t, _ in single.values()):.2f} s)", flush=True)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            fleet = dict(zip(names, pool.map(lambda n: one_tenant(ws, n), names)))
        wall = time.perf_counter() - started
    total_single = sum(t for t, _ in single.values())
    requests = {name: r for name, (_, r) in fleet.items()}
    slowest_bound = max(requests.values()) / args.allowed
    lanes = [0.0] * args.jobs  # the sync requests dealt to `jobs` lanes, longest first (a lower bound)
    for r in sorted(requests.values(), reverse=True):
        lanes[lanes.index(min(lanes))] += r / args.allowed
    print(f"tenants {args.tenants}, jobs {args.jobs}, sync requests {sum(requests.values())} "
          f"({min(requests.values())}–{max(requests.values())} a tenant)")
    rows = [
        ("sum of single-tenant times (sync + audit)", total_single, ""),
        (f"fleet wall time with --jobs {args.jobs}", wall, f"{total_single / wall:.1f}x faster than one at a time"),
        (f"rate-limit bound, {args.jobs} lanes at {args.allowed}/s", max(lanes), f"wall / bound {wall / max(lanes):.2f}"),
        (f"rate-limit bound, all {args.tenants} accounts at once", slowest_bound,
         "the slowest tenant's requests at its own limit"),
    ]
    for label, seconds, note in rows:
        print(f"  {label:<46} {seconds:8.1f} s   {note}")
    sandbox.close()


if __name__ == "__main__":
    main()
