"""The seeded sandbox account: determinism, planted defects exactly where the ground truth says.

Every check of domain.md §1 that the seeder plants is recomputed here
straight from the store, over ALL records of the account, by its formula;
the set it finds must equal the ground truth's ids — so every listed id has
the defect and no clean record has it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email
from rapidfuzz import fuzz, process

from implkit.sandbox.amocrm.models import bootstrap_account
from implkit.sandbox.amocrm.seed import DefectRates, _count, seed_account
from implkit.sandbox.names import format_phone, make_inn
from implkit.sandbox.store import Store

NOW = 1_767_225_600  # 2026-01-01 00:00 UTC
CONTACTS = 2000
DAY = 86400


def _seed(path, *, seed=7, contacts=CONTACTS, subdomain="acme", truth=None, store=None):
    store = store or Store(path)
    account = bootstrap_account(store, subdomain)
    summary = seed_account(store, account, contacts=contacts, seed=seed, now=NOW, ground_truth_path=truth)
    return store, account, summary


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    base = tmp_path_factory.mktemp("seed")
    store, account, summary = _seed(base / "sandbox.db", truth=base / "truth.json")
    return Account(store, account, summary, base / "truth.json")


class Account:
    """The seeded rows of one account, loaded once, with the checks' formulas."""

    def __init__(self, store: Store, account_id: int, summary, truth_path):
        self.store, self.id, self.summary, self.truth_path = store, account_id, summary, truth_path
        self.truth = summary.ground_truth
        q = lambda sql: [dict(r) for r in store.query(sql, (account_id,))]  # noqa: E731
        self.users = {u["id"]: u for u in q("SELECT * FROM users WHERE account_id=?")}
        self.active = {i for i, u in self.users.items() if u["is_active"]}
        self.statuses = {(s["pipeline_id"], s["id"]): s for s in q("SELECT * FROM statuses WHERE account_id=?")}
        self.leads = {r["id"]: r for r in q("SELECT * FROM leads WHERE account_id=?")}
        self.contacts = {r["id"]: r for r in q("SELECT * FROM contacts WHERE account_id=?")}
        self.companies = {r["id"]: r for r in q("SELECT * FROM companies WHERE account_id=?")}
        self.tasks = q("SELECT * FROM tasks WHERE account_id=?")
        self.notes = q("SELECT * FROM notes WHERE account_id=?")
        self.events = q("SELECT * FROM events WHERE account_id=? ORDER BY created_at, seq")
        self.links = q("SELECT * FROM entity_links WHERE account_id=?")
        self.fields = {r["id"]: r for r in q("SELECT * FROM custom_fields WHERE account_id=?")}
        self.tasks_of = defaultdict(list)
        for t in self.tasks:
            if t["entity_type"] == "leads":
                self.tasks_of[t["entity_id"]].append(t)
        self.notes_of = defaultdict(list)
        for n in self.notes:
            self.notes_of[n["entity_id"]].append(n)
        self.changes_of = defaultdict(list)
        for e in self.events:
            if e["type"] == "lead_status_changed":
                self.changes_of[e["entity_id"]].append(e)

    def is_open(self, lead) -> bool:
        return lead["status_id"] not in (142, 143)

    def status(self, lead):
        return self.statuses[(lead["pipeline_id"], lead["status_id"])]

    def values(self, record, code_or_id) -> list:
        out = []
        for f in json.loads(record["custom_fields_values"] or "[]"):
            if code_or_id in (f.get("field_code"), f.get("field_id")):
                out += [v.get("value") for v in f["values"]]
        return out


def ids(truth, check, entity=None):
    entry = truth["defects"][check]
    return set(entry["by_entity"][entity] if entity else entry["ids"])


# --- ground truth file ------------------------------------------------------------------------------

def test_ground_truth_file_is_the_returned_truth(seeded):
    on_disk = json.loads(seeded.truth_path.read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(seeded.truth))
    assert {"seed", "now", "subdomain", "counts", "defects", "duplicate_groups", "decoys"} <= set(on_disk)
    assert on_disk["seed"] == 7 and on_disk["now"] == NOW and on_disk["subdomain"] == "acme"
    assert on_disk["counts"]["contacts"] == CONTACTS
    assert on_disk["counts"]["leads"] == len(seeded.leads)
    for check, entry in on_disk["defects"].items():
        assert entry["ids"], f"{check} planted nothing"
        assert {"kind", "entity", "ids"} <= set(entry)


