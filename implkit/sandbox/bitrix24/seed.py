"""Seed a Bitrix24 portal with realistic Russian sales data and planted defects, with ground truth.

`seed_portal(store, portal_id, deals=N, seed=S, now=T, ground_truth_path=None)` fills a portal
that `portal.bootstrap_portal` created: a sales department with managers (some deactivated), a
second deal pipeline, a deal user field «Источник» (enumeration), companies, contacts (phones and
e-mails in the many ways people type them), leads, deals in both pipelines, CRM activities
(«дела»: calls in and out, to-dos, with the documented completion and RESULT_* members), stage history and a
few tasks (completed ones mostly with a result). The same seed and `now` give the same rows and the same
ground truth on a portal in the same state (one `random.Random(seed)`, no clock but `now`).

Clean records trigger no check: an open deal has exactly one open activity due 1–14 days after
`now`, owned by an active manager, and a non-zero amount; a closed deal has only completed
activities and, when won, an amount; a clean contact has a unique phone or e-mail (or both).
Every planted defect is what one check of domain.md §1 detects, and the plants are disjoint:

- D01 open deal without an open activity (it may have completed ones);
- D02 open deal whose only open activity is 1–5 days overdue (its activity: T01);
- T01 open activity 1–5 days overdue (exactly the D02 activities);
- D09 won deal with a zero amount;
- D12 open deal owned by a deactivated user (its open activity is that user's too);
- D14 closed deal with an open activity (due in the future, so not T01);
- T02 completed task without a result (`tasks.task.result.list` empty; the others have one closed result);
- C01 / C02 duplicate contacts: a later copy of a person with the same phone written another way,
  or the same e-mail in another case; C05 contact without phone and e-mail;
- D03 open deal untouched for 10-90 days (it entered its stage then, so it is D04 too);
- D04 open deal in its stage for 10-60 days although a call reached the client in the last 3 days;
- D06 first call 1-8 h after the deal was created; D07 a single call in the deal's first 24 h;
- D13 a second open deal of the same contact in the same pipeline.

A clean deal is worked the way a regulation asks: the first (completed, outgoing) call 1-4 min
after creation and two more within its first day; an open one entered its current stage within
the last 6 days (one still in «Новая» was created then), and no other open deal of its contact
sits in its pipeline. Planned calls (open call activities) are to-dos, not touches.

Decoys (must NOT be reported): `same_name` — two different people with the same full name and
different channels.

Ground truth (the amoCRM seeder's format; `ground_truth_path` is written atomically)::

    {"seed", "now", "portal", "account_id", "counts": {table: rows}, "params": {...},
     "defects": {"D01": {"kind", "entity", "ids", ["groups"], ["by_entity"], ["params"]}, ...},
     "duplicate_groups": {"contacts": [[base, copy], ...], "companies": []},
     "decoys": {"same_name": [[id, id], ...]},
     "calls": {"<user id>": {"in", "out", "answered", "duration", "first", "last"}, ...}}

Calls: every completed call activity has its telephony statistics record (voximplant.statistic.get), a
conversation of 20 s to 10 min drawn from a random stream of its own, so adding them left the rest of
every seed's data as it was; `calls` totals them per manager.

`entity` is `deals`, `contacts` or `activities`; ids are the portal's record ids.
Bulk inserts: 100,000 deals seed in seconds (see bench/ or the test's count assertions).

Why this file is long: as amoCRM's seeder, the whole portal comes from one random stream drawn in one
order by one `_Seeder`, and each planted defect is written next to the ground truth that scores it;
split by entity, that order (and so every seed's data and truth) would be spread over modules that
must not be reordered independently.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from implkit.sandbox import names as N
from implkit.sandbox.bitrix24.portal import (DEAL_STAGES, LEAD_STATUSES, insert_stages, iso, next_ids,
                                             stage_entity, stage_prefix, user_record)
from implkit.sandbox.bitrix24.models.tasks import new_task, task_result
from implkit.sandbox.bitrix24.models.timeline import empty_record
from implkit.sandbox.names import format_phone
from implkit.sandbox.store import Store
from implkit.yamlio import atomic_write

HOUR = 3600
DAY = 86400
SECOND_PIPELINE = "Повторные продажи"
OPEN_STAGES = [s[0] for s in DEAL_STAGES if s[3] is None]
PARAMS = {"overdue_days": [1, 5], "clean_due_days": [1, 14]}
SOURCES = ["CALL", "WEB", "EMAIL", "ADVERTISING", "RECOMMENDATION", "WEBFORM", "CALLBACK"]


@dataclass(frozen=True)
class DefectRates:
    """Fractions of the population each defect is planted in (counts rounded; at least 1 from 100 up)."""

    deal_without_activity: float = 0.04       # D01, of open deals
    overdue_activity: float = 0.04            # D02 + T01, of open deals
    deal_owner_deactivated: float = 0.01      # D12, of open deals
    zero_amount_won: float = 0.05             # D09, of won deals
    closed_with_open_activity: float = 0.02   # D14, of closed deals
    duplicate_contacts: float = 0.04          # C01/C02, extra records, of contacts
    contacts_without_channel: float = 0.02    # C05, of contacts
    same_name_decoys: float = 0.003           # pairs, of contacts
    stale_deal: float = 0.03                  # D03 (and D04), of open deals
    stuck_deal: float = 0.03                  # D04 only, of open deals
    slow_first_response: float = 0.03         # D06, of open deals
    few_touches: float = 0.02                 # D07, of open deals
    duplicate_open_deal: float = 0.02         # D13, second deals, of open deals
    task_without_result: float = 0.3         # T02, of completed tasks (the amoCRM seeder plants 3 %; a
                                              # portal seeds ~5 % of deals' tasks, so 30 % keeps T02 non-empty)
    won_share: float = 0.2
    lost_share: float = 0.15


@dataclass
class SeedSummary:
    account_id: int
    portal: str
    seed: int
    now: int
    counts: dict[str, int]
    defects: dict[str, int]
    seconds: float
    ground_truth: dict[str, Any] = field(repr=False)

    def __str__(self) -> str:
        """One line, as the amoCRM seeder's summary reads (implkit/sandbox/amocrm/seed.py)."""
        records = ", ".join(f"{self.counts[t]:,} {t}" for t in ("deals", "contacts", "companies", "leads",
                                                                "activities", "tasks"))
        planted = sum(self.defects.values())
        return (f"{records}; {planted:,} planted findings over {len(self.defects)} checks "
                f"(seed {self.seed}) in {self.seconds:.1f} s")


