"""Messy accounts: data filled in the way people fill a CRM, with ground truth from the people and events.

`implkit.sandbox.amocrm.seed` plants each defect as exactly what one check looks for; an audit scored on it
learns only that the checks agree with their own author. This generator works the other way round: it
first decides *what happened* — who the people are, which company they work for, which deal was
created, moved, touched, linked, re-assigned or closed and when, which task was set, done or forgotten,
which manager left — and only then writes that history into a CRM, the way people write it:

- some records come through an integration (tidy: `+79123456789`, "Имя Фамилия"), others are typed by
  hand (`8 (912) 345-67-89`, `89123456789`, "ПЕТРОВ иван", " Ivan.Petrov@Mail.RU "), some people twice;
- office phones are typed on the employees' cards, not on the company card (colleagues then share a
  number and are *not* duplicates);
- contacts and companies are linked to a deal later, through `/link`, which does not touch the deal;
- deals are edited by several users, moved back and forth and between pipelines, stages are renamed;
- an import leaves some deals with an `updated_at` in the future;
- a manager leaves (is deactivated) while still owning deals, contacts and tasks.

`generate(seed, deals, now)` returns the facts (`MessyAccount`); a writer puts them into a CRM and
returns the CRM ids of every fact (`implkit.sandbox.amocrm.messy.write_amocrm`, through the emulator's
own API handlers —
the code an HTTP request reaches — with the sandbox clock set to each event's moment;
`implkit.sandbox.bitrix24.messy.write_bitrix24` through the portal's store, as its seeder does).
`ground_truth(account, ids, crm)` then says, per check, which records are really defective *from the
facts* (a task is overdue because it was due before `now` and nobody did it; two cards are one person
because the generator made one person), in the shape `implkit.audit.accuracy` scores.

Checks scored here (`DETERMINISTIC`) have a yes/no answer in the facts. `REPORTED` ones are printed
but depend on a definition the facts only approximate (what counts as a touch, a duplicate);
`UNSUPPORTED` says why a check has no truth on a CRM. D09 is scored against the account's regulation
(`BUDGET_FROM_STAGE`), which the truth hands to the audit as the tenant's setting, by stage id.
Reported only: C01/C02 (1.0/1.0 on every seed tried, but two colleagues can be indistinguishable from
one person entered twice — `_lookalikes` — and the scorer has no "not scored" set), D03 (on Bitrix24 a
contact or company linked later is work on the deal that nothing the REST API returns shows).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from implkit.sandbox import names as N
from implkit.sandbox.names import format_phone

HOUR, DAY = 3600, 86400
HISTORY_DAYS = 45
OPEN_STAGES = 4  # ordinary stages per pipeline (amoCRM's default pipeline has four; Bitrix24's default five)

DETERMINISTIC = ("D01", "D02", "D06", "D07", "D08", "D09", "D11", "D12", "D14", "T01", "T02", "T03", "C05", "C06",
                 "C10")
REPORTED = ("C01", "C02", "D03")
FIRST_RESPONSE, TOUCH_WINDOW, MIN_TOUCHES, STALE_DAYS = 15 * 60, DAY, 3, 7  # the checks' default parameters
# The account's regulation: a deal needs a budget from the third stage («КП отправлено») of either pipeline
# on. A fact about this tenant, not a default of D09 (which knows won deals only): the truth hands the
# stage's CRM id to the audit as the tenant's `audit.parameters.D09.from_stages` (`params` of D09).
BUDGET_FROM_STAGE = 2
UNSUPPORTED = {
    "bitrix24": {"D08": "a Bitrix24 deal has no loss-reason field (failure stages stand for reasons)",
                 "T02": "a CRM activity has no result text in the REST API",
                 "T03": "a CRM activity always belongs to a record"},
    "amocrm": {},
}


@dataclass
class User:
    key: int
    first: str
    last: str
    active: bool = True  # at `now`: a deactivated manager left during the history


@dataclass
class Company:
    key: int
    name: str
    office: int  # the office's national number
    office_on_card: bool  # the company card holds it (else only the employees' cards do)
    owner: int
    created: int


@dataclass
class Card:
    """One contact record of a person: a person entered twice has two cards."""
    key: int
    person: int
    by_hand: bool
    name: str
    phones: list[str]
    emails: list[str]
    company_linked: bool
    owner: int
    created: int
    invalid: bool = False  # a channel typed wrong (the generator's own fact, not a parser's verdict)
    # which of the person's own channels this card carries written right (any format, case, spaces): the
    # mobile and/or the office line typed on the card; the e-mail. A mistyped one is not here.
    numbers: list[int] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)


@dataclass
class Person:
    key: int
    first: str
    last: str
    patronymic: str
    mobile: int | None
    email: str | None
    company: int | None
    cards: list[int] = field(default_factory=list)


@dataclass
class Task:
    key: int
    deal: int | None
    owner: int
    created: int
    due: int
    done_at: int | None = None
    result: str | None = None


@dataclass
class Deal:
    key: int
    title: str
    owner: int
    created: int
    price: int
    card: int | None
    card_linked_at: int | None  # the creation moment, a later /link, or never
    company: int | None
    company_linked_at: int | None
    moves: list[tuple[int, int, Any]] = field(default_factory=list)  # (at, pipeline, stage index | won | lost)
    loss_reason: bool = False
    calls: list[int] = field(default_factory=list)
    edits: list[tuple[int, int]] = field(default_factory=list)  # (at, user): price edits by several users
    future_updated_at: int | None = None  # an import wrote this updated_at

    @property
    def state(self) -> tuple[int, Any]:
        _, pipeline, stage = self.moves[-1]
        return pipeline, stage

    @property
    def is_open(self) -> bool:
        return self.state[1] not in ("won", "lost")


@dataclass
class MessyAccount:
    seed: int
    now: int
    users: list[User]
    companies: list[Company]
    people: list[Person]
    cards: list[Card]
    deals: list[Deal]
    tasks: list[Task]
    renames: list[tuple[int, int, int, str]]  # (at, pipeline, stage index, new name)
    deactivated_at: dict[int, int]  # user key -> when

    def card(self, key: int) -> Card:
        return self.cards[key]


# --- generation -------------------------------------------------------------------------------------

def generate(seed: int, deals: int = 60, now: int = 1_800_000_000) -> MessyAccount:
    rng = random.Random(seed)
    start = now - HISTORY_DAYS * DAY

    def when(after: int, before: int = now - HOUR) -> int:
        return rng.randint(after, max(after, before))

    users = []
    for key in range(max(4, deals // 15)):
        male = rng.random() < 0.55
        first = rng.choice(N.MALE_FIRST)[0] if male else rng.choice(N.FEMALE_FIRST)[0]
        last = rng.choice(N.SURNAMES)
        users.append(User(key, first, last if male else N.feminine(last)))
    leaver = users[-1]
    deactivated_at = {leaver.key: when(now - 5 * DAY)}
    leaver.active = False

    def owner() -> int:  # the leaver owned his share until he left
        return rng.randrange(len(users))

    companies = []
    for key in range(max(2, deals // 3)):
        core = rng.choice(N.COMPANY_PREFIXES) + rng.choice(N.COMPANY_ROOTS)
        companies.append(Company(key, f"{rng.choice(N.LEGAL_FORMS[:3])} «{core}»",
                                 rng.choice(N.CITY_CODES) * 10_000_000 + rng.randrange(2_000_000, 9_999_999),
                                 rng.random() < 0.5, owner(), when(start - 200 * DAY, start)))

    people, cards, used = [], [], set()

    def mobile() -> int:
        while True:
            number = rng.choice(N.MOBILE_CODES) * 10_000_000 + rng.randrange(10_000_000)
            if number not in used:
                used.add(number)
                return number

    def add_card(person: Person, by_hand: bool, created: int) -> Card:
        company = companies[person.company] if person.company is not None else None
        phones, emails, invalid, numbers, addresses = [], [], False, [], []
        if person.mobile is not None:
            if by_hand and rng.random() < 0.08:  # a digit lost while typing
                phones.append(format_phone(person.mobile, rng.randrange(8))[:-1])
                invalid = True
            else:
                phones.append(format_phone(person.mobile, rng.randrange(8)) if by_hand else f"+7{person.mobile}")
                numbers.append(person.mobile)
        if company is not None and not company.office_on_card and rng.random() < 0.6:
            phones.append(format_phone(company.office, rng.randrange(8)))  # the office line, on the person
            numbers.append(company.office)
        if person.email is not None:
            if by_hand and rng.random() < 0.05:
                emails.append(person.email.replace("@", "."))
                invalid = True
            else:
                emails.append(rng.choice([str.upper, str.title, lambda s: f" {s} ", str])(person.email)
                              if by_hand else person.email)
                addresses.append(person.email)
        if by_hand:
            name = rng.choice([f"{person.last} {person.first}", f"{person.last.upper()} {person.first}",
                               f"{person.first.lower()} {person.last.lower()}",
                               f"{person.last} {person.first} {person.patronymic}", person.first])
        else:
            name = f"{person.first} {person.last}"
        card = Card(len(cards), person.key, by_hand, name, phones, emails,
                    company is not None and (not by_hand or rng.random() < 0.6), owner(), created, invalid,
                    numbers, addresses)
        cards.append(card)
        person.cards.append(card.key)
        return card

    for key in range(max(3, deals)):
        male = rng.random() < 0.5
        if male:
            first, patronymic, _, _ = rng.choice(N.MALE_FIRST)
            last = rng.choice(N.SURNAMES)
        else:
            first, _ = rng.choice(N.FEMALE_FIRST)
            last, patronymic = N.feminine(rng.choice(N.SURNAMES)), rng.choice(N.MALE_FIRST)[2]
        channels = rng.random()
        person = Person(key, first, last, patronymic,
                        mobile() if channels < 0.85 else None,
                        f"{N.translit(first)}.{N.translit(last)}{key}@{rng.choice(N.EMAIL_DOMAINS)}"
                        if 0.3 < channels < 0.9 or channels >= 0.95 else None,
                        rng.randrange(len(companies)) if rng.random() < 0.6 else None)
        people.append(person)
        employer = companies[person.company].created + HOUR if person.company is not None else 0
        created = when(max(start - 100 * DAY, employer), now - 2 * DAY)
        add_card(person, rng.random() < 0.5, created)
        if rng.random() < 0.07:  # entered again by hand by a colleague who did not search first
            add_card(person, True, when(created, now - DAY))

    deal_list, tasks = [], []
    for key in range(deals):
        person = rng.choice(people)
        card = cards[rng.choice(person.cards)]
        created = when(max(start, card.created), now - 3 * HOUR)
        b2b = person.company is not None and rng.random() < 0.8
        link = rng.random()
        card_linked_at = created if link < 0.7 else (when(created + HOUR) if link < 0.9 else None)
        company_linked_at = (created if rng.random() < 0.6 else when(created + HOUR)) if b2b else None
        pipeline = 0 if rng.random() < 0.8 else 1
        deal = Deal(key, f"{rng.choice(N.PRODUCTS)} — {person.last}", owner(), created,
                    0 if rng.random() < 0.1 else rng.randint(5, 900) * 1000, card.key, card_linked_at,
                    person.company if b2b else None, company_linked_at, [(created, pipeline, 0)])
        at, stage = created, 0
        fate = rng.random()
        for _ in range(rng.randint(0, 4)):  # forward mostly, sometimes back, sometimes to the other pipeline
            at = when(at + 10 * 60, now - 2 * HOUR)
            if rng.random() < 0.08:
                pipeline, stage = 1 - pipeline, rng.randrange(2)
            else:
                stage = max(0, min(OPEN_STAGES - 1, stage + (1 if rng.random() < 0.8 else -1)))
            if (pipeline, stage) != deal.moves[-1][1:]:  # a "move" to where it stands is no move
                deal.moves.append((at, pipeline, stage))
        if fate < 0.4:
            at = when(at + 10 * 60, now - HOUR)
            won = rng.random() < 0.6
            deal.moves.append((at, pipeline, "won" if won else "lost"))
            deal.loss_reason = not won and rng.random() < 0.75
        # calls: some managers ring within minutes, some the next day, some a few times on day one
        calls = [created + rng.randint(60, 600)] if rng.random() < 0.5 else []
        calls += [when(created + 60) for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.3:
            calls += [created + rng.randint(600, DAY - 60) for _ in range(rng.randint(2, 3))]
        deal.calls = sorted(c for c in calls if c < now - 60)
        deal.edits = sorted((when(created + 60), owner()) for _ in range(rng.randint(0, 2)))
        if rng.random() < 0.06:
            deal.future_updated_at = now + rng.randint(1, 400) * DAY
        closed_at = deal.moves[-1][0] if not deal.is_open else None
        for _ in range(rng.randint(0, 3)):
            set_at = when(created + 60, (closed_at or now) - 60)
            due = set_at + rng.randint(-2 * DAY, 10 * DAY)
            done = rng.random() < (0.85 if closed_at else 0.45)
            task = Task(len(tasks), key, deal.owner if rng.random() < 0.85 else owner(), set_at, max(due, set_at + 600))
            if done:
                task.done_at = when(set_at + 60, closed_at or now - 60)
                task.result = rng.choice(N.TASK_RESULTS) if rng.random() < 0.8 else None
            tasks.append(task)
        deal_list.append(deal)
    # however small the account, each kind of mess happens at least once
    if deal_list and not any(d.future_updated_at for d in deal_list):
        deal_list[0].future_updated_at = now + rng.randint(1, 400) * DAY
    late = [d for d in deal_list if d.card is not None and d.card_linked_at == d.created]
    if deal_list and late and not any(d.card_linked_at not in (None, d.created) for d in deal_list):
        late[-1].card_linked_at = when(late[-1].created + HOUR)
    for _ in range(max(1, deals // 20)):  # reminders not attached to anything
        set_at = when(start)
        tasks.append(Task(len(tasks), None, owner(), set_at, set_at + rng.randint(HOUR, 5 * DAY)))

    renames = [(when(start), 0, 1, "Квалификация лида"), (when(start), 1, 2, "Счёт отправлен")]
    return MessyAccount(seed, now, users, companies, people, cards, deal_list, tasks, renames, deactivated_at)


# --- ground truth from the facts ----------------------------------------------------------------------

def ground_truth(account: MessyAccount, ids: dict[str, dict[int, int]], crm: str) -> dict[str, Any]:
    """Per check: the CRM ids the facts say are defective at `now` (shape of `implkit.audit.accuracy`).

    `ids` maps each fact to its CRM id: {"users", "companies", "cards", "deals", "tasks"} → {key: id}."""
    now = account.now
    active = {u.key for u in account.users if u.active}
    open_tasks = [t for t in account.tasks if t.done_at is None]
    tasks_of: dict[int, list[Task]] = {}
    for t in account.tasks:
        if t.deal is not None:
            tasks_of.setdefault(t.deal, []).append(t)

    def linked_card(d: Deal) -> Card | None:
        return account.card(d.card) if d.card is not None and d.card_linked_at is not None else None

    def has_company(d: Deal) -> bool:
        return d.company is not None and d.company_linked_at is not None

    def ref(kind: str, keys) -> list[int]:  # a fact the CRM cannot hold (a Bitrix24 reminder) is not there
        return sorted({ids[kind][k] for k in keys if k in ids[kind]})

    open_deals = [d for d in account.deals if d.is_open]
    closed = [d for d in account.deals if not d.is_open]
    defects: dict[str, Any] = {
        "D01": ("leads", [d.key for d in open_deals if not any(t.done_at is None for t in tasks_of.get(d.key, []))]),
        "D02": ("leads", [d.key for d in open_deals if any(t.done_at is None and t.due < now
                                                          for t in tasks_of.get(d.key, []))]),
        "D08": ("leads", [d.key for d in closed if d.state[1] == "lost" and not d.loss_reason]),
        # past the pipeline's first stage (or closed) with neither a contact nor a company
        "D11": ("leads", [d.key for d in account.deals if linked_card(d) is None and not has_company(d)
                          and (not d.is_open or d.state[1] > 0)]),
        "D14": ("leads", [d.key for d in closed if any(t.done_at is None for t in tasks_of.get(d.key, []))]),
        "T01": ("tasks", [t.key for t in open_tasks if t.due < now]),
        "T02": ("tasks", [t.key for t in account.tasks if t.done_at is not None and not t.result]),
        "T03": ("tasks", [t.key for t in account.tasks if t.deal is None]),
        "C05": ("contacts", [c.key for c in _cards_on_open_deals(account) if not c.phones and not c.emails]),
        "C06": ("contacts", [c.key for c in account.cards if c.invalid]),
        "C10": ("contacts", [linked_card(d).key for d in account.deals if linked_card(d) is not None
                             and has_company(d) and not linked_card(d).company_linked]),
        # calls are the only touches in these facts: the first one late (or none), fewer than three on day one
        "D06": ("leads", [d.key for d in account.deals if d.created <= now - FIRST_RESPONSE
                          and min([c for c in d.calls if c >= d.created] or [now]) - d.created > FIRST_RESPONSE]),
        "D07": ("leads", [d.key for d in account.deals if d.created <= now - TOUCH_WINDOW
                          and sum(d.created <= c < d.created + TOUCH_WINDOW for c in d.calls) < MIN_TOUCHES]),
        # nobody did anything on it for a week: no move, call, task done or link (edits of the budget and
        # the import's stamp are not the manager's work on the deal)
        "D03": ("leads", [d.key for d in open_deals if max(
            [d.created, *(m[0] for m in d.moves), *d.calls, *(t.done_at for t in tasks_of.get(d.key, []) if t.done_at),
             *(at for at in (d.card_linked_at, d.company_linked_at) if at)]) <= now - STALE_DAYS * DAY]),
        "D09": ("leads", [d.key for d in account.deals if d.price == 0
                          and (d.state[1] == "won" or (d.is_open and d.state[1] >= BUDGET_FROM_STAGE))]),
    }
    kinds = {"leads": "deals", "contacts": "cards", "tasks": "tasks"}
    out: dict[str, Any] = {}
    for check, (entity, keys) in defects.items():
        if check in UNSUPPORTED.get(crm, {}):
            continue
        out[check] = {"kind": "facts", "entity": entity, "ids": ref(kinds[entity], keys)}
    out["C05"]["linked_to_open_leads"] = out["C05"]["ids"]
    if "stages" in ids:  # the regulation, by the CRM's stage ids (what a tenant writes in implkit.yaml)
        out["D09"]["params"] = {"pipelines": {str(p): {"offer_status_id": stages[BUDGET_FROM_STAGE]}
                                              for p, stages in ids["stages"].items()}}
    out["D12"] = {"kind": "facts", "entity": "leads", "by_entity": {
        "leads": ref("deals", [d.key for d in open_deals if d.owner not in active]),
        "contacts": ref("cards", [c.key for c in account.cards if c.owner not in active]),
        "companies": ref("companies", [c.key for c in account.companies if c.owner not in active]),
        "tasks": ref("tasks", [t.key for t in open_tasks if t.owner not in active])}}
    # duplicates: cards of one person (the facts know who is who; colleagues on one office line are not),
    # by the channel two or more of them carry: C01 a number written on each (the mobile or the office
    # line typed on the person, in any format), C02 the person's address (any case, spaces). A channel
    # typed wrong (a digit lost, '.' for '@') is not that channel: cards alike only through it are one
    # person, but no phone or e-mail in the CRM says so — C01/C02 cannot show them (C03 may, on the name).
    people_twice = [p for p in account.people if len(p.cards) > 1]
    out["C01"] = _duplicates(account, ids, people_twice, lambda c: c.numbers)
    out["C01"]["indistinguishable"] = [sorted((ids["cards"][a], ids["cards"][b])) for a, b in _lookalikes(account)]
    out["C02"] = _duplicates(account, ids, people_twice, lambda c: c.addresses)
    return {"seed": account.seed, "now": now, "crm": crm, "defects": out,
            "facts_of": {kind: {str(v): k for k, v in ids[kind].items()} for kind in ("deals", "cards", "tasks")},
            "deterministic": [c for c in DETERMINISTIC if c not in UNSUPPORTED.get(crm, {})],
            "reported": list(REPORTED), "unsupported": UNSUPPORTED.get(crm, {})}


def _duplicates(account: MessyAccount, ids: dict[str, dict[int, int]], people: list[Person], channels) -> dict:
    """Truth of a duplicates check: the cards of one person sharing a channel of the given kind."""
    groups, found = [], set()
    for person in people:
        carriers: dict[Any, list[int]] = {}
        for key in person.cards:
            for value in set(channels(account.card(key))):
                carriers.setdefault(value, []).append(key)
        shared = {k for keys in carriers.values() if len(keys) > 1 for k in keys}
        if shared:
            groups.append(sorted(ids["cards"][k] for k in person.cards))
            found |= {ids["cards"][k] for k in shared}
    return {"kind": "facts", "entity": "contacts", "groups": groups, "ids": sorted(found)}


def _lookalikes(account: MessyAccount) -> list[tuple[int, int]]:
    """Cards of two people that no data in the CRM tells apart from one person's two cards.

    Two colleagues on one office line, one card named by a first name the other's full name also has
    (or the same full name), and one of the two holds nothing beyond that line: «Виктор» {mobile,
    office, e-mail} and «Белов Виктор Викторович» {office}. Exactly what one person entered twice
    looks like (the second card typed with the office line only). The facts say two people; a check
    that groups them is not wrong on the evidence. About one pair in 500 accounts; `REPORTED` keeps
    C01 unasserted because of it, and the bench prints these pairs next to C01's misses."""
    def words(name: str) -> set[str]:
        return {w.lower().replace("ё", "е") for w in name.split()}

    on: dict[int, list[Card]] = {}
    for card in account.cards:
        for number in card.numbers:
            on.setdefault(number, []).append(card)
    pairs = set()
    for number, cards in on.items():
        for i, x in enumerate(cards):
            for y in cards[i + 1:]:
                if x.person == y.person or not (words(x.name) <= words(y.name) or words(y.name) <= words(x.name)):
                    continue
                if not ([n for n in x.numbers if n != number] + x.addresses) or \
                        not ([n for n in y.numbers if n != number] + y.addresses):
                    pairs.add((min(x.key, y.key), max(x.key, y.key)))
    return sorted(pairs)


