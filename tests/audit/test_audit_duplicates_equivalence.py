"""The duplicate pass rewritten for scale (issue #19) finds what the pass before it found, record for record.

The reference is the pass as it stood before the rewrite, read from git at commit `BEFORE` (its
`duplicates.py` and the `person_names.py` it compared names with), so the comparison needs no frozen
copy of the old code in the tree; without git or that commit the test is skipped, saying why.

Both passes run on snapshots of messy Russian records that neither was written against:
`bench/duplicate_corpus.py`'s people (duplicates written many ways, namesakes, shared office lines,
generic mailboxes, relatives, branches, similar company names) written into a snapshot as sync does,
plus an open-plan office of colleagues on one number — a block too big to compare every pair, which
both passes must walk by the same sorted neighbourhood — and the snapshot of `bench/audit_scale.py`.
Compared: every group (records, keep, each link's evidence and confidence, agreement per kind, owners),
every shared line, branch and truncated block, the counts, and each check's (failing, population,
details) for C01–C04 and C14.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from implkit.audit import duplicates
from implkit.audit.checks import load_checks
from implkit.audit.snapshot import Snapshot

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
BEFORE = "f7ed9bd4cd60aca07daee201d9e47da3a8010b21"  # the last commit with the pass of before issue #19
CHECKS = ("C01", "C02", "C03", "C04", "C14")


def _git_show(path: str) -> str:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the reference pass is read from the repository's history")
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:{path}"], capture_output=True, text=True)
    if shown.returncode:
        pytest.skip(f"commit {BEFORE[:10]} (the pass before issue #19) is not in this checkout's history")
    return shown.stdout


@pytest.fixture(scope="module")
def reference() -> types.ModuleType:
    """The old pass as a module of its own, comparing names with the old person_names."""
    names = types.ModuleType("reference_person_names")
    sys.modules["reference_person_names"] = names  # dataclasses resolve their module by name
    exec(compile(_git_show("implkit/audit/person_names.py"), "reference_person_names", "exec"), names.__dict__)
    source = _git_show("implkit/audit/duplicates.py").replace("implkit.audit.person_names", "reference_person_names")
    old = types.ModuleType("reference_duplicates")
    sys.modules["reference_duplicates"] = old
    exec(compile(source, "reference_duplicates", "exec"), old.__dict__)
    yield old
    sys.modules.pop("reference_duplicates", None)
    sys.modules.pop("reference_person_names", None)


def _bench(name: str):
    if not (BENCH / f"{name}.py").is_file():
        pytest.skip(f"bench/{name}.py is not in this checkout")
    sys.path.insert(0, str(BENCH))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(BENCH))


OFFICE_NAMES = ["Иванов Иван", "Иван Иванов", "Петрова Анна", "Анна Петрова", "Сидоров Пётр", "Петя Сидоров",
                "Смирнова Ольга", "Кузнецов Олег", "Кузнецова Ольга", "Ivan Ivanov", "Попов Дмитрий", "Дима Попов",
                "Васильева Елена", "Лена Васильева", "Соколов", "Мария", "Новиков Н. П.", "Новиков Николай Петрович",
                "Морозова Татьяна Игоревна", "Морозова Татьяна Олеговна", "Волков Андрей", "Волкова Ирина", ""]


def _corpus_snapshot(folder: Path, contacts: int, seed: int) -> Path:
    path = folder / f"corpus-{contacts}-{seed}.sqlite"
    _bench("duplicates").build(path, contacts, seed)
    rng = random.Random(seed)
    with Snapshot(path) as snap:
        # an open-plan office: 90 cards on one number, a few people entered twice, some with phones of
        # their own — bigger than `full_block`, so both passes compare it by sorted neighbourhood
        first = snap.db.execute("SELECT max(id) FROM contacts").fetchone()[0] + 1
        snap.insert("contacts", [
            {"id": first + k, "name": rng.choice(OFFICE_NAMES), "responsible_user_id": rng.randint(1, 3),
             "company_id": 1 if k % 3 else None, "created_at": 1_700_000_000 - k, "updated_at": 1_700_000_000,
             "phones": ["+7 (495) 700-00-00"] + ([f"+7 916 {k:03d}-00-00"] if k % 4 == 0 else []),
             "emails": ["office@bigcorp.ru"] if k % 5 == 0 else []}
            for k in range(90)])
    return path


def _plain(value):
    """Dataclasses (of either module) as plain values, so the old and new results compare with ==."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _first_difference(old, new, where: str = "") -> str:
    if type(old) is not type(new):
        return f"{where}: {old!r} != {new!r}"
    if isinstance(old, dict):
        for k in sorted(set(old) | set(new), key=str):
            if old.get(k) != new.get(k):
                return _first_difference(old.get(k), new.get(k), f"{where}.{k}")
    if isinstance(old, list):
        if len(old) != len(new):
            return f"{where}: {len(old)} items != {len(new)} items"
        for k, (a, b) in enumerate(zip(old, new)):
            if a != b:
                return _first_difference(a, b, f"{where}[{k}]")
    return f"{where}: {old!r} != {new!r}"


