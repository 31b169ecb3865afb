"""An adversarial run: apply and sync under seeded faults, or killed with SIGKILL, until converged; then check.

    .venv/bin/python bench/chaos.py [--mode faults|kill|both] [--seeds 3] [--crm amocrm,bitrix24]
                                    [--profile light,heavy] [--kill-points 5] [--contacts 60]

**faults** (in-process, on the sandbox's frozen clock, so rate-limit waits
cost no wall time): for each seed, CRM and fault profile, a seeded tenant
(OAuth, so that `expire_token_after` makes the client refresh) gets the
largest preset applied and is synced into a snapshot, each rerun until it
finishes (the way an operator or CI reruns a failed command) — at most
`--max-runs` times. Then, with faults off:

- `plan` shows no change, and `plan --prune` shows the same deletions as on
  a fault-free twin (same seed, same preset, no faults): anything more is a
  stray object the faults left behind;
- the tenant's configuration (pipelines, stages, fields, groups, roles,
  counted by name) equals the twin's: a name counted twice is a duplicate;
- the snapshot equals a fault-free sync of the same tenant, table by table.

**kill**: the same tenant served over loopback TCP, and the real CLI
(`implkit apply --yes`, then `implkit sync`) run in a child process that
SIGKILLs itself right after its K-th HTTP answer (K spread over the
command's requests), then rerun with `--break-stale-lock` until it exits 0;
then the same checks (the CLI's own `plan` / `plan --prune` with faults off).

Prints, per CRM and profile (or kill point): converged / runs needed / stray
objects / snapshot differences, and a total; in the kill mode also the
requests the reruns needed (a run that resumes needs fewer than an
undisturbed one, whose count is printed first). Exit 0 when everything
converged with nothing stray, 1 otherwise.

Profiles: light = 5xx=0.1,drop=0.02,expire_token_after=40;
heavy = 5xx=0.2,drop=0.08,expire_token_after=15,latency=5-60ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROFILES = {
    "light": "5xx=0.1,drop=0.02,expire_token_after=40",
    "heavy": "5xx=0.2,drop=0.08,expire_token_after=15,latency=5-60ms",
}
CRMS = ("amocrm", "bitrix24")
NAME = "acme"
# bookkeeping, not records; and the planner statistics sync leaves (`Snapshot.analyze`), which count the
# bookkeeping tables' rows too. The audit's tables sync stores (snapshot.AUDIT_TABLES) are compared: they
# follow from the records, so they must converge with them.
SKIP_TABLES = {"meta", "sync_cursors", "sqlite_sequence", "sqlite_stat1", "sqlite_stat4"}


def largest_preset() -> Path:
    """The preset with the most objects (pipelines, stages, fields, roles …)."""
    from implkit.blueprint import load_blueprint
    from implkit.data import blueprints_dir

    def size(path: Path) -> int:
        bp = load_blueprint(str(path))
        fields = sum(len(v) for v in bp.fields.values()) if isinstance(bp.fields, dict) else len(bp.fields)
        return (len(bp.pipelines) + sum(len(p.stages) for p in bp.pipelines) + fields + len(bp.roles))

    return max(sorted((blueprints_dir() / "presets").glob("*.yaml")), key=size)


# ---- one tenant in a sandbox ------------------------------------------------------------------

class Tenant:
    """A seeded account (amoCRM) or portal (Bitrix24) with an OAuth installation, in-process."""

    def __init__(self, tmp: Path, crm: str, seed: int, contacts: int, *, frozen: bool = True):
        from implkit.http import MemoryTokenStore, TokenSet
        from implkit.http.asgi import SyncASGITransport
        from implkit.sandbox import Sandbox
        from implkit.sandbox.app import Clock

        self.crm = crm
        self.clock = Clock()
        if frozen:
            self.clock.freeze(1_800_000_000.0)
        tmp.mkdir(parents=True, exist_ok=True)
        self.sandbox = Sandbox(tmp / "sandbox.db", clock=self.clock)
        self.transport = SyncASGITransport(self.sandbox.app)
        now = int(self.clock.now())
        if crm == "amocrm":
            from implkit.sandbox.amocrm.seed import seed_account

            account = self.sandbox.create_account(NAME)
            seed_account(self.sandbox.store, account, contacts=contacts, seed=seed, now=now)
            app = self.sandbox.oauth_client(NAME)
            self.base = "http://sandbox" + self.sandbox.base_url(NAME)
            import httpx

            with httpx.Client(transport=self.transport, base_url=self.base) as raw:
                pair = raw.post("/oauth2/access_token", json={
                    "client_id": app["client_id"], "client_secret": app["client_secret"],
                    "grant_type": "authorization_code", "code": app["code"],
                    "redirect_uri": app["redirect_uri"]}).json()
            self.token_url = self.base + "/oauth2/access_token"
            self.client = (app["client_id"], app["client_secret"], app["redirect_uri"])
            expires = self.clock.now() + pair["expires_in"]
        else:
            from implkit.sandbox.bitrix24.seed import seed_portal

            portal = self.sandbox.create_portal(NAME)
            seed_portal(self.sandbox.store, portal, deals=contacts, seed=seed, now=now)
            pair = self.sandbox.portal_oauth(NAME)
            self.base = "http://sandbox/bitrix24/" + NAME
            self.token_url = "http://sandbox" + pair["token_endpoint"]
            self.client = ("local.sandbox", "chaos-secret", "")
            expires = self.clock.now() + pair["expires_in"]
        self.store = MemoryTokenStore(TokenSet(pair["access_token"], pair["refresh_token"], expires))

    # a new process each run: a new session reading the stored pair, a new limiter and client
    def auth(self):
        from implkit.http import OAuth2Session

        client_id, secret, redirect = self.client
        return OAuth2Session(self.token_url, client_id=client_id, client_secret=secret, redirect_uri=redirect,
                             store=self.store, transport=self.transport, clock=self.clock.now,
                             sleep=self.clock.advance)

    def _limiter(self):
        from implkit.http import AMOCRM_RATE, BITRIX24_BURST, BITRIX24_RATE, RateLimiter

        if self.crm == "amocrm":
            return RateLimiter(AMOCRM_RATE, clock=self.clock.now, sleep=self.clock.advance)
        return RateLimiter(BITRIX24_RATE, BITRIX24_BURST, clock=self.clock.now, sleep=self.clock.advance)

    def provider(self):
        from implkit.providers import open_provider

        return open_provider(self.crm, self.base, self.auth(), transport=self.transport, rate=self._limiter(),
                             max_retries=8, clock=self.clock.now, sleep=self.clock.advance)

    def reader(self):
        if self.crm == "amocrm":
            from implkit.http import HttpClient
            from implkit.providers.amocrm.records import AmoRecords

            return AmoRecords(HttpClient(self.base, auth=self.auth(), transport=self.transport, rate=self._limiter(),
                                         max_retries=8, clock=self.clock.now, sleep=self.clock.advance))
        from implkit.providers.bitrix24 import open_records

        return open_records(self.base, self.auth(), transport=self.transport, rate=self._limiter(), max_retries=8,
                            clock=self.clock.now, sleep=self.clock.advance)

    def set_faults(self, spec: str | None, seed: int = 0) -> None:
        if self.crm == "amocrm":
            self.sandbox.set_faults(NAME, spec, seed)
        else:
            from implkit.sandbox.bitrix24 import operations

            operations.set_faults(self.sandbox.bitrix24, NAME, spec, seed)

    def log(self) -> list[dict]:
        if self.crm == "amocrm":
            return self.sandbox.request_log(NAME)
        from implkit.sandbox.bitrix24 import operations

        return operations.request_log(self.sandbox.bitrix24, NAME)

    def close(self) -> None:
        self.transport.shutdown()
        self.sandbox.close()


def signature(provider) -> Counter:
    """The configuration counted by name: a duplicate shows as a count of 2."""
    live = provider.read_config()
    out: Counter = Counter()
    for p in live.pipelines:
        out[f"pipeline {p.name}"] += 1
        for s in p.stages:
            out[f"stage {p.name} / {s.name}"] += 1
    for f in live.fields:
        out[f"field {f.entity} / {f.name}"] += 1
    for g in live.field_groups:
        out[f"group {g.entity} / {g.name}"] += 1
    for r in live.roles:
        out[f"role {r.name}"] += 1
    return out


def plan_rows(provider, desired, state, *, prune: bool) -> Counter:
    from implkit.plan.run import make_plan

    plan = make_plan(provider, desired, state, tenant=NAME, prune=prune)
    return Counter(f"{c.action} {c.kind} {c.name}" for c in plan.changes)


def snapshot_rows(path: Path) -> dict[str, Counter]:
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: Counter(json.dumps(list(row), default=str) for row in db.execute(f'SELECT * FROM "{t}"'))
                for t in tables if t not in SKIP_TABLES}
    finally:
        db.close()


def snapshot_difference(a: Path, b: Path) -> dict[str, int]:
    left, right = snapshot_rows(a), snapshot_rows(b)
    out = {}
    for table in sorted(set(left) | set(right)):
        l, r = left.get(table, Counter()), right.get(table, Counter())
        diff = sum(((l - r) + (r - l)).values())
        if diff:
            out[table] = diff
    return out


# ---- the faults mode --------------------------------------------------------------------------

@dataclass
class Outcome:
    crm: str
    case: str
    seed: int
    converged: bool = False
    apply_runs: int = 0
    sync_runs: int = 0
    stray: list[str] = field(default_factory=list)
    snapshot_diff: dict[str, int] = field(default_factory=dict)
    compared: dict[str, int] = field(default_factory=dict)  # the rows of each table the snapshots were compared on
    failures: Counter = field(default_factory=Counter)
    faults_served: int = 0  # requests the sandbox answered with a fault (5xx, or dropped)
    rerun_requests: int | None = None  # kill mode: requests the reruns after the kill needed

    @property
    def clean(self) -> bool:
        return self.converged and not self.stray and not self.snapshot_diff


def _until_done(work, max_runs: int, failures: Counter) -> int:
    """Run `work()` until it returns without an exception; the number of runs it took (0 = never)."""
    from implkit.errors import ImplkitError

    for run in range(1, max_runs + 1):
        try:
            work()
            return run
        except ImplkitError as error:
            failures[f"{type(error).__name__}: {str(error)[:90]}"] += 1
    return 0


def twin_view(tmp: Path, crm: str, seed: int, contacts: int, desired) -> tuple[Counter, Counter]:
    """A fault-free run of the same seed: its configuration signature and its `plan --prune` rows."""
    from implkit.plan.run import apply_blueprint
    from implkit.workspace.state import StateStore

    twin = Tenant(tmp / "twin", crm, seed, contacts)
    try:
        state = StateStore(tmp / "twin" / "state.db")
        provider = twin.provider()
        apply_blueprint(provider, desired, state, tenant=NAME)
        result = signature(provider), plan_rows(provider, desired, state, prune=True)
        provider.close()
        state.close()
        return result
    finally:
        twin.close()


def faults_case(tmp: Path, crm: str, profile: str, seed: int, contacts: int, max_runs: int, desired,
                twin: tuple[Counter, Counter]) -> Outcome:
    from implkit.audit.snapshot import Snapshot
    from implkit.audit.sync import sync_snapshot
    from implkit.plan.run import apply_blueprint
    from implkit.workspace.state import StateStore

    out = Outcome(crm, profile, seed)
    tenant = Tenant(tmp, crm, seed, contacts)
    state = StateStore(tmp / "state.db")
    try:
        tenant.set_faults(PROFILES[profile], seed)

        def apply_once() -> None:
            provider = tenant.provider()
            try:
                apply_blueprint(provider, desired, state, tenant=NAME)
            finally:
                provider.close()

        def sync_once() -> None:
            reader = tenant.reader()
            with Snapshot(tmp / "snapshot.sqlite") as snapshot:
                sync_snapshot(reader, snapshot)

        out.apply_runs = _until_done(apply_once, max_runs, out.failures)
        out.sync_runs = _until_done(sync_once, max_runs, out.failures) if out.apply_runs else 0
        out.converged = bool(out.apply_runs and out.sync_runs)
        tenant.set_faults(None)
        out.faults_served = sum(1 for r in tenant.log() if r["status"] == 0 or r["status"] >= 500)
        check(out, tenant, state, desired, twin, tmp, tmp / "snapshot.sqlite")
    finally:
        state.close()
        tenant.close()
    return out


def check(out: Outcome, tenant: Tenant, state, desired, twin: tuple[Counter, Counter], tmp: Path,
          snapshot: Path) -> None:
    """With faults off: plan empty, plan --prune as the twin's, configuration as the twin's, and the
    `snapshot` the run left as a fault-free sync's."""
    from implkit.audit.snapshot import Snapshot
    from implkit.audit.sync import sync_snapshot

    twin_signature, twin_prune = twin
    provider = tenant.provider()
    try:
        out.stray += [f"plan: {row}" for row in sorted(plan_rows(provider, desired, state, prune=False).elements())]
        prune = plan_rows(provider, desired, state, prune=True)
        out.stray += [f"plan --prune: {row}" for row in sorted((prune - twin_prune).elements())]
        live = signature(provider)
        out.stray += [f"extra {row}" for row in sorted((live - twin_signature).elements())]
        out.stray += [f"missing {row}" for row in sorted((twin_signature - live).elements())]
    finally:
        provider.close()
    if out.sync_runs and snapshot.exists():
        reference = tmp / "snapshot-fault-free.sqlite"
        with Snapshot(reference) as fresh:
            sync_snapshot(tenant.reader(), fresh)
        out.snapshot_diff = snapshot_difference(snapshot, reference)
        out.compared = {t: sum(rows.values()) for t, rows in snapshot_rows(reference).items()}


