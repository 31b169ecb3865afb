"""A generator of realistic Russian duplicate corpora, with the truth taken from its own people.

    from duplicate_corpus import generate, load_over_api
    corpus = generate(contacts=2500, seed=7)

The generator first invents *people* and *legal entities*, then writes CRM
records of them the way managers, forms and telephony do. The truth is which
person (entity) each record was written for — never what a matcher decides.

Variants of one person (duplicates to find):
- phone formats (`8 (912) 345-67-89`, `+7 912 345 67 89`, `9123456789`, `+7(912)3456789`);
- e-mail case and stray spaces;
- name order, case, extra spaces, ё/е, initials (`Иванов И. П.`), a patronymic
  added or dropped, a diminutive (`Саша`), Latin transliteration (`Ivan Petrov`),
  one typo in the surname;
- copies that share only the phone, only the e-mail, both, or are linked only
  through a third record (one copy has the phone, another the e-mail);
- a copy with no channel at all, in the same company under the same name.

Hard negatives (different people or entities that look alike):
- namesakes (same first name and surname) with their own phones and e-mails,
  in the same company or not;
- office lines shared by colleagues and *not* on the company card;
- generic mailboxes (info@, office@, sales@) on several colleagues;
- relatives on one home phone: husband and wife (Иванов / Иванова), father and
  son with one first name told apart by the patronymic, mother and daughter;
- companies: branches (one INN, different KPPs), different companies with
  similar names (one region word apart) and their own valid INNs.

Copies of a company: the legal form moved or dropped, quotes changed, upper
case, Latin transliteration with LLC, the same INN with the same or an empty
KPP, or no INN at all (then only the name can tell).

What the generator does not plant because no evidence could tell it (stated so
the scores are honest): two colleagues with the same first name and surname
on one shared line, and a copy whose name is only an initial sharing a home
phone with a relative of the same initial.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from implkit.sandbox import names as N

_ICAO = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s", "t",
     "u", "f", "kh", "ts", "ch", "sh", "shch", "ie", "y", "", "e", "iu", "ia"]))
GENERIC = ["info", "office", "sales", "zakaz", "manager"]
PHONE_STYLES = ["8 ({a}) {b}-{c}-{d}", "+7 {a} {b} {c} {d}", "{a}{b}{c}{d}", "+7({a}){b}-{c}{d}",
                "8{a}{b}{c}{d}", "+7 ({a}) {b}-{c}-{d}", "7 {a} {b}{c}{d}", " +7-{a}-{b}-{c}-{d} "]
REGIONS = ["Урал", "Сибирь", "Юг", "Север", "Центр", "Поволжье", "Кубань", "Алтай"]


def latin(text: str) -> str:
    """Cyrillic → Latin as in a passport (ICAO 9303), keeping capitals."""
    out = []
    for ch in text:
        low = ch.lower()
        t = _ICAO.get(low, ch)
        out.append(t.capitalize() if ch != low and t else t)
    return "".join(out)


def format_phone(national: int, style: int) -> str:
    s = str(national)
    return PHONE_STYLES[style].format(a=s[:3], b=s[3:6], c=s[6:8], d=s[8:])


def make_inn(rng: random.Random) -> str:
    """A valid 10-digit INN of a legal entity (FNS control digit)."""
    digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    control = sum(d * w for d, w in zip(digits, weights)) % 11 % 10
    return "".join(map(str, digits + [control]))


@dataclass
class Corpus:
    seed: int
    companies: list[dict[str, Any]] = field(default_factory=list)   # records: name, inn, kpp, phones
    contacts: list[dict[str, Any]] = field(default_factory=list)    # records: name, phones, emails, company
    person: list[int] = field(default_factory=list)                 # contact index → person id (the truth)
    entity: list[int] = field(default_factory=list)                 # company index → legal entity id
    shared_lines: list[dict[str, Any]] = field(default_factory=list)  # kind, national/address, people
    variants: dict[str, int] = field(default_factory=dict)          # how many copies of each kind were written

    def count(self, what: str, k: int = 1) -> None:
        self.variants[what] = self.variants.get(what, 0) + k


def generate(contacts: int = 2500, seed: int = 7, *, shard: int = 0, shards: int = 1) -> Corpus:
    """About `contacts` contact records (some are copies of one person) and their companies.

    The name lists hold about 10,000 company names, so one corpus stops near 100,000 contacts; a bigger
    account is `shards` corpora side by side, shard k drawing from its own slice of the phone numbers,
    its own company names (numbered) and mailbox names, so that no two shards share a person, a line
    or a company. With `shards=1` (the default) the corpus is exactly what it always was for a seed."""
    rng = random.Random(seed)
    mobile_span, office_span = 10_000_000 // shards, 9_000_000 // shards
    corpus = Corpus(seed)
    used_phones: set[int] = set()
    used_inns: set[str] = set()
    used_emails: set[str] = set()

    def phone() -> int:
        while True:
            national = rng.choice(N.MOBILE_CODES) * 10_000_000 + (
                rng.randrange(10_000_000) if shards == 1 else shard * mobile_span + rng.randrange(mobile_span))
            if national not in used_phones:
                used_phones.add(national)
                return national

    def office_phone() -> int:
        while True:
            national = rng.choice(N.CITY_CODES) * 10_000_000 + (
                rng.randrange(1_000_000, 10_000_000) if shards == 1
                else 1_000_000 + shard * office_span + rng.randrange(office_span))
            if national not in used_phones:
                used_phones.add(national)
                return national

    def inn() -> str:
        while True:
            value = make_inn(rng)
            if value not in used_inns:
                used_inns.add(value)
                return value

    # --- legal entities and their company records ---------------------------------------------------------
    n_entities = max(4, contacts // 12)
    cores: list[str] = []
    used_cores: set[str] = set()
    while len(cores) < n_entities:
        core = rng.choice(N.COMPANY_PREFIXES) + rng.choice(N.COMPANY_ROOTS)
        if rng.random() < 0.3:
            core += " " + rng.choice(REGIONS)
        if shards > 1:
            core += f" {shard + 1}"
        if core not in used_cores:
            used_cores.add(core)
            cores.append(core)
    entity_company: list[int] = []  # entity → its first company record (contacts link to it)
    domains: list[str] = []
    for e, core in enumerate(cores):
        form = rng.choice(["ООО", "ООО", "АО", "ПАО", "ЗАО"])
        value = inn() if rng.random() < 0.85 else None
        kpp = f"{rng.randint(10, 99)}{rng.randint(10, 99)}01001" if value and rng.random() < 0.6 else None
        card_phone = office_phone() if rng.random() < 0.5 else None
        entity_company.append(len(corpus.companies))
        domains.append(N.translit(core).replace(" ", "-") + ".ru")
        corpus.companies.append({"name": rng.choice([f"{form} «{core}»", f'{form} "{core}"', f"{form} {core}"]),
                                 "inn": value, "kpp": kpp, "phones": [card_phone] if card_phone else [],
                                 "core": core, "form": form})
        corpus.entity.append(e)
    # copies of a company (duplicates)
    for e in rng.sample(range(n_entities), max(1, n_entities // 10)):
        base = corpus.companies[entity_company[e]]
        core, form = base["core"], base["form"]
        how = rng.choice(["same_inn", "same_inn", "empty_kpp", "no_inn", "no_inn"])
        if base["inn"] is None:
            how = "no_inn"
        name = rng.choice([f"{core} {form}", f"«{core}»", f"{form} «{core.upper()}»", f"{core}, {form}",
                           f"{latin(core)} LLC", core.lower()])
        record = {"name": name, "inn": base["inn"] if how != "no_inn" else None,
                  "kpp": base["kpp"] if how == "same_inn" else None, "phones": [], "core": core, "form": form}
        corpus.companies.append(record)
        corpus.entity.append(e)
        corpus.count(f"company copy: {how}")
    # branches: one INN, another KPP — another legal unit, not a duplicate
    with_kpp = [e for e in range(n_entities) if corpus.companies[entity_company[e]]["kpp"]]
    for e in rng.sample(with_kpp, min(len(with_kpp), max(1, n_entities // 30))):
        base = corpus.companies[entity_company[e]]
        other = base["kpp"]
        while other == base["kpp"]:
            other = f"{rng.randint(10, 99)}{rng.randint(10, 99)}01001"
        corpus.companies.append({"name": f"{base['form']} «{base['core']}» филиал {rng.choice(REGIONS)}",
                                 "inn": base["inn"], "kpp": other, "phones": [], "core": base["core"],
                                 "form": base["form"]})
        corpus.entity.append(n_entities + len(corpus.companies))  # an entity of its own
        corpus.count("hard negative: branch (one INN, another KPP)")
    # different companies with similar names and their own INNs
    for e in rng.sample(range(n_entities), max(1, n_entities // 30)):
        base = corpus.companies[entity_company[e]]
        region = rng.choice([r for r in REGIONS if r not in base["core"]])
        similar = f"{base['core'].split()[0]} {region}"
        if similar in used_cores:  # that is another entity's very name, not a similar one
            continue
        used_cores.add(similar)
        corpus.companies.append({"name": f"{base['form']} «{similar}»", "inn": inn(),
                                 "kpp": None, "phones": [], "core": base["core"], "form": base["form"]})
        corpus.entity.append(n_entities + len(corpus.companies))
        corpus.count("hard negative: similar company name, other INN")

    # --- people and their contact records -------------------------------------------------------------------
    people: list[dict[str, Any]] = []
    names_in_company: dict[int | None, set[tuple[str, str]]] = {}

    def person(company: int | None, *, male: bool | None = None, first: tuple | None = None,
               surname: str | None = None, father: tuple | None = None) -> dict[str, Any]:
        male = rng.random() < 0.5 if male is None else male
        for _ in range(100):
            if first is None or _ > 0:
                first_ = rng.choice(N.MALE_FIRST) if male else rng.choice(N.FEMALE_FIRST)
            else:
                first_ = first
            base_surname = surname or rng.choice(N.SURNAMES)
            key = (first_[0], base_surname)
            if key not in names_in_company.setdefault(company, set()) or company is None:
                break
        names_in_company[company].add(key)
        dad = father or rng.choice(N.MALE_FIRST)
        p = {"id": len(people), "male": male, "first": first_[0], "dim": first_[-1],
             "last": base_surname if male else N.feminine(base_surname), "surname": base_surname,
             "patronymic": dad[1] if male else dad[2], "company": company,
             "phone": phone() if rng.random() < 0.9 else None, "email": None, "records": []}
        if rng.random() < 0.6:
            p["email"] = email_for(p)
        people.append(p)
        return p

    def email_for(p: dict[str, Any]) -> str:
        f, l = N.translit(p["first"]), N.translit(p["last"])
        domain = domains[p["company"]] if p["company"] is not None and rng.random() < 0.6 \
            else rng.choice(N.EMAIL_DOMAINS)
        local = rng.choice([f"{f}.{l}", f"{l}.{f}", f"{f[0]}{l}", f"{l}{rng.randint(70, 99)}"])
        if shards > 1:
            local += f".{shard + 1}"
        address, k = f"{local}@{domain}", 1
        while address in used_emails:
            k += 1
            address = f"{local}{k}@{domain}"
        used_emails.add(address)
        return address

    def record(p: dict[str, Any], name: str, phones: list[str], emails: list[str], company: int | None,
               what: str) -> None:
        corpus.contacts.append({"name": name, "phones": phones, "emails": emails,
                                "company": entity_company[company] if company is not None else None})
        corpus.person.append(p["id"])
        p["records"].append(len(corpus.contacts) - 1)
        corpus.count(what)

    def clean_name(p: dict[str, Any]) -> str:
        return rng.choice([f"{p['first']} {p['last']}", f"{p['last']} {p['first']}",
                           f"{p['last']} {p['first']} {p['patronymic']}"])

    def variant_name(p: dict[str, Any], avoid_initials: bool) -> tuple[str, str]:
        kinds = ["order", "case", "spaces", "yo", "patronymic", "diminutive", "latin", "typo", "initials"]
        if avoid_initials:
            kinds.remove("initials")
        kind = rng.choice(kinds)
        first, last, pat = p["first"], p["last"], p["patronymic"]
        if kind == "order":
            return kind, f"{last} {first}" if rng.random() < 0.5 else f"{first} {pat} {last}"
        if kind == "case":
            return kind, rng.choice([f"{last} {first}".upper(), f"{first} {last}".lower()])
        if kind == "spaces":
            return kind, f"  {last}   {first} "
        if kind == "yo":
            swapped = f"{first} {last}".replace("ё", "е")
            if swapped == f"{first} {last}":
                swapped = f"{first} {last}".replace("е", "ё", 1)
            return kind, swapped
        if kind == "patronymic":
            return kind, f"{last} {first} {pat}"
        if kind == "diminutive":
            return kind, f"{p['dim']} {last}"
        if kind == "latin":
            return kind, latin(f"{first} {last}")
        if kind == "typo" and len(last) >= 6:
            k = rng.randrange(2, len(last) - 2)
            chars = list(last)
            op = rng.randrange(3)
            if op == 0:
                del chars[k]
            elif op == 1:
                chars[k] = rng.choice("аеиоу" if chars[k] not in "аеиоу" else "нрлст")
            else:
                chars[k], chars[k - 1] = chars[k - 1], chars[k]
            return kind, f"{''.join(chars)} {first}"
        if kind == "typo":  # too short a surname to misspell and still be told from others
            return "order", f"{last} {first}"
        return kind, rng.choice([f"{last} {first[0]}.", f"{last} {first[0]}. {pat[0]}.", f"{first[0]}. {last}"])

    def email_variant(address: str) -> str:
        return rng.choice([address.upper(), address.capitalize(), f" {address} ", address.title()])

    n_people = int(contacts / 1.3)
    companies_of_people = [rng.randrange(n_entities) if rng.random() < 0.7 else None for _ in range(n_people)]
    for company in companies_of_people:
        person(company)
    # hard negatives among the people
    for _ in range(max(1, n_people // 40)):  # namesakes with their own channels
        src = rng.choice(people)
        company = src["company"] if rng.random() < 0.3 else None
        twin = person(None, male=src["male"], first=next(f for f in (N.MALE_FIRST if src["male"] else N.FEMALE_FIRST)
                                                         if f[0] == src["first"]), surname=src["surname"])
        twin["company"] = company
        # «different channels» means the same kinds of channel, each its own: a namesake with only an
        # e-mail next to one with only a phone could be one person (no evidence tells), so it is not planted
        twin["phone"] = phone() if src["phone"] or not src["email"] else None
        twin["email"] = email_for(twin) if src["email"] else None
        if not src["phone"] and not src["email"]:
            src["phone"] = phone()
        if company is not None:  # a name-only copy could be either of them: not planted (module docstring)
            src["namesake_in_company"] = twin["namesake_in_company"] = True
        corpus.count("hard negative: namesake")
    households = []
    for _ in range(max(1, n_people // 40)):  # relatives on one home phone
        head = person(None, male=True)
        home = phone()
        kind = rng.choice(["spouse", "son", "daughter"])
        if kind == "spouse":
            other = person(None, male=False, surname=head["surname"])
        elif kind == "son":  # one first name; only the patronymic tells father and son apart
            same = next(f for f in N.MALE_FIRST if f[0] == head["first"])
            other = person(None, male=True, first=same, surname=head["surname"], father=same)
            if other["patronymic"] == head["patronymic"]:  # the grandfather had that name too: change it
                head["patronymic"] = next(f[1] for f in N.MALE_FIRST if f[1] != other["patronymic"])
            if other["first"] == head["first"]:
                head["always_patronymic"] = other["always_patronymic"] = True
        else:
            other = person(None, male=False, surname=head["surname"])
        head["home"] = other["home"] = home
        households.append((head, other))
        corpus.count(f"hard negative: relatives ({kind})")
    # office lines and generic mailboxes shared by colleagues, not on the company card
    staff: dict[int, list[dict[str, Any]]] = {}
    for p in people:
        if p["company"] is not None:
            staff.setdefault(p["company"], []).append(p)
    for company, members in staff.items():
        for kind, share, most, slot, channel in (("phone", 0.35, 5, "office", office_phone),
                                                  ("email", 0.2, 4, "generic",
                                                   lambda: f"{rng.choice(GENERIC)}@{domains[company]}")):
            if len(members) < 2 or rng.random() >= share:
                continue
            on_it = _distinct_names(rng.sample(members, min(len(members), rng.randint(2, most))))
            if not on_it:
                continue
            value = channel()
            for p in on_it:
                p[slot] = value
            corpus.shared_lines.append({"kind": kind, "national" if kind == "phone" else "address": value,
                                        "people": sorted(p["id"] for p in on_it)})
            corpus.count(f"hard negative: {'office line' if kind == 'phone' else 'generic mailbox'} on colleagues")
    for head, other in households:
        corpus.shared_lines.append({"kind": "phone", "national": head["home"], "people": sorted([head["id"], other["id"]])})

    # --- records: every person once, some several times -----------------------------------------------------
    for p in people:
        phones = [format_phone(n, rng.randrange(len(PHONE_STYLES))) for n in
                  (p["phone"], p.get("office"), p.get("home")) if n]
        emails = [e for e in (p["email"], p.get("generic")) if e]
        name = f"{p['last']} {p['first']} {p['patronymic']}" if p.get("always_patronymic") else clean_name(p)
        record(p, name, phones, emails, p["company"], "person")
    budget = contacts - len(corpus.contacts)
    candidates = _Remaining([p for p in people if not p.get("always_patronymic")])
    while budget > 0 and candidates:
        p = candidates.choice(rng)
        copies = min(budget, rng.choice([1, 1, 1, 2]))
        avoid_initials = "home" in p
        previous = None  # how the previous copy was linked: a chain hangs on a copy that shares a channel
        for c in range(copies):
            what, name = variant_name(p, avoid_initials)
            shares = []
            if p["phone"]:
                shares.append("phone")
            if p["email"]:
                shares.append("email")
            chain = c == 1 and len(shares) == 2 and previous in ("phone", "email", "both")
            options = (shares + (["both"] if len(shares) == 2 else []) + (["chain"] if chain else [])
                       + (["nothing"] if p["company"] is not None and not p.get("namesake_in_company") else []))
            mode = rng.choice(options) if options else None
            if mode is None:
                break
            phones, emails = [], []
            if mode in ("phone", "both"):
                phones.append(format_phone(p["phone"], rng.randrange(len(PHONE_STYLES))))
            if mode in ("email", "both"):
                emails.append(email_variant(p["email"]))
            if mode == "chain":
                # linked only through the previous copy: its own new e-mail, shared with the previous copy
                new = email_for(p)
                corpus.contacts[-1]["emails"].append(new)
                emails.append(email_variant(new))
            if mode == "nothing":
                name = rng.choice([f"{p['last']} {p['first']}", f"{p['first']} {p['last']}",
                                   f"{p['last']} {p['first']} {p['patronymic']}"])
                what = "name only, same company, no channel"
            if p.get("office") and rng.random() < 0.3 and mode != "nothing":
                phones.append(format_phone(p["office"], rng.randrange(len(PHONE_STYLES))))
            record(p, name, phones, emails, p["company"] if mode == "nothing" or rng.random() < 0.7 else None,
                   f"copy: {what} / shares {mode}")
            previous = mode
        budget -= copies
        candidates.remove(p)
    return corpus


class _Remaining:
    """A list to draw from and remove what was drawn, as `rng.choice(items)` and `items.remove(item)` do
    (same draws, same corpus for a seed), in O(log n) a step: `list.remove` made a million-contact corpus
    quadratic (minutes). A Fenwick tree counts the items still there before each position."""

    def __init__(self, items: list[Any]):
        self.items = items
        self.position = {id(item): k for k, item in enumerate(items)}
        self.size = len(items)
        self.tree = [0] * (self.size + 1)
        for k in range(1, self.size + 1):  # every item present: the tree of all ones, built in O(n)
            self.tree[k] += 1
            parent = k + (k & -k)
            if parent <= self.size:
                self.tree[parent] += self.tree[k]
        self.left = self.size
        self.top = 1 << self.size.bit_length()

    def __len__(self) -> int:
        return self.left

    def choice(self, rng: random.Random) -> Any:
        # rng.choice(range(n)) draws the index exactly as rng.choice(list_of_n) does
        k = rng.choice(range(self.left)) + 1  # the k-th item still there
        at, step = 0, self.top
        while step:
            if at + step <= self.size and self.tree[at + step] < k:
                at += step
                k -= self.tree[at]
            step >>= 1
        return self.items[at]

    def remove(self, item: Any) -> None:
        k = self.position.pop(id(item)) + 1
        self.left -= 1
        while k <= self.size:
            self.tree[k] -= 1
            k += k & -k


def _distinct_names(people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Colleagues on one line with one full name could not be told apart by anyone: keep one of them."""
    seen, out = set(), []
    for p in people:
        if (p["first"], p["last"]) not in seen:
            seen.add((p["first"], p["last"]))
            out.append(p)
    return out if len(out) > 1 else []


