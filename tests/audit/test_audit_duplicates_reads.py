"""The duplicate pass's two big reads, rewritten for CPU (issue #19), return what the SQL they replaced returned;
the cyclic collector it pauses is back as it was when the pass ends.

`_channel_blocks` (keys counted, then the shared keys' holders looked up) and `_company_rows` (the phoneless
companies found in numpy) against the single queries they replaced, kept here as the reference: on
hand-built edge cases (contacts without a company, empty names, two phones one shared, invalid and unusable
channels, one number held twice by one card, a company's channel with a contact's key, an empty snapshot)
and on generated accounts whose channels are drawn from a small pool, so that keys are shared by chance.
"""

from __future__ import annotations

import gc
import json
import random

import pytest

from implkit.audit import duplicates

OLD_CHANNEL_BLOCKS = (
    "SELECT kind, key, group_concat(entity_id) FROM channels WHERE entity_type = 'contacts' AND valid = 1"
    " AND key IS NOT NULL GROUP BY kind, key HAVING min(entity_id) < max(entity_id) ORDER BY kind, key")
OLD_PHONELESS = (
    "SELECT DISTINCT company_id FROM contacts WHERE company_id IS NOT NULL AND name_key != ''"
    " AND id NOT IN (SELECT entity_id FROM channels WHERE entity_type = 'contacts' AND kind = 'phone'"
    "                AND valid = 1 AND key IS NOT NULL)")
OLD_COMPANY_ROWS = (
    "SELECT c.company_id, c.id, c.name_key FROM json_each(?) AS j CROSS JOIN contacts AS c"
    " ON c.company_id = j.value WHERE c.name_key != '' ORDER BY c.company_id, c.id")


def _old_reads(snap):
    db = duplicates._tuples(snap)
    blocks = {(kind, key): sorted({int(i) for i in ids.split(",")}) for kind, key, ids in db.execute(OLD_CHANNEL_BLOCKS)}
    phoneless = [company_id for (company_id,) in db.execute(OLD_PHONELESS)]
    rows = db.execute(OLD_COMPANY_ROWS, (json.dumps(phoneless),)).fetchall()
    return blocks, rows


def _new_reads(snap):
    db = duplicates._tuples(snap)
    return duplicates._channel_blocks(db), duplicates._company_rows(db)


def _agree(snap):
    old, new = _old_reads(snap), _new_reads(snap)
    assert list(new[0].items()) == list(old[0].items())  # same blocks, same holders, same order
    assert new[1] == old[1]
    return new


def test_hand_built_edge_cases(make_snapshot):
    companies = [{"id": c, "name": f"ООО Ромашка {c}"} for c in (1, 2, 3, 4, 5)]
    contacts = [
        # company 1: one named contact has no phone at all -> phoneless company, all its named contacts read
        {"id": 10, "name": "Иванов Иван", "company_id": 1, "phones": ["+7 912 000-00-01", "+7 912 000-00-99"]},
        {"id": 11, "name": "Петров Пётр", "company_id": 1, "emails": ["petrov@example.ru"]},
        {"id": 12, "name": "", "company_id": 1},                                   # unnamed: never read
        # company 2: every named contact has a valid phone; the unnamed one without does not count
        {"id": 20, "name": "Сидоров", "company_id": 2, "phones": ["+7 912 000-00-01"]},  # shares 10's first phone
        {"id": 21, "name": "", "company_id": 2},
        # company 3: a named contact whose only phone is invalid -> phoneless
        {"id": 30, "name": "Смирнова Ольга", "company_id": 3, "phones": ["12"]},
        {"id": 31, "name": "Смирнова О.", "company_id": 3, "phones": ["+7 912 000-00-31"]},
        # company 4: a named contact whose only phone is unusable text -> phoneless
        {"id": 40, "name": "Кузнецов", "company_id": 4, "phones": ["звонить секретарю"]},
        # company 5: a contact holding one number twice (no block on its own) and a phone
        {"id": 50, "name": "Попов Дмитрий", "company_id": 5, "phones": ["+7 912 000-00-50", "8 912 000-00-50"]},
        # no company: never in a company block, whatever the channels
        {"id": 60, "name": "Волков Андрей", "phones": ["+7 912 000-00-99"]},      # shares 10's second phone
        {"id": 61, "name": "Волков А.", "emails": ["INFO@example.ru"]},
        {"id": 62, "name": "", "emails": ["info@example.ru", "not an address"]},
        {"id": 63, "name": "Морозова", "emails": ["info@example.ru"]},
        {"id": 64, "name": "Новиков"},
    ]
    snap = make_snapshot({"companies": companies, "contacts": contacts})
    # a company holding a contact's number: companies' channels are not the contacts' blocks
    snap.insert("companies", [{"id": 6, "name": "ООО Офис", "phones": ["+7 912 000-00-50"],
                               "created_at": 1, "updated_at": 1}])
    blocks, rows = _agree(snap)
    assert blocks == {("email", "info@example.ru"): [61, 62, 63],
                      ("phone", "+79120000001"): [10, 20], ("phone", "+79120000099"): [10, 60]}
    assert [(c, i) for c, i, _key in rows] == [(1, 10), (1, 11), (3, 30), (3, 31), (4, 40)]