def _cards_on_open_deals(account: MessyAccount) -> list[Card]:
    return [account.card(d.card) for d in account.deals
            if d.is_open and d.card is not None and d.card_linked_at is not None]


def timeline(account: MessyAccount) -> list[tuple[int, int, str, Any]]:
    """Every write the history implies, in time order: (at, order, what, fact). The writers replay it."""
    events: list[tuple[int, int, str, Any]] = []
    for c in account.companies:
        events.append((c.created, 0, "company", c))
    for c in account.cards:
        events.append((c.created, 1, "card", c))
    for d in account.deals:
        events.append((d.created, 2, "deal", d))
        for at, pipeline, stage in d.moves[1:]:
            events.append((at, 3, "move", (d, pipeline, stage)))
        if d.card_linked_at is not None and d.card_linked_at != d.created:
            events.append((d.card_linked_at, 3, "link_card", d))
        if d.company_linked_at is not None and d.company_linked_at != d.created:
            events.append((d.company_linked_at, 3, "link_company", d))
        for at in d.calls:
            events.append((at, 4, "call", d))
        for at, user in d.edits:
            events.append((at, 4, "edit", (d, user)))
    for t in account.tasks:
        events.append((t.created, 5, "task", t))
        if t.done_at is not None:
            events.append((t.done_at, 6, "task_done", t))
    for at, pipeline, stage, name in account.renames:
        events.append((at, 7, "rename", (pipeline, stage, name)))
    for user, at in account.deactivated_at.items():
        events.append((at, 8, "deactivate", user))
    for d in account.deals:  # an import stamped a future updated_at halfway through the deal's life
        if d.future_updated_at is not None:
            events.append((d.created + (account.now - d.created) // 2, 9, "future", d))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def dumps(truth: dict[str, Any]) -> str:
    return json.dumps(truth, ensure_ascii=False, indent=1)
