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
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from duplicate_corpus import run_round  # noqa: E402


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 25000], help="contacts per corpus")
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11], help="generator seeds")
    args = parser.parse_args()
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