def test_summary_prints_one_line(seeded):
    text = str(seeded.summary)
    assert "\n" not in text and f"{CONTACTS:,} contacts" in text and "planted findings" in text
    assert seeded.summary.defects["D01"] == len(seeded.truth["defects"]["D01"]["ids"])


def test_every_truth_id_exists(seeded):
    tables = {"leads": seeded.leads, "contacts": seeded.contacts, "companies": seeded.companies,
              "tasks": {t["id"] for t in seeded.tasks}, "users": seeded.users, "custom_fields": seeded.fields}
    for check, entry in seeded.truth["defects"].items():
        for entity, listed in (entry.get("by_entity") or {entry["entity"]: entry["ids"]}).items():
            missing = set(listed) - set(tables[entity])
            assert not missing, f"{check}: {entity} {sorted(missing)[:5]} do not exist"


# --- deals ------------------------------------------------------------------------------------------

def test_d01_open_leads_without_open_task(seeded):
    found = {i for i, lead in seeded.leads.items() if seeded.is_open(lead) and seeded.status(lead)["type"] != 1
             and not any(not t["is_completed"] for t in seeded.tasks_of[i])}
    assert found == ids(seeded.truth, "D01")
    assert all(seeded.leads[i]["closest_task_at"] is None for i in found)


def test_d02_and_t01_overdue_tasks(seeded):
    overdue = [t for t in seeded.tasks if not t["is_completed"] and t["complete_till"] < NOW]
    assert {t["id"] for t in overdue} == ids(seeded.truth, "T01")
    assert all(NOW - t["complete_till"] >= DAY for t in overdue)
    found = {t["entity_id"] for t in overdue if t["entity_type"] == "leads" and seeded.is_open(seeded.leads[t["entity_id"]])}
    assert found == ids(seeded.truth, "D02")
    clean_open = [t for t in seeded.tasks if not t["is_completed"] and t["complete_till"] >= NOW]
    assert all(t["complete_till"] - NOW >= 2 * DAY for t in clean_open)


def _last_activity(seeded, lead_id) -> int:
    lead = seeded.leads[lead_id]
    times = [lead["created_at"]] + [e["created_at"] for e in seeded.changes_of[lead_id]]
    times += [n["created_at"] for n in seeded.notes_of[lead_id]]
    times += [t["updated_at"] for t in seeded.tasks_of[lead_id] if t["is_completed"]]
    return max(times)


def test_d03_stale_and_d04_stuck(seeded):
    stale = {i for i, lead in seeded.leads.items()
             if seeded.is_open(lead) and NOW - _last_activity(seeded, i) >= 7 * DAY}
    assert stale == ids(seeded.truth, "D03")
    assert all(NOW - seeded.leads[i]["updated_at"] >= 7 * DAY for i in stale)
    stuck = set()
    for i, lead in seeded.leads.items():
        if seeded.is_open(lead):
            changes = seeded.changes_of[i]
            entered = changes[-1]["created_at"] if changes else lead["created_at"]
            if NOW - entered > 7 * DAY:
                stuck.add(i)
    assert stuck == ids(seeded.truth, "D04")
    assert ids(seeded.truth, "D03") < stuck


def test_d05_unsorted_backlog(seeded):
    found = {i for i, lead in seeded.leads.items()
             if seeded.status(lead)["type"] == 1 and NOW - lead["created_at"] > 15 * 60}
    assert found == ids(seeded.truth, "D05")
    unsorted = {r["lead_id"] for r in seeded.store.query("SELECT lead_id FROM unsorted WHERE account_id=?", (seeded.id,))}
    assert unsorted == {i for i, lead in seeded.leads.items() if seeded.status(lead)["type"] == 1}
    assert len(unsorted) > len(found)  # fresh unsorted leads are there and are not a finding


TOUCHES = ("call_in", "call_out", "sms_in", "sms_out")