def truth_pairs(ids: list[int], owner: list[int]) -> set[tuple[int, int]]:
    """Every pair of records written for the same person (entity): the pairs a matcher should group."""
    by_owner: dict[int, list[int]] = {}
    for record_id, who in zip(ids, owner):
        by_owner.setdefault(who, []).append(record_id)
    pairs = set()
    for members in by_owner.values():
        members.sort()
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((members[x], members[y]))
    return pairs


def group_pairs(groups: list[list[int]]) -> set[tuple[int, int]]:
    pairs = set()
    for g in groups:
        g = sorted(g)
        for x in range(len(g)):
            for y in range(x + 1, len(g)):
                pairs.add((g[x], g[y]))
    return pairs


# --- into a sandbox account ----------------------------------------------------------------------------------

def load_over_api(http, corpus: Corpus, *, now: int) -> tuple[list[int], list[int]]:
    """Create the companies (with ИНН and КПП fields) and contacts through the amoCRM API; (company ids, contact
    ids) in corpus order. Several managers own the records, so worklists per manager are not trivial."""
    fields = http.post("/api/v4/companies/custom_fields", json=[{"type": "text", "name": "ИНН", "code": "INN"},
                                                                 {"type": "text", "name": "КПП"}])
    by_name = {f["name"]: f["id"] for f in fields["_embedded"]["custom_fields"]}
    users = http.post("/api/v4/users", json=[{"name": f"Менеджер {k}", "email": f"manager{k}@example.com",
                                               "password": "Sandbox-1", "rights": {}} for k in range(1, 4)])
    owners = [u["id"] for u in users["_embedded"]["users"]]
    rng = random.Random(corpus.seed)
    company_ids: list[int] = []
    for chunk in _chunks(corpus.companies, 250):
        body = []
        for c in chunk:
            values = []
            if c["inn"]:
                values.append({"field_id": by_name["ИНН"], "values": [{"value": c["inn"]}]})
            if c["kpp"]:
                values.append({"field_id": by_name["КПП"], "values": [{"value": c["kpp"]}]})
            if c["phones"]:
                values.append({"field_code": "PHONE", "values": [{"value": format_phone(c["phones"][0], 0),
                                                                  "enum_code": "WORK"}]})
            body.append({"name": c["name"], "responsible_user_id": rng.choice(owners),
                         "custom_fields_values": values or None})
        answer = http.post("/api/v4/companies", json=[{k: v for k, v in b.items() if v is not None} for b in body])
        company_ids += [c["id"] for c in answer["_embedded"]["companies"]]
    contact_ids: list[int] = []
    for start in range(0, len(corpus.contacts), 250):
        body = []
        for k, c in enumerate(corpus.contacts[start:start + 250]):
            values = []
            if c["phones"]:
                values.append({"field_code": "PHONE", "values": [{"value": v, "enum_code": "MOB"} for v in c["phones"]]})
            if c["emails"]:
                values.append({"field_code": "EMAIL", "values": [{"value": v, "enum_code": "WORK"} for v in c["emails"]]})
            item: dict[str, Any] = {"name": c["name"], "responsible_user_id": rng.choice(owners),
                                    "created_at": now - 86400 * (len(corpus.contacts) - start - k)}
            if values:
                item["custom_fields_values"] = values
            if c["company"] is not None:
                item["_embedded"] = {"companies": [{"id": company_ids[c["company"]]}]}
            body.append(item)
        answer = http.post("/api/v4/contacts", json=body)
        contact_ids += [c["id"] for c in answer["_embedded"]["contacts"]]
    return company_ids, contact_ids


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


