"""The duplicate pass on a generated Russian corpus, and the one-pass guarantees of C01–C04 and C14.

The corpus (bench/duplicate_corpus.py) is generated with a random seed per
run, printed so a failure can be replayed: `IMPLKIT_DUPLICATES_SEED=<seed>
pytest tests/audit/test_audit_duplicates.py`. Its truth is the generator's
people, loaded into a sandbox account over the amoCRM API and synced.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from implkit.audit.checks import load_checks
from implkit.audit.engine import AuditOptions, run_checks
from implkit.audit.report import build_report, render

BENCH = Path(__file__).resolve().parents[2] / "bench"
DUPLICATES = ("C01", "C02", "C03", "C04", "C14")


@pytest.fixture(scope="module")
def corpus_round(tmp_path_factory):
    if not (BENCH / "duplicate_corpus.py").is_file():
        pytest.skip("bench/duplicate_corpus.py is not in this checkout")
    sys.path.insert(0, str(BENCH))
    try:
        from duplicate_corpus import run_round
    finally:
        sys.path.remove(str(BENCH))
    seed = int(os.environ.get("IMPLKIT_DUPLICATES_SEED") or random.randrange(1_000_000))
    print(f"\nduplicate corpus seed {seed} (replay: IMPLKIT_DUPLICATES_SEED={seed})")
    return seed, run_round(tmp_path_factory.mktemp("duplicates"), 400, seed)


def test_contacts_precision_and_recall(corpus_round):
    seed, r = corpus_round
    assert r.contacts.truth > 30, f"seed {seed}: the corpus planted too few duplicates to score"
    assert r.contacts.precision >= 0.99 and r.contacts.recall >= 0.99, f"seed {seed}: {r.contacts}"


def test_inn_company_rule_is_exact(corpus_round):
    seed, r = corpus_round
    assert r.companies_inn.precision == 1.0 and r.companies_inn.recall == 1.0, f"seed {seed}: {r.companies_inn}"
    assert r.companies.precision >= 0.99, f"seed {seed}: {r.companies}"


def test_every_shared_line_is_reported_and_none_merged(corpus_round):
    seed, r = corpus_round
    assert r.shared_expected > 0
    assert (r.shared_reported, r.shared_merged) == (r.shared_expected, 0), f"seed {seed}"


def test_no_record_in_two_groups_and_one_keep(corpus_round):
    seed, r = corpus_round
    assert (r.records_in_two_groups, r.keep_disagreements) == (0, 0), f"seed {seed}"


# --- one pass: every check and every format agrees on the groups -------------------------------------------

RECORDS = {
    "contacts": [
        {"id": 1, "name": "Петров Пётр", "phones": ["+7 912 345-67-89"], "responsible_user_id": 1},
        {"id": 2, "name": "Пётр Петров", "phones": ["8 912 345 67 89"], "emails": ["p.petrov@mail.ru"],
         "responsible_user_id": 2},
        {"id": 3, "name": "Petr Petrov", "emails": ["P.Petrov@Mail.ru"], "responsible_user_id": 2},
        {"id": 4, "name": "Анна Котова", "phones": ["+7 495 100-00-00"], "responsible_user_id": 1},
        {"id": 5, "name": "Олег Лапин", "phones": ["84951000000"], "responsible_user_id": 2},
    ],
    "leads": [{"id": 10, "contacts": [{"id": 3, "is_main": True}]}],
}


def test_checks_and_formats_agree_on_groups_and_keep(make_snapshot):
    snap = make_snapshot(RECORDS)
    checks = [c for c in load_checks() if c.id in DUPLICATES]
    run = run_checks(snap, checks, AuditOptions())
    groups = {cid: run.result(cid).details["duplicate_groups"] for cid in ("C01", "C02", "C03")}
    # C01 sees the phone link, C02 the e-mail link: one group of the three records, one keep (open deal)
    assert [(g["records"], g["keep"]) for g in groups["C01"]] == [([1, 2, 3], 3)]
    assert [(g["records"], g["keep"]) for g in groups["C02"]] == [([1, 2, 3], 3)]
    assert {r.id for r in run.result("C01").failing} == {1, 2}
    assert {r.id for r in run.result("C02").failing} == {2, 3}
    # the office number on two people: a shared line, owners carried for the worklists
    shared = run.result("C14")
    assert [s["people"] for s in shared.details["shared_channels"]] == [[[4], [5]]]
    assert {(r.id, r.responsible_user_id) for r in shared.failing} == {(4, 1), (5, 2)}
    evidence = groups["C01"][0]["evidence"]
    assert {tuple(link["records"]) for link in evidence} == {(1, 2), (2, 3)}
    assert any(e.startswith("phone:+79123456789") for e in evidence[0]["evidence"])
    report = build_report(run, tenant="t", web_url=None, analytics=None, trend=None, users={1: "Анна", 2: "Борис"},
                          lang="en")
    c01 = next(f for f in report["findings"] if f["id"] == "C01")
    assert c01["by_manager"] == {"Анна": 1, "Борис": 1}
    for fmt, keep in (("table", "keep 3, merge 1, 2"), ("md", "keep 3, merge 1, 2"), ("html", "<td>3</td><td>1, 2</td>")):
        text = render(report, fmt)
        assert keep in text, fmt
        assert "1–2: phone:+79123456789" in text, fmt
        assert "+74951000000" in text, fmt
    assert '"keep": 3' in render(report, "json")
    ru = render(build_report(run, tenant="t", web_url=None, analytics=None, trend=None, lang="ru"), "table")
    assert "оставить 3, объединить 1, 2" in ru
    assert "1–2: телефон +79123456789; имя совпадает (то же имя)" in ru


def test_a_record_is_never_in_two_groups(make_snapshot):
    """A record linked to two people who cannot be one (different first names) joins one of them only."""
    snap = make_snapshot({"contacts": [
        {"id": 1, "name": "Смирнов Олег", "phones": ["+79123456789"]},
        {"id": 2, "name": "Смирнов О.", "phones": ["89123456789"], "emails": ["smirnov@mail.ru"]},
        {"id": 3, "name": "Смирнов Игорь", "emails": ["Smirnov@mail.ru"]},
        {"id": 4, "name": "Смирнов", "phones": ["+79123456789"], "emails": ["smirnov@mail.ru"]},
    ]})
    run = run_checks(snap, [c for c in load_checks() if c.id in DUPLICATES], AuditOptions())
    seen: dict[int, tuple] = {}
    for cid in ("C01", "C02", "C03"):
        for g in run.result(cid).details["duplicate_groups"]:
            for i in g["records"]:
                assert seen.setdefault(i, tuple(g["records"])) == tuple(g["records"]), f"record {i} in two groups"
    assert 3 not in seen.get(1, ()), "Олег and Игорь in one group"


def test_an_unknown_duplicate_rule_is_bad_input_at_its_line(make_snapshot, tmp_path):
    from implkit.audit.checks import load_check
    from implkit.errors import InputError

    source = Path(__file__).resolve().parents[2] / "audits" / "C01.yaml"
    bad = tmp_path / "C01.yaml"
    bad.write_text(source.read_text(encoding="utf-8").replace("rule: phone", "rule: fone"), encoding="utf-8")
    line = next(n for n, text in enumerate(bad.read_text(encoding="utf-8").splitlines(), 1) if "rule: fone" in text)
    snap = make_snapshot({"contacts": [{"id": 1, "name": "Иван", "phones": ["+79123456789"]}]})
    with pytest.raises(InputError) as caught:
        run_checks(snap, [load_check(bad)], AuditOptions())
    problem = caught.value.problems[0]
    assert (problem.location.file, problem.location.line) == (str(bad), line)
    assert "phone, email, name, shared_line" in problem.message