@pytest.mark.parametrize("threshold_minutes", [5, 15, 59])
def test_d06_slow_first_response(seeded, threshold_minutes):
    found = set()
    for i, lead in seeded.leads.items():
        if seeded.status(lead)["type"] == 1:
            continue
        firsts = [n["created_at"] for n in seeded.notes_of[i] if n["note_type"] in ("call_out", "sms_out")]
        firsts += [t["updated_at"] for t in seeded.tasks_of[i] if t["is_completed"]]
        if min(firsts) - lead["created_at"] > threshold_minutes * 60:
            found.add(i)
    assert found == ids(seeded.truth, "D06")


def test_d07_few_touches_in_24_hours(seeded):
    found = set()
    for i, lead in seeded.leads.items():
        if seeded.status(lead)["type"] == 1 or NOW - lead["created_at"] < DAY:
            continue
        touches = [n for n in seeded.notes_of[i] if n["note_type"] in TOUCHES
                   and n["created_at"] - lead["created_at"] <= DAY]
        if len(touches) < 3:
            found.add(i)
    assert found == ids(seeded.truth, "D07")


def test_d08_lost_without_reason(seeded):
    found = {i for i, lead in seeded.leads.items() if lead["status_id"] == 143 and lead["loss_reason_id"] is None}
    assert found == ids(seeded.truth, "D08")
    reasons = {r[0] for r in seeded.store.query("SELECT id FROM loss_reasons WHERE account_id=?", (seeded.id,))}
    assert all(lead["loss_reason_id"] in reasons for lead in seeded.leads.values()
               if lead["status_id"] == 143 and lead["loss_reason_id"] is not None)


def _stage_sort(seeded, pipeline_id, name):
    return next(s["sort"] for (p, _), s in seeded.statuses.items() if p == pipeline_id and s["name"] == name)


def test_d09_zero_budget_past_offer(seeded):
    found = set()
    for i, lead in seeded.leads.items():
        status = seeded.status(lead)
        past_offer = status["type"] == 0 and status["sort"] >= _stage_sort(seeded, lead["pipeline_id"], "КП отправлено")
        if lead["price"] == 0 and (lead["status_id"] == 142 or (seeded.is_open(lead) and past_offer)):
            found.add(i)
    assert found == ids(seeded.truth, "D09")
    assert all(lead["price"] > 0 for lead in seeded.leads.values() if lead["status_id"] == 143)


def test_d10_required_field_empty(seeded):
    source = next(f for f in seeded.fields.values() if f["name"] == "Источник")
    required = json.loads(source["required_statuses"])
    assert len(required) == 2  # one stage in each pipeline
    found = set()
    for i, lead in seeded.leads.items():
        sort = seeded.status(lead)["sort"]
        needed = any(r["pipeline_id"] == lead["pipeline_id"]
                     and seeded.statuses[(r["pipeline_id"], r["status_id"])]["sort"] <= sort for r in required)
        if needed and not seeded.values(lead, source["id"]):
            found.add(i)
    assert found == ids(seeded.truth, "D10")


def test_d11_lead_without_contact_or_company(seeded):
    linked = {link["entity_id"] for link in seeded.links if link["entity_type"] == "leads"}
    found = set()
    for i, lead in seeded.leads.items():
        status = seeded.status(lead)
        first = min(s["sort"] for (p, _), s in seeded.statuses.items() if p == lead["pipeline_id"] and s["type"] == 0
                    and s["id"] not in (142, 143))
        if i not in linked and seeded.is_open(lead) and status["sort"] > first:
            found.add(i)
    assert found == ids(seeded.truth, "D11")
    assert {i for i in seeded.leads if i not in linked} == found  # all other leads have a contact


