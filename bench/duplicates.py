"""Pairwise precision and recall of the duplicate pass on generated Russian corpora.

    .venv/bin/python bench/duplicates.py [--sizes 2500 25000] [--seeds 7 11]

For each size and seed: `bench/duplicate_corpus.py` invents people and legal
entities and writes their CRM records (duplicates written many ways, plus
hard negatives: namesakes, shared office lines, generic mailboxes, relatives,
branches, similar company names). The records are created in an amoCRM
sandbox account over its API (in-process ASGI, rate limits lifted), synced
into a snapshot as `implkit sync` does, and audited with C01–C04 and C14.
The truth is the generator's people, never the matcher's output.

Printed per round: contacts P/R (pairs of records of one person), companies
P/R (all, and the pairs where both records carry a valid INN — the INN/KPP
rule alone), shared lines reported apart / merged, records in two groups,
keep disagreements, the pass's compared pairs and truncated blocks.

Targets: contacts P ≥ 0.99 and R ≥ 0.99; INN pairs 1.0 / 1.0; every shared
line reported as one, none merged; no record in two groups; one keep.
Exit 1 if a target is missed.

    .venv/bin/python bench/duplicates.py --scale 250000 500000 1000000 [--keep DIR] [--profile]

Time and peak memory of the pass at scale. The same generator's corpus of N
contacts is written straight into a snapshot (`Snapshot.insert`, which
normalises phones and e-mails as sync does; an API load of a million records
is sync's bench, not this one), with N/4 deals on them, and kept in `--keep`
to be reused. Then, in a fresh child process per size: seconds for the five
duplicate checks (C01–C04, C14: one contacts pass, one companies pass, each
check a view of them), seconds for one full scan of the contacts table
(`SELECT *`, every row read) and their ratio, the child's peak resident memory
and how much of it the pass added, contacts and companies P/R against the
generator's people (the same figures as above, at scale), and the machine's
load average (the machine is shared: figures under load are slower).
`--profile`: the pass's top functions by own time (cProfile).
Target: 1M contacts in ≤ 4 s on 2 cores (the pass's share of the audit's 15 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from duplicate_corpus import format_phone, generate, group_pairs, run_round, truth_pairs  # noqa: E402

NOW = 1_800_000_000
DAY = 86400
CHUNK = 20_000
KPP_FIELD = 9001
SHARD = 62_500  # contacts a corpus at most (1M: 16 shards); its company names run out near 100,000
SCALE_CHECKS = ("C01", "C02", "C03", "C04", "C14")


def meets(r) -> list[str]:
    missed = []
    if r.contacts.precision < 0.99 or r.contacts.recall < 0.99:
        missed.append("contacts P/R < 0.99")
    if r.companies_inn.precision < 1.0 or r.companies_inn.recall < 1.0:
        missed.append("INN company pairs not 1.0/1.0")
    if r.shared_reported != r.shared_expected or r.shared_merged:
        missed.append("shared lines")
    if r.records_in_two_groups or r.keep_disagreements:
        missed.append("a record in two groups or two keeps")
    return missed


# --- at scale: the corpus written straight into a snapshot, the pass timed in a child ---------------------

def build(path: Path, contacts: int, seed: int) -> None:
    """A snapshot of the corpus of `contacts` records, its truth beside it (`<path>.truth.json`)."""
    from implkit.audit.snapshot import Snapshot

    rng = random.Random(seed)
    snap = Snapshot(path)
    snap.insert("users", [{"id": u, "name": f"Менеджер {u}", "is_active": True, "rights": {}} for u in range(1, 31)])
    snap.insert("pipelines", [{"id": 1, "name": "Продажи", "is_main": True, "stages": [
        {"id": 11, "name": "Первичный контакт", "sort": 10}, {"id": 142, "name": "Успешно", "sort": 10000},
        {"id": 143, "name": "Закрыто", "sort": 11000}]}])
    snap.insert("custom_fields", [{"id": KPP_FIELD, "entity_type": "companies", "name": "КПП", "type": "text"}])
    # the generator's name lists stop near 100,000 contacts a corpus: bigger accounts are shards side by side
    shards = -(-contacts // SHARD)
    person: list[int] = []
    entity: list[int] = []
    for shard in range(shards):
        corpus = generate(contacts // shards, seed + shard if shards > 1 else seed, shard=shard, shards=shards)
        first_company, first_contact = len(entity), len(person)
        for start in range(0, len(corpus.companies), CHUNK):
            snap.insert("companies", [
                {"id": first_company + k + 1, "name": c["name"], "inn": c["inn"],
                 "responsible_user_id": rng.randint(1, 30), "created_at": NOW - rng.randint(0, 900) * DAY,
                 "updated_at": NOW, "phones": [format_phone(n, 0) for n in c["phones"]],
                 "fields": {KPP_FIELD: c["kpp"]} if c["kpp"] else {}}
                for k, c in enumerate(corpus.companies[start:start + CHUNK], start)])
        for start in range(0, len(corpus.contacts), CHUNK):
            snap.insert("contacts", [
                {"id": first_contact + k + 1, "name": c["name"], "responsible_user_id": rng.randint(1, 30),
                 "company_id": None if c["company"] is None else first_company + c["company"] + 1,
                 "created_at": NOW - rng.randint(0, 900) * DAY, "updated_at": NOW,
                 "phones": c["phones"], "emails": c["emails"]}
                for k, c in enumerate(corpus.contacts[start:start + CHUNK], start)])
        # a shard's people and entities are its own: their numbers offset past the shards before it
        person += [shard * 10_000_000 + p for p in corpus.person]
        entity += [shard * 10_000_000 + e for e in corpus.entity]
    leads = len(person) // 4
    for start in range(0, leads, CHUNK):
        rows = []
        for i in range(start + 1, min(leads, start + CHUNK) + 1):
            status = rng.choice([11, 11, 142, 143])
            rows.append({"id": i, "name": f"Сделка {i}", "price": 10_000, "responsible_user_id": rng.randint(1, 30),
                         "pipeline_id": 1, "status_id": status, "created_at": NOW - DAY, "updated_at": NOW,
                         "contacts": [{"id": rng.randint(1, len(person)), "is_main": True}],
                         "company_id": rng.randint(1, len(entity)) if rng.random() < 0.3 else None})
        snap.insert("leads", rows)
    snap.set_meta(snapshot_at=NOW)  # no ANALYZE (sync leaves statistics; an older snapshot has none): the pass must not need them
    snap.close()
    Path(str(path) + ".truth.json").write_text(json.dumps({"person": person, "entity": entity}))


def measure(path: Path, profile: bool) -> dict:
    """In the child: the five duplicate checks as the engine runs them (C04 on its own thread, as the
    engine's parallel read connections do), then one full scan of the contacts table."""
    from concurrent.futures import ThreadPoolExecutor

    from implkit.audit.checks import load_checks
    from implkit.audit.duplicates import check_result
    from implkit.audit.snapshot import Snapshot

    checks = {c.id: c for c in load_checks() if c.id in SCALE_CHECKS}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    cpu_started = time.process_time()

    def run(ids: tuple[str, ...]) -> dict:
        with Snapshot(path, reader=True) as snap:
            return {i: check_result(snap, checks[i].entity, checks[i].parameters, checks[i].source)[2] for i in ids}

    if profile:  # cProfile sees the thread it was enabled in only
        contacts, companies = run(("C01", "C02", "C03", "C14")), run(("C04",))
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            contacts, companies = pool.map(run, [("C01", "C02", "C03", "C14"), ("C04",)])
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    top = []
    if profiler:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler).sort_stats("tottime")
        for (file, line, name), (_cc, calls, own, total, _callers) in list(
                sorted(stats.stats.items(), key=lambda kv: -kv[1][2]))[:12]:
            top.append(f"{own:6.2f} s own {total:6.2f} s total {calls:>9,} calls  {Path(file).name}:{line}({name})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with Snapshot(path, reader=True) as snap:
        started = time.perf_counter()
        rows = sum(1 for _ in snap.db.execute("SELECT * FROM contacts"))
        scan = time.perf_counter() - started
    truth = json.loads(Path(str(path) + ".truth.json").read_text())
    groups = {tuple(g["records"]) for d in contacts.values() for g in d.get("duplicate_groups", [])}
    person = truth["person"]
    predicted = group_pairs([[i - 1 for i in records] for records in groups])
    expected = truth_pairs(list(range(len(person))), person)
    entity = truth["entity"]
    predicted_c = group_pairs([[i - 1 for i in g["records"]] for g in companies["C04"]["duplicate_groups"]])
    expected_c = truth_pairs(list(range(len(entity))), entity)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "scan_seconds": round(scan, 2),
            "rows": rows, "peak_mb": round(peak), "pass_mb": round(peak - rss_before),
            "contacts_pr": [len(expected & predicted) / max(1, len(predicted)),
                            len(expected & predicted) / max(1, len(expected)), len(expected), len(predicted)],
            "companies_pr": [len(expected_c & predicted_c) / max(1, len(predicted_c)),
                             len(expected_c & predicted_c) / max(1, len(expected_c)), len(expected_c),
                             len(predicted_c)],
            "details": {i: {k: d[k] for k in ("groups", "compared_pairs", "blocks", "largest_block")}
                        | {"truncated_blocks": len(d["truncated_blocks"])} for i, d in (contacts | companies).items()},
            "top": top}