# ---- the kill mode ----------------------------------------------------------------------------

# argv: project root, K (0 = never killed), a file to write the number of answers to at exit ('' = none), CLI args.
# The count and the kill use one hook, so the kill points spread over a counted run fall inside a killed one.
CHILD = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
die_after = int(sys.argv[2])
count_file = sys.argv[3]
from implkit.http import client as http_client
seen = [0]
original = http_client.HttpClient._account
def account(self, *args, **kwargs):
    original(self, *args, **kwargs)
    seen[0] += 1
    if die_after and seen[0] >= die_after:
        os.kill(os.getpid(), signal.SIGKILL)   # no cleanup, no finally: as kill -9 from outside
http_client.HttpClient._account = account
from implkit.cli import main
try:
    code = main(sys.argv[4:])
finally:
    if count_file:
        with open(count_file, "w") as out:
            out.write(str(seen[0]))
sys.exit(code)
"""


LAST_OUTPUT: list[str] = [""]


def _cli(ws: Path, args: list[str], die_after: int = 0, count_file: Path | None = None) -> int:
    env = {**os.environ, "IMPLKIT_LANG": "en"}
    env.pop("IMPLKIT_WORKSPACE", None)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(die_after), str(count_file or ""), *args,
                           "--workspace", str(ws)],
                          capture_output=True, text=True, env=env, timeout=600)
    LAST_OUTPUT[0] = (proc.stdout + proc.stderr).strip()
    return proc.returncode


COMMANDS = {"apply": ["apply", NAME, "--yes", "--break-stale-lock"], "sync": ["sync", NAME, "--break-stale-lock"]}


@contextmanager
def served(tmp: Path, crm: str, seed: int, contacts: int, desired_path: Path):
    """A seeded tenant served over loopback TCP and a workspace whose tenant reaches it: (tenant, workspace)."""
    from implkit.sandbox import serve_in_thread

    tenant = Tenant(tmp, crm, seed, contacts, frozen=False)
    # the kill mode is about interruption, not the rate: a generous server limit keeps it quick
    runtime_limits(tenant)
    try:
        with serve_in_thread(tenant.sandbox) as root:
            ws = workspace_for(tmp, tenant, root, desired_path)
            # the bench's own checks reach the same account id as the CLI (a portal's id is its host and path)
            tenant.base = tenant.base.replace("http://sandbox", root)
            yield tenant, ws
    finally:
        tenant.close()


def kill_case(tmp: Path, crm: str, seed: int, contacts: int, kill_at: int, command: str, desired_path: Path,
              desired, twin: tuple[Counter, Counter], max_runs: int) -> Outcome:
    """Serve the tenant over TCP, run `implkit <command>` killed at its `kill_at`-th answer, rerun to exit 0."""
    from implkit.workspace.state import StateStore

    out = Outcome(crm, f"kill {command} @{kill_at}", seed)
    with served(tmp, crm, seed, contacts, desired_path) as (tenant, ws):
        if command == "sync" and _cli(ws, COMMANDS["apply"]) != 0:  # the configuration first, undisturbed
            raise RuntimeError(f"the undisturbed apply failed: {LAST_OUTPUT[0][-500:]}")
        target = COMMANDS[command]
        killed = _cli(ws, target, die_after=kill_at)
        if killed not in (-9, 137):
            out.failures[f"not killed (exit {killed}): fewer than {kill_at} requests"] += 1
        runs = 0
        before = len(tenant.log())
        for runs in range(1, max_runs + 1):
            if _cli(ws, target) == 0:
                break
            out.failures[f"{command} rerun failed: {LAST_OUTPUT[0][-160:]}"] += 1
        else:
            runs = 0
        out.rerun_requests = len(tenant.log()) - before  # a resumed run needs less than a full one
        if command == "apply":
            out.apply_runs = runs
            out.sync_runs = 1 if runs and _cli(ws, COMMANDS["sync"]) == 0 else 0
        else:
            out.apply_runs, out.sync_runs = 1, runs
        out.converged = bool(out.apply_runs and out.sync_runs)
        state = StateStore(ws / ".implkit" / "tenants" / NAME / "state.db")
        try:
            check(out, tenant, state, desired, twin, tmp, ws / ".implkit" / "tenants" / NAME / "snapshot.sqlite")
        finally:
            state.close()
    return out


def runtime_limits(tenant: Tenant) -> None:
    if tenant.crm == "amocrm":
        limiter = tenant.sandbox.app.runtime(NAME).limiter
        limiter.integration_rps = limiter.account_rps = 1000
    else:
        from implkit.sandbox.bitrix24.limits import LeakyBucket

        tenant.sandbox.bitrix24.runtime(NAME).bucket = LeakyBucket(1000.0, 100000)


def workspace_for(tmp: Path, tenant: Tenant, root: str, desired_path: Path) -> Path:
    """A workspace whose tenant reaches the served sandbox with the OAuth pair in a 0600 token file."""
    from implkit.workspace import CredentialSource, Workspace, init_workspace
    from implkit.workspace.credentials import write_token_file

    ws = tmp / "ws"
    init_workspace(ws)
    token_file = ws / ".implkit" / f"{NAME}.token"
    client_id, secret, redirect = tenant.client
    write_token_file(token_file, tenant.store.tokens, extra={"client_id": client_id, "client_secret": secret})
    url = root + ("/amocrm/" + NAME if tenant.crm == "amocrm" else "/bitrix24/" + NAME)
    Workspace.load(ws).add_tenant(NAME, provider=tenant.crm, url=url,
                                  credentials=CredentialSource("file", path=token_file), client_id=client_id,
                                  redirect_uri=redirect, blueprint=str(desired_path), rate_limit=200.0)
    return ws


def count_requests(tmp: Path, crm: str, seed: int, contacts: int, desired_path: Path,
                   commands: tuple[str, ...] = ("apply", "sync")) -> dict[str, int]:
    """How many answers an undisturbed `implkit apply`, then `implkit sync`, take (the kill points are spread
    over them): the same CLI commands on the same served tenant as `kill_case`, counted by the same hook that
    kills. Library calls would count something else: the CLI's sync also compares the configuration with the
    tenant's blueprint (a dozen GETs on amoCRM), which `sync_snapshot` alone does not do."""
    counts: dict[str, int] = {}
    with served(tmp, crm, seed, contacts, desired_path) as (tenant, ws):
        for command in commands:
            before = len(tenant.log())
            count_file = tmp / f"{command}.answers"
            code = _cli(ws, COMMANDS[command], count_file=count_file)
            if code != 0:
                raise RuntimeError(f"the undisturbed {command} failed (exit {code}): {LAST_OUTPUT[0][-500:]}")
            counts[command] = int(count_file.read_text())
            # the sandbox logs every request it answers: the hook must have seen each (no faults, no retries here)
            logged = len(tenant.log()) - before
            if counts[command] != logged:
                raise RuntimeError(f"{command}: the CLI counted {counts[command]} answers, the sandbox logged {logged}")
    return counts