def _assert_same(path: Path, old_module: types.ModuleType, parameters: dict | None = None) -> dict:
    checks = {c.id: c for c in load_checks() if c.id in CHECKS}
    seen = {}
    with Snapshot(path, reader=True) as snap:
        for entity in ("contacts", "companies"):
            old = _plain(old_module.resolve(snap, entity, **(parameters or {})))
            new = _plain(duplicates.resolve(snap, entity, **(parameters or {})))
            assert old == new, f"{path.name} {entity}: {_first_difference(old, new)}"
            seen[entity] = old
        for check_id, check in checks.items():
            params = {**check.parameters, **(parameters or {})}
            old = _plain(old_module.check_result(snap, check.entity, params, check.source))
            new = _plain(duplicates.check_result(snap, check.entity, params, check.source))
            assert old == new, f"{path.name} {check_id}: {_first_difference(old, new)}"
    return seen


@pytest.mark.parametrize("contacts,seed", [(6000, 7), (6000, 11), (9000, 2024)])
def test_same_groups_as_before_on_the_corpus(tmp_path, reference, contacts, seed):
    seen = _assert_same(_corpus_snapshot(tmp_path, contacts, seed), reference)
    # the comparison covered what it claims: groups, shared lines, branches, big blocks of both kinds
    people, companies = seen["contacts"], seen["companies"]
    assert len(people["groups"]) > 300 and len(people["shared"]) > 100
    assert any(link["evidence"][0] == "company" for g in people["groups"] for link in g["links"])
    assert any(t["block"].startswith("phone:+74957000000") for t in people["truncated"])
    assert len(companies["groups"]) > 30 and companies["branches"] and companies["truncated"]


def test_same_groups_as_before_with_a_small_window(tmp_path, reference):
    """Parameters a check file may set change the blocks walked by neighbourhood; both passes alike."""
    path = _corpus_snapshot(tmp_path, 4000, 5)
    seen = _assert_same(path, reference, {"window": 4, "full_block": 8})
    assert len(seen["contacts"]["truncated"]) > 1 and len(seen["companies"]["truncated"]) > 5


def test_same_groups_as_before_on_the_scale_snapshot(tmp_path, reference):
    """bench/audit_scale.py's snapshot: neighbour copies, an office number on every 700th card, placeholders."""
    path = tmp_path / "scale.sqlite"
    _bench("audit_scale").build(path, 35_000, 3_000)
    seen = _assert_same(path, reference)
    # its neighbour copies carry random names: mostly shared lines, some groups, the office line truncated
    assert len(seen["contacts"]["shared"]) > 500 and seen["contacts"]["truncated"]


@pytest.mark.parametrize("min_score,full_block", [(92, 200), (60, 200), (60, 5), (0, 5)])
def test_block_scores_are_the_pairwise_token_sort_ratio(min_score, full_block):
    """The company pass scores a block at a time (cdist, or cpdist over a big block's neighbourhood); the
    pairs over the bar and their scores are those of token_sort_ratio pair by pair, the bar included
    (0: every candidate pair)."""
    from rapidfuzz import fuzz

    rng = random.Random(min_score)
    words = ["ромашка", "romashka", "вектор", "логистик", "урал", "сибирь", "торг", "маш", "энерго", "12", "13"]
    names = {i: duplicates._company_skeleton(" ".join(rng.sample(words, rng.randint(1, 3)))) for i in range(1, 120)}
    ids = sorted(names)
    scored = duplicates._scored_pairs(duplicates.Resolution("companies"), "b", ids + ids[:3], names, 4, full_block,
                                      min_score)
    res = duplicates.Resolution("companies")
    expected = [(a, b, fuzz.token_sort_ratio(names[a], names[b]))
                for a, b in duplicates._pairs(res, "b", ids, names, 4, full_block)]
    expected = [e for e in expected if e[2] >= min_score]
    assert sorted(scored) == sorted(expected) and len(expected) > 10