def test_d12_c09_u03_deactivated_owners(seeded):
    inactive = set(seeded.users) - seeded.active
    leads = {i for i, lead in seeded.leads.items() if seeded.is_open(lead) and lead["responsible_user_id"] in inactive}
    contacts = {i for i, c in seeded.contacts.items() if c["responsible_user_id"] in inactive}
    companies = {i for i, c in seeded.companies.items() if c["responsible_user_id"] in inactive}
    tasks = {t["id"] for t in seeded.tasks if not t["is_completed"] and t["responsible_user_id"] in inactive}
    truth = seeded.truth
    assert leads == ids(truth, "D12") == ids(truth, "D12", "leads")
    assert contacts == ids(truth, "D12", "contacts") == ids(truth, "C09", "contacts")
    assert companies == ids(truth, "D12", "companies") == ids(truth, "C09", "companies")
    assert tasks == ids(truth, "D12", "tasks")
    owners = {seeded.leads[i]["responsible_user_id"] for i in leads} | {
        seeded.contacts[i]["responsible_user_id"] for i in contacts} | {
        seeded.companies[i]["responsible_user_id"] for i in companies}
    assert owners == ids(truth, "U03")
    # closed leads of deactivated users exist and are not findings
    assert any(not seeded.is_open(lead) and lead["responsible_user_id"] in inactive for lead in seeded.leads.values())


def test_d13_duplicate_open_leads(seeded):
    by_key = defaultdict(set)
    for link in seeded.links:
        if link["entity_type"] == "leads" and link["to_entity_type"] == "contacts" and link["is_main"]:
            lead = seeded.leads[link["entity_id"]]
            if seeded.is_open(lead):
                by_key[(link["to_entity_id"], lead["pipeline_id"])].add(lead["id"])
    groups = sorted(sorted(g) for g in by_key.values() if len(g) > 1)
    assert groups == seeded.truth["defects"]["D13"]["groups"]


def test_d14_closed_with_open_task(seeded):
    found = {i for i, lead in seeded.leads.items()
             if not seeded.is_open(lead) and any(not t["is_completed"] for t in seeded.tasks_of[i])}
    assert found == ids(seeded.truth, "D14")


def test_d15_backward_moves_and_consistent_paths(seeded):
    found = set()
    for i, lead in seeded.leads.items():
        changes = seeded.changes_of[i]
        current = None
        for e in changes:
            before = json.loads(e["value_before"])[0]["lead_status"]
            after = json.loads(e["value_after"])[0]["lead_status"]
            assert current is None or before["id"] == current  # each change starts where the last ended
            current = after["id"]
            b = seeded.statuses[(before["pipeline_id"], before["id"])]["sort"]
            a = seeded.statuses[(after["pipeline_id"], after["id"])]["sort"]
            if a < b:
                found.add(i)
        assert (current or seeded.status(lead)["id"]) == lead["status_id"]
    assert found == ids(seeded.truth, "D15")
    added = [e for e in seeded.events if e["type"] == "lead_added"]
    assert sorted(e["entity_id"] for e in added) == sorted(seeded.leads)
    assert all(e["entity_type"] == "lead" and isinstance(e["id"], str) for e in seeded.events)


# --- contacts and companies -------------------------------------------------------------------------

def _phone(raw):
    try:
        number = phonenumbers.parse(raw, "RU")
    except phonenumbers.NumberParseException:
        return None, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), phonenumbers.is_valid_number(number)


def _email_ok(raw):
    try:
        validate_email(raw, check_deliverability=False)
        return True
    except EmailNotValidError:
        return False


def _exact_groups(records):
    by_key = defaultdict(set)
    for record_id, key in records:
        by_key[key].add(record_id)
    return sorted(sorted(g) for g in by_key.values() if len(g) > 1)


def test_c01_c02_duplicates_by_phone_and_email(seeded):
    phones, emails = [], []
    for i, c in seeded.contacts.items():
        for raw in seeded.values(c, "PHONE"):
            key, valid = _phone(raw)
            if valid:
                phones.append((i, key))
        for raw in seeded.values(c, "EMAIL"):
            if _email_ok(raw):
                emails.append((i, raw.lower()))
    truth = seeded.truth
    office = truth["decoys"]["office_phone"]
    assert _exact_groups(phones) == sorted(truth["defects"]["C01"]["groups"] + office)
    assert _exact_groups(emails) == truth["defects"]["C02"]["groups"]
    # the duplicates really are written differently
    raw_phones = {i: seeded.values(seeded.contacts[i], "PHONE")[0] for g in truth["defects"]["C01"]["groups"] for i in g}
    assert all(raw_phones[i] != raw_phones[g[0]] for g in truth["defects"]["C01"]["groups"] for i in g[1:])
    raw_mails = {i: seeded.values(seeded.contacts[i], "EMAIL")[0] for g in truth["defects"]["C02"]["groups"] for i in g}
    assert all(len({raw_mails[i] for i in g}) > 1 for g in truth["defects"]["C02"]["groups"])