def test_an_account_without_channels_or_companies(make_snapshot):
    snap = make_snapshot({"contacts": [{"id": 1, "name": "Иванов"}, {"id": 2, "name": ""}]})
    assert _agree(snap) == ({}, [])
    empty = make_snapshot({})
    assert _agree(empty) == ({}, [])


def test_generated_accounts_sharing_channels_by_chance(make_snapshot):
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        phones = [f"+7 9{rng.randrange(10**9):09d}" for _ in range(60)] + ["123", "", "нет"]
        emails = [f"{rng.choice(['info', 'ivan', 'sales', 'o.petrova'])}{n}@example.ru" for n in range(40)] + ["x@"]
        companies = [{"id": c, "name": f"Компания {c}"} for c in range(1, 31)]
        contacts = [{"id": i, "name": rng.choice(["Иванов Иван", "Петрова Анна", "Анна", "", "Сидоров П."]),
                     "company_id": rng.choice([None, *range(1, 31)]),
                     "phones": rng.sample(phones, rng.choice([0, 0, 1, 1, 2])),
                     "emails": rng.sample(emails, rng.choice([0, 1, 1, 2]))}
                    for i in rng.sample(range(1, 10_000), 300)]
        blocks, rows = _agree(make_snapshot({"companies": companies, "contacts": contacts}))
        assert blocks and rows  # the pool is small enough that both reads find something to compare


# --- the cyclic collector, paused while a pass runs ------------------------------------------------

def _contacts(make_snapshot):
    return make_snapshot({"contacts": [{"id": 1, "name": "Иванов Иван", "phones": ["+7 912 000-00-01"]},
                                       {"id": 2, "name": "Иван Иванов", "phones": ["+7 912 000-00-01"]}]})


def test_the_collector_is_off_during_a_pass_and_as_it_was_after(make_snapshot, monkeypatch):
    snap = _contacts(make_snapshot)
    seen = []
    real = duplicates._resolve_contacts
    monkeypatch.setattr(duplicates, "_resolve_contacts", lambda *a: (seen.append(gc.isenabled()), real(*a))[1])
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            duplicates._cache.clear()
            res = duplicates.resolve(snap, "contacts")
            assert [g.records for g in res.groups] == [[1, 2]]
            assert gc.isenabled() is enabled
        assert seen == [False, False]
    finally:
        (gc.enable if was else gc.disable)()


def test_a_failing_pass_resumes_the_collector(make_snapshot, monkeypatch):
    snap = _contacts(make_snapshot)

    def broken(*_args):
        raise RuntimeError("snapshot went away")

    monkeypatch.setattr(duplicates, "_resolve_contacts", broken)
    was = gc.isenabled()
    gc.enable()
    try:
        duplicates._cache.clear()
        with pytest.raises(RuntimeError):
            duplicates.resolve(snap, "contacts")
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_overlapping_passes_resume_the_collector_when_the_last_ends():
    was = gc.isenabled()
    gc.enable()
    try:
        outer = duplicates._collector_paused()
        inner = duplicates._collector_paused()
        outer.__enter__()
        inner.__enter__()
        outer.__exit__(None, None, None)  # the first to start ends first: the other still runs
        assert not gc.isenabled()
        inner.__exit__(None, None, None)
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
