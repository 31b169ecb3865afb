"""Seed an emulated amoCRM account with realistic Russian sales data and planted defects.

`seed_account(store, account_id, contacts=N, seed=S, now=T)` fills an account
that `implkit.sandbox.amocrm.models.bootstrap_account` created: sales users
(some deactivated), groups, roles, loss reasons, a customised main pipeline
and a second one, lead fields (Источник is required from «Квалификация» on),
an ИНН field on companies; then companies, contacts, leads, links, tasks,
notes, events and unsorted items. The same seed and `now` give the same rows
and the same ground truth (one `random.Random(seed)`, no global random, no
clock but `now`) on a store in the same state.

Every planted defect is exactly what one check of domain.md §1 detects, and
clean records are built so that they trigger no check:

- clean open leads are in an ordinary stage, entered within the last 6 days,
  with one open task due 2–14 days after `now`; their first touch (an
  outgoing call) comes 1–4 minutes after creation and three touches happen
  within 24 hours; they have a main contact, the required fields of their
  stage, a budget from the offer stage on, and an active responsible user;
- closed leads have only completed tasks (each with a result), a budget, the
  required fields and, when lost, a loss reason;
- clean contacts and companies have active owners, are younger than
  10 months and have a lead (so none is «dead»), and have valid, unique
  phones and e-mails; contact names are unique while the name space allows
  (up to ~4,000 contacts), companies' names (legal form stripped) are pairwise
  far apart (`names.MIN_POOL_DISTANCE`).

Ground truth (`ground_truth_path`, written atomically; also `SeedSummary.ground_truth`)::

    {
      "seed": 7, "now": 1767225600, "subdomain": "acme", "account_id": 2,
      "counts": {"contacts": 2000, "leads": 2180, ...},          # rows of this account per table
      "params": {...},                                           # thresholds the data was built for
      "rates": {...},                                            # the DefectRates used
      "defects": {
        "<CHECK_ID>": {
          "kind": "<what was planted>",
          "entity": "leads",                                     # leads|contacts|companies|tasks|users|custom_fields
          "ids": [...],                                          # every record the check must report
          "by_entity": {"leads": [...], "tasks": [...]},         # only for checks spanning several entities
          "groups": [[id, id], ...],                             # only for grouping checks (C01-C04, D13)
          "params": {...}                                        # the threshold the ids assume
        }, ...
      },
      "duplicate_groups": {"contacts": [[base, copy, ...], ...], "companies": [[...], ...]},
      "calls": {"<user id>": {"in": 3, "out": 9, "answered": 12, "duration": 3720,   # every call note
                              "first": 1767100000, "last": 1767200000}, ...},   # planted, per manager
      "decoys": {
        "office_phone": [[contact ids sharing their company's office number], ...],
        "placeholder_phone": [contact ids with +7 (000) 000-00-00 in some format],
        "same_name": [[two different people with the same name], ...]
      }
    }

Check ids follow domain.md: D01 D02 D03 D04 D05 D06 D07 D08 D09 D10 D11 D12
D13 D14 D15 C01 C02 C03 C04 C05 C06 C07 C08 C09 T01 T02 T03 U02 U03 F01.
Not planted, because the account has nothing they could be scored on: D16
and I01–I05 (no invoices), C10 (needs a B2B flag), U01/F02 (need a
blueprint). Overlaps that are inherent are listed under every check they
trigger (a stale lead is also too long in its stage: D03 ⊂ D04; an owner
deactivated on an open lead also owns its open task: D12 lists both). Leads
in the unsorted stage are the D05 population and are exempt from D01, D06
and D07 (`params.exempt_status_types = [1]`).

Why this file is long: the whole account comes from one random stream drawn in one order, and each
planted defect is written next to the ground truth that scores it; split by entity, that order (and so
every seed's data) would be spread over modules that must not be reordered independently.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from rapidfuzz import fuzz, process

from implkit.sandbox import names as N
from implkit.sandbox.names import format_phone, make_inn
from implkit.sandbox.amocrm.models import (
    LOST_STATUS_ID, TAG_COLOURS, WON_STATUS_ID, allocate_enum_id, allocate_status_id, create_pipeline_rows,
)
from implkit.sandbox.store import Store
from implkit.yamlio import atomic_write

MIN = 60
HOUR = 3600
DAY = 86400

MAIN_PIPELINE = ("Продажи", ["Первичный контакт", "Квалификация", "Встреча", "КП отправлено",
                             "Согласование договора", "Ожидание оплаты"], "Квалификация", "КП отправлено")
SECOND_PIPELINE = ("Повторные продажи", ["Новый запрос", "Расчёт", "КП отправлено", "Счёт выставлен"],
                   "Расчёт", "КП отправлено")

# Thresholds the data is built around (clean records stay clear of them, planted ones exceed them).
PARAMS = {
    "stale_days": 7,            # D03 N, D04 fallback S
    "unsorted_minutes": 15,     # D05 T
    "first_touch_minutes": 15,  # D06 T (clean ≤ 4 min, planted ≥ 60 min: any T in 5..59 scores the same)
    "touch_window_hours": 24, "min_touches": 3,  # D07
    "dead_contact_months": 12,  # C07 N
    "name_ratio": 90,           # C03, rapidfuzz token_sort_ratio on lower-cased, ё→е names
    "company_ratio": 92,        # C04, the same on names without legal form and punctuation
    "dead_field_fill": 0.10,    # F01
}
TOUCH_NOTES = ("call_in", "call_out", "sms_in", "sms_out")

# JSON columns are written as text here, once, with one encoder: json.dumps with options builds an
# encoder per call, which was a third of the seeding time at 100k contacts.
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_STATUS_VALUE = '[{"lead_status":{"id":%d,"pipeline_id":%d}}]'
_RESULTS = [_json({"text": text}) for text in N.TASK_RESULTS]


@dataclass(frozen=True)
class DefectRates:
    """Planted-defect rates. Contact rates are fractions of `contacts`; lead rates fractions of primary
    leads (one per live contact); company rates fractions of companies; counts are rounded, exact."""

    duplicate_contacts: float = 0.04          # extra records of an existing person (C01/C02/C03)
    contacts_without_channel: float = 0.01    # C05
    invalid_channel: float = 0.01             # C06 (plus the placeholder decoys)
    dead_contacts: float = 0.02               # C07
    contact_owner_deactivated: float = 0.01   # C09, D12
    office_phone_decoys: float = 0.003        # contacts sharing their company's office number
    placeholder_phone_decoys: float = 0.003
    same_name_decoys: float = 0.002           # pairs
    duplicate_companies: float = 0.03         # C04
    company_owner_deactivated: float = 0.01   # C09, D12
    won_company_without_inn: float = 0.05     # C08: share of companies linked to a won lead
    lead_without_task: float = 0.03           # D01
    lead_task_overdue: float = 0.03           # D02, T01
    stale_lead: float = 0.02                  # D03 (and D04)
    stuck_lead: float = 0.02                  # D04 only
    unsorted_backlog: float = 0.01            # D05
    slow_first_response: float = 0.02         # D06
    few_touches: float = 0.02                 # D07
    lost_without_reason: float = 0.02         # D08
    zero_budget: float = 0.02                 # D09
    required_field_empty: float = 0.03        # D10
    lead_without_contact: float = 0.01        # D11
    lead_owner_deactivated: float = 0.01      # D12
    duplicate_open_lead: float = 0.01         # D13
    closed_with_open_task: float = 0.01       # D14
    moved_backwards: float = 0.01             # D15
    task_without_result: float = 0.03         # T02: probability per completed task
    unbound_tasks: float = 0.002              # T03: per contact
    export_rights: int = 2                    # U02: non-admin users with export A


@dataclass
class SeedSummary:
    account_id: int
    subdomain: str
    seed: int
    now: int
    counts: dict[str, int]
    defects: dict[str, int]
    seconds: float
    ground_truth: dict[str, Any] = field(repr=False)

    def __str__(self) -> str:
        records = ", ".join(f"{self.counts[t]:,} {t}" for t in ("contacts", "companies", "leads", "tasks", "notes",
                                                                "events"))
        planted = sum(self.defects.values())
        return (f"{records}; {planted:,} planted findings over {len(self.defects)} checks "
                f"(seed {self.seed}) in {self.seconds:.1f} s")


# lead plans
CLEAN, D01, D02, D03, D04, D05, D06, D07, D08, D09, D10, D11, D12, D13, D14, D15 = range(16)
FRESH_UNSORTED = 99
LEAD_PLANTS = [  # (code, rate attribute, needs an old contact)
    (D03, "stale_lead", True), (D04, "stuck_lead", True), (D01, "lead_without_task", False),
    (D02, "lead_task_overdue", False), (D05, "unsorted_backlog", False), (D06, "slow_first_response", False),
    (D07, "few_touches", False), (D08, "lost_without_reason", False), (D09, "zero_budget", False),
    (D10, "required_field_empty", False), (D11, "lead_without_contact", False),
    (D12, "lead_owner_deactivated", False), (D13, "duplicate_open_lead", False),
    (D14, "closed_with_open_task", False), (D15, "moved_backwards", False),
]
# contact plans
C_PLAIN, C_NOCHAN, C_BADPHONE, C_BADMAIL, C_DEAD, C_DEACT, C_OFFICE, C_PLACEHOLDER, C_SAMENAME = range(9)

ID_FLOORS = {"users": 5_000_000, "leads": 20_000_000, "contacts": 30_000_000, "companies": 40_000_000,
             "tasks": 50_000_000, "notes": 60_000_000, "custom_fields": 1_000_000, "loss_reasons": 70_000,
             "roles": 100, "user_groups": 300_000}


def _count(rate: float, base: int) -> int:
    if rate <= 0 or base <= 0:
        return 0
    return max(1, round(rate * base)) if base >= 100 else round(rate * base)


def _name_key(text: str) -> str:
    return " ".join(text.lower().replace("ё", "е").split())


class _Seeder:
    def __init__(self, store: Store, account_id: int, n: int, seed: int, now: int, rates: DefectRates):
        self.store, self.account_id, self.n, self.seed, self.now, self.rates = store, account_id, n, seed, now, rates
        self.rng = random.Random(seed)
        self.buf: dict[str, list[dict]] = {}
        self.next_id = {t: self._id_base(t) for t in ("leads", "contacts", "companies", "tasks", "notes")}
        self.sets: dict[str, list] = {k: [] for k in (
            "D01", "D02", "D03", "D04", "D05", "D06", "D07", "D08", "D09", "D10", "D11", "D13", "D14", "D15",
            "D12_leads", "D12_tasks", "D12_contacts", "D12_companies", "T01", "T02", "T03", "C05", "C05_open",
            "C06", "C07")}
        self.fill = {}  # custom field id -> filled records
        self.calls_truth: dict[int, list[tuple[str, int, int]]] = {}  # manager -> (direction, at, seconds)
        self.u03: set[int] = set()
        self.member_info: dict[int, dict] = {}
        self.used_phones: set[int] = set()
        self.used_emails: set[str] = set()

    # --- plumbing -----------------------------------------------------------------------------
    def _id_base(self, table: str) -> int:
        top = self.store.query(f"SELECT max(id) FROM {table}")[0][0] or 0
        return max(ID_FLOORS[table], top + 1)

    def take_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def add(self, table: str, row: dict) -> None:
        self.buf.setdefault(table, []).append(row)

    def flush(self) -> None:
        for table, rows in self.buf.items():
            if rows:
                self.store.bulk_insert(table, rows, chunk=50_000)
        self.buf = {}

    # --- configuration --------------------------------------------------------------------------
    def configure(self) -> None:
        rng, acc, db_now = self.rng, self.account_id, self.now
        n_managers = max(5, min(60, round(self.n ** 0.5 / 10)))
        n_inactive = max(1, round(n_managers * 0.15))
        group_names = N.SALES_GROUPS[1:1 + (1 if n_managers < 12 else 3)]
        gid = self._id_base("user_groups")
        self.groups = [0] + list(range(gid, gid + len(group_names)))
        self.store.bulk_insert("user_groups", [{"account_id": acc, "id": gid + i, "name": nm}
                                               for i, nm in enumerate(group_names)])
        rid = self._id_base("roles")
        manager_rights = {"leads": {"view": "G", "edit": "M", "add": "A", "delete": "D", "export": "D"},
                          "contacts": {"view": "A", "edit": "M", "add": "A", "delete": "D", "export": "D"},
                          "companies": {"view": "A", "edit": "M", "add": "A", "delete": "D", "export": "D"},
                          "tasks": {"edit": "M", "delete": "D"}, "mail_access": True, "catalog_access": True,
                          "status_rights": None}
        head_rights = json.loads(json.dumps(manager_rights))
        for entity in ("leads", "contacts", "companies"):
            head_rights[entity].update(view="A", edit="G", delete="G")
        head_rights["tasks"] = {"edit": "G", "delete": "G"}
        self.store.bulk_insert("roles", [{"account_id": acc, "id": rid, "name": "Менеджер", "rights": manager_rights},
                                         {"account_id": acc, "id": rid + 1, "name": "Руководитель отдела",
                                          "rights": head_rights}])
        uid = self._id_base("users")
        users, used_names = [], set()
        self.active, self.inactive, self.group_of = [], [], {}
        export_plants = []
        for i in range(n_managers):
            while True:
                male = rng.random() < 0.55
                first = rng.choice(N.MALE_FIRST)[0] if male else rng.choice(N.FEMALE_FIRST)[0]
                surname = rng.choice(N.SURNAMES)
                name = f"{first} {surname if male else N.feminine(surname)}"
                if name not in used_names:
                    used_names.add(name)
                    break
            user_id, group = uid + i, self.groups[i % len(self.groups)]
            active = i >= n_inactive
            head = i < len(self.groups) + n_inactive and active and i - n_inactive < len(self.groups)
            rights = dict(head_rights if head else manager_rights)
            role = rid + 1 if head else rid
            if active and not head and len(export_plants) < self.rates.export_rights:
                rights = json.loads(json.dumps(manager_rights))
                rights["leads"]["export"] = rights["contacts"]["export"] = "A"
                role = None
                export_plants.append(user_id)
            rights.update(is_admin=False, is_free=False, is_active=active, group_id=group or None, role_id=role)
            email = f"{N.translit(first)}.{N.translit(surname)}{i}@sales.example"
            users.append({"account_id": acc, "id": user_id, "name": name, "email": email, "lang": "ru",
                          "is_active": int(active), "is_admin": 0, "is_free": 0, "group_id": group,
                          "role_id": role, "rights": rights})
            (self.active if active else self.inactive).append(user_id)
            self.group_of[user_id] = group
        self.store.bulk_insert("users", users)
        self.export_plants = export_plants

        lr = self._id_base("loss_reasons")
        self.loss_reasons = list(range(lr, lr + len(N.LOSS_REASONS)))
        self.store.bulk_insert("loss_reasons", [{"account_id": acc, "id": lr + i, "name": nm, "sort": (i + 1) * 10,
                                                 "created_at": db_now - 400 * DAY, "updated_at": db_now - 400 * DAY}
                                                for i, nm in enumerate(N.LOSS_REASONS)])
        self.pipes = [self._main_pipeline(), self._second_pipeline()]
        self._fields()

    def account_extras(self) -> None:
        """What a live account has besides records: stage rights on the roles (and the users they give
        rights to), the admin in a sales group, tag dictionaries on leads and contacts, a lead source and a
        webhook. A separate random stream, so the records and planted defects are those of the seed alone."""
        rng, acc = random.Random(self.seed ^ 0x5EED7A65), self.account_id
        stages = self.store.query("SELECT pipeline_id, id, type FROM statuses WHERE account_id=? ORDER BY "
                                  "pipeline_id, sort, id", (acc,))

        def stage_rights(head: bool) -> list[dict]:
            out = []
            for stage in stages:
                rights = {"view": "A", "edit": "A", "delete": "A" if head else "D"}
                if stage["type"] != 1:          # unsorted stages have no export right
                    rights["export"] = "A" if head else "D"
                out.append({"entity_type": "leads", "pipeline_id": stage["pipeline_id"], "status_id": stage["id"],
                            "rights": rights})
            return out

        with self.store.transaction() as db:
            heads = {r[0] for r in db.execute("SELECT id FROM roles WHERE account_id=? AND name=?",
                                              (acc, "Руководитель отдела"))}
            for table, role_column in (("roles", "id"), ("users", "role_id")):
                for row in db.execute(f"SELECT id, {role_column}, rights FROM {table} WHERE account_id=? AND "
                                      f"{'1' if table == 'roles' else 'is_admin=0'}", (acc,)).fetchall():
                    rights = json.loads(row[2])
                    rights["status_rights"] = stage_rights(row[1] in heads)
                    db.execute(f"UPDATE {table} SET rights=? WHERE id=?", (_json(rights), row[0]))
            admin = db.execute("SELECT id, rights FROM users WHERE account_id=? AND is_admin=1 ORDER BY id LIMIT 1",
                               (acc,)).fetchone()
            if admin is not None and len(self.groups) > 1:
                rights = {**json.loads(admin[1] or "{}"), "group_id": self.groups[1]}
                db.execute("UPDATE users SET group_id=?, rights=? WHERE id=?", (self.groups[1], _json(rights), admin[0]))
            tag_ids = {}
            for entity, names in (("leads", N.LEAD_TAGS), ("contacts", N.CONTACT_TAGS)):
                tag_ids[entity] = []
                for i, name in enumerate(names):
                    color = TAG_COLOURS[(i * 5) % len(TAG_COLOURS)] if entity == "leads" else None
                    tag_ids[entity].append(db.execute(
                        "INSERT INTO tags (account_id, entity_type, name, color) VALUES (?,?,?,?)",
                        (acc, entity, name, color)).lastrowid)
            for entity, share in (("leads", 0.3), ("contacts", 0.1)):
                ids = [r[0] for r in db.execute(f"SELECT id FROM {entity} WHERE account_id=? ORDER BY id", (acc,))]
                for record_id in ids:
                    if rng.random() < share:
                        chosen = sorted(rng.sample(tag_ids[entity], rng.randint(1, 2)))
                        db.execute(f"UPDATE {entity} SET tags=? WHERE id=?", (_json(chosen), record_id))
            main = self.pipes[0]["id"]
            for i, (name, code) in enumerate(N.SOURCE_INTEGRATIONS):
                db.execute("INSERT INTO sources (account_id, name, pipeline_id, external_id, services, is_default, "
                           "origin_code) VALUES (?,?,?,?,?,?,?)",
                           (acc, name, main, f"{code}-{acc}", "[]", int(i == 0), code))
            db.execute("INSERT INTO webhooks (account_id, destination, settings, sort, disabled, created_at, "
                       "created_by) VALUES (?,?,?,?,?,?,?)",
                       (acc, "https://hooks.example.test/amocrm", _json(["add_lead", "update_lead", "status_lead"]),
                        1, 0, self.now - 200 * DAY, admin[0] if admin else None))

    def _main_pipeline(self) -> dict:
        acc = self.account_id
        name, stages, required, offer = MAIN_PIPELINE
        with self.store.transaction() as db:
            pid = db.execute("SELECT id FROM pipelines WHERE account_id=? ORDER BY is_main DESC, sort, id LIMIT 1",
                             (acc,)).fetchone()[0]
            db.execute("UPDATE pipelines SET name=? WHERE account_id=? AND id=?", (name, acc, pid))
            existing = [r[0] for r in db.execute(
                "SELECT id FROM statuses WHERE account_id=? AND pipeline_id=? AND type=0 AND id NOT IN (142, 143) "
                "ORDER BY sort, id", (acc, pid))]
            ids = []
            for i, stage in enumerate(stages):
                sort = 20 + 10 * i
                if i < len(existing):
                    db.execute("UPDATE statuses SET name=?, sort=? WHERE account_id=? AND pipeline_id=? AND id=?",
                               (stage, sort, acc, pid, existing[i]))
                    ids.append(existing[i])
                else:
                    sid = allocate_status_id(db)
                    db.execute("INSERT INTO statuses (account_id, pipeline_id, id, name, sort, color, type) "
                               "VALUES (?, ?, ?, ?, ?, '#fffeb2', 0)", (acc, pid, sid, stage, sort))
                    ids.append(sid)
            for extra in existing[len(stages):]:
                db.execute("DELETE FROM statuses WHERE account_id=? AND pipeline_id=? AND id=?", (acc, pid, extra))
            unsorted = db.execute("SELECT id FROM statuses WHERE account_id=? AND pipeline_id=? AND type=1",
                                  (acc, pid)).fetchone()[0]
        return {"id": pid, "name": name, "stages": ids, "unsorted": unsorted,
                "required": stages.index(required), "offer": stages.index(offer)}

    def _second_pipeline(self) -> dict:
        name, stages, required, offer = SECOND_PIPELINE
        with self.store.transaction() as db:
            pid = create_pipeline_rows(db, self.account_id, name, sort=2, is_main=False, is_unsorted_on=True,
                                       statuses=[{"name": s, "sort": 20 + 10 * i} for i, s in enumerate(stages)])
            rows = db.execute("SELECT id, type FROM statuses WHERE account_id=? AND pipeline_id=? AND id NOT IN "
                              "(142, 143) ORDER BY sort", (self.account_id, pid)).fetchall()
        return {"id": pid, "name": name, "stages": [r[0] for r in rows if r[1] == 0],
                "unsorted": next(r[0] for r in rows if r[1] == 1),
                "required": stages.index(required), "offer": stages.index(offer)}

    def _fields(self) -> None:
        acc = self.account_id
        fid = self._id_base("custom_fields")
        with self.store.transaction() as db:
            def enums(values):
                return [{"id": allocate_enum_id(db), "value": v, "sort": (i + 1) * 10} for i, v in enumerate(values)]
            required = [{"status_id": p["stages"][p["required"]], "pipeline_id": p["id"]} for p in self.pipes]
            specs = [
                ("leads", "source", "Источник", "select", enums(N.LEAD_SOURCES), required),
                ("leads", "client_type", "Тип клиента", "select", enums(N.CLIENT_TYPES), []),
                ("leads", "promo", "Промокод", "text", None, []),
                ("companies", "inn", "ИНН", "text", None, []),
            ]
        rows = []
        self.field = {}
        for i, (entity, key, name, ftype, enum_list, req) in enumerate(specs):
            rows.append({"account_id": acc, "entity_type": entity, "id": fid + i, "name": name, "code": None,
                         "sort": 500 + i, "type": ftype, "group_id": None, "is_predefined": 0, "is_deletable": 1,
                         "is_api_only": 0, "required_statuses": req, "enums": enum_list, "settings": {}})
            self.field[key] = {"id": fid + i, "name": name, "type": ftype, "enums": enum_list}
        self.store.bulk_insert("custom_fields", rows)
        for r in self.store.query("SELECT id, entity_type, code, name, type, enums FROM custom_fields "
                                  "WHERE account_id=? AND code IS NOT NULL", (acc,)):
            self.field[f"{r['entity_type']}.{r['code']}"] = {
                "id": r["id"], "name": r["name"], "type": r["type"], "code": r["code"],
                "enum_ids": {e.get("value"): e["id"] for e in json.loads(r["enums"] or "[]")}}
        self.fill = {f["id"]: 0 for f in self.field.values()}
        for r in self.store.query("SELECT id FROM custom_fields WHERE account_id=?", (acc,)):
            self.fill.setdefault(r["id"], 0)

    def cf(self, key: str, values: list[dict]) -> dict:
        f = self.field[key]
        self.fill[f["id"]] += 1
        out = {"field_id": f["id"], "field_name": f["name"], "field_code": f.get("code"), "field_type": f["type"],
               "values": values}
        return out

    def multitext(self, key: str, items: list[tuple[str, str]]) -> dict:
        enum_ids = self.field[key]["enum_ids"]
        return self.cf(key, [{"value": v, "enum_id": enum_ids.get(code), "enum_code": code} for v, code in items])

    def select(self, key: str, index: int) -> dict:
        e = self.field[key]["enums"][index]
        return self.cf(key, [{"value": e["value"], "enum_id": e["id"]}])

    # --- planning ---------------------------------------------------------------------------------
    def plan(self) -> None:
        rng, n, r = self.rng, self.n, self.rates
        # duplicates: copy j (later) of base i (earlier)
        n_copies = _count(r.duplicate_contacts, n)
        copies = sorted(rng.sample(range(max(1, n // 10), n), min(n_copies, n - max(1, n // 10))))
        copy_set = set(copies)
        self.copy_of: dict[int, int] = {}
        bases: list[int] = []
        for j in copies:
            if bases and rng.random() < 0.2:
                base = rng.choice(bases[-50:])
                if base >= j:
                    base = None
            else:
                base = None
            while base is None or base in copy_set:
                base = rng.randrange(0, j)
            self.copy_of[j] = base
            bases.append(base)
        self.base_set = set(bases)
        plain = [i for i in range(n) if i not in copy_set and i not in self.base_set]
        rng.shuffle(plain)
        self.contact_plan = bytearray(n)
        pos = 0

        def take(k: int, code: int) -> list[int]:
            nonlocal pos
            chosen = plain[pos:pos + k]
            pos += len(chosen)
            for i in chosen:
                self.contact_plan[i] = code
            return chosen

        take(_count(r.contacts_without_channel, n), C_NOCHAN)
        bad = _count(r.invalid_channel, n)
        take(bad - bad // 2, C_BADPHONE)
        take(bad // 2, C_BADMAIL)
        dead = take(_count(r.dead_contacts, n), C_DEAD)
        take(_count(r.contact_owner_deactivated, n), C_DEACT)
        office = take(_count(r.office_phone_decoys, n) // 3 * 3, C_OFFICE)
        self.office_groups = [sorted(office[k:k + 3]) for k in range(0, len(office), 3)]
        take(_count(r.placeholder_phone_decoys, n), C_PLACEHOLDER)
        pairs = take(_count(r.same_name_decoys, n), C_SAMENAME)
        self.same_name_partner = {}
        for i in pairs:  # partner: a plain earlier-or-later contact that keeps its plain plan
            if pos < len(plain):
                partner = plain[pos]
                pos += 1
                self.contact_plan[partner] = C_SAMENAME
                a, b = sorted((i, partner))
                self.same_name_partner[b] = a
        # companies
        cap = len(N.COMPANY_PREFIXES) * len(N.COMPANY_ROOTS) * (len(N.COMPANY_REGIONS) + 1)
        self.n_companies = max(3, min(round(0.12 * n), int(cap * 0.8)))
        self.office_company = {}
        for k, group in enumerate(self.office_groups):
            company = rng.randrange(self.n_companies)
            for i in group:
                self.office_company[i] = company
        # leads: one primary per live contact, plants on primary leads
        self.lead_plan: dict[int, int] = {}
        live = [i for i in range(n) if self.contact_plan[i] != C_DEAD]
        n_primary = len(live)
        old_limit, plant_limit = int(n * 0.5), int(n * 0.9)
        old_pool = [i for i in live if i < old_limit and i not in copy_set]
        rest_pool = [i for i in live if i < plant_limit and i not in copy_set]
        rng.shuffle(old_pool)
        rng.shuffle(rest_pool)
        used = set()
        for code, attr, needs_old in LEAD_PLANTS:
            k = _count(getattr(r, attr), n_primary)
            pool = old_pool if needs_old else rest_pool
            picked = 0
            while picked < k and pool:
                i = pool.pop()
                if i in used:
                    continue
                used.add(i)
                self.lead_plan[i] = code
                picked += 1
        free = [i for i in live if i not in used]
        n_extra = round(0.08 * len(live))
        self.extra_lead = set(rng.sample(free, min(n_extra, len(free))))
        n_fresh = max(1, round(0.003 * len(live)))
        for i in rng.sample([i for i in free if i not in self.extra_lead], min(n_fresh, len(free) - len(self.extra_lead))):
            self.lead_plan[i] = FRESH_UNSORTED
        self.dead = set(dead)

    # --- people -------------------------------------------------------------------------------------
    def run(self, block: int = 20_000, progress: Progress | None = None) -> None:
        rng, n, now = self.rng, self.n, self.now
        every = max(1, n // 100)   # a hundred reports at most, whatever the size
        start, end = now - 300 * DAY, now - 2 * HOUR
        acc = self.account_id
        unique_names = n <= 4000
        used_name_keys: list[str] = []
        self.name_keys = used_name_keys if unique_names else None
        used_phones, used_emails = self.used_phones, self.used_emails
        company_roots: dict[int, set] = {}
        self.company_min_created = [0] * self.n_companies
        self.company_has_won = bytearray(self.n_companies)
        self.company_office = {}
        self.persons: dict[int, dict] = {}
        self.dup_groups: dict[int, list[int]] = {}
        self.placeholder_ids: list[int] = []
        self.company_names = self._company_names()
        base_id = self.base_id = self.next_id["contacts"]
        self.next_id["contacts"] += n

        for i in range(n):
            cid = base_id + i
            plan = self.contact_plan[i]
            created = int(start + (end - start) * (i + rng.random()) / n)
            if plan == C_DEAD:
                created = now - rng.randint(400 * DAY, 1000 * DAY)
            base = self.copy_of.get(i)
            if base is not None:
                person = self._copy_person(self.persons[base], used_phones, used_emails)
                self.dup_groups.setdefault(base, [base_id + base]).append(cid)
            else:
                company = self.office_company.get(i)
                if company is None and rng.random() < 0.35:
                    company = rng.randrange(self.n_companies)
                person = self._new_person(i, company, unique_names, used_name_keys, company_roots,
                                          used_phones, used_emails)
            person["id"], person["created"] = cid, created
            if i in self.base_set:
                self.persons[i] = person
            self._contact_row(i, person, plan)
            if i in self.base_set or base is not None:
                self.member_info[cid] = {
                    "phone": person["phones"][0][0] if person["phones"] else None,
                    "email": person["email"].lower() if person["email"] else None,
                    "name": _name_key(person["name"])}
            if plan != C_DEAD:
                self._leads_for(i, person)
            if (i + 1) % block == 0:
                self.flush()
            if progress is not None and ((i + 1) % every == 0 or i + 1 == n):
                progress("contacts", i + 1, n)
        self.flush()

    def _company_names(self) -> list[tuple[str, str, bool]]:
        """(display name, core name, is ИП) per company index, cores unique and pairwise far apart."""
        rng = self.rng
        P, R, G = N.COMPANY_PREFIXES, N.COMPANY_ROOTS, [None] + N.COMPANY_REGIONS
        cap = len(P) * len(R) * len(G)
        combos = rng.sample(range(cap), self.n_companies)
        names, ip_names = [], set()
        for c in combos:
            p, rest = divmod(c, len(R) * len(G))
            root, region = divmod(rest, len(G))
            if rng.random() < 0.12:
                while True:
                    male = rng.random() < 0.6
                    first = rng.choice(N.MALE_FIRST)
                    father = rng.choice(N.MALE_FIRST)
                    surname = rng.choice(N.SURNAMES)
                    core = (f"{surname} {first[0]} {father[1]}" if male else
                            f"{N.feminine(surname)} {rng.choice(N.FEMALE_FIRST)[0]} {father[2]}")
                    if core not in ip_names:
                        ip_names.add(core)
                        break
                names.append((f"ИП {core}", core, True))
                continue
            core = P[p] + R[root] + (f" {G[region]}" if G[region] else "")
            form = rng.choices(["ООО", "АО", "ЗАО", "ПАО"], [80, 10, 7, 3])[0]
            style = rng.randrange(3)
            display = (f"{form} «{core}»", f'{form} "{core}"', f"{form} {core}")[style]
            names.append((display, core, False))
        return names

    def _pick_name(self, company, unique_names, used_name_keys, company_roots) -> tuple:
        rng = self.rng
        for _ in range(200):
            male = rng.random() < 0.5
            surname = rng.choice(N.SURNAMES)
            if male:
                first = rng.choice(N.MALE_FIRST)
                first_name, dim = first[0], first[3]
                last_name = surname
            else:
                first = rng.choice(N.FEMALE_FIRST)
                first_name, dim = first
                last_name = N.feminine(surname)
            if company is not None and surname in company_roots.get(company, ()):
                continue
            if unique_names:
                # no two people alike: what a fuzzy name matcher flags must be a planted duplicate
                key = _name_key(f"{first_name} {last_name}")
                if process.extractOne(key, used_name_keys, scorer=fuzz.token_sort_ratio,
                                      score_cutoff=PARAMS["name_ratio"] - 2) is not None:
                    continue
                used_name_keys.append(key)
            if company is not None:
                company_roots.setdefault(company, set()).add(surname)
            return male, first_name, last_name, dim, surname
        raise RuntimeError("name pools exhausted")  # pragma: no cover

    def _new_phone(self, used_phones: set) -> int:
        rng = self.rng
        while True:
            national = rng.choice(N.MOBILE_CODES) * 10_000_000 + rng.randrange(10_000_000)
            if national not in used_phones:
                used_phones.add(national)
                return national

    def _new_email(self, first: str, last: str, company, used_emails: set) -> str:
        rng = self.rng
        f, l = N.translit(first), N.translit(last)
        if company is not None and rng.random() < 0.6:
            domain = N.translit(self.company_names[company][1]).replace(" ", "-") + ".ru"
            local = rng.choice([f"{f[0]}.{l}", f"{l}", f"{f}.{l}"])
        else:
            domain = rng.choice(N.EMAIL_DOMAINS)
            local = rng.choice([f"{f}.{l}", f"{l}.{f}", f"{f[0]}{l}", f"{l}{rng.randint(70, 99)}"])
        address = f"{local}@{domain}"
        k = 1
        while address.lower() in used_emails:
            k += 1
            address = f"{local}{k}@{domain}"
        used_emails.add(address.lower())
        if rng.random() < 0.1:  # people do type capitals
            address = address[0].upper() + address[1:]
        return address

    def _new_person(self, i, company, unique_names, used_name_keys, company_roots, used_phones, used_emails) -> dict:
        rng = self.rng
        partner = self.same_name_partner.get(i)
        if partner is not None and partner in self.persons:
            src = self.persons[partner]
            male, first_name, last_name, dim, surname = (src["male"], src["first"], src["last"], src["dim"],
                                                         src["surname"])
            if company == src["company"]:
                company = None
            if company is not None:
                company_roots.setdefault(company, set()).add(surname)
        else:
            male, first_name, last_name, dim, surname = self._pick_name(company, unique_names, used_name_keys,
                                                                        company_roots)
        if self.contact_plan[i] == C_SAMENAME and partner is None:
            self.base_set.add(i)  # keep it so the later partner can copy the name
        phones = [] if rng.random() < 0.05 else [(self._new_phone(used_phones), rng.randrange(8), "MOB")]
        email = self._new_email(first_name, last_name, company, used_emails) if (not phones or rng.random() < 0.7) else None
        order = rng.random() < 0.5
        return {"male": male, "first": first_name, "last": last_name, "dim": dim, "surname": surname,
                "company": company, "phones": phones, "email": email,
                "name": f"{first_name} {last_name}" if order else f"{last_name} {first_name}",
                "position": rng.choice(N.POSITIONS) if company is not None and rng.random() < 0.6 else None}

    def _copy_person(self, base: dict, used_phones: set, used_emails: set) -> dict:
        """Another record of the same person: a reformatted phone, a case-changed e-mail, a name variant."""
        rng = self.rng
        variant = rng.choice(["same", "swap", "swap", "typo", "typo", "patronymic", "diminutive"])
        first, last = base["first"], base["last"]
        if variant == "swap":
            name = f"{last} {first}" if base["name"].startswith(first) else f"{first} {last}"
        elif variant == "typo":
            name = self._typo(base["name"])
        elif variant == "patronymic":
            father = rng.choice(N.MALE_FIRST)
            name = f"{last} {first} {father[1] if base['male'] else father[2]}"
        elif variant == "diminutive":
            name = f"{base['dim']} {last}"
        else:
            name = base["name"]
        if self.name_keys is not None and not self._alike_only_to(name, base["name"]):
            name = f"{last} {first}" if base["name"].startswith(first) else f"{first} {last}"
        phones, email = [], None
        has_phone, has_mail = bool(base["phones"]), bool(base["email"])
        share = rng.choice(["phone", "email", "both"]) if has_phone and has_mail else ("phone" if has_phone else "email")
        if share in ("phone", "both"):
            national, style, code = base["phones"][0]
            phones = [(national, rng.choice([s for s in range(8) if s != style]), code)]
        if share in ("email", "both"):
            email = base["email"]
            email = rng.choice([email.upper(), email.title(), email.capitalize(), email.lower()])
            if email == base["email"]:
                email = email.swapcase()
        elif rng.random() < 0.3:
            email = self._new_email(first, last, None, used_emails)
        return dict(base, name=name, phones=phones, email=email, variant=variant,
                    position=base["position"] if rng.random() < 0.5 else None)

    def _alike_only_to(self, name: str, base: str) -> bool:
        """Whether `name` looks like `base` and like no other person's name."""
        key, base_key = _name_key(name), _name_key(base)
        matches = process.extract(key, self.name_keys, scorer=fuzz.token_sort_ratio,
                                  score_cutoff=PARAMS["name_ratio"] - 2, limit=5)
        return all(_name_key(m[0]) == base_key or fuzz.token_sort_ratio(m[0], base_key) == 100 for m in matches)

    def _typo(self, name: str, ratio: int = PARAMS["name_ratio"]) -> str:
        rng = self.rng
        for _ in range(50):
            chars = list(name)
            k = rng.randrange(1, len(chars) - 1)
            if chars[k] == " " or chars[k - 1] == " ":
                continue
            op = rng.randrange(3)
            if op == 0:
                del chars[k]
            elif op == 1:
                chars[k] = rng.choice("аеиоуынрлст")
            else:
                chars[k], chars[k - 1] = chars[k - 1], chars[k]
            variant = "".join(chars)
            if variant != name and fuzz.token_sort_ratio(_name_key(variant), _name_key(name)) >= ratio:
                return variant
        return " ".join(reversed(name.split()))

    def _contact_row(self, i: int, p: dict, plan: int) -> None:
        rng, acc = self.rng, self.account_id
        cid = p["id"]
        owner = rng.choice(self.inactive) if plan == C_DEACT else rng.choice(self.active)
        p["owner"] = owner
        phones = [(format_phone(nat, style), code) for nat, style, code in p["phones"]]
        email = p["email"]
        if plan == C_NOCHAN:
            phones, email = [], None
            self.sets["C05"].append(cid)
        elif plan == C_BADPHONE:
            nat = self._new_phone(set())
            s = f"{nat:010d}"
            phones = [(rng.choice([f"+7 ({s[:3]}) {s[3:6]}-{s[6:8]}", f"{s[3:6]}-{s[6:8]}-{s[8:]}",
                                   f"8 {s[:3]} {s[3:6]} {s[6:8]}"]), "MOB")]
            if email is None:
                email = self._new_email(p["first"], p["last"], None, self.used_emails)
            self.sets["C06"].append(cid)
        elif plan == C_BADMAIL:
            local, _, domain = (email or self._new_email(p["first"], p["last"], None, self.used_emails)).partition("@")
            email = rng.choice([f"{local}@{domain.split('.')[0]}", f"{local}.{domain}", f"{local}@@{domain}",
                                f"{local} @{domain}"])
            if not phones:
                phones = [(format_phone(self._new_phone(self.used_phones), rng.randrange(8)), "MOB")]
            self.sets["C06"].append(cid)
        elif plan == C_PLACEHOLDER:
            phones = [(rng.choice(["+7 (000) 000-00-00", "8 000 000 00 00", "80000000000", "+70000000000"]), "WORK")]
            if email is None:
                email = self._new_email(p["first"], p["last"], None, self.used_emails)
            self.placeholder_ids.append(cid)
            self.sets["C06"].append(cid)
        elif plan == C_OFFICE:
            company = p["company"]
            office = self.company_office.get(company)
            if office is None:
                office = self.company_office[company] = self._office_phone()
            phones = [(format_phone(office, rng.randrange(8)), "WORK")] + phones
        if plan == C_DEAD:
            self.sets["C07"].append(cid)
        if plan == C_DEACT:
            self.sets["D12_contacts"].append(cid)
            self.u03.add(owner)
        fields = []
        if phones:
            fields.append(self.multitext("contacts.PHONE", phones))
        if email:
            fields.append(self.multitext("contacts.EMAIL", [(email, "WORK" if p["company"] is not None else "PRIV")]))
        if p["position"]:
            fields.append(self.cf("contacts.POSITION", [{"value": p["position"]}]))
        p["phone_text"] = phones[0][0] if phones else ""
        self.add("contacts", {
            "account_id": acc, "id": cid, "name": p["name"], "first_name": p["first"], "last_name": p["last"],
            "responsible_user_id": owner, "group_id": self.group_of[owner], "created_by": owner, "updated_by": owner,
            "created_at": p["created"], "updated_at": p["created"] + rng.randrange(0, 3 * DAY) if plan != C_DEAD
            else p["created"], "closest_task_at": None, "is_deleted": 0,
            "custom_fields_values": _json(fields) if fields else None, "tags": "[]"})
        if p["company"] is not None:
            c = p["company"]
            if not self.company_min_created[c] or p["created"] < self.company_min_created[c]:
                self.company_min_created[c] = p["created"]
            self.add("entity_links", {"account_id": acc, "entity_type": "contacts", "entity_id": cid,
                                      "to_entity_type": "companies", "to_entity_id": self._company_id(c),
                                      "is_main": 0, "metadata": None})
        if plan == C_NOCHAN:
            p["no_channel"] = True

    def _office_phone(self) -> int:
        import phonenumbers
        while True:
            national = self.rng.choice(N.CITY_CODES) * 10_000_000 + self.rng.randrange(2_000_000, 9_999_999)
            if phonenumbers.is_valid_number(phonenumbers.parse(f"+7{national}")):
                return national

    def _company_id(self, c: int) -> int:
        return self.company_base + c

    # --- leads ------------------------------------------------------------------------------------------
    def _leads_for(self, i: int, p: dict) -> None:
        rng = self.rng
        code = self.lead_plan.get(i, CLEAN)
        pipe = self.pipes[0] if rng.random() < 0.7 else self.pipes[1]
        if code == D13:
            first = self._lead(p, pipe, CLEAN, force_open=True)
            second = self._lead(p, pipe, CLEAN, force_open=True)
            self.sets["D13"].append([first, second])
        else:
            self._lead(p, pipe, code)
        if i in self.extra_lead:
            other = self.pipes[1] if pipe is self.pipes[0] else self.pipes[0]
            if rng.random() < 0.5 or p["created"] > self.now - 3 * DAY:
                self._lead(p, other, CLEAN)
            else:
                self._lead(p, pipe, CLEAN, force_closed=True)

    def _lead(self, p: dict, pipe: dict, code: int, *, force_open: bool = False, force_closed: bool = False) -> int:
        rng, now, acc = self.rng, self.now, self.account_id
        lid = self.take_id("leads")
        c = p["created"]
        stages = pipe["stages"]
        last = len(stages) - 1
        notes: list[tuple[int, str, dict]] = []  # (time, type, params)
        tasks: list[dict] = []
        entries: list[tuple[int, int]] = []       # (time, status id) — the path, first is lead_added
        open_task_due = None
        closed_at = None
        loss_reason = None
        outcome = self._outcome(code, c, force_open, force_closed)
        k = self._stage_index(code, outcome, pipe)
        owner = p["owner"]
        if outcome == "open" or outcome == "unsorted":
            owner = owner if owner in self.active else rng.choice(self.active)
            if code == D12:
                owner = rng.choice(self.inactive)
        elif rng.random() < 0.2:
            owner = rng.choice(self.inactive + self.active)
        # timeline
        if outcome == "unsorted":
            created = now - (rng.randint(HOUR, 3 * DAY) if code == D05 else rng.randint(MIN, 14 * MIN))
            created = max(created, c + MIN) if code == D05 else created
            entries = [(created, pipe["unsorted"])]
            t_first = None
        else:
            if code == D03:
                activity = now - rng.randint(10 * DAY, 90 * DAY)
                created = activity if k == 0 else activity - rng.randint(DAY, 30 * DAY)
            elif code == D04:
                stage_entry = now - rng.randint(10 * DAY, 40 * DAY)
                created = stage_entry if k == 0 else stage_entry - rng.randint(DAY, 20 * DAY)
            else:
                lo, hi = self._created_window(code, outcome, k, c)
                created = rng.randint(min(lo, hi), hi)
                if code == D02:
                    open_task_due = rng.randint(max(created + 2 * HOUR, now - 5 * DAY), now - DAY)
            # touches: the first outgoing call, then two more within 24 h
            t_first = created + (rng.randint(HOUR, 8 * HOUR) if code == D06 else rng.randint(MIN, 4 * MIN))
            if code == D07:
                later = sorted(rng.randint(created + 25 * HOUR, created + 5 * DAY) for _ in range(2))
            else:
                hi_touch = min(created + 23 * HOUR, now - MIN)
                later = sorted(rng.randint(t_first + MIN, max(t_first + MIN, hi_touch)) for _ in range(2))
            phone = p.get("phone_text", "")
            notes.append((t_first, "call_out", self._call(phone, owner)))
            notes.append((later[0], rng.choice(["call_out", "sms_out"]), None))
            notes.append((later[1], rng.choice(["call_in", "call_out", "sms_out"]), None))
            if rng.random() < 0.2:
                noted = min(created + rng.randint(MIN, 20 * HOUR), now - MIN)
                notes.append((max(created, noted), "common", {"text": rng.choice(N.COMMON_NOTES)}))
            floor = t_first + MIN  # nothing else happens before the first touch (D06 stays exact)
            # stage path
            if outcome == "open":
                if code == D03:
                    last_entry = activity
                elif code == D04:
                    last_entry = stage_entry
                elif code == D02:
                    last_entry = rng.randint(min(max(floor, now - 6 * DAY), open_task_due - 2 * HOUR),
                                             open_task_due - 2 * HOUR)
                else:
                    last_entry = rng.randint(min(max(floor, now - 6 * DAY), now - 30 * MIN), now - 30 * MIN)
                path = list(range(k + 1))
                if code == D15:
                    top = rng.randint(k + 1, last)
                    path = list(range(top + 1)) + [k]
                if len(path) == 1:
                    entries = [(created, stages[0])]
                else:
                    times = sorted(rng.randint(min(floor, last_entry), last_entry) for _ in range(len(path) - 2))
                    entries = [(created, stages[0])] + list(zip(times + [last_entry], [stages[s] for s in path[1:]]))
            else:
                span = min(60 * DAY, max(HOUR, now - HOUR - floor))
                closed_at = floor + rng.randint(HOUR // 2, span)
                path = list(range(k + 1))
                times = sorted(rng.randint(floor, closed_at) for _ in range(len(path) - 1))
                entries = ([(created, stages[0])] + list(zip(times, [stages[s] for s in path[1:]]))
                           + [(closed_at, WON_STATUS_ID if outcome == "won" else LOST_STATUS_ID)])
                if outcome == "lost" and code != D08:
                    loss_reason = rng.choice(self.loss_reasons)
        status = entries[-1][1]
        # tasks: one completed per stage left, one open in the current stage
        for j in range(len(entries) - 1):
            t0, t1 = entries[j][0], entries[j + 1][0]
            lo = max(t0, t_first or t0)
            done = rng.randint(min(lo, t1), t1)
            tasks.append(self._task(lid, owner, t0, t0 + DAY, done,
                                    completed=True, meeting=(j == 2)))
        if outcome == "open":
            entry_time = entries[-1][0]
            task_owner = owner
            if code == D02:
                tasks.append(self._task(lid, task_owner, min(entry_time, open_task_due - HOUR), open_task_due,
                                        min(entry_time, open_task_due - HOUR), completed=False))
            elif code != D01:
                open_task_due = now + rng.randint(2 * DAY, 14 * DAY)
                tasks.append(self._task(lid, task_owner, entry_time, open_task_due, entry_time, completed=False))
        elif code == D14:
            task_owner = owner if owner in self.active else rng.choice(self.active)
            open_task_due = now + rng.randint(2 * DAY, 10 * DAY)
            t0 = max(created, closed_at - rng.randint(HOUR, DAY))
            tasks.append(self._task(lid, task_owner, t0, open_task_due, t0, completed=False))
        if code == D04:
            notes.append((now - rng.randint(HOUR, 5 * DAY), "call_out", self._call(p.get("phone_text", ""), owner)))
        # budget
        offer_index = pipe["offer"]
        if outcome == "unsorted" or code == D09:
            price = 0
        elif outcome in ("won", "lost") or k >= offer_index:
            price = rng.randrange(10, 2000) * 1000
        else:
            price = 0 if rng.random() < 0.5 else rng.randrange(10, 2000) * 1000
        # fields
        fields = []
        needs_source = outcome in ("won", "lost") or (outcome == "open" and k >= pipe["required"])
        if code == D10:
            needs_source = False
        elif outcome == "open" and not needs_source and rng.random() < 0.5:
            needs_source = True
        if needs_source:
            fields.append(self.select("source", rng.randrange(len(N.LEAD_SOURCES))))
        if outcome != "unsorted" and rng.random() < 0.6:
            fields.append(self.select("client_type", rng.randrange(len(N.CLIENT_TYPES))))
        if rng.random() < 0.03:
            fields.append(self.cf("promo", [{"value": f"PROMO{rng.randrange(100, 999)}"}]))
        # rows
        times = [t for t, _ in entries] + [t for t, _, _ in notes] + [t["updated_at"] for t in tasks if t["is_completed"]]
        updated = max(times)
        company = p["company"]
        product = rng.choice(N.PRODUCTS)
        if rng.random() < 0.2:
            name = f"Сделка #{lid}"
        elif company is not None:
            name = f"{product} — {self.company_names[company][1]}"
        else:
            name = product
        open_due = [t["complete_till"] for t in tasks if not t["is_completed"]]
        self.add("leads", {
            "account_id": acc, "id": lid, "name": name, "price": price, "responsible_user_id": owner,
            "group_id": self.group_of[owner], "status_id": status, "pipeline_id": pipe["id"],
            "loss_reason_id": loss_reason, "source_id": None, "created_by": owner if outcome != "unsorted" else 0,
            "updated_by": owner, "created_at": entries[0][0], "updated_at": updated, "closed_at": closed_at,
            "closest_task_at": min(open_due) if open_due else None, "is_deleted": 0, "score": None,
            "labor_cost": None, "custom_fields_values": _json(fields) if fields else None, "tags": "[]"})
        # events
        self._event("lead_added", lid, owner, entries[0][0], "[]", "[]")
        pipeline_id = pipe["id"]
        for (t_prev, s_prev), (t, s) in zip(entries, entries[1:]):
            self._event("lead_status_changed", lid, owner, t, _STATUS_VALUE % (s, pipeline_id),
                        _STATUS_VALUE % (s_prev, pipeline_id))
        for t, note_type, params in notes:
            self._note(lid, owner, t, note_type, params, p.get("phone_text", ""))
        for task in tasks:
            self.add("tasks", task)
        if code != D11:
            self.add("entity_links", {"account_id": acc, "entity_type": "leads", "entity_id": lid,
                                      "to_entity_type": "contacts", "to_entity_id": p["id"], "is_main": 1,
                                      "metadata": '{"main_contact":true}'})
            if company is not None:
                self.add("entity_links", {"account_id": acc, "entity_type": "leads", "entity_id": lid,
                                          "to_entity_type": "companies", "to_entity_id": self._company_id(company),
                                          "is_main": 0, "metadata": None})
                if outcome == "won":
                    self.company_has_won[company] = 1
        if outcome == "unsorted":
            self.add("unsorted", {
                "account_id": acc, "uid": f"{acc:06x}{rng.getrandbits(136):034x}", "source_uid": "site_form",
                "source_name": "Сайт", "category": "forms", "pipeline_id": pipe["id"], "lead_id": lid,
                "created_at": entries[0][0],
                "metadata": {"form_id": "callback", "form_name": "Заявка с сайта", "form_page": "https://example.ru/",
                             "ip": f"192.0.2.{rng.randrange(1, 255)}", "form_sent_at": entries[0][0],
                             "referer": "https://yandex.ru/", "visitor_uid": None}})
        # ground truth
        s = self.sets
        if code in (D01, D02, D03, D04, D05, D06, D07, D08, D09, D10, D11, D14, D15):
            s[f"D{code:02d}"].append(lid)
        if code == D03:
            s["D04"].append(lid)
        if code == D02:
            s["T01"].append(tasks[-1]["id"])
        if code == D12:
            s["D12_leads"].append(lid)
            self.u03.add(owner)
            s["D12_tasks"].extend(t["id"] for t in tasks if not t["is_completed"])
        if p.get("no_channel") and outcome in ("open", "unsorted") and code != D11:  # D11 leads link no contact
            s["C05_open"].append(p["id"])
        return lid

    def _outcome(self, code: int, contact_created: int, force_open: bool, force_closed: bool) -> str:
        """open | won | lost | unsorted: what each planted defect needs, otherwise ~60% of older leads closed."""
        rng = self.rng
        if code in (D05, FRESH_UNSORTED):
            return "unsorted"
        if code == D08:
            outcome = "lost"
        elif code == D14:
            outcome = rng.choice(["won", "lost"])
        elif code == D09:
            outcome = rng.choice(["open", "open", "won"])
        elif code in (D06, D07):
            outcome = rng.choice(["open", "won", "lost"])
        elif code != CLEAN or force_open:
            outcome = "open"
        elif force_closed or (contact_created < self.now - 3 * DAY and rng.random() < 0.6):
            outcome = rng.choice(["won", "lost"])
        else:
            outcome = "open"
        if outcome != "open" and contact_created > self.now - 3 * DAY:
            return "open"  # no room for a closed history after so young a contact
        return outcome

    def _stage_index(self, code: int, outcome: str, pipe: dict) -> int:
        """Index of the lead's (last ordinary) stage in its pipeline."""
        rng, last = self.rng, len(pipe["stages"]) - 1
        if outcome == "won":
            return last
        if code == D15:
            return rng.randrange(0, last)  # leaves room for the stage it came back from
        if code == D09:
            return rng.randint(pipe["offer"], last)
        if code == D10:
            return rng.randint(pipe["required"], last)
        if code in (D11, D07):
            return rng.randint(1, last)  # D11 is about leads past the first stage; D07 needs an old lead moved on
        return rng.randint(0, last)

    def _created_window(self, code: int, outcome: str, k: int, contact_created: int) -> tuple[int, int]:
        """Earliest and latest creation time that keeps the lead clear of every check but its own.

        Open leads entered their stage within 6 days (D03/D04), so a lead still in its first stage
        was created within 6 days; D06/D07/D02 plants need enough age for their defect to show.
        """
        now, c = self.now, contact_created
        if outcome != "open":
            return c, now - (7 * DAY if code == D07 else 2 * DAY)
        if code == D07:
            return max(c, now - 50 * DAY), now - 7 * DAY
        if code == D02:
            return max(c, now - 6 * DAY + HOUR), now - 3 * DAY
        recent = max(c, now - 6 * DAY + HOUR) if k == 0 else max(c, now - 60 * DAY)
        return recent, now - DAY if code == D06 else now - HOUR

    def _task(self, lid, owner, created, due, updated, *, completed: bool, meeting: bool = False) -> dict:
        rng = self.rng
        result = None
        if completed:
            if rng.random() < self.rates.task_without_result:
                self.sets["T02"].append(self.next_id["tasks"])
            else:
                result = rng.choice(_RESULTS)
        return {"account_id": self.account_id, "id": self.take_id("tasks"), "created_by": owner, "updated_by": owner,
                "created_at": created, "updated_at": max(created, updated), "responsible_user_id": owner,
                "group_id": self.group_of.get(owner, 0), "entity_id": lid, "entity_type": "leads" if lid else None,
                "is_completed": int(completed), "task_type_id": 2 if meeting else 1,
                "text": rng.choice(N.MEETING_TEXTS if meeting else N.TASK_TEXTS),
                "duration": HOUR if meeting else 0, "complete_till": due, "result": result}

    def _call(self, phone: str, owner: int) -> dict:
        rng = self.rng
        return {"uniq": f"{rng.getrandbits(64):016x}", "duration": rng.randint(20, 600), "source": "Телефония",
                "link": f"https://records.example.ru/{rng.getrandbits(48):012x}.mp3", "phone": phone,
                "call_responsible": owner}

    def _note(self, lid, owner, t, note_type, params, phone) -> None:
        if params is None:
            if note_type.startswith("sms"):
                params = {"text": self.rng.choice(N.SMS_TEXTS), "phone": phone}
            else:
                params = self._call(phone, owner)
        if note_type in ("call_in", "call_out"):  # the calls' truth, per manager (no draw: the data stays the same)
            self.calls_truth.setdefault(params.get("call_responsible", owner), []).append(
                (note_type[5:], t, int(params.get("duration") or 0)))
        self.add("notes", {"account_id": self.account_id, "id": self.take_id("notes"), "entity_type": "leads",
                           "entity_id": lid, "note_type": note_type, "params": _json(params), "responsible_user_id": owner,
                           "group_id": self.group_of.get(owner, 0), "created_by": owner, "updated_by": owner,
                           "created_at": t, "updated_at": t})

    def _event(self, kind, lid, user, t, after, before) -> None:
        self.add("events", {"account_id": self.account_id, "id": f"{t:08x}{self.account_id % 4096:03x}{self.rng.getrandbits(60):015x}",
                            "type": kind, "entity_id": lid, "entity_type": "lead", "created_by": user,
                            "created_at": t, "value_after": after, "value_before": before})

    # --- companies and the rest ----------------------------------------------------------------------
    def companies(self) -> None:
        rng, r, acc, now = self.rng, self.rates, self.account_id, self.now
        n_dups = _count(r.duplicate_companies, self.n_companies)
        won = [c for c in range(self.n_companies) if self.company_has_won[c]]
        no_inn = set(rng.sample(won, _count(r.won_company_without_inn, len(won))))
        others = [c for c in range(self.n_companies) if c not in no_inn]
        rng.shuffle(others)
        deact = set(others[:_count(r.company_owner_deactivated, self.n_companies)])
        dup_bases = others[len(deact):len(deact) + n_dups]
        used_inn = set()
        self.company_dup_groups = []
        self.c04_inn_groups = []
        c08 = []
        for c in range(self.n_companies):
            display, core, person = self.company_names[c]
            created = self.company_min_created[c] or (now - rng.randint(2 * DAY, 290 * DAY))
            created -= rng.randint(0, 3 * DAY) if self.company_min_created[c] else 0
            if c in no_inn:
                inn = rng.choice([None, "corrupt"])
            elif c in dup_bases or self.company_has_won[c] or rng.random() < 0.7:
                inn = "valid"
            else:
                inn = None
            inn_value = None
            if inn:
                while True:
                    inn_value = make_inn(rng, person)
                    if inn_value not in used_inn:
                        break
                used_inn.add(inn_value)
                if inn == "corrupt":
                    inn_value = inn_value[:-1] + str((int(inn_value[-1]) + 1 + rng.randrange(8)) % 10)
            if c in no_inn:
                c08.append(self._company_id(c))
            owner = rng.choice(self.inactive) if c in deact else rng.choice(self.active)
            if c in deact:
                self.sets["D12_companies"].append(self._company_id(c))
                self.u03.add(owner)
            office = self.company_office.get(c)
            self._company_row(self._company_id(c), display, core, inn_value, owner, created, office)
        # duplicate copies: later records, another way of writing the name, the same INN or none
        for c in dup_bases:
            display, core, person = self.company_names[c]
            base_id = self._company_id(c)
            inn = self._company_inn.get(base_id)
            copy_inn = inn if (inn and rng.random() < 0.6) else None
            if person:
                name = rng.choice([f"{core} ИП", core, f"ИП {core.upper()}"])
            else:
                form = display.split()[0]
                name = rng.choice([f"{core} {form}", f"{form} {core}", f"«{core}»", f"{form} «{core.upper()}»",
                                   f"{core}, {form}", self._typo(core, PARAMS["company_ratio"]) + f" {form}"])
                if name == display:
                    name = f"{core} {form}"
            copy_id = self.take_id("companies")
            created = self._company_created[base_id] + rng.randint(DAY, 60 * DAY)
            self._company_row(copy_id, name, core, copy_inn, rng.choice(self.active), min(created, now - HOUR), None)
            self.company_dup_groups.append([base_id, copy_id])
            if copy_inn:
                self.c04_inn_groups.append([base_id, copy_id])
        self.sets["C08"] = c08
        self.flush()

    def _company_row(self, cid, name, core, inn, owner, created, office) -> None:
        rng = self.rng
        fields = []
        phone = office if office is not None else (self._office_phone() if rng.random() < 0.7 else None)
        if phone is not None:
            fields.append(self.multitext("companies.PHONE", [(format_phone(phone, rng.randrange(8)), "WORK")]))
        domain = N.translit(core).replace(" ", "-") + ".ru"
        if rng.random() < 0.35:
            fields.append(self.multitext("companies.EMAIL", [(f"info@{domain}", "WORK")]))
        if rng.random() < 0.4:
            fields.append(self.cf("companies.WEB", [{"value": f"https://{domain}"}]))
        if rng.random() < 0.4:
            fields.append(self.cf("companies.ADDRESS", [{"value": f"г. Москва, ул. Ленина, д. {rng.randint(1, 120)}"}]))
        if inn:
            fields.append(self.cf("inn", [{"value": inn}]))
        self._company_inn[cid] = inn
        self._company_created[cid] = created
        self.add("companies", {
            "account_id": self.account_id, "id": cid, "name": name, "responsible_user_id": owner,
            "group_id": self.group_of[owner], "created_by": owner, "updated_by": owner, "created_at": created,
            "updated_at": created + rng.randrange(0, 5 * DAY), "closest_task_at": None, "is_deleted": 0,
            "custom_fields_values": _json(fields) if fields else None, "tags": "[]"})

    def unbound_tasks(self) -> None:
        rng = self.rng
        for _ in range(_count(self.rates.unbound_tasks, self.n)):
            owner = rng.choice(self.active)
            created = self.now - rng.randint(HOUR, 5 * DAY)
            task = self._task(None, owner, created, self.now + rng.randint(2 * DAY, 20 * DAY), created, completed=False)
            task["text"] = rng.choice(["Подготовить отчёт за месяц", "Планёрка отдела", "Обновить прайс"])
            self.add("tasks", task)
            self.sets["T03"].append(task["id"])
        self.flush()


#: `progress(entity, done, total)`: how far seeding is (the command line draws it as a bar per entity)
Progress = Callable[[str, int, int], None]


def seed_account(store: Store, account_id: int, *, contacts: int, seed: int, now: int | None = None,
                 ground_truth_path: str | Path | None = None, rates: DefectRates | None = None,
                 block: int = 20_000, progress: Progress | None = None) -> SeedSummary:
    """Fill a bootstrapped amoCRM account; return counts, planted defects and the ground truth.
    `progress` hears of the contacts made (with their leads, tasks, notes), then of the rest."""
    if contacts < 1:
        raise ValueError("contacts must be at least 1")
    started = time.perf_counter()
    account = store.query("SELECT subdomain FROM accounts WHERE id=?", (account_id,))
    if not account:
        raise ValueError(f"no account with id {account_id}")
    if store.query("SELECT 1 FROM contacts WHERE account_id=? LIMIT 1", (account_id,)):
        raise ValueError(f"account {account_id} already has contacts; seed a fresh account")
    now = int(time.time()) if now is None else int(now)
    s = _Seeder(store, account_id, contacts, seed, now, rates or DefectRates())
    s.configure()
    s.plan()
    s.company_base = s.next_id["companies"]
    s.next_id["companies"] += s.n_companies
    s._company_inn, s._company_created = {}, {}
    s.run(block, progress)
    rest = (s.companies, s.unbound_tasks, s.account_extras)
    for done, step in enumerate(rest, 1):
        step()
        if progress is not None:
            progress("companies, tasks", done, len(rest))
    truth = _ground_truth(s, account[0]["subdomain"])
    if ground_truth_path is not None:
        atomic_write(ground_truth_path, json.dumps(truth, ensure_ascii=False, indent=1))
    return SeedSummary(account_id=account_id, subdomain=account[0]["subdomain"], seed=seed, now=now,
                       counts=truth["counts"], defects={k: len(v["ids"]) for k, v in truth["defects"].items()},
                       seconds=time.perf_counter() - started, ground_truth=truth)


def _union_groups(members: list[int], linked) -> list[list[int]]:
    """Groups (size > 1) of `members` connected by the pairwise predicate `linked(a, b)`."""
    parent = {m: m for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a_index, a in enumerate(members):
        for b in members[a_index + 1:]:
            if linked(a, b):
                parent[find(b)] = find(a)
    groups: dict[int, list[int]] = {}
    for m in members:
        groups.setdefault(find(m), []).append(m)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def _ground_truth(s: _Seeder, subdomain: str) -> dict:
    acc = s.account_id
    counts = {t: s.store.query(f"SELECT count(*) FROM {t} WHERE account_id=?", (acc,))[0][0]
              for t in ("users", "user_groups", "roles", "pipelines", "statuses", "custom_fields", "loss_reasons",
                        "contacts", "companies", "leads", "entity_links", "tasks", "notes", "events", "unsorted")}
    info = s.member_info
    contact_groups = sorted(sorted(g) for g in s.dup_groups.values())

    def grouped(linked) -> list[list[int]]:
        return [g for members in contact_groups for g in _union_groups(members, linked)]

    c01 = grouped(lambda a, b: info[a]["phone"] is not None and info[a]["phone"] == info[b]["phone"])
    c02 = grouped(lambda a, b: info[a]["email"] is not None and info[a]["email"] == info[b]["email"])
    c03 = grouped(lambda a, b: fuzz.token_sort_ratio(info[a]["name"], info[b]["name"]) >= PARAMS["name_ratio"])
    company_groups = sorted(s.company_dup_groups)
    sets = s.sets
    deactivated_owners = sorted(s.u03)
    lead_scope = {"exempt_status_types": [1]}
    fields = {r["id"]: r["entity_type"] for r in s.store.query(
        "SELECT id, entity_type FROM custom_fields WHERE account_id=?", (acc,))}
    records = {"leads": counts["leads"], "contacts": counts["contacts"], "companies": counts["companies"]}
    dead_fields = sorted(fid for fid, entity in fields.items()
                         if records.get(entity) and s.fill.get(fid, 0) / records[entity] < PARAMS["dead_field_fill"])
    stage_params = {str(p["id"]): {"offer_status_id": p["stages"][p["offer"]],
                                   "required_from_status_id": p["stages"][p["required"]],
                                   "stages": p["stages"], "unsorted_status_id": p["unsorted"]} for p in s.pipes}

    def flat(groups):
        return sorted(i for g in groups for i in g)

    def entry(kind, entity, ids, **extra):
        out = {"kind": kind, "entity": entity, "ids": sorted(ids)}
        out.update(extra)
        return out

    defects = {
        "D01": entry("open lead without an open task", "leads", sets["D01"], params=lead_scope),
        "D02": entry("open lead whose open task is 1-5 days overdue", "leads", sets["D02"]),
        "D03": entry("open lead with no activity for 10-90 days", "leads", sets["D03"],
                     params={"days": PARAMS["stale_days"]}),
        "D04": entry("open lead in its stage for more than 10 days (stale leads included)", "leads", sets["D04"],
                     params={"days": PARAMS["stale_days"]}),
        "D05": entry("lead in the unsorted stage for 1 h - 3 days", "leads", sets["D05"],
                     params={"minutes": PARAMS["unsorted_minutes"]}),
        "D06": entry("first touch 1-8 h after creation", "leads", sets["D06"],
                     params={"minutes": PARAMS["first_touch_minutes"], "touch_notes": list(TOUCH_NOTES),
                             **lead_scope}),
        "D07": entry("one touch in the first 24 h", "leads", sets["D07"],
                     params={"window_hours": PARAMS["touch_window_hours"], "min_touches": PARAMS["min_touches"],
                             "touch_notes": list(TOUCH_NOTES), **lead_scope}),
        "D08": entry("lost lead without a loss reason", "leads", sets["D08"]),
        "D09": entry("zero budget at or after the offer stage, or won", "leads", sets["D09"],
                     params={"pipelines": stage_params}),
        "D10": entry("Источник empty at or after the stage that requires it", "leads", sets["D10"],
                     params={"field_id": s.field["source"]["id"], "pipelines": stage_params}),
        "D11": entry("lead past the first stage with neither contact nor company", "leads", sets["D11"]),
        "D12": entry("record owned by a deactivated user", "leads", sets["D12_leads"],
                     by_entity={"leads": sorted(sets["D12_leads"]), "contacts": sorted(sets["D12_contacts"]),
                                "companies": sorted(sets["D12_companies"]), "tasks": sorted(sets["D12_tasks"])}),
        "D13": entry("two open leads of one main contact in one pipeline", "leads", flat(sets["D13"]),
                     groups=sorted(sorted(g) for g in sets["D13"])),
        "D14": entry("closed lead with an open task", "leads", sets["D14"]),
        "D15": entry("lead moved back to an earlier stage", "leads", sets["D15"]),
        "C01": entry("duplicate contacts by phone (formats differ)", "contacts", flat(c01), groups=c01),
        "C02": entry("duplicate contacts by e-mail (case differs)", "contacts", flat(c02), groups=c02),
        "C03": entry("duplicate contacts by name (swapped, typo)", "contacts", flat(c03), groups=c03,
                     params={"ratio": PARAMS["name_ratio"], "scorer": "token_sort_ratio"}),
        "C04": entry("duplicate companies (legal form moved, quotes, typo; same INN)", "companies",
                     flat(company_groups), groups=company_groups,
                     by_rule={"inn": sorted(s.c04_inn_groups), "name": company_groups},
                     params={"ratio": PARAMS["company_ratio"], "scorer": "token_sort_ratio"}),
        "C05": entry("contact without phone and e-mail", "contacts", sets["C05"],
                     linked_to_open_leads=sorted(set(sets["C05_open"]))),
        "C06": entry("invalid phone or e-mail (placeholder decoys included)", "contacts", sets["C06"]),
        "C07": entry("contact 13-33 months old with no lead, task or note", "contacts", sets["C07"],
                     params={"months": PARAMS["dead_contact_months"]}),
        "C08": entry("company linked to a won lead without a valid INN", "companies", sets["C08"]),
        "C09": entry("contact or company owned by a deactivated user", "contacts", sets["D12_contacts"],
                     by_entity={"contacts": sorted(sets["D12_contacts"]),
                                "companies": sorted(sets["D12_companies"])}),
        "T01": entry("open task 1-5 days overdue", "tasks", sets["T01"]),
        "T02": entry("completed task without a result", "tasks", sets["T02"]),
        "T03": entry("task bound to no record", "tasks", sets["T03"]),
        "U02": entry("non-admin user with export right A", "users", s.export_plants),
        "U03": entry("deactivated user owning open leads, contacts, companies or open tasks", "users",
                     deactivated_owners),
        "F01": entry("custom field filled in under 10% of records", "custom_fields", dead_fields,
                     params={"fill": PARAMS["dead_field_fill"]}),
    }
    return {
        "seed": s.seed, "now": s.now, "subdomain": subdomain, "account_id": acc, "counts": counts,
        "params": dict(PARAMS), "rates": asdict(s.rates),
        "defects": defects,
        "duplicate_groups": {"contacts": contact_groups, "companies": company_groups},
        "decoys": {"office_phone": sorted(sorted(s.base_id + i for i in g) for g in s.office_groups),
                   "placeholder_phone": sorted(s.placeholder_ids),
                   "same_name": sorted(sorted((s.base_id + a, s.base_id + b)) for b, a in s.same_name_partner.items())},
        "calls": calls_truth(s.calls_truth),
    }


def calls_truth(planted: dict[int, list[tuple[str, int, int]]]) -> dict[str, Any]:
    """The planted calls per manager (str(user id) → in/out/answered counts, talk seconds, first/last
    moment): every call note the seeder wrote, answered when it lasted (no `call_status` is planted)."""
    return {str(uid): {"in": sum(d == "in" for d, _, _ in calls), "out": sum(d == "out" for d, _, _ in calls),
                       "answered": sum(s > 0 for _, _, s in calls), "duration": sum(s for _, _, s in calls),
                       "first": min(t for _, t, _ in calls), "last": max(t for _, t, _ in calls)}
            for uid, calls in sorted(planted.items())}