# --- the whole round: generate, load over the API, sync, audit, score ---------------------------------------

DUPLICATE_CHECKS = ("C01", "C02", "C03", "C04", "C14")


@dataclass
class Score:
    truth: int
    reported: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.reported if self.reported else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 1.0

    def __str__(self) -> str:
        return (f"P {self.precision:.4f} R {self.recall:.4f} (truth {self.truth} pairs, reported {self.reported}, "
                f"right {self.true_positives})")


@dataclass
class Round:
    contacts: Score
    companies: Score
    companies_inn: Score        # pairs where both records carry a valid INN: the INN/KPP rule alone
    shared_expected: int        # shared office lines, home phones and generic mailboxes the generator made
    shared_reported: int        # of them, reported by C14 as a shared line with the right people apart
    shared_merged: int          # pairs of different people on one shared line put in one group (must be 0)
    records_in_two_groups: int  # must be 0
    keep_disagreements: int     # a record named keep by one check and merge by another (must be 0)
    details: dict[str, Any]
    load_seconds: float
    sync_seconds: float
    audit_seconds: float


def run_round(folder, contacts: int, seed: int, *, now: int = 1_800_000_000) -> Round:
    """Generate a corpus, load it into a sandbox account over the amoCRM API (in-process ASGI), sync it
    as `implkit sync` does, run the duplicate checks, and score them against the generator's people."""
    import time
    from pathlib import Path

    from implkit.audit.checks import load_checks
    from implkit.audit.engine import AuditOptions, run_checks
    from implkit.audit.normalize import email_key, phone_key
    from implkit.audit.snapshot import Snapshot
    from implkit.audit.sync import sync_snapshot
    from implkit.http import BearerToken, HttpClient, RateLimiter
    from implkit.http.asgi import SyncASGITransport
    from implkit.providers.amocrm.records import AmoRecords
    from implkit.sandbox import Sandbox

    folder = Path(folder)
    corpus = generate(contacts, seed)
    # accuracy, not time: the sandbox's rate limits are lifted for the round (bench/sync.py measures those)
    sandbox = Sandbox(folder / "sandbox.db", integration_rps=100_000, account_rps=100_000)
    sandbox.create_account("dups")
    transport = SyncASGITransport(sandbox.app)
    http = HttpClient("http://sandbox" + sandbox.base_url("dups"), auth=BearerToken(sandbox.token("dups")),
                      rate=RateLimiter(100_000), transport=transport)
    try:
        started = time.perf_counter()
        company_ids, contact_ids = load_over_api(http, corpus, now=now)
        loaded = time.perf_counter()
        with Snapshot(folder / "snapshot.sqlite") as snapshot:
            sync_snapshot(AmoRecords(http), snapshot, clock=lambda: now)
            synced = time.perf_counter()
            checks = [c for c in load_checks() if c.id in DUPLICATE_CHECKS]
            run = run_checks(snapshot, checks, AuditOptions())
            audited = time.perf_counter()
    finally:
        transport.shutdown()
        sandbox.close()
    contact_index = {cid: k for k, cid in enumerate(contact_ids)}
    company_index = {cid: k for k, cid in enumerate(company_ids)}
    details = {c: run.result(c).details for c in DUPLICATE_CHECKS}
    # every contact group, from whichever of C01–C03 lists it (they read one pass: one group, one keep)
    groups: dict[tuple, dict] = {}
    keep_of: dict[int, set] = {}
    merged_in: dict[int, set] = {}
    for check_id in ("C01", "C02", "C03"):
        for g in details[check_id]["duplicate_groups"]:
            groups[tuple(g["records"])] = g
            keep_of.setdefault(g["keep"], set()).add(check_id)
            for i in g["merge"]:
                merged_in.setdefault(i, set()).add(check_id)
    in_groups: dict[int, int] = {}
    for records in groups:
        for i in records:
            in_groups[i] = in_groups.get(i, 0) + 1
    predicted = group_pairs([[contact_index[i] for i in records] for records in groups])
    truth = truth_pairs(list(range(len(corpus.person))), corpus.person)
    contacts_score = Score(len(truth), len(predicted), len(truth & predicted))
    company_groups = [[company_index[i] for i in g["records"]] for g in details["C04"]["duplicate_groups"]]
    predicted_c = group_pairs(company_groups)
    truth_c = truth_pairs(list(range(len(corpus.entity))), corpus.entity)
    companies_score = Score(len(truth_c), len(predicted_c), len(truth_c & predicted_c))
    from implkit.audit.normalize import inn_key
    with_inn = {k for k, c in enumerate(corpus.companies) if c["inn"] and inn_key(c["inn"]).valid}
    inn_truth = {p for p in truth_c if set(p) <= with_inn}
    inn_pred = {p for p in predicted_c if set(p) <= with_inn}
    inn_score = Score(len(inn_truth), len(inn_pred), len(inn_truth & inn_pred))
    # shared lines: each must be reported by C14, with its people apart, and never merged
    reported = {(s["kind"], s["key"]): s for s in details["C14"]["shared_channels"]}
    ok = merged = 0
    for line in corpus.shared_lines:
        key = ("phone", phone_key(format_phone(line["national"], 0)).key) if line["kind"] == "phone" \
            else ("email", email_key(line["address"]).key)
        people = set(line["people"])
        entry = reported.get(key)
        if entry is not None:
            seen = [{corpus.person[contact_index[i]] for i in person} for person in entry["people"]]
            if all(len(s) == 1 for s in seen) and set().union(*seen) == people:
                ok += 1
        for a, b in predicted:
            pa, pb = corpus.person[a], corpus.person[b]
            if pa != pb and pa in people and pb in people:
                merged += 1
    return Round(contacts_score, companies_score, inn_score, len(corpus.shared_lines), ok, merged,
                 sum(1 for n in in_groups.values() if n > 1), len(set(keep_of) & set(merged_in)),
                 {c: {k: v for k, v in d.items() if k in ("groups", "compared_pairs", "blocks", "largest_block")}
                  | {"truncated_blocks": len(d.get("truncated_blocks") or [])} for c, d in details.items()},
                 loaded - started, synced - loaded, audited - synced)


def main(argv: list[str] | None = None) -> int:
    """Run as a script: generate one corpus and print what it holds (the benches import `generate`)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="bench/duplicates.py and bench/audit_accuracy.py use this corpus; "
                                            "run directly, it prints what one corpus holds.")
    parser.add_argument("--contacts", type=int, default=2500, help="contact records to write (default 2500)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (same seed, same corpus; default 7)")
    args = parser.parse_args(argv)
    if args.contacts < 1:
        parser.error("--contacts must be at least 1")
    corpus = generate(contacts=args.contacts, seed=args.seed)
    print(f"seed {corpus.seed}: {len(corpus.contacts)} contacts of {len(set(corpus.person))} people, "
          f"{len(corpus.companies)} companies of {len(set(corpus.entity))} legal entities, "
          f"{len(corpus.shared_lines)} shared lines")
    print("variants: " + ", ".join(f"{k} {v}" for k, v in sorted(corpus.variants.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