def _similar_pairs(record_ids, keys, cutoff):
    """All pairs of records whose keys score ≥ cutoff (token-sort ratio), compared all against all."""
    pairs = set()
    for a, key in enumerate(keys):
        for _, _, b in process.extract(key, keys, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff, limit=None):
            if a < b:
                pairs.add((record_ids[a], record_ids[b]))
    return pairs


def _key(name):
    return " ".join(name.lower().replace("ё", "е").split())


def test_c03_name_duplicates_and_same_name_decoys(seeded):
    contact_ids = sorted(seeded.contacts)
    names = [_key(seeded.contacts[i]["name"]) for i in contact_ids]
    pairs = _similar_pairs(contact_ids, names, 90)
    truth = seeded.truth
    same_group = {(a, b) for g in truth["defects"]["C03"]["groups"] for a in g for b in g if a < b}
    decoys = {tuple(p) for p in truth["decoys"]["same_name"]}
    assert decoys and decoys <= pairs
    assert pairs - decoys <= same_group  # no clean pair looks alike
    assert {i for p in pairs - decoys for i in p} == ids(truth, "C03")
    for group in truth["defects"]["C03"]["groups"]:  # every planted group is inside one true person
        assert any(set(group) <= set(g) for g in truth["duplicate_groups"]["contacts"])


_LEGAL = re.compile(r"\b(ооо|зао|пао|ао|ип)\b")


def _company_key(name):
    text = re.sub(r"[\"'«»,.]+", " ", name.lower().replace("ё", "е"))
    return " ".join(_LEGAL.sub(" ", text).split())


def _inn(record, seeded):
    inn_field = next(f["id"] for f in seeded.fields.values() if f["name"] == "ИНН")
    values = seeded.values(record, inn_field)
    return values[0] if values else None


def test_c04_duplicate_companies(seeded):
    truth = seeded.truth
    by_inn = _exact_groups([(i, _inn(c, seeded)) for i, c in seeded.companies.items() if _inn(c, seeded)])
    assert by_inn == truth["defects"]["C04"]["by_rule"]["inn"]
    company_ids = sorted(seeded.companies)
    keys = [_company_key(seeded.companies[i]["name"]) for i in company_ids]
    pairs = _similar_pairs(company_ids, keys, 92)
    expected = {(a, b) for g in truth["defects"]["C04"]["groups"] for a in g for b in g if a < b}
    assert pairs == expected
    names = {seeded.companies[g[0]]["name"] != seeded.companies[g[1]]["name"] for g in truth["defects"]["C04"]["groups"]}
    assert names == {True}


def test_c05_c06_channels(seeded):
    no_channel, invalid = set(), set()
    for i, c in seeded.contacts.items():
        phones, mails = seeded.values(c, "PHONE"), seeded.values(c, "EMAIL")
        if not phones and not mails:
            no_channel.add(i)
        if any(not _phone(p)[1] for p in phones) or any(not _email_ok(m) for m in mails):
            invalid.add(i)
    truth = seeded.truth
    assert no_channel == ids(truth, "C05")
    # C05's narrower population: the channel-less contacts an open (or unsorted) lead really links to
    open_linked = {link["to_entity_id"] for link in seeded.links
                   if link["entity_type"] == "leads" and link["to_entity_type"] == "contacts"
                   and seeded.is_open(seeded.leads[link["entity_id"]])}
    assert set(truth["defects"]["C05"]["linked_to_open_leads"]) == no_channel & open_linked
    assert invalid == ids(truth, "C06")
    assert set(truth["decoys"]["placeholder_phone"]) <= invalid


