"""Seed a Directum RX instance with a counterparty directory, planted defects and their ground truth.

`seed_instance(store, account_id, companies=N, seed=S, ground_truth_path=None)` fills an instance
that `instance.create_instance` made. Records are entered the way users and the import tool enter
them: names as «ООО "Ромашка"», «Ромашка ООО», «ООО «Ромашка»», in upper case or with the legal
form spelled out; phones as free text; e-mails in any case. The same seed gives the same rows.

Clean records trigger no check: a clean company or bank is a resident with a valid 10-digit TIN, a
KPP of the FNS form, a valid 13-digit PSRN and a legal address; TINs are unique; names are unique
ignoring case; every active contact and every person has a phone or an e-mail; a closed company has
no active contact. Nonresident companies (foreign TIN, no KPP or PSRN) are clean too: the
vendor's checks are off for them.

Planted defects, each by the fact that defines it (reference/directum-rx.md §3 and §5), keyed by the
audit check that finds it (audits/X*.yaml):

- X01 duplicates "same TIN and KPP" (the cleaning template's duplicate): a company and a later copy
  with the same TIN and KPP, its name written another way;
- X02 "same TIN, one KPP empty" (the base platform rule): a company and a copy without KPP
  (the copy is also X06: a 10-digit-TIN company without KPP);
- X03 "same TIN, another KPP" (the cleaning template's possible duplicate);
- X04 "same name ignoring case, TIN empty" (both are also X06: no TIN);
- X05 contacts with the same name in one company;
- X06 missing requisites of a resident legal entity: no TIN, a 10-digit TIN without KPP, no PSRN, or no
  legal address;
- X07 TIN that fails the FNS check (checksum, length, letters) on a resident — legacy data or data
  loaded before the check, which the server would refuse today;
- X08 KPP not of the form NNNNPPNNN (a Cyrillic «О» for a zero, a missing digit, spaces);
- X09 PSRN (ОГРН) of a wrong length or with a wrong check digit;
- X10 closed counterparty still holding active contacts;
- X11 active contact without phone and e-mail;
- X12 person without phone and e-mail.

Ground truth (the other seeders' format)::

    {"seed", "instance", "account_id", "counts": {type: rows},
     "defects": {"X01": {"entity", "ids", ["groups"]}, ...}}
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from implkit.sandbox import names as N
from implkit.sandbox.directum.models.instance import insert
from implkit.sandbox.names import format_phone, make_inn
from implkit.sandbox.store import Store
from implkit.yamlio import atomic_write

CITIES = [("Москва", "Москва", "77"), ("Санкт-Петербург", "Санкт-Петербург", "78"),
          ("Екатеринбург", "Свердловская область", "66"), ("Новосибирск", "Новосибирская область", "54")]
STREETS = ["ул. Ленина", "пр. Мира", "ул. Советская", "ул. Садовая", "Лесная ул.", "ул. Гагарина"]
BANKS = [("ПАО Сбербанк", "044525225"), ("Банк ВТБ (ПАО)", "044525187"), ("АО «Альфа-Банк»", "044525593")]
FOREIGN = [("Siemens AG", "DE129273398"), ("Huawei Technologies Co., Ltd.", "CN914403001922038216")]


def make_psrn(rng: random.Random, region: str) -> str:
    """A valid 13-digit ОГРН: the control digit is the 12-digit prefix mod 11, mod 10."""
    body = f"1{rng.randrange(2, 24):02d}{region}{rng.randrange(10 ** 7):07d}"
    return body + str(int(body) % 11 % 10)


def make_trrc(tin: str, rng: random.Random) -> str:
    return f"{tin[:4]}{rng.choice(['01', '01', '43', '45'])}{rng.choice(['001', '001', '002'])}"


def break_tin(tin: str, how: int) -> str:
    if how == 0:                                   # the control digit off by one
        return tin[:-1] + str((int(tin[-1]) + 1) % 10)
    if how == 1:                                   # a digit lost
        return tin[:-1]
    return tin[:3] + "O" + tin[4:]                 # a letter O typed for a zero


def break_trrc(trrc: str, how: int) -> str:
    if how == 0:
        return trrc[:4] + "О" + trrc[5:]           # Cyrillic О for 0
    if how == 1:
        return trrc[:-1]                           # eight digits
    return f"{trrc[:4]} {trrc[4:6]} {trrc[6:]}"    # typed with spaces


def break_psrn(psrn: str, how: int) -> str:
    if how == 0:
        return psrn[:-1] + str((int(psrn[-1]) + 1) % 10)
    return psrn[:-1]                               # twelve digits


def styled(core: str, form: str, style: int) -> str:
    """A company name as people type it."""
    full = {"ООО": "Общество с ограниченной ответственностью", "АО": "Акционерное общество"}.get(form, form)
    return [f'{form} "{core}"', f"{form} «{core}»", f"{core} {form}", f"{core}, {form}",
            f'{full} "{core}"', f'{form} "{core}"'.upper(), core][style % 7]


class _Seeder:
    def __init__(self, store: Store, account_id: int, seed: int):
        self.store, self.account_id, self.rng = store, account_id, random.Random(seed)
        self.used_tins: set[str] = set()
        self.used_cores: set[str] = set()
        self.truth: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self.phone_seq = 0
        self.contact_names: set[str] = set()

    # -- values -----------------------------------------------------------------------------
    def tin(self, person: bool = False) -> str:
        while True:
            value = make_inn(self.rng, person)
            if value not in self.used_tins and not value.startswith("00"):
                self.used_tins.add(value)
                return value

    def core(self) -> str:
        while True:
            value = f"{self.rng.choice(N.COMPANY_PREFIXES)}{self.rng.choice(N.COMPANY_ROOTS)}"
            if value.lower() not in self.used_cores:
                self.used_cores.add(value.lower())
                return value

    def phone(self) -> str:
        self.phone_seq += 1
        return format_phone(9000000000 + self.phone_seq * 7919 % 99999999, self.rng.randrange(8))

    def address(self) -> str:
        city = self.rng.choice(CITIES)[0]
        return f"{self.rng.randrange(101000, 199000)}, г. {city}, {self.rng.choice(STREETS)}, д. {self.rng.randrange(1, 120)}"

    def plant(self, check: str, entity: str, ids, group: bool = False) -> None:
        entry = self.truth.setdefault(check, {"entity": entity, "ids": []})
        entry["ids"].extend(ids)
        if group:
            entry.setdefault("groups", []).append(list(ids))

    # -- records ----------------------------------------------------------------------------
    def add(self, type_name: str, data: dict, refs: dict | None = None) -> int:
        self.counts[type_name] = self.counts.get(type_name, 0) + 1
        return insert(self.store, self.account_id, [(type_name, data, refs or {})])[0]

    def company_data(self, core: str | None = None, **overrides) -> dict:
        core = core or self.core()
        tin = self.tin()
        form = self.rng.choice(["ООО", "ООО", "АО"])
        data = {"Name": styled(core, form, self.rng.randrange(7)), "LegalName": f'{form} "{core}"',
                "Status": "Active", "TIN": tin, "TRRC": make_trrc(tin, self.rng),
                "PSRN": make_psrn(self.rng, tin[:2]), "LegalAddress": self.address(), "Phones": self.phone(),
                "Email": f"info@{N.translit(core).lower()}.example", "Nonresident": False, "CanExchange": False,
                "IsCardReadOnly": False}
        data.update(overrides)
        return data

    def company(self, refs_extra: dict | None = None, **overrides) -> int:
        refs = {"Responsible": self.rng.choice(self.employees), "City": self.rng.choice(self.cities)}
        refs.update(refs_extra or {})
        return self.add("Company", self.company_data(**overrides), refs)

    def contact(self, company_id: int, name: str | None = None, status: str = "Active", reachable: bool = True) -> int:
        while name is None:            # clean contacts never share a name (only X05 plants do)
            candidate = self.person_name()
            if candidate not in self.contact_names:
                self.contact_names.add(name := candidate)
        data = {"Name": name, "Status": status, "JobTitle": self.rng.choice(N.POSITIONS)}
        if reachable:
            if self.rng.random() < 0.7:
                data["Phone"] = self.phone()
            if "Phone" not in data or self.rng.random() < 0.5:
                data["Email"] = f"{N.translit(name.split()[0]).lower()}{self.phone_seq}@{self.rng.choice(N.EMAIL_DOMAINS)}"
        return self.add("Contact", data, {"Company": company_id})

    def person_name(self) -> str:
        first = self.rng.choice(N.MALE_FIRST)
        first = first[0] if isinstance(first, tuple) else first
        return f"{self.rng.choice(N.SURNAMES)} {first}"

    def person(self, reachable: bool = True, **overrides) -> int:
        last, first = self.person_name().split()
        middle = self.rng.choice(["Иванович", "Петрович", "Сергеевич", None])
        data = {"Name": " ".join(p for p in (last, first, middle) if p), "LastName": last, "FirstName": first,
                "MiddleName": middle, "Status": "Active", "Nonresident": False,
                "TIN": self.tin(person=True) if self.rng.random() < 0.6 else None}
        if reachable:
            data["Phones"] = self.phone()
            if self.rng.random() < 0.4:
                data["Email"] = f"{N.translit(last).lower()}{self.phone_seq}@{self.rng.choice(N.EMAIL_DOMAINS)}"
        data.update(overrides)
        return self.add("Person", data, {"Responsible": self.rng.choice(self.employees)})

    # -- the directory -------------------------------------------------------------------------
    def run(self, companies: int, persons: int) -> None:
        rng = self.rng
        self.employees = [1] + [self.add("Employee", {"Name": self.person_name(), "Status": "Active",
                                                      "Email": f"manager{i}@rx.example", "Phone": None,
                                                      "PersonnelNumber": f"{100 + i}"}) for i in range(4)]
        regions = {r: self.add("Region", {"Name": r, "Code": code, "Status": "Active"}) for _, r, code in CITIES}
        self.cities = [self.add("City", {"Name": c, "Status": "Active"}, {"Region": regions[r]}) for c, r, _ in CITIES]
        for name, bic in BANKS:
            tin = self.tin()
            self.add("Bank", {"Name": name, "LegalName": name, "Status": "Active", "TIN": tin,
                              "TRRC": make_trrc(tin, rng), "PSRN": make_psrn(rng, tin[:2]), "BIC": bic,
                              "CorrespondentAccount": f"30101810{rng.randrange(10 ** 12):012d}",
                              "LegalAddress": self.address(), "Nonresident": False, "IsSystem": False,
                              "CanExchange": False, "IsCardReadOnly": False})
        # clean companies with their contacts; some closed, with no active contact
        for i in range(companies):
            closed = i % 9 == 8
            company_id = self.company(Status="Closed" if closed else "Active")
            for _ in range(rng.randrange(0, 3)):
                self.contact(company_id, status="Closed" if closed else "Active")
        for name, tin in FOREIGN:
            self.add("Company", {"Name": name, "Status": "Active", "TIN": tin, "Nonresident": True,
                                 "LegalAddress": "Abroad", "CanExchange": False, "IsCardReadOnly": False},
                     {"Responsible": self.employees[1]})
        for _ in range(persons):
            self.person()
        k = max(1, companies // 15)
        # X01: same TIN and KPP
        for _ in range(k):
            core = self.core()
            original = self.company_data(core=core)
            a = self.add("Company", original, {"Responsible": self.employees[1]})
            copy = {**original, "Name": styled(core, original["LegalName"].split()[0], rng.randrange(7) + 1)}
            if copy["Name"] == original["Name"]:
                copy["Name"] = original["Name"].upper() + " "
            b = self.add("Company", copy, {"Responsible": self.employees[2]})
            self.plant("X01", "counterparties", [a, b], group=True)
        # X02: same TIN, the copy without KPP (also X06)
        for _ in range(k):
            core = self.core()
            original = self.company_data(core=core)
            a = self.add("Company", original, {})
            b = self.add("Company", {**original, "Name": core, "TRRC": None, "LegalName": None}, {})
            self.plant("X02", "counterparties", [a, b], group=True)
            self.plant("X06", "counterparties", [b])
        # X03: same TIN, another KPP (a branch entered as a new company)
        for _ in range(k):
            original = self.company_data()
            a = self.add("Company", original, {})
            other = original["TRRC"][:4] + ("02" if original["TRRC"][4:6] != "02" else "03") + original["TRRC"][6:]
            b = self.add("Company", {**original, "Name": original["Name"] + " (филиал)", "TRRC": other}, {})
            self.plant("X03", "counterparties", [a, b], group=True)
        # X04: same name ignoring case, no TIN (both also X06)
        for _ in range(k):
            core = self.core()
            name = f'ООО "{core}"'
            a = self.company(TIN=None, TRRC=None, PSRN=None, Name=name)
            b = self.company(TIN=None, TRRC=None, PSRN=None, Name=name.upper())
            self.plant("X04", "counterparties", [a, b], group=True)
            self.plant("X06", "counterparties", [a, b])
        # X05: two contacts of one company with the same name
        for _ in range(k):
            company_id = self.company()
            name = self.person_name()
            self.plant("X05", "contacts", [self.contact(company_id, name), self.contact(company_id, name)], group=True)
        # X06: missing requisites (one each)
        for what in ("TIN", "TRRC", "PSRN", "LegalAddress")[: max(1, min(4, k + 1))] * max(1, k // 2):
            extra = {what: None}
            if what == "TIN":
                extra["TRRC"] = None
            self.plant("X06", "counterparties", [self.company(**extra)])
        # X07: TIN failing the FNS check (companies and persons)
        for i in range(k + 1):
            tin = break_tin(self.tin(), i % 3)
            self.plant("X07", "counterparties", [self.company(TIN=tin, TRRC=make_trrc(tin.replace("O", "0"), rng))])
        for i in range(max(1, k // 2)):
            self.plant("X07", "counterparties", [self.person(TIN=break_tin(self.tin(person=True), i % 2))])
        # X08: KPP of a wrong form
        for i in range(k + 1):
            tin = self.tin()
            self.plant("X08", "counterparties", [self.company(TIN=tin, TRRC=break_trrc(make_trrc(tin, rng), i % 3))])
        # X09: PSRN of a wrong length or check digit
        for i in range(k + 1):
            self.plant("X09", "counterparties", [self.company(PSRN=break_psrn(make_psrn(rng, "77"), i % 2))])
        # X10: closed company with active contacts
        for _ in range(k):
            company_id = self.company(Status="Closed")
            self.contact(company_id)
            self.plant("X10", "counterparties", [company_id])
        # X11: active contacts without phone and e-mail, in clean companies
        for _ in range(k + 1):
            self.plant("X11", "contacts", [self.contact(self.company(), reachable=False)])
        # X12: persons without phone and e-mail
        for _ in range(k):
            self.plant("X12", "counterparties", [self.person(reachable=False)])


def seed_instance(store: Store, account_id: int, *, companies: int = 60, persons: int = 20, seed: int = 0,
                  ground_truth_path: str | Path | None = None) -> dict[str, Any]:
    """Fill instance `account_id` (it must have no counterparties yet); returns the ground truth."""
    if store.query("SELECT 1 FROM drx_records WHERE account_id=? AND tbl='counterparty' LIMIT 1", (account_id,)):
        raise ValueError("the instance already has counterparties; seed a fresh one")
    name = store.query("SELECT subdomain FROM accounts WHERE id=?", (account_id,))[0]["subdomain"]
    seeder = _Seeder(store, account_id, seed)
    seeder.run(companies, persons)
    for entry in seeder.truth.values():
        entry["ids"] = sorted(set(entry["ids"]))
    truth = {"seed": seed, "instance": name, "account_id": account_id, "counts": seeder.counts,
             "defects": dict(sorted(seeder.truth.items()))}
    if ground_truth_path is not None:
        atomic_write(Path(ground_truth_path), json.dumps(truth, ensure_ascii=False, indent=1))
    return truth