# ---- main -------------------------------------------------------------------------------------

def report(outcomes: list[Outcome], label: str) -> bool:
    groups: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        key = (o.crm, o.case if not o.case.startswith("kill") else " ".join(o.case.split()[:2]))
        groups.setdefault(key, []).append(o)
    ok = True
    for (crm, case), items in groups.items():
        converged = sum(1 for o in items if o.converged)
        clean = sum(1 for o in items if o.clean)
        runs = [o.apply_runs + o.sync_runs for o in items if o.converged]
        stray = sum(len(o.stray) for o in items)
        diff = sum(sum(o.snapshot_diff.values()) for o in items)
        faulted = sum(o.faults_served for o in items)
        reruns = [o.rerun_requests for o in items if o.rerun_requests is not None]
        print(f"{label} {crm:<9} {case:<12} converged {converged}/{len(items)} "
              f"({100 * converged / len(items):.0f} %), clean {clean}/{len(items)}; runs needed (apply+sync) "
              f"{'min ' + str(min(runs)) + ' max ' + str(max(runs)) if runs else '-'}; stray objects {stray}; "
              f"snapshot rows differing {diff}" + (f"; faults served {faulted}" if faulted else "")
              + (f"; requests of the reruns after the kill {min(reruns)}..{max(reruns)}" if reruns else ""))
        for o in items:
            if not o.clean:
                ok = False
                tag = f"    seed {o.seed} {o.case}:"
                if not o.converged:
                    print(f"{tag} not converged (apply runs {o.apply_runs}, sync runs {o.sync_runs})")
                rows = Counter(o.stray).most_common()
                for row, n in rows[:10]:
                    print(f"{tag} stray: {row}{f' ×{n}' if n > 1 else ''}")
                if len(rows) > 10:
                    print(f"{tag} … {len(rows) - 10} more kinds")
                if o.snapshot_diff:
                    print(f"{tag} snapshot differs from a fault-free sync: {o.snapshot_diff}")
            for reason, n in o.failures.most_common(3):
                print(f"    seed {o.seed} {o.case}: failed run ×{n}: {reason}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--mode", choices=("faults", "kill", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds (1..N)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--crm", default=",".join(CRMS), help="amocrm, bitrix24 or both (comma list)")
    parser.add_argument("--profile", default=",".join(PROFILES), help="light, heavy or both (comma list)")
    parser.add_argument("--kill-points", type=int, default=5,
                        help="kill mode: K values spread over each command's requests")
    parser.add_argument("--contacts", type=int, default=60, help="seeded contacts (amoCRM) / deals (Bitrix24)")
    parser.add_argument("--max-runs", type=int, default=25, help="reruns before a case counts as not converged")
    parser.add_argument("--preset", type=Path, help="blueprint to apply (default: the largest preset)")
    args = parser.parse_args(argv)
    crms = [c.strip() for c in args.crm.split(",") if c.strip()]
    profiles = [p.strip() for p in args.profile.split(",") if p.strip()]
    for c in crms:
        if c not in CRMS:
            parser.error(f"--crm: unknown CRM {c!r}")
    for p in profiles:
        if p not in PROFILES:
            parser.error(f"--profile: unknown profile {p!r}")

    import logging

    logging.getLogger("implkit").setLevel(logging.CRITICAL)  # the failures are counted and printed below
    from implkit.blueprint import load_blueprint

    preset = args.preset or largest_preset()
    desired = load_blueprint(str(preset))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(f"preset {preset.name}; seeds {seeds.start}..{seeds.stop - 1}; {args.contacts} contacts/deals; "
          f"CRMs {', '.join(crms)}")
    root = Path(tempfile.mkdtemp(prefix="implkit-chaos-"))
    started = time.monotonic()
    fault_outcomes: list[Outcome] = []
    kill_outcomes: list[Outcome] = []
    for crm in crms:
        for seed in seeds:
            twin = twin_view(root / f"{crm}-{seed}", crm, seed, args.contacts, desired)
            if args.mode in ("faults", "both"):
                fault_outcomes += [faults_case(root / f"{crm}-{seed}-{profile}", crm, profile, seed, args.contacts,
                                               args.max_runs, desired, twin) for profile in profiles]
            if args.mode in ("kill", "both"):
                sizes = count_requests(root / f"{crm}-{seed}-count", crm, seed, args.contacts, preset)
                print(f"{crm} seed {seed}: an undisturbed apply takes {sizes['apply']} requests, "
                      f"a sync {sizes['sync']}; "
                      f"kill points apply {kill_points(sizes['apply'], args.kill_points)}, "
                      f"sync {kill_points(sizes['sync'], args.kill_points)}")
                for command in ("apply", "sync"):
                    for k in kill_points(sizes[command], args.kill_points):
                        kill_outcomes.append(kill_case(root / f"{crm}-{seed}-kill-{command}-{k}", crm, seed,
                                                       args.contacts, k, command, preset, desired, twin,
                                                       args.max_runs))
    ok = True
    if fault_outcomes:
        ok &= report(fault_outcomes, "faults")
    if kill_outcomes:
        ok &= report(kill_outcomes, "kill  ")
    print(f"{'all converged, nothing stray' if ok else 'FAILURES above'} ({time.monotonic() - started:.0f} s; "
          f"work files in {root})")
    return 0 if ok else 1


def kill_points(total: int, count: int) -> list[int]:
    """`count` request numbers spread evenly over a command's `total` requests (the K-th answer kills it)."""
    return sorted({max(1, round(total * (i + 1) / (count + 1))) for i in range(count)})


if __name__ == "__main__":
    sys.exit(main())