def test_c07_dead_contacts(seeded):
    linked = {link["to_entity_id"] for link in seeded.links if link["to_entity_type"] == "contacts"}
    with_tasks = {t["entity_id"] for t in seeded.tasks if t["entity_type"] == "contacts"}
    with_notes = {n["entity_id"] for n in seeded.notes if n["entity_type"] == "contacts"}
    found = {i for i, c in seeded.contacts.items() if i not in linked | with_tasks | with_notes
             and NOW - max(c["created_at"], c["updated_at"]) > 365 * DAY}
    assert found == ids(seeded.truth, "C07")
    # every clean contact had activity within 10 months
    for i, c in seeded.contacts.items():
        if i not in found:
            assert NOW - c["created_at"] < 305 * DAY


def _inn_valid(digits):
    if not digits or not digits.isdigit():
        return False
    n = [int(c) for c in digits]
    ctl = lambda w: sum(a * b for a, b in zip(n, w)) % 11 % 10  # noqa: E731
    if len(n) == 10:
        return ctl((2, 4, 10, 3, 5, 9, 4, 6, 8)) == n[9]
    if len(n) == 12:
        return ctl((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == n[10] and ctl((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == n[11]
    return False


def test_c08_won_company_without_valid_inn(seeded):
    won_companies = {link["to_entity_id"] for link in seeded.links if link["entity_type"] == "leads"
                     and link["to_entity_type"] == "companies" and seeded.leads[link["entity_id"]]["status_id"] == 142}
    found = {i for i in won_companies if not _inn_valid(_inn(seeded.companies[i], seeded))}
    assert found == ids(seeded.truth, "C08")
    assert any(_inn(seeded.companies[i], seeded) for i in found)  # a corrupted INN, not only empty ones


def test_make_inn_is_valid():
    import random
    rng = random.Random(1)
    assert all(_inn_valid(make_inn(rng, person)) for person in (False, True) for _ in range(200))
    assert len(make_inn(rng, False)) == 10 and len(make_inn(rng, True)) == 12


# --- tasks, users, fields ---------------------------------------------------------------------------

def test_t02_t03(seeded):
    assert {t["id"] for t in seeded.tasks if t["is_completed"] and not t["result"]} == ids(seeded.truth, "T02")
    assert {t["id"] for t in seeded.tasks if t["entity_id"] is None} == ids(seeded.truth, "T03")
    assert all(json.loads(t["result"])["text"] for t in seeded.tasks if t["is_completed"] and t["result"])


def test_u02_export_rights(seeded):
    found = {i for i, u in seeded.users.items() if not u["is_admin"] and any(
        json.loads(u["rights"]).get(e, {}).get("export") == "A" for e in ("leads", "contacts", "companies"))}
    assert found == ids(seeded.truth, "U02")


def test_f01_dead_fields(seeded):
    counts = {"leads": seeded.leads, "contacts": seeded.contacts, "companies": seeded.companies}
    found = set()
    for fid, f in seeded.fields.items():
        records = counts[f["entity_type"]].values()
        filled = sum(1 for r in records if seeded.values(r, fid))
        if filled / len(records) < 0.10:
            found.add(fid)
    assert found == ids(seeded.truth, "F01")


# --- shape of the data ------------------------------------------------------------------------------

def test_phone_formats_are_mixed(seeded):
    shapes = set()
    for c in seeded.contacts.values():
        for raw in seeded.values(c, "PHONE"):
            shapes.add(re.sub(r"\d", "9", raw))
    for shape in ("+9 (999) 999-99-99", "9 999 999 99 99", "99999999999", "+9-999-999-99-99", "9999999999",
                  "8 (999) 999-99-99".replace("8", "9")):
        assert shape in shapes
    assert format_phone(9123456789, 0) == "+7 (912) 345-67-89"
    assert format_phone(9123456789, 1) == "8 912 345 67 89"
    assert format_phone(9123456789, 2) == "89123456789"
    assert format_phone(9123456789, 3) == "+7-912-345-67-89"


def test_records_look_russian_and_consistent(seeded):
    cyrillic = re.compile(r"[А-Яа-яЁё]")
    assert all(cyrillic.search(c["name"]) for c in seeded.contacts.values())
    assert all(cyrillic.search(c["name"]) for c in seeded.companies.values())
    for lead in seeded.leads.values():
        assert lead["created_at"] <= lead["updated_at"] <= NOW
        assert (lead["closed_at"] is not None) == (not seeded.is_open(lead))
        open_due = [t["complete_till"] for t in seeded.tasks_of[lead["id"]] if not t["is_completed"]]
        assert lead["closest_task_at"] == (min(open_due) if open_due else None)
    main = [link for link in seeded.links if link["to_entity_type"] == "contacts"]
    assert all(seeded.contacts[link["to_entity_id"]]["created_at"] <= seeded.leads[link["entity_id"]]["created_at"]
               for link in main if link["entity_type"] == "leads")
    pipelines = {lead["pipeline_id"] for lead in seeded.leads.values()}
    assert len(pipelines) == 2
    ratio = len(seeded.leads) / len(seeded.contacts)
    assert 0.95 <= ratio <= 1.2


def test_counts_match_the_rates(seeded):
    rates, truth = DefectRates(), seeded.truth
    primary = CONTACTS - _count(rates.dead_contacts, CONTACTS)
    for check, attr in [("D01", "lead_without_task"), ("D02", "lead_task_overdue"), ("D03", "stale_lead"),
                        ("D05", "unsorted_backlog"), ("D06", "slow_first_response"), ("D07", "few_touches"),
                        ("D08", "lost_without_reason"), ("D09", "zero_budget"), ("D10", "required_field_empty"),
                        ("D11", "lead_without_contact"), ("D12", "lead_owner_deactivated"),
                        ("D14", "closed_with_open_task"), ("D15", "moved_backwards")]:
        assert len(ids(truth, check)) == _count(getattr(rates, attr), primary), check
    assert len(truth["defects"]["D04"]["ids"]) == _count(rates.stale_lead, primary) + _count(rates.stuck_lead, primary)
    assert len(truth["defects"]["D13"]["groups"]) == _count(rates.duplicate_open_lead, primary)
    copies = sum(len(g) - 1 for g in truth["duplicate_groups"]["contacts"])
    assert copies == _count(rates.duplicate_contacts, CONTACTS)
    assert len(ids(truth, "C05")) == _count(rates.contacts_without_channel, CONTACTS)
    assert len(ids(truth, "C07")) == _count(rates.dead_contacts, CONTACTS)
    assert len(ids(truth, "C09", "contacts")) == _count(rates.contact_owner_deactivated, CONTACTS)
    companies = len(seeded.companies) - len(truth["duplicate_groups"]["companies"])
    assert len(truth["duplicate_groups"]["companies"]) == _count(rates.duplicate_companies, companies)
    completed = sum(1 for t in seeded.tasks if t["is_completed"])
    assert abs(len(ids(truth, "T02")) / completed - rates.task_without_result) < 0.01


def test_custom_rates_are_honoured(tmp_path):
    store = Store(tmp_path / "s.db")
    account = bootstrap_account(store, "rates")
    rates = DefectRates(lead_without_task=0.1, duplicate_contacts=0.0, dead_contacts=0.0)
    summary = seed_account(store, account, contacts=300, seed=3, now=NOW, rates=rates)
    truth = summary.ground_truth
    assert len(truth["defects"]["D01"]["ids"]) == _count(0.1, 300)
    assert truth["duplicate_groups"]["contacts"] == [] and truth["defects"]["C07"]["ids"] == []


# --- determinism and isolation ----------------------------------------------------------------------

TABLES = ("users", "user_groups", "roles", "pipelines", "statuses", "custom_fields", "loss_reasons", "contacts",
          "companies", "leads", "entity_links", "tasks", "notes", "events", "unsorted")


def _digest(store, account_id):
    h = hashlib.sha256()
    for table in TABLES:
        for row in store.query(f"SELECT * FROM {table} WHERE account_id=? ORDER BY 2, 3", (account_id,)):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def test_same_seed_same_rows_and_truth(tmp_path):
    a_store, a, a_sum = _seed(tmp_path / "a.db", contacts=500)
    b_store, b, b_sum = _seed(tmp_path / "b.db", contacts=500)
    assert _digest(a_store, a) == _digest(b_store, b)
    assert a_sum.ground_truth == b_sum.ground_truth
    c_store, c, c_sum = _seed(tmp_path / "c.db", contacts=500, seed=8)
    assert _digest(c_store, c) != _digest(a_store, a)
    assert c_sum.ground_truth["defects"] != a_sum.ground_truth["defects"]


def test_seeding_another_account_leaves_the_first_unchanged(tmp_path):
    store, first, _ = _seed(tmp_path / "s.db", contacts=300)
    before = _digest(store, first)
    _, second, summary = _seed(None, contacts=300, subdomain="other", store=store)
    assert second != first
    assert _digest(store, first) == before
    assert summary.counts["contacts"] == 300
    overlap = store.query("SELECT count(*) FROM contacts a JOIN contacts b ON a.id = b.id "
                          "WHERE a.account_id=? AND b.account_id=?", (first, second))[0][0]
    assert overlap == 0


def test_bad_input_is_refused(tmp_path):
    store = Store(tmp_path / "s.db")
    account = bootstrap_account(store, "bad")
    with pytest.raises(ValueError, match="at least 1"):
        seed_account(store, account, contacts=0, seed=1, now=NOW)
    with pytest.raises(ValueError, match="no account"):
        seed_account(store, 999_999, contacts=10, seed=1, now=NOW)
    seed_account(store, account, contacts=50, seed=1, now=NOW)
    with pytest.raises(ValueError, match="already has contacts"):
        seed_account(store, account, contacts=50, seed=1, now=NOW)


# --- what a live account has besides records --------------------------------------------------------
def test_seeded_account_has_stage_rights_a_grouped_admin_tags_sources_and_webhooks(harness):
    sandbox = harness.sandbox
    account = sandbox.create_account("rich")
    seed_account(sandbox.store, account, contacts=200, seed=3, now=NOW)
    c = harness.client("rich", sandbox.token("rich"))
    stages = {(p["id"], s["id"]) for p in c.get("/leads/pipelines").json()["_embedded"]["pipelines"]
              for s in p["_embedded"]["statuses"]}
    roles = c.get("/roles").json()["_embedded"]["roles"]
    assert len(roles) == 2
    for role in roles:
        rights = role["rights"]["status_rights"]
        assert {(r["pipeline_id"], r["status_id"]) for r in rights} == stages
        assert all(set(r["rights"].values()) <= {"A", "D"} and r["entity_type"] == "leads" for r in rights)
    users = c.get("/users", params={"with": "group,role", "limit": 250}).json()["_embedded"]["users"]
    assert all(u["rights"]["status_rights"] for u in users if not u["rights"]["is_admin"])
    admin = next(u for u in users if u["rights"]["is_admin"])
    groups = c.get("/account", params={"with": "users_groups"}).json()["_embedded"]["users_groups"]
    assert admin["rights"]["group_id"] in {g["id"] for g in groups} - {0}
    assert admin["_embedded"]["groups"][0]["id"] == admin["rights"]["group_id"]
    lead_tags = c.get("/leads/tags").json()["_embedded"]["tags"]
    assert len(lead_tags) == 6 and all(t["color"] for t in lead_tags)
    assert len(c.get("/contacts/tags").json()["_embedded"]["tags"]) == 3
    tagged = sandbox.store.query("SELECT count(*) FROM leads WHERE account_id=? AND tags != '[]'", (account,))[0][0]
    leads = sandbox.store.query("SELECT count(*) FROM leads WHERE account_id=?", (account,))[0][0]
    assert 0.15 * leads < tagged < 0.45 * leads
    one = sandbox.store.query("SELECT id FROM leads WHERE account_id=? AND tags != '[]' LIMIT 1", (account,))[0][0]
    assert c.get(f"/leads/{one}").json()["_embedded"]["tags"][0]["name"] in {t["name"] for t in lead_tags}
    assert [s["origin_code"] for s in c.get("/sources").json()["_embedded"]["sources"]] == ["site_form", "whatsapp"]
    hooks = c.get("/webhooks").json()["_embedded"]["webhooks"]
    assert [h["settings"] for h in hooks] == [["add_lead", "update_lead", "status_lead"]]
