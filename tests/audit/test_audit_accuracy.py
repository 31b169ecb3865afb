"""Against a small seeded sandbox account: precision and recall of every check with planted truth.

The seeder plants defects and writes which records each check must report;
the account is synced over the API (in-process) and audited like any
tenant. Deterministic checks must be exact; duplicates at least 0.98.
"""

from __future__ import annotations

import pytest

from implkit.audit.accuracy import misses, score_run, truth_parameters
from implkit.audit.checks import load_checks
from implkit.audit.engine import AuditOptions, run_checks
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.amocrm.records import AmoRecords

NOW = 1_800_000_000
FUZZY = {"C03", "C04"}  # rapidfuzz matches: scored against ≥ 0.98
PLANTED = ("D01 D02 D03 D04 D05 D06 D07 D08 D09 D10 D11 D12 D13 D14 D15 C01 C02 C03 C04 C05 C06 C07 C08 C09 "
           "T01 T02 T03 U02 U03 F01").split()


@pytest.fixture(scope="module")
def seeded_audit(tmp_path_factory):
    pytest.importorskip("implkit.sandbox.amocrm.seed")
    from audit_support import SyncRig
    from implkit.sandbox.amocrm.seed import seed_account

    folder = tmp_path_factory.mktemp("accuracy")
    rig = SyncRig(folder, start=NOW)
    try:
        summary = seed_account(rig.sandbox.store, rig.account_id, contacts=400, seed=11, now=NOW)
        http = rig.http(rate=6.0)
        with Snapshot(folder / "snapshot.sqlite") as snapshot:
            sync_snapshot(AmoRecords(http), snapshot, clock=lambda: NOW)
            run = run_checks(snapshot, load_checks(),
                             AuditOptions(parameters=truth_parameters(summary.ground_truth)))
        yield run, summary.ground_truth, http
    finally:
        rig.close()


def test_every_planted_check_is_scored(seeded_audit):
    run, truth, _ = seeded_audit
    scored = {s.check_id for s in score_run(run, truth)}
    assert set(PLANTED) <= scored


@pytest.mark.parametrize("check_id", PLANTED)
def test_precision_and_recall(seeded_audit, check_id):
    run, truth, _ = seeded_audit
    score = next(s for s in score_run(run, truth) if s.check_id == check_id)
    assert score.expected > 0, "the seed planted nothing for this check"
    floor = 0.98 if check_id in FUZZY else 1.0
    assert score.precision >= floor and score.recall >= floor, misses(run, truth, check_id)


def test_decoys_are_not_duplicates(seeded_audit):
    """Placeholder phones and shared office numbers make no group; same-name strangers are not merged."""
    run, truth, _ = seeded_audit
    grouped = {r.id for check_id in ("C01", "C03") for r in run.result(check_id).failing}
    assert not grouped & set(truth["decoys"]["placeholder_phone"])
    same_name_pairs = [set(pair) for pair in truth["decoys"]["same_name"]]
    groups = [set([g["keep"], *g["merge"]]) for g in run.result("C03").details["duplicate_groups"]]
    assert not any(pair <= group for pair in same_name_pairs for group in groups)


def test_the_sync_stayed_under_the_rate_limit(seeded_audit):
    _, _, http = seeded_audit
    assert http.stats.by_status.get(429, 0) == 0