def scale(sizes: list[int], seed: int, keep: str | None, profile: bool) -> int:
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="implkit-duplicates-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        path = folder / f"corpus-{size}-{seed}.sqlite"
        if not path.exists():
            started = time.perf_counter()
            build(path, size, seed)
            print(f"built {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        child = subprocess.run([sys.executable, __file__, "--child", str(path)] + (["--profile"] if profile else []),
                               check=True, capture_output=True, text=True)
        f = json.loads(child.stdout)
        load = os.getloadavg()
        print(f"== {size:,} contacts (seed {seed}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
              f"on {os.cpu_count()} cores)")
        print(f"  duplicate checks C01–C04, C14: {f['seconds']} s wall, {f['cpu_seconds']} s CPU")
        print(f"  one full scan of contacts ({f['rows']:,} rows): {f['scan_seconds']} s; "
              f"ratio pass / scan = {f['seconds'] / max(f['scan_seconds'], 1e-9):.1f}")
        print(f"  peak memory {f['peak_mb']} MB, of which the pass added {f['pass_mb']} MB")
        p, r, t, n = f["contacts_pr"]
        print(f"  contacts  P {p:.4f} R {r:.4f} (truth {t} pairs, reported {n})")
        p, r, t, n = f["companies_pr"]
        print(f"  companies P {p:.4f} R {r:.4f} (truth {t} pairs, reported {n})")
        for check_id, d in f["details"].items():
            print(f"  {check_id}: {d}")
        if f["top"]:
            print("  top functions by own time (one thread):")
            for line in f["top"]:
                print("    " + line)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 25000], help="contacts per corpus")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11], help="generator seeds")
    parser.add_argument("--scale", type=int, nargs="+", metavar="N",
                        help="time and memory of the pass at N contacts (e.g. 250000 500000 1000000)")
    parser.add_argument("--keep", help="with --scale: folder to keep (and reuse) the built snapshots in")
    parser.add_argument("--profile", action="store_true", help="with --scale: the pass's top functions")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child), args.profile)))
        return 0
    if args.scale:
        return scale(args.scale, args.seeds[0], args.keep, args.profile)
    failed = 0
    for size in args.sizes:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory(prefix="implkit-duplicates-") as tmp:
                r = run_round(tmp, size, seed)
            missed = meets(r)
            failed += bool(missed)
            print(f"== {size:,} contacts, seed {seed}: loaded over the API in {r.load_seconds:.0f} s, "
                  f"synced in {r.sync_seconds:.0f} s, duplicate checks {r.audit_seconds:.1f} s")
            print(f"  contacts           {r.contacts}")
            print(f"  companies          {r.companies}")
            print(f"  companies, INN     {r.companies_inn}")
            print(f"  shared lines       {r.shared_reported}/{r.shared_expected} reported apart, "
                  f"{r.shared_merged} pairs of different people merged")
            print(f"  records in two groups {r.records_in_two_groups}; keep/merge disagreements "
                  f"{r.keep_disagreements}")
            for check_id, d in r.details.items():
                print(f"  {check_id}: {d}")
            print("  " + ("targets met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