def _count(rate: float, base: int) -> int:
    if rate <= 0 or base <= 0:
        return 0
    return max(1, round(rate * base)) if base >= 100 else round(rate * base)


class _Seeder:
    def __init__(self, store: Store, account_id: int, deals: int, seed: int, now: int, rates: DefectRates):
        self.store, self.account_id, self.n, self.seed, self.now, self.rates = store, account_id, deals, seed, now, rates
        self.rng = random.Random(seed)
        # call durations come from a stream of their own: the main one (and every seed's other data) stays as it was
        self.calls_rng = random.Random(f"calls:{seed}")
        self.planted_calls: list[tuple[int, int, int, str]] = []  # (activity id, manager, start, DIRECTION)
        self.calls_truth: dict[str, dict[str, int]] = {}  # manager -> the calls' counts and seconds
        self.rows: dict[str, list[dict]] = {}
        self.sets: dict[str, list] = {k: [] for k in ("D01", "D02", "T01", "D09", "D12", "D12_activities", "D14",
                                                       "C05", "C05_open", "C01", "C02", "same_name", "D03", "D04",
                                                       "D06", "D07", "D13", "T02")}
        self.open_slots: dict[tuple[int, int], int | None] = {}  # (contact, pipeline) → its open deal
        self.result_next = 0
        self.used_phones: set[int] = set()
        self.used_emails: set[str] = set()

    def add(self, table: str, row: dict) -> None:
        self.rows.setdefault(table, []).append(row)

    def flush(self) -> None:
        for table, rows in self.rows.items():
            if rows:
                self.store.bulk_insert(table, rows, chunk=50_000)
        self.rows = {}

    def reserve(self, name: str, count: int) -> int:
        with self.store.transaction() as db:
            return next_ids(db, self.account_id, name, count)

    # --- people and configuration ----------------------------------------------------------------
    def configure(self) -> None:
        rng, acc = self.rng, self.account_id
        n_managers = max(5, min(60, round(self.n ** 0.5 / 5)))
        n_inactive = max(1, round(n_managers * 0.15))
        department = self.reserve("department", 1)
        self.add("b24_departments", {"account_id": acc, "id": department, "name": N.SALES_GROUPS[0], "sort": 500,
                                     "parent": 1, "uf_head": None})
        first_user = self.reserve("user", n_managers)
        self.active, self.inactive = [], []
        used = set()
        for i in range(n_managers):
            while True:
                male = rng.random() < 0.55
                first = rng.choice(N.MALE_FIRST)[0] if male else rng.choice(N.FEMALE_FIRST)[0]
                surname = rng.choice(N.SURNAMES)
                last = surname if male else N.feminine(surname)
                if (first, last) not in used:
                    used.add((first, last))
                    break
            user_id, active = first_user + i, i >= n_inactive
            record = user_record(user_id, first, last, f"{N.translit(first)}.{N.translit(surname)}{i}@sales.example",
                                 [department], active, self.now - 400 * DAY, position="Менеджер по продажам")
            self.add("b24_users", {"account_id": acc, "id": user_id, "active": int(active), "data": record})
            (self.active if active else self.inactive).append(user_id)
        with self.store.transaction() as db:
            self.second = next_ids(db, acc, "category")
            db.execute("INSERT INTO b24_categories (account_id, entity_type_id, id, name, sort, is_default) "
                       "VALUES (?, 2, ?, ?, 400, 0)", (acc, self.second, SECOND_PIPELINE))
            insert_stages(db, acc, stage_entity(self.second), self.second, stage_prefix(self.second), DEAL_STAGES)
            field_id = next_ids(db, acc, "userfield")
            first_enum = next_ids(db, acc, "enum", len(N.LEAD_SOURCES))
            self.source_enums = [first_enum + i for i in range(len(N.LEAD_SOURCES))]
            labels = {lang: "Источник" if lang == "ru" else "Source" for lang in ("ar", "br", "de", "en", "fr", "hi",
                      "id", "in", "it", "ja", "kz", "la", "ms", "pl", "ru", "sc", "tc", "th", "tr", "ua", "vn")}
            uf = {"ID": str(field_id), "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": "UF_CRM_SOURCE",
                  "USER_TYPE_ID": "enumeration", "XML_ID": None, "SORT": "100", "MULTIPLE": "N", "MANDATORY": "N",
                  "SHOW_FILTER": "E", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y", "IS_SEARCHABLE": "N",
                  "SETTINGS": {"DISPLAY": "LIST", "LIST_HEIGHT": 1}, "EDIT_FORM_LABEL": labels,
                  "LIST_COLUMN_LABEL": labels, "LIST_FILTER_LABEL": labels, "ERROR_MESSAGE": dict.fromkeys(labels, ""),
                  "HELP_MESSAGE": dict.fromkeys(labels, ""),
                  "LIST": [{"ID": str(e), "SORT": str(10 * (i + 1)), "VALUE": v, "DEF": "N", "XML_ID": f"SRC{i + 1}"}
                           for i, (e, v) in enumerate(zip(self.source_enums, N.LEAD_SOURCES))]}
            db.execute("INSERT INTO b24_userfields (account_id, id, entity_id, field_name, data) VALUES (?, ?, ?, ?, ?)",
                       (acc, field_id, "CRM_DEAL", "UF_CRM_SOURCE", json.dumps(uf, ensure_ascii=False)))
        self.flush()

    def phone(self) -> int:
        while True:
            national = self.rng.choice(N.MOBILE_CODES) * 10_000_000 + self.rng.randrange(10_000_000)
            if national not in self.used_phones:
                self.used_phones.add(national)
                return national

    def fm(self, kind: str, value: str, value_type: str) -> dict[str, str]:
        self.fm_next += 1
        return {"ID": str(self.fm_next - 1), "VALUE_TYPE": value_type, "VALUE": value, "TYPE_ID": kind}

    def person(self) -> tuple[str, str, str]:
        rng = self.rng
        if rng.random() < 0.5:
            first, patronymic, _, _ = rng.choice(N.MALE_FIRST)
            return first, rng.choice(N.SURNAMES), patronymic
        first, _ = rng.choice(N.FEMALE_FIRST)
        father = rng.choice(N.MALE_FIRST)
        return first, N.feminine(rng.choice(N.SURNAMES)), father[2]

    def base_record(self, record_id: int, owner: int, created: int) -> dict[str, Any]:
        return {"ID": str(record_id), "ASSIGNED_BY_ID": str(owner), "CREATED_BY_ID": str(owner),
                "MODIFY_BY_ID": str(owner), "DATE_CREATE": iso(created), "DATE_MODIFY": iso(created + HOUR),
                "OPENED": "Y", "SOURCE_ID": self.rng.choice(SOURCES)}

    # --- companies and contacts --------------------------------------------------------------------
    def companies(self) -> None:
        rng, acc = self.rng, self.account_id
        count = max(1, self.n // 8)
        first = self.reserve("crm4", count)
        self.company_ids = list(range(first, first + count))
        used = set()
        for company_id in self.company_ids:
            while True:
                core = rng.choice(N.COMPANY_PREFIXES) + rng.choice(N.COMPANY_ROOTS)
                region = rng.choice([None] + N.COMPANY_REGIONS)
                title = f"{rng.choice(N.LEGAL_FORMS[:4])} «{core}{' ' + region if region else ''}»"
                if title not in used or len(used) > 20_000:
                    used.add(title)
                    break
            owner, created = rng.choice(self.active), self.now - rng.randint(30 * DAY, 700 * DAY)
            record = self.base_record(company_id, owner, created)
            national = N.CITY_CODES[rng.randrange(len(N.CITY_CODES))] * 10_000_000 + rng.randrange(2_000_000, 9_999_999)
            record.update(TITLE=title, COMPANY_TYPE="CUSTOMER", HAS_PHONE="Y", HAS_EMAIL="N", HAS_IMOL="N",
                          IS_MY_COMPANY="N", PHONE=[self.fm("PHONE", format_phone(national, rng.randrange(8)), "WORK")])
            self.add("b24_crm", {"account_id": acc, "entity_type_id": 4, "id": company_id, "category_id": None,
                                 "stage_id": None, "assigned_by_id": owner, "date_create": record["DATE_CREATE"],
                                 "date_modify": record["DATE_MODIFY"], "data": record})
        self.flush()

    def contacts(self) -> None:
        rng, r = self.rng, self.rates
        base_count = max(2, round(self.n * 0.7))
        n_copies = min(_count(r.duplicate_contacts, base_count), base_count // 2)
        n_decoys = min(_count(r.same_name_decoys, base_count), base_count // 4)
        total = base_count + n_copies + n_decoys
        first = self.reserve("crm3", total)
        ids = list(range(first, first + total))
        self.contact_ids = ids[:base_count]
        no_channel = set(rng.sample(range(base_count), min(_count(r.contacts_without_channel, base_count),
                                                            base_count)))
        copy_bases = rng.sample([i for i in range(base_count) if i not in no_channel], n_copies)
        decoy_bases = rng.sample([i for i in range(base_count) if i not in no_channel and i not in copy_bases],
                                 min(n_decoys, base_count - len(no_channel) - n_copies))
        self.contact_info: dict[int, dict] = {}
        for index in range(base_count):
            first_name, last, patronymic = self.person()
            owner, created = rng.choice(self.active), self.now - rng.randint(2 * DAY, 600 * DAY)
            phone = email = None
            channels = [] if index in no_channel else rng.choice([["phone"], ["email"], ["phone", "email"],
                                                                   ["phone", "email"]])
            if "phone" in channels:
                phone = self.phone()
            if "email" in channels:
                email = f"{N.translit(first_name)}.{N.translit(last)}{index}@{rng.choice(N.EMAIL_DOMAINS)}"
            info = {"first": first_name, "last": last, "patronymic": patronymic, "phone": phone, "email": email,
                    "owner": owner, "created": created, "company": rng.choice(self.company_ids)
                    if rng.random() < 0.5 else None}
            self.contact_info[ids[index]] = info
            self._contact_row(ids[index], info, phone_style=rng.randrange(8), email_case=str)
            if index in no_channel:
                self.sets["C05"].append(ids[index])
        self.dup_groups = []
        for offset, base in enumerate(copy_bases):
            base_id, copy_id = ids[base], ids[base_count + offset]
            info = dict(self.contact_info[base_id])
            info["created"] = min(self.now - HOUR, info["created"] + rng.randint(DAY, 60 * DAY))
            info["owner"] = rng.choice(self.active)
            kind = "phone" if info["phone"] is not None and (info["email"] is None or rng.random() < 0.5) else "email"
            if kind == "phone":
                info["email"] = None
                self.sets["C01"].append([base_id, copy_id])
            else:
                info["phone"] = None
                self.sets["C02"].append([base_id, copy_id])
            self.contact_info[copy_id] = info
            self._contact_row(copy_id, info, phone_style=rng.randrange(8),
                              email_case=rng.choice([str.upper, str.title, lambda s: s[0].upper() + s[1:]]))
            self.dup_groups.append([base_id, copy_id])
        for offset, base in enumerate(decoy_bases):
            base_id, decoy_id = ids[base], ids[base_count + n_copies + offset]
            source = self.contact_info[base_id]
            info = {**source, "phone": self.phone(), "email": None, "owner": rng.choice(self.active),
                    "created": self.now - rng.randint(2 * DAY, 600 * DAY), "company": None}
            self.contact_info[decoy_id] = info
            self._contact_row(decoy_id, info, phone_style=rng.randrange(8), email_case=str)
            self.sets["same_name"].append([base_id, decoy_id])
        self.flush()

    def _contact_row(self, contact_id: int, info: dict, *, phone_style: int, email_case) -> None:
        record = self.base_record(contact_id, info["owner"], info["created"])
        record.update(NAME=info["first"], LAST_NAME=info["last"], SECOND_NAME=info["patronymic"], TYPE_ID="CLIENT",
                      POST=self.rng.choice(N.POSITIONS), EXPORT="Y", HAS_IMOL="N",
                      COMPANY_ID=str(info["company"]) if info["company"] else None)
        if info["phone"] is not None:
            record["PHONE"] = [self.fm("PHONE", format_phone(info["phone"], phone_style),
                                       self.rng.choice(["WORK", "MOBILE"]))]
        if info["email"] is not None:
            record["EMAIL"] = [self.fm("EMAIL", email_case(info["email"]), "WORK")]
        record["HAS_PHONE"] = "Y" if record.get("PHONE") else "N"
        record["HAS_EMAIL"] = "Y" if record.get("EMAIL") else "N"
        self.add("b24_crm", {"account_id": self.account_id, "entity_type_id": 3, "id": contact_id, "category_id": None,
                             "stage_id": None, "assigned_by_id": info["owner"], "date_create": record["DATE_CREATE"],
                             "date_modify": record["DATE_MODIFY"], "data": record})

    # --- leads, deals, activities, history, tasks -------------------------------------------------------
    def leads(self) -> None:
        rng, acc = self.rng, self.account_id
        count = max(1, self.n // 10)
        first = self.reserve("crm1", count)
        history = self.reserve("stagehistory", count)
        for i in range(count):
            lead_id, owner = first + i, rng.choice(self.active)
            created = self.now - rng.randint(HOUR, 90 * DAY)
            code, _, _, semantics, _, _ = LEAD_STATUSES[rng.randrange(len(LEAD_STATUSES))]
            first_name, last, patronymic = self.person()
            record = self.base_record(lead_id, owner, created)
            record.update(TITLE=f"{rng.choice(N.PRODUCTS)} — {first_name} {last}", NAME=first_name, LAST_NAME=last,
                          SECOND_NAME=patronymic, STATUS_ID=code, STATUS_SEMANTIC_ID=semantics or "P",
                          OPPORTUNITY=f"{rng.randint(5, 500) * 1000:.2f}", CURRENCY_ID="RUB",
                          IS_MANUAL_OPPORTUNITY="Y", HAS_PHONE="N", HAS_EMAIL="N", HAS_IMOL="N",
                          MOVED_TIME=iso(created), MOVED_BY_ID=str(owner))
            self.add("b24_crm", {"account_id": acc, "entity_type_id": 1, "id": lead_id, "category_id": None,
                                 "stage_id": code, "assigned_by_id": owner, "date_create": record["DATE_CREATE"],
                                 "date_modify": record["DATE_MODIFY"], "data": record})
            self.add("b24_stage_history", {"account_id": acc, "entity_type_id": 1, "id": history + i,
                                           "owner_id": lead_id, "created_time": iso(created),
                                           "data": {"ID": history + i, "TYPE_ID": 1, "OWNER_ID": lead_id,
                                                    "CREATED_TIME": iso(created), "STAGE_SEMANTIC_ID": semantics or "P",
                                                    "STATUS_ID": code}})
        self.flush()

    def deals(self, block: int = 20_000) -> None:
        rng, r, n = self.rng, self.rates, self.n
        plans = ["open"] * n
        kinds = rng.sample(range(n), n)
        n_won, n_lost = round(n * r.won_share), round(n * r.lost_share)
        for i in kinds[:n_won]:
            plans[i] = "won"
        for i in kinds[n_won:n_won + n_lost]:
            plans[i] = "lost"
        open_idx = kinds[n_won + n_lost:]
        closed_idx = kinds[:n_won + n_lost]
        cursor = 0
        for code, rate in (("D01", r.deal_without_activity), ("D02", r.overdue_activity),
                           ("D12", r.deal_owner_deactivated), ("D03", r.stale_deal), ("D04", r.stuck_deal),
                           ("D06", r.slow_first_response), ("D07", r.few_touches),
                           ("D13", r.duplicate_open_deal)):
            take = min(_count(rate, len(open_idx)), len(open_idx) - cursor)
            for i in open_idx[cursor:cursor + take]:
                plans[i] = code
            cursor += take
        won_idx = kinds[:n_won]
        for i in won_idx[:_count(r.zero_amount_won, n_won)]:
            plans[i] = "D09"
        rest_closed = [i for i in closed_idx if plans[i] in ("won", "lost")]
        for i in rest_closed[:_count(r.closed_with_open_activity, len(closed_idx))]:
            plans[i] = "D14:" + plans[i]
        self.first_deal = self.reserve("crm2", n)
        self.activity_next = self.reserve("activity", 5 * n + 2)
        self.history_next = self.reserve("stagehistory", (len(OPEN_STAGES) + 1) * n)
        self.task_next = self.reserve("task", n // 10 + 1)
        for start in range(0, n, block):
            for i in range(start, min(n, start + block)):
                self._deal(self.first_deal + i, plans[i])
            self.flush()

    def _deal(self, deal_id: int, plan: str) -> None:
        rng, acc, now = self.rng, self.account_id, self.now
        closed_kind = plan.split(":")[-1] if plan.startswith(("won", "lost", "D09", "D14")) else None
        if plan == "D09":
            closed_kind = "won"
        twin = None
        if plan == "D13":  # a second deal for a client who already has one open in that pipeline
            free = sorted(k for k, v in self.open_slots.items() if v is not None)
            if free:
                slot = rng.choice(free)
                twin = (self.open_slots[slot], *slot)
                self.open_slots[slot] = None  # a pair, never a third deal
            else:
                plan = "open"
        category = twin[2] if twin else (self.second if rng.random() < 0.25 else 0)
        prefix = stage_prefix(category)
        if closed_kind == "won":
            stage, semantic = "WON", "S"
        elif closed_kind == "lost":
            stage, semantic = rng.choice(["LOSE", "APOLOGY"]), "F"
        else:
            stage, semantic = rng.choice(OPEN_STAGES), "P"
        owner = rng.choice(self.inactive) if plan == "D12" else rng.choice(self.active)
        created = now - rng.randint(2 * DAY, 120 * DAY)
        if semantic != "P":
            moved = created + rng.randint(HOUR, max(HOUR + 1, (now - created) // 2))
        else:
            # when the deal entered its current stage: recently, unless it is planted stale or stuck
            moved = now - (rng.randint(10 * DAY, 90 * DAY) if plan == "D03" else
                           rng.randint(10 * DAY, 60 * DAY) if plan == "D04" else rng.randint(HOUR, 6 * DAY))
            if stage == "NEW":
                created = moved
            elif created > moved - HOUR:
                created = moved - rng.randint(HOUR, 20 * DAY)
            if plan in ("D06", "D07"):  # old enough for its first day to be judged
                created = min(created, now - 2 * DAY)
        amount = 0 if plan == "D09" else rng.randint(10, 2000) * 1000
        contact = twin[1] if twin else self._contact_for(category if semantic == "P" else None)
        if semantic == "P" and not twin:
            self.open_slots[(contact, category)] = deal_id
        company = self.contact_info[contact]["company"]
        # the calls of the deal's first day: 1-4 min after creation (1-8 h for D06), two more unless D07
        first = created + (rng.randint(HOUR, 8 * HOUR) if plan == "D06" else rng.randint(60, 4 * 60))
        calls = [first] if plan == "D07" else [first, first + rng.randint(30 * 60, 7 * HOUR),
                                                first + rng.randint(7 * HOUR, 15 * HOUR)]
        if plan == "D04":  # stuck in the stage, yet the client was called lately
            calls.append(now - rng.randint(HOUR, 3 * DAY))
        calls = [t for t in calls if t < now]
        record = self.base_record(deal_id, owner, created)
        record.update(TITLE=f"{rng.choice(N.PRODUCTS)} #{deal_id}", TYPE_ID="SALE", CATEGORY_ID=str(category),
                      STAGE_ID=prefix + stage, STAGE_SEMANTIC_ID=semantic, CURRENCY_ID="RUB",
                      OPPORTUNITY=f"{amount:.2f}", IS_MANUAL_OPPORTUNITY="Y", TAX_VALUE="0.00",
                      COMPANY_ID=str(company) if company else None, CONTACT_ID=str(contact), CONTACT_IDS=[contact],
                      BEGINDATE=iso(created), CLOSEDATE=iso(moved + 14 * DAY), CLOSED="N" if semantic == "P" else "Y",
                      IS_NEW="N", IS_RECURRING="N", IS_RETURN_CUSTOMER="N", IS_REPEATED_APPROACH="N",
                      PROBABILITY=None, MOVED_TIME=iso(moved), MOVED_BY_ID=str(owner),
                      LAST_ACTIVITY_TIME=iso(max([moved, *calls])), LAST_ACTIVITY_BY=str(owner),
                      UF_CRM_SOURCE=str(rng.choice(self.source_enums)) if rng.random() < 0.8 else None)
        self.add("b24_crm", {"account_id": acc, "entity_type_id": 2, "id": deal_id, "category_id": category,
                             "stage_id": prefix + stage, "assigned_by_id": owner, "date_create": record["DATE_CREATE"],
                             "date_modify": record["DATE_MODIFY"], "data": record})
        # the deal walks its pipeline stage by stage (a lost one from wherever it got to), so the stage
        # history has no skipped stages: D15 finds what a person did, not how the seeder jumped
        reached = OPEN_STAGES.index(stage) if semantic == "P" else \
            len(OPEN_STAGES) - 1 if semantic == "S" else rng.randrange(len(OPEN_STAGES))
        path = OPEN_STAGES[1:reached + 1] + ([] if semantic == "P" else [stage])
        self._history(deal_id, 1, created, category, prefix + "NEW", "P")
        for step, code in enumerate(path, start=1):
            at = moved if step == len(path) else created + (moved - created) * step // (len(path) + 1)
            self._history(deal_id, 2, at, category, prefix + code, semantic if step == len(path) else "P")
        for index, at in enumerate(calls):  # completed calls: the deal's touches, the first one outgoing
            self._activity(deal_id, owner, at, completed=True, direction="2" if index == 0 else None)
        if semantic == "P":
            if plan == "D01":
                self.sets["D01"].append(deal_id)
            elif plan == "D02":
                activity = self._activity(deal_id, owner, now - rng.randint(PARAMS["overdue_days"][0] * DAY,
                                                                        PARAMS["overdue_days"][1] * DAY), completed=False)
                self.sets["D02"].append(deal_id)
                self.sets["T01"].append(activity)
            else:
                activity = self._activity(deal_id, owner, now + rng.randint(DAY, 14 * DAY), completed=False)
                if plan == "D12":
                    self.sets["D12"].append(deal_id)
                    self.sets["D12_activities"].append(activity)
            if plan in ("D03", "D04", "D06", "D07"):
                self.sets[plan].append(deal_id)
            if twin:
                self.sets["D13"].append([twin[0], deal_id])
        elif plan.startswith("D14"):
            self._activity(deal_id, owner, now + rng.randint(DAY, 14 * DAY), completed=False)
            self.sets["D14"].append(deal_id)
        if plan == "D09":
            self.sets["D09"].append(deal_id)
        if rng.random() < 0.1:
            self._task(deal_id, owner, created)

    def _contact_for(self, category: int | None) -> int:
        """A contact for a new deal; for an open one, a contact with no other open deal in its pipeline."""
        for _ in range(20):
            contact = self.rng.choice(self.contact_ids)
            if category is None or (contact, category) not in self.open_slots:
                return contact
        return contact

    def _history(self, deal_id: int, type_id: int, at: int, category: int, stage: str, semantic: str) -> None:
        history_id = self.history_next
        self.history_next += 1
        self.add("b24_stage_history", {"account_id": self.account_id, "entity_type_id": 2, "id": history_id,
                                       "owner_id": deal_id, "created_time": iso(at),
                                       "data": {"ID": history_id, "TYPE_ID": type_id, "OWNER_ID": deal_id,
                                                "CREATED_TIME": iso(at), "CATEGORY_ID": category,
                                                "STAGE_SEMANTIC_ID": semantic, "STAGE_ID": stage}})

    def _activity(self, deal_id: int, owner: int, deadline: int, *, completed: bool,
                  direction: str | None = None) -> int:
        activity_id = self.activity_next
        self.activity_next += 1
        rng = self.rng
        call = completed or rng.random() < 0.5
        start = deadline - HOUR if not completed else deadline
        data = empty_record(activity_id, at=iso(min(start, self.now)), user=str(owner))
        # calls alternate incoming (1) and outgoing (2) by id, so the rng stream (and every seed's data) is
        # the one it was before the direction was modelled; a to-do has no direction (0). A deal's first
        # call is the manager's answer to the request: outgoing (`direction`), so D06 judges it.
        data.update({"OWNER_ID": str(deal_id), "OWNER_TYPE_ID": "2",
                     "TYPE_ID": "2" if call else "6", "PROVIDER_ID": "VOXIMPLANT_CALL" if call else "CRM_TODO",
                     "PROVIDER_TYPE_ID": "CALL" if call else "TODO",
                     "SUBJECT": rng.choice(N.TASK_TEXTS), "CREATED": iso(min(start, self.now) - DAY),
                     "START_TIME": iso(start), "END_TIME": iso(deadline),
                     "DEADLINE": iso(deadline), "COMPLETED": "Y" if completed else "N",
                     "STATUS": "2" if completed else "1", "NOTIFY_TYPE": "1", "NOTIFY_VALUE": "15",
                     "DIRECTION": (direction or ("1" if activity_id % 3 == 0 else "2")) if call else "0"})
        self.add("b24_activities", {"account_id": self.account_id, "id": activity_id, "owner_type_id": 2,
                                    "owner_id": deal_id, "responsible_id": owner, "completed": data["COMPLETED"],
                                    "deadline": data["DEADLINE"], "start_time": data["START_TIME"], "data": data})
        if call and completed:
            self.planted_calls.append((activity_id, owner, start, data["DIRECTION"]))
        return activity_id

    def calls(self) -> None:
        """The telephony statistics of the completed calls (voximplant.statistic.get): each a conversation
        of 20 s to 10 min by the activity's responsible user. The statistics name the activity, not a
        CRM record (the calls are on deals; a statistics record names a contact, company or lead)."""
        first = self.reserve("call_stat", len(self.planted_calls)) if self.planted_calls else 1
        for k, (activity_id, owner, start, direction) in enumerate(self.planted_calls):
            seconds = self.calls_rng.randint(20, 600)
            record = {"ID": str(first + k), "PORTAL_USER_ID": str(owner), "PORTAL_NUMBER": "reg1",
                      "PHONE_NUMBER": "", "CALL_ID": f"seed.{self.seed}.{activity_id}", "EXTERNAL_CALL_ID": None,
                      "CALL_CATEGORY": "external", "CALL_LOG": None, "CALL_DURATION": str(seconds),
                      "CALL_START_DATE": iso(start), "CALL_RECORD_URL": None, "CALL_VOTE": None, "COST": "0.0000",
                      "COST_CURRENCY": "RUB", "CALL_FAILED_CODE": "200", "CALL_FAILED_REASON": "",
                      "CRM_ENTITY_TYPE": "", "CRM_ENTITY_ID": None, "CRM_ACTIVITY_ID": str(activity_id),
                      "REST_APP_ID": None, "REST_APP_NAME": None, "TRANSCRIPT_ID": None, "TRANSCRIPT_PENDING": "N",
                      "SESSION_ID": None, "REDIAL_ATTEMPT": None, "COMMENT": None, "RECORD_DURATION": None,
                      "RECORD_FILE_ID": None, "CALL_TYPE": "1" if direction == "2" else "2"}
            self.add("b24_call_stats", {"account_id": self.account_id, "id": first + k,
                                        "data": json.dumps(record, ensure_ascii=False)})
            truth = self.calls_truth.setdefault(str(owner), {"in": 0, "out": 0, "answered": 0, "duration": 0,
                                                             "first": start, "last": start})
            truth["out" if direction == "2" else "in"] += 1
            truth["answered"] += 1
            truth["duration"] += seconds
            truth["first"], truth["last"] = min(truth["first"], start), max(truth["last"], start)
        self.flush()

    def _task(self, deal_id: int, owner: int, created: int) -> None:
        task_id = self.task_next
        self.task_next += 1
        done = self.rng.random() < 0.5
        deadline = self.now + self.rng.randint(DAY, 20 * DAY)
        task = new_task(task_id, created_by=str(owner), at=iso(created))
        task.update(title=self.rng.choice(N.TASK_TEXTS), deadline=iso(deadline), changedDate=iso(created + HOUR),
                    activityDate=iso(created + HOUR), ufCrmTask=[f"D_{deal_id}"])
        if done:
            task.update(status="5", subStatus="5", closedBy=str(owner), closedDate=iso(created + DAY),
                        statusChangedBy=str(owner), statusChangedDate=iso(created + DAY))
            # a result decided by the task's own id and the seed, not the shared rng, so adding results left
            # every other seeded row as it was
            if random.Random(f"{self.seed}:task:{task_id}").random() < self.rates.task_without_result:
                self.sets["T02"].append(task_id)
            else:
                self.result_next += 1      # the result pins the manager's comment of the same id
                text = N.TASK_RESULTS[task_id % len(N.TASK_RESULTS)]
                task["_comments"] = [{"id": self.result_next, "authorId": owner, "text": text,
                                      "date": iso(created + DAY)}]
                task["commentsCount"] = "1"
                task["_results"] = [task_result(self.result_next, task_id, author=str(owner), at=iso(created + DAY),
                                                text=text, closed=True, comment_id=self.result_next)]
        self.add("b24_tasks", {"account_id": self.account_id, "id": task_id, "data": task})


def seed_portal(store: Store, portal_id: int, *, deals: int, seed: int, now: int | None = None,
                ground_truth_path: str | Path | None = None, rates: DefectRates | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> SeedSummary:
    """Fill a bootstrapped portal; return counts, planted defects and the ground truth. `progress(entity,
    done, total)` hears of each kind of record once it is made (the command line draws a bar each)."""
    if deals < 1:
        raise ValueError("deals must be at least 1")
    started = time.perf_counter()
    portal = store.query("SELECT subdomain FROM accounts WHERE id=? AND crm='bitrix24'", (portal_id,))
    if not portal:
        raise ValueError(f"no Bitrix24 portal with id {portal_id}")
    if store.query("SELECT 1 FROM b24_crm WHERE account_id=? LIMIT 1", (portal_id,)):
        raise ValueError(f"portal {portal_id} already has CRM records; seed a fresh portal")
    now = int(time.time()) if now is None else int(now)
    s = _Seeder(store, portal_id, deals, seed, now, rates or DefectRates())
    s.configure()
    s.fm_next = s.reserve("fm", 3 * deals + 100)     # the seeder hands these out; the API continues after
    for entity, make in (("companies", s.companies), ("contacts", s.contacts), ("leads", s.leads),
                         ("deals", s.deals),
                         ("calls", s.calls)):
        if progress is not None:
            progress(entity, 0, 1)
        make()
        if progress is not None:
            progress(entity, 1, 1)
    with store.transaction() as db:   # sequences continue after the rows actually used
        for name, value in (("fm", s.fm_next - 1), ("activity", s.activity_next - 1),
                            ("stagehistory", s.history_next - 1), ("task", s.task_next - 1),
                            ("taskcomment", s.result_next), ("taskresult", s.result_next)):
            db.execute("INSERT INTO b24_sequences (account_id, name, value) VALUES (?, ?, ?) "
                       "ON CONFLICT (account_id, name) DO UPDATE SET value=excluded.value", (portal_id, name, value))
    truth = _ground_truth(s, portal[0]["subdomain"])
    if ground_truth_path is not None:
        atomic_write(ground_truth_path, json.dumps(truth, ensure_ascii=False, indent=1))
    return SeedSummary(account_id=portal_id, portal=portal[0]["subdomain"], seed=seed, now=now,
                       counts=truth["counts"], defects={k: len(v["ids"]) for k, v in truth["defects"].items()},
                       seconds=time.perf_counter() - started, ground_truth=truth)


def _ground_truth(s: _Seeder, portal: str) -> dict[str, Any]:
    acc = s.account_id
    counts = {"users": s.store.query("SELECT count(*) FROM b24_users WHERE account_id=?", (acc,))[0][0]}
    for name, type_id in (("leads", 1), ("deals", 2), ("contacts", 3), ("companies", 4)):
        counts[name] = s.store.query("SELECT count(*) FROM b24_crm WHERE account_id=? AND entity_type_id=?",
                                     (acc, type_id))[0][0]
    for name, table in (("activities", "b24_activities"), ("stage_history", "b24_stage_history"),
                        ("tasks", "b24_tasks"), ("categories", "b24_categories"), ("statuses", "b24_statuses"),
                        ("userfields", "b24_userfields")):
        counts[name] = s.store.query(f"SELECT count(*) FROM {table} WHERE account_id=?", (acc,))[0][0]
    open_deal_contacts = {r[0] for r in s.store.query(
        "SELECT DISTINCT CAST(json_extract(data, '$.CONTACT_ID') AS INTEGER) FROM b24_crm WHERE account_id=? AND "
        "entity_type_id=2 AND json_extract(data, '$.CLOSED')='N'", (acc,))}
    sets = s.sets

    def entry(kind: str, entity: str, ids: list, **extra) -> dict[str, Any]:
        return {"kind": kind, "entity": entity, "ids": sorted(ids), **extra}

    c01, c02 = sorted(sorted(g) for g in sets["C01"]), sorted(sorted(g) for g in sets["C02"])
    defects = {
        "D01": entry("open deal without an open activity", "deals", sets["D01"]),
        "D02": entry("open deal whose open activity is 1-5 days overdue", "deals", sets["D02"],
                     params={"days": PARAMS["overdue_days"]}),
        "T01": entry("open activity 1-5 days overdue", "activities", sets["T01"]),
        "D09": entry("won deal with a zero amount", "deals", sets["D09"]),
        "D12": entry("open deal owned by a deactivated user", "deals", sets["D12"],
                     by_entity={"deals": sorted(sets["D12"]), "activities": sorted(sets["D12_activities"])}),
        "D14": entry("closed deal with an open activity", "deals", sets["D14"]),
        "T02": entry("completed task without a result", "tasks", sets["T02"]),
        "C01": entry("duplicate contacts by phone (formats differ)", "contacts", [i for g in c01 for i in g],
                     groups=c01),
        "C02": entry("duplicate contacts by e-mail (case differs)", "contacts", [i for g in c02 for i in g],
                     groups=c02),
        "D03": entry("open deal untouched for 10-90 days", "deals", sets["D03"], params={"days": 7}),
        "D04": entry("open deal in its stage for more than 10 days (stale deals included)", "deals",
                     sets["D03"] + sets["D04"], params={"max_days": 7}),
        "D06": entry("first call 1-8 h after creation", "deals", sets["D06"], params={"minutes": 15}),
        "D07": entry("one call in the first 24 h", "deals", sets["D07"], params={"min_touches": 3}),
        "D13": entry("two open deals of one contact in one pipeline", "deals", [i for g in sets["D13"] for i in g],
                     groups=sorted(sorted(g) for g in sets["D13"])),
        "C05": entry("contact without phone and e-mail", "contacts", sets["C05"],
                     linked_to_open_deals=sorted(set(sets["C05"]) & open_deal_contacts)),
    }
    return {"calls": s.calls_truth,
            "seed": s.seed, "now": s.now, "subdomain": portal, "portal": portal, "account_id": acc, "counts": counts,
            "params": dict(PARAMS), "rates": asdict(s.rates), "defects": defects,
            "duplicate_groups": {"contacts": sorted(sorted(g) for g in s.dup_groups), "companies": []},
            "decoys": {"same_name": sorted(sorted(g) for g in sets["same_name"])}}


if __name__ == "__main__":   # a scale figure: python -m implkit.sandbox.bitrix24.seed [DEALS]
    import sys
    import tempfile

    from implkit.sandbox.bitrix24.portal import bootstrap_portal

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "sandbox.db")
        summary = seed_portal(store, bootstrap_portal(store, "bench"), deals=count, seed=1, now=1_767_225_600)
        print(f"{count} deals seeded in {summary.seconds:.1f} s; rows: {summary.counts}")
        store.close()
