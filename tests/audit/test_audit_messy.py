"""Precision and recall on a messy account, with a seed no test tunes to.

The account (`implkit.sandbox.messy`) is generated from facts about people and events and written
into amoCRM (through the emulator's API handlers, in two halves with a sync in between) and into a
Bitrix24 portal; the truth comes from the facts. The seed is random per run and printed; replay a
failure with IMPLKIT_MESSY_SEED=<seed>.

Asserted at 1.0 / 1.0 (`messy.DETERMINISTIC`, minus what a CRM cannot hold — `messy.UNSUPPORTED`):
D01 D02 D06 D07 D08 D09 D11 D12 D14 T01 T02 T03 C05 C06 C10 (D09 with the account's regulation —
budget from the third stage of either pipeline — set by stage id as a tenant sets
`audit.parameters.D09.from_stages`). Reported only (`messy.REPORTED`): C01, C02 (exact on every seed
tried, but two colleagues on one office line can look exactly like one person entered twice —
`messy._lookalikes`), D03 (a contact linked later is work on the deal; a Bitrix24 portal keeps no
trace of it in what the sync reads).
"""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path

import pytest

from implkit.audit.accuracy import misses, score_run
from implkit.sandbox import messy

BENCH = Path(__file__).resolve().parents[2] / "bench" / "audit_accuracy.py"
DEALS = 40


def _seed() -> int:
    value = os.environ.get("IMPLKIT_MESSY_SEED")
    seed = int(value) if value else random.SystemRandom().randrange(10 ** 6)
    print(f"messy seed {seed} (replay: IMPLKIT_MESSY_SEED={seed})")
    return seed


SEED = _seed()


def _bench():
    spec = importlib.util.spec_from_file_location("audit_accuracy_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=["amocrm", "bitrix24"])
def messy_run(request, tmp_path_factory):
    run, truth, differ = _bench().messy_audit(request.param, SEED, DEALS, tmp_path_factory.mktemp(request.param))
    return request.param, run, truth, differ


def test_deterministic_checks_are_exact_on_a_messy_account(messy_run):
    crm, run, truth, _ = messy_run
    scores = {s.check_id: s for s in score_run(run, truth)}
    asserted = [c for c in messy.DETERMINISTIC if c not in messy.UNSUPPORTED[crm]]
    assert set(truth["deterministic"]) == set(asserted) and set(asserted) <= set(scores)
    for check_id in asserted:
        score = scores[check_id]
        assert (score.precision, score.recall) == (1.0, 1.0), (crm, check_id, SEED, misses(run, truth, check_id))
    for check_id in messy.REPORTED:  # printed, not asserted (module docstring)
        s = scores[check_id]
        print(f"{crm} {check_id}: precision {s.precision:.3f}, recall {s.recall:.3f} (reported only)")


def test_the_audited_incremental_snapshot_equals_a_fresh_full_one(messy_run):
    crm, _, _, differ = messy_run
    assert differ == [], (crm, SEED)


def test_unsupported_checks_say_so_or_are_scored_elsewhere(messy_run):
    """What a CRM cannot hold has no truth there; the audit must not report those records as defects."""
    crm, run, truth, _ = messy_run
    assert set(truth["unsupported"]) == set(messy.UNSUPPORTED[crm])
    # a Bitrix24 deal has no loss reason: D08 says unsupported there, and runs on amoCRM
    assert (run.result("D08").status == "unsupported") == (crm == "bitrix24")
    assert not run.result("D08").failing if crm == "bitrix24" else run.result("D08").ran


def test_the_facts_hold_every_kind_of_mess_and_repeat_under_a_seed():
    facts = messy.generate(SEED, deals=DEALS)
    assert facts == messy.generate(SEED, deals=DEALS)
    assert any(d.future_updated_at and d.future_updated_at > facts.now for d in facts.deals)
    assert any(d.card_linked_at not in (None, d.created) for d in facts.deals)  # linked later, through /link
    assert any(c.by_hand for c in facts.cards) and any(not c.by_hand for c in facts.cards)
    assert not all(u.active for u in facts.users) and facts.renames
    assert len({d.owner for d in facts.deals}) > 1
