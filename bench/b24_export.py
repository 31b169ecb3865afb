"""Bitrix24 deal export: implkit's chained `start=-1` batches against fast_bitrix24's `get_all`, side by side.

    .venv/bin/python bench/b24_export.py [--deals 100000] [--seed 1]

Seeds a sandbox portal with N deals (implkit.sandbox.bitrix24.seed), serves it on loopback
(uvicorn), then reads every deal three times, each with its own webhook (the operating budget is
per credential and method) and a rested leaky bucket:

1. implkit — `Bitrix24Api.export_chain("crm.deal.list")`: batches of 50 list calls, `start=-1`,
   `filter[>ID]` chained by `$result[...]` references (reference/bitrix24-api.md §6, §7);
2. fast_bitrix24 — `Bitrix(webhook).get_all("crm.deal.list")`, unmodified, on the cloud portal
   (operating limit 480 s per 10 minutes, §5.2);
3. fast_bitrix24 again on the same portal as a self-hosted one, where the docs say the operating
   limit is off by default (§5.2) — so its whole cost can be measured.

For each: wall time, HTTP requests (the sandbox's request log), rows, the operating seconds the
portal charged to `crm.deal.list` for that webhook (its modelled execution time, the figure
`time.operating` reports), and the ratios implkit / fast_bitrix24. fast_bitrix24 comes from PyPI
and is installed here if missing (never a project dependency).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from implkit.http import RateLimiter  # noqa: E402
from implkit.providers.bitrix24 import open_records  # noqa: E402
from implkit.sandbox import Sandbox, serve_in_thread  # noqa: E402
from implkit.sandbox.bitrix24 import operations  # noqa: E402
from implkit.sandbox.bitrix24.seed import seed_portal  # noqa: E402

PORTAL = "bench"
METHOD = "crm.deal.list"


def fast_bitrix24():
    try:
        return importlib.import_module("fast_bitrix24")
    except ImportError:
        print("installing fast_bitrix24 from PyPI (benchmark only)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "fast_bitrix24"], check=True)
        return importlib.import_module("fast_bitrix24")


class Run:
    def __init__(self, sandbox: Sandbox, root: str, label: str):
        self.sandbox, self.label = sandbox, label
        path = sandbox.webhook_url(PORTAL)  # a fresh webhook: its own operating budget
        self.user, self.secret = path.rstrip("/").split("/")[-2:]
        self.webhook = f"{root}{path}"
        operations.reset(sandbox.bitrix24, PORTAL)  # a rested leaky bucket, an empty request log
        self.rows = 0
        self.error = ""

    def operating(self) -> float:
        key = f"webhook:{self.user}:{hashlib.sha256(self.secret.encode()).hexdigest()[:8]}"
        runtime = self.sandbox.bitrix24.runtime(PORTAL)
        return runtime.budget.state(key, METHOD, self.sandbox.clock.now())[0]

    def measure(self, work) -> dict:
        started = time.perf_counter()
        try:
            self.rows = work()
        except Exception as error:  # fast_bitrix24 raises on a refused batch: report it, keep the figures
            self.error = f"{type(error).__name__}: {str(error)[:160]}"
        wall = time.perf_counter() - started
        log = operations.request_log(self.sandbox.bitrix24, PORTAL)
        statuses: dict[int, int] = {}
        for row in log:
            statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        return {"label": self.label, "wall_s": wall, "requests": len(log), "rows": self.rows,
                "operating_s": self.operating(), "statuses": statuses, "error": self.error}


def run_implkit(sandbox: Sandbox, root: str) -> dict:
    run = Run(sandbox, root, "implkit export_chain")
    portal_url = f"{root}/bitrix24/{PORTAL}"
    reader = open_records(portal_url, f"{run.user}/{run.secret}", rate=RateLimiter(2.0, 50))

    def work() -> int:
        ids = set()
        for page in reader.api.export_chain(METHOD):
            ids.update(row["ID"] for row in page)
        return len(ids)
    return run.measure(work)


def run_fast(sandbox: Sandbox, root: str, label: str) -> dict:
    fb = fast_bitrix24()
    run = Run(sandbox, root, label)

    def work() -> int:
        deals = fb.Bitrix(run.webhook, verbose=False, ssl=False).get_all(METHOD)
        return len({d["ID"] for d in deals})
    return run.measure(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    # fast_bitrix24 leaves its other requests' tasks unawaited when one fails: keep asyncio's notices quiet
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    with tempfile.TemporaryDirectory(prefix="b24-bench-") as tmp:
        sandbox = Sandbox(Path(tmp) / "sandbox.db")
        account = sandbox.create_portal(PORTAL)
        started = time.perf_counter()
        seed_portal(sandbox.store, account, deals=args.deals, seed=args.seed)
        print(f"seeded {args.deals:,} deals in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        with serve_in_thread(sandbox) as root:
            results = [run_implkit(sandbox, root), run_fast(sandbox, root, "fast_bitrix24 get_all (cloud)")]
            sandbox.bitrix24.runtime(PORTAL).budget.limit = float("inf")  # self-hosted: operating limit off
            results.append(run_fast(sandbox, root, "fast_bitrix24 get_all (limit off)"))
        sandbox.close()

    print(f"\nExport of {args.deals:,} deals ({METHOD}) from a sandbox portal on loopback\n")
    header = f"{'client':<36} {'wall s':>8} {'requests':>9} {'rows':>8} {'operating s':>12}  answers"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['label']:<36} {r['wall_s']:>8.2f} {r['requests']:>9} {r['rows']:>8} {r['operating_s']:>12.1f}  "
              f"{r['statuses']}")
        if r["error"]:
            print(f"{'':<36} failed: {r['error']}")
    ours = results[0]
    for other in results[1:]:
        print(f"\nimplkit / {other['label']}:")
        for key, name in (("wall_s", "wall time"), ("requests", "requests"), ("operating_s", "operating seconds")):
            ratio = ours[key] / other[key] if other[key] else float("nan")
            print(f"  {name:<18} {ratio:.3f}")
        if other["rows"] != args.deals:
            print(f"  (fast_bitrix24 returned {other['rows']:,} of {args.deals:,} rows)")


if __name__ == "__main__":
    main()
