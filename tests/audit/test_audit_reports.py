"""`implkit audit sales|load|feed|goals` on a sandbox account (amoCRM) and portal (Bitrix24) whose activity
was planted through the CRM's API from the list of facts below. Every expected figure is computed here
from those facts — never with the snapshot's SQL or the reports' code.

Two pipelines carry stages of the same names (amoCRM: made so; Bitrix24: every new pipeline gets the
same default stages), so a report that matched stages by name would sum them.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from implkit.audit.analytics import Period
from implkit.audit.effect import zone
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot

DAY = 86400
T0 = 1_800_028_800 - 1_800_028_800 % DAY  # a UTC midnight
NOW_DAY = 60  # the snapshot is taken on day 60
PERIOD = (30, 60)  # the reports' period: days 30..59
SELLERS = ("A", "B")
PIPES = ("R", "W")  # two pipelines whose stages have the same names


@dataclass
class Deal:
    seller: str
    pipe: str
    created: float
    price: int
    moves: list[tuple[float, int]] = field(default_factory=list)  # (day, open stage index) after creation
    won: float | None = None
    lost: float | None = None
    reason: str | None = None  # r1 | r2 | None


@dataclass
class Task:
    deal: int
    created: float
    due: float
    done: float | None = None


DEALS = [
    Deal("A", "R", 31, 10000, [(32, 1), (33, 2)], won=35),
    Deal("A", "R", 32, 20000, [(34, 1)], lost=36, reason="r1"),
    Deal("A", "R", 33, 5000, lost=37, reason="r2"),  # lost in the first stage
    Deal("B", "R", 34, 7000, [(35, 1)]),
    Deal("B", "R", 36, 9000, [(37, 1), (38, 2)], won=40),
    Deal("B", "W", 31, 30000, [(33, 1)], won=41),
    Deal("A", "W", 35, 4000),
    Deal("B", "W", 38, 6000, [(39, 1), (40, 2)], lost=42, reason="r1"),
    Deal("A", "R", 10, 50000, [(12, 1)], won=45),  # created before the period, won in it
    Deal("B", "R", 40, 8000, [(40.5, 1), (40.6, 2)], won=41.5),
    Deal("A", "W", 50, 3000, lost=52),  # lost without a reason (amoCRM); Bitrix24 always has its failure stage
    Deal("A", "R", 44, 12000, [(45, 2)]),  # jumps a stage: it reached the skipped one too
    Deal("B", "W", 20, 15000, [(21, 1)], won=25),  # all before the period
]
TASKS = [Task(3, 35, 50), Task(6, 36, 70), Task(11, 44, 46, done=47), Task(0, 31, 33, done=34), Task(5, 31.5, 55)]
CALLS = [(0, 31.5, "call_out"), (3, 35.5, "call_in"), (4, 37.5, "call_out"), (4, 37.6, "call_missed")]
CONTACTS = [("A", 33.5), ("B", 47)]


# --- the truth, from the facts alone ---------------------------------------------------------------

def _in(day: float, span: tuple[float, float]) -> bool:
    return span[0] <= day < span[1]


def furthest(d: Deal, open_stages: int) -> int:
    """The furthest stage index a deal stood in (open_stages = the won stage)."""
    return max([0, *(s for _, s in d.moves)] + ([open_stages] if d.won is not None else []))


def funnel_truth(deals: list[Deal], open_stages: int, reasons: dict) -> dict:
    rows = []
    for k in range(open_stages + 1):
        here = [d for d in deals if furthest(d, open_stages) == k]
        lost = [d for d in here if d.lost is not None]
        rows.append({"reached": sum(furthest(d, open_stages) >= k for d in deals),
                     "moved_on": None if k == open_stages else sum(furthest(d, open_stages) > k for d in deals),
                     "lost_here": len(lost), "loss_reasons": dict(Counter(reasons[d.reason] for d in lost)),
                     "still_here": sum(1 for d in here if d.won is None and d.lost is None)})
    won = [d for d in deals if d.won is not None]
    lost = [d for d in deals if d.lost is not None]
    return {"created": len(deals), "won": len(won), "won_sum": sum(d.price for d in won), "lost": len(lost),
            "open": len(deals) - len(won) - len(lost),
            "win_rate": round(len(won) / (len(won) + len(lost)), 4) if won or lost else None, "funnel": rows}


def sales_truth(crm: "Crm") -> dict[str, dict]:
    out = {}
    for pipe in PIPES:
        cohort = [d for d in DEALS if d.pipe == pipe and _in(d.created, PERIOD)]
        out[pipe] = {"all": funnel_truth(cohort, crm.open_stages, crm.reasons),
                     **{s: funnel_truth([d for d in cohort if d.seller == s], crm.open_stages, crm.reasons)
                        for s in SELLERS if any(d.seller == s for d in cohort)}}
    return out


def load_truth() -> dict[str, dict]:
    now = NOW_DAY
    out = {}
    for s in SELLERS:
        mine = [d for d in DEALS if d.seller == s and d.created < now]
        open_ = [i for i, d in enumerate(DEALS) if d.seller == s and d.won is None and d.lost is None]
        tasks = [t for t in TASKS if DEALS[t.deal].seller == s and (t.done is None or t.done >= now)]
        out[s] = {"open_deals": len(open_), "open_budget": sum(DEALS[i].price for i in open_),
                  "open_tasks": len(tasks), "overdue_tasks": sum(t.due < now for t in tasks),
                  "new_deals": sum(_in(d.created, PERIOD) for d in mine),
                  "no_next_step": sum(1 for i in open_ if not any(t.deal == i and (t.done is None) for t in TASKS))}
    return out


def feed_truth(crm: "Crm") -> list[tuple]:
    """(day, type, record type, deal index or seller, seller) of every event in the period."""
    out = []
    for i, d in enumerate(DEALS):
        if _in(d.created, PERIOD):
            out.append((d.created, "deal_created", "leads", i, d.seller))
        for day, _ in d.moves:
            if _in(day, PERIOD):
                out.append((day, "stage_changed", "leads", i, d.seller))
        for day, kind in (d.won, "won"), (d.lost, "lost"):
            if day is not None and _in(day, PERIOD):
                out.append((day, kind, "leads", i, d.seller))
    for i, day, kind in CALLS:
        if _in(day, PERIOD) and kind in crm.call_kinds:
            out.append((day, kind, "leads", i, DEALS[i].seller))
    for t in TASKS:
        if _in(t.created, PERIOD):
            out.append((t.created, "task_created", "leads", t.deal, DEALS[t.deal].seller))
        if t.done is not None and _in(t.done, PERIOD):
            out.append((t.done, "task_closed", "leads", t.deal, DEALS[t.deal].seller))
    for seller, day in CONTACTS:
        if _in(day, PERIOD):
            out.append((day, "contact_created", "contacts", seller, seller))
    return sorted(out, key=lambda e: (-e[0], e[1]))


def won_truth(span: tuple[float, float]) -> dict[str, tuple[int, int]]:
    out = {}
    for s in SELLERS:
        won = [d for d in DEALS if d.seller == s and d.won is not None and _in(d.won, span)]
        out[s] = (len(won), sum(d.price for d in won))
    return out


# --- planting ------------------------------------------------------------------------------------

class Crm:
    """Plays the facts in time order through one CRM's API; subclasses speak amoCRM or Bitrix24."""

    open_stages: int
    reasons: dict
    call_kinds: tuple[str, ...]
    clock = None

    def actions(self) -> list[tuple[float, int, tuple]]:
        out = []
        for i, d in enumerate(DEALS):
            out.append((d.created, 0, ("deal", i)))
            out += [(day, 1, ("move", i, stage)) for day, stage in d.moves]
            if d.won is not None:
                out.append((d.won, 2, ("win", i)))
            if d.lost is not None:
                out.append((d.lost, 2, ("lose", i)))
        out += [(day, 1, ("phone", i, kind)) for i, day, kind in CALLS if kind in self.call_kinds]
        for j, t in enumerate(TASKS):
            out.append((t.created, 1, ("task", j)))
            if t.done is not None:
                out.append((t.done, 2, ("done", j)))
        out += [(day, 1, ("contact", seller)) for seller, day in CONTACTS]
        return sorted(out)

    def play(self) -> None:
        self.leads: dict[int, int] = {}
        self.tasks: dict[int, int] = {}
        self.contacts: dict[str, int] = {}
        for day, _, action in self.actions():
            at = T0 + day * DAY
            if self.clock.now() < at:
                self.clock.advance(at - self.clock.now())
            getattr(self, action[0])(*action[1:])
        self.clock.advance(T0 + NOW_DAY * DAY - self.clock.now())


class Amo(Crm):
    open_stages = 3
    reasons = {"r1": "Дорого", "r2": "Нет ответа", None: ""}
    call_kinds = ("call_in", "call_out", "call_missed")
    STAGES = ("Первичный контакт", "Переговоры", "Счёт")

    def __init__(self, tmp_path: Path):
        from audit_support import SyncRig

        self.rig = SyncRig(tmp_path, start=float(T0))
        self.clock = self.rig.clock
        self.http = self.rig.http(rate=1000.0)
        made = self.http.post("/api/v4/users", json=[
            {"name": f"Продавец {s}", "email": f"{s.lower()}@example.ru", "password": "Secret12345", "rights": {}}
            for s in SELLERS])["_embedded"]["users"]
        self.users = {s: u["id"] for s, u in zip(SELLERS, made)}
        self.stage_ids: dict[str, list[int]] = {}
        self.pipeline_ids: dict[str, int] = {}
        for n, (pipe, name) in enumerate(zip(PIPES, ("Розница", "Опт"))):
            [p] = self.http.post("/api/v4/leads/pipelines", json=[{
                "name": name, "sort": 20 + n, "is_main": False, "is_unsorted_on": False,
                "_embedded": {"statuses": [{"name": st, "sort": 10 * (k + 2), "color": "#fff000"}
                                           for k, st in enumerate(self.STAGES)]}}])["_embedded"]["pipelines"]
            self.pipeline_ids[pipe] = p["id"]
            by_name = {s["name"]: s["id"] for s in p["_embedded"]["statuses"]}
            self.stage_ids[pipe] = [by_name[st] for st in self.STAGES]
        # amoCRM's API reads loss reasons only (reference/amocrm-api.md §7.12): an admin adds them in the UI
        store, now = self.rig.sandbox.store, int(self.clock.now())
        self.reason_ids = {"r1": 9001, "r2": 9002}
        store.bulk_insert("loss_reasons", [{"account_id": self.rig.account_id, "id": rid, "name": self.reasons[key],
                                            "sort": rid, "created_at": now, "updated_at": now}
                                           for key, rid in self.reason_ids.items()])

    def deal(self, i: int) -> None:
        d = DEALS[i]
        self.leads[i] = self.http.post("/api/v4/leads", json=[{
            "name": f"Сделка {i}", "price": d.price, "responsible_user_id": self.users[d.seller],
            "pipeline_id": self.pipeline_ids[d.pipe], "status_id": self.stage_ids[d.pipe][0]}])["_embedded"]["leads"][0]["id"]

    def move(self, i: int, stage: int) -> None:
        self.http.patch("/api/v4/leads", json=[{"id": self.leads[i], "status_id": self.stage_ids[DEALS[i].pipe][stage]}])

    def win(self, i: int) -> None:
        self.http.patch("/api/v4/leads", json=[{"id": self.leads[i], "status_id": 142}])

    def lose(self, i: int) -> None:
        reason = DEALS[i].reason
        body = {"id": self.leads[i], "status_id": 143}
        if reason:
            body["loss_reason_id"] = self.reason_ids[reason]
        self.http.patch("/api/v4/leads", json=[body])

    def phone(self, i: int, kind: str) -> None:
        note = "call_out" if kind == "call_out" else "call_in"
        self.http.post("/api/v4/leads/notes", json=[{"entity_id": self.leads[i], "note_type": note, "params": {
            "uniq": f"call-{i}-{self.clock.now()}", "duration": 0 if kind == "call_missed" else 60,
            "source": "sandbox", "phone": "+79001234567"}}])

    def task(self, j: int) -> None:
        t = TASKS[j]
        self.tasks[j] = self.http.post("/api/v4/tasks", json=[{
            "text": "Перезвонить", "entity_type": "leads", "entity_id": self.leads[t.deal],
            "complete_till": int(T0 + t.due * DAY), "responsible_user_id": self.users[DEALS[t.deal].seller]}]
        )["_embedded"]["tasks"][0]["id"]

    def done(self, j: int) -> None:
        self.http.patch("/api/v4/tasks", json=[{"id": self.tasks[j], "is_completed": True,
                                                 "result": {"text": "Сделано"}}])

    def contact(self, seller: str) -> None:
        self.contacts[seller] = self.http.post("/api/v4/contacts", json=[{
            "name": f"Клиент {seller}", "responsible_user_id": self.users[seller]}])["_embedded"]["contacts"][0]["id"]

    def sync(self, path: Path) -> None:
        from implkit.providers.amocrm.records import AmoRecords

        with Snapshot(path) as snap:
            sync_snapshot(AmoRecords(self.rig.http()), snap, clock=self.clock.now)

    def close(self) -> None:
        self.rig.close()


class B24(Crm):
    open_stages = 5  # a new deal pipeline's default stages (reference/bitrix24-api.md §8.2)
    reasons = {"r1": "Сделка провалена", "r2": "Анализ причины провала", None: "Сделка провалена"}
    call_kinds = ("call_in", "call_out")  # a portal's call activity has no "missed" of its own
    CODES = ("NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE")

    def __init__(self, tmp_path: Path):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "providers_b24"))
        from b24p_rig import Portal

        from implkit.sandbox.bitrix24.portal import user_record

        self.portal = Portal(tmp_path)
        self.clock = self.portal.sandbox.clock
        self.clock.freeze(float(T0))
        store = self.portal.sandbox.store
        # the portal's admin invited two employees (the sandbox's REST has no user.add)
        self.users = {}
        with store.transaction() as db:
            for n, s in enumerate(SELLERS):
                uid = 501 + n
                db.execute("INSERT INTO b24_users (account_id, id, active, data) VALUES (?, ?, 1, ?)", (
                    self.portal.account_id, uid, json.dumps(user_record(
                        uid, "Продавец", s, f"{s.lower()}@example.ru", [1], True, T0 - DAY), ensure_ascii=False)))
                self.users[s] = uid
        self.categories = {}
        for pipe, name in zip(PIPES, ("Розница", "Опт")):
            self.categories[pipe] = int(self.call("crm.category.add", {"entityTypeId": 2, "fields": {
                "name": name}})["category"]["id"])

    def call(self, method: str, params: dict):
        answer = self.portal.call(method, params)
        assert "result" in answer, answer
        return answer["result"]

    def stage(self, pipe: str, code: str) -> str:
        return f"C{self.categories[pipe]}:{code}"

    def deal(self, i: int) -> None:
        d = DEALS[i]
        self.leads[i] = int(self.call("crm.deal.add", {"fields": {
            "TITLE": f"Сделка {i}", "OPPORTUNITY": d.price, "ASSIGNED_BY_ID": self.users[d.seller],
            "CATEGORY_ID": self.categories[d.pipe], "STAGE_ID": self.stage(d.pipe, "NEW")}}))

    def _move(self, i: int, code: str) -> None:
        self.call("crm.deal.update", {"id": self.leads[i], "fields": {"STAGE_ID": self.stage(DEALS[i].pipe, code)}})

    def move(self, i: int, stage: int) -> None:
        self._move(i, self.CODES[stage])

    def win(self, i: int) -> None:
        self._move(i, "WON")

    def lose(self, i: int) -> None:
        self._move(i, "APOLOGY" if DEALS[i].reason == "r2" else "LOSE")

    def phone(self, i: int, kind: str) -> None:
        from implkit.sandbox.bitrix24.portal import iso

        self.call("crm.activity.add", {"fields": {
            "OWNER_TYPE_ID": 2, "OWNER_ID": self.leads[i], "TYPE_ID": 2, "SUBJECT": "Звонок",
            "RESPONSIBLE_ID": self.users[DEALS[i].seller], "DIRECTION": 2 if kind == "call_out" else 1,
            "COMPLETED": "Y", "START_TIME": iso(self.clock.now()), "COMMUNICATIONS": [{"VALUE": "+79001234567"}]}})

    def task(self, j: int) -> None:
        from implkit.sandbox.bitrix24.portal import iso

        t = TASKS[j]
        self.tasks[j] = int(self.call("crm.activity.todo.add", {
            "ownerTypeId": 2, "ownerId": self.leads[t.deal], "deadline": iso(T0 + t.due * DAY),
            "title": "Перезвонить", "responsibleId": self.users[DEALS[t.deal].seller]})["id"])

    def done(self, j: int) -> None:
        self.call("crm.activity.update", {"id": self.tasks[j], "fields": {"COMPLETED": "Y"}})

    def contact(self, seller: str) -> None:
        self.contacts[seller] = int(self.call("crm.contact.add", {"fields": {
            "NAME": "Клиент", "LAST_NAME": seller, "ASSIGNED_BY_ID": self.users[seller]}}))

    def sync(self, path: Path) -> None:
        from implkit.providers.bitrix24 import open_records

        with Snapshot(path) as snap:
            sync_snapshot(open_records(self.portal.base, self.portal.webhook, transport=self.portal.transport), snap)

    def close(self) -> None:
        self.portal.close()


@pytest.fixture(scope="module", params=["amocrm", "bitrix24"])
def planted(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    crm = Amo(tmp) if request.param == "amocrm" else B24(tmp)
    try:
        crm.play()
        path = tmp / "snapshot.sqlite"
        crm.sync(path)
        yield crm, path
    finally:
        crm.close()


def _period(span: tuple[float, float]) -> Period:
    return Period(int(T0 + span[0] * DAY), int(T0 + span[1] * DAY))


def _names(report_rows, key="name") -> dict:
    return {r[key].rsplit(" ", 1)[-1]: r for r in report_rows}  # «Продавец A» → A


FUNNEL_KEYS = ("reached", "moved_on", "lost_here", "loss_reasons", "still_here")


def _funnel_of(entry: dict) -> dict:
    return {k: entry[k] for k in ("created", "won", "won_sum", "lost", "open", "win_rate")} | {
        "funnel": [{k: st[k] for k in FUNNEL_KEYS} for st in entry["funnel"]]}


def test_sales_funnel_per_pipeline_and_manager_matches_the_facts(planted):
    from implkit.audit.sales import sales_report

    crm, path = planted
    with Snapshot(path) as snap:
        assert snap.snapshot_at == T0 + NOW_DAY * DAY
        report = sales_report(snap, _period(PERIOD))
    by_name = {p["name"]: p for p in report["pipelines"]}
    truth = sales_truth(crm)
    for pipe, name in zip(PIPES, ("Розница", "Опт")):
        got = by_name[name]
        assert _funnel_of(got) == truth[pipe]["all"], name
        # the funnel's rows are the pipeline's own stages, in its order, under their (shared) names
        assert [st["stage"] for st in got["funnel"]][:2] == [st["stage"] for st in by_name[
            "Опт" if name == "Розница" else "Розница"]["funnel"]][:2]
        managers = _names(got["managers"])
        assert set(managers) == set(truth[pipe]) - {"all"}
        for seller, entry in managers.items():
            assert _funnel_of(entry) == truth[pipe][seller], (name, seller)
    # the same-named stages of the two pipelines are never summed: each pipeline's second stage counts its own
    second = {name: by_name[name]["funnel"][1]["reached"] for name in ("Розница", "Опт")}
    assert second == {"Розница": truth["R"]["all"]["funnel"][1]["reached"],
                      "Опт": truth["W"]["all"]["funnel"][1]["reached"]}
    assert second["Розница"] != second["Розница"] + second["Опт"]
    # per manager across pipelines: counts and money add up
    across = _names(report["managers"])
    for seller in SELLERS:
        mine = [d for d in DEALS if d.seller == seller and _in(d.created, PERIOD)]
        won = [d for d in mine if d.won is not None]
        lost = [d for d in mine if d.lost is not None]
        assert {k: across[seller][k] for k in ("created", "won", "won_sum", "lost")} == {
            "created": len(mine), "won": len(won), "won_sum": sum(d.price for d in won), "lost": len(lost)}


def test_sales_renders_every_format_without_none(planted):
    from implkit.audit.sales import render_sales, sales_report

    crm, path = planted
    with Snapshot(path) as snap:
        report = sales_report(snap, _period(PERIOD))
    utc = zone("UTC")
    for fmt in ("table", "md", "html", "csv"):
        text = render_sales(report, fmt, "ru", "acme", utc)
        assert "None" not in text
        assert fmt == "csv" or "Анализ продаж" in text
        assert "Розница" in text and "Опт" in text and "Продавец A" in text
    data = json.loads(render_sales(report, "json", "en", "acme", utc))
    assert data["pipelines"] == json.loads(json.dumps(report["pipelines"]))
    csv_rows = render_sales(report, "csv", "ru", "acme", utc).splitlines()
    # one row per stage of each pipeline with deals, for everyone and for each of its managers
    truth = sales_truth(crm)
    expected = sum((crm.open_stages + 1) * len(truth[p]) for p in PIPES)
    assert len(csv_rows) == 1 + expected


def test_load_per_manager_matches_the_facts(planted):
    from implkit.audit.load import load_report, render_load

    crm, path = planted
    with Snapshot(path) as snap:
        report = load_report(snap, _period(PERIOD))
    got = _names([m for m in report["managers"] if m["name"].startswith("Продавец")])
    truth = load_truth()
    for seller in SELLERS:
        assert {k: got[seller][k] for k in truth[seller]} == truth[seller], seller
    bare = sorted(i for i, d in enumerate(DEALS) if d.won is None and d.lost is None
                  and not any(t.deal == i and t.done is None for t in TASKS))
    assert sorted(i for m in got.values() for i in m["no_next_step_ids"]) == sorted(crm.leads[i] for i in bare)
    pipes = {p["name"]: p for p in report["pipelines"]}
    for pipe, name in zip(PIPES, ("Розница", "Опт")):
        open_ = [d for d in DEALS if d.pipe == pipe and d.won is None and d.lost is None]
        assert (pipes[name]["open_deals"], pipes[name]["open_budget"]) == (len(open_), sum(d.price for d in open_))
    for fmt in ("table", "md", "html", "csv"):
        text = render_load(report, fmt, "ru", "acme", zone("UTC"))
        assert "None" not in text and "Продавец B" in text


def test_feed_matches_the_facts_and_filters(planted):
    from implkit.audit.feed import event_feed, render_feed

    crm, path = planted
    ids = {("leads", crm.leads[i]): i for i in crm.leads} | {("contacts", cid): s for s, cid in crm.contacts.items()}
    with Snapshot(path) as snap:
        full = event_feed(snap, _period(PERIOD))
        only_a = event_feed(snap, _period(PERIOD), manager=crm.users["A"])
        contacts = event_feed(snap, _period(PERIOD), entity="contact")
        closed = event_feed(snap, _period(PERIOD), types=("won", "lost"))

    def shape(report):
        return sorted(((e["at"] - T0) / DAY, e["type"], e["entity_type"], ids[(e["entity_type"], e["entity_id"])],
                       e["manager"].rsplit(" ", 1)[-1]) for e in report["events"])

    truth = feed_truth(crm)
    assert shape(full) == sorted(truth)
    assert [e["at"] for e in full["events"]] == sorted((e["at"] for e in full["events"]), reverse=True)
    assert shape(only_a) == sorted(e for e in truth if e[4] == "A")
    assert shape(contacts) == sorted(e for e in truth if e[2] == "contacts")
    assert shape(closed) == sorted(e for e in truth if e[1] in ("won", "lost"))
    assert full["counts"] == dict(Counter(e[1] for e in truth))
    lost = {ids[("leads", e["entity_id"])]: e for e in full["events"] if e["type"] == "lost"}
    for i, event in lost.items():
        reason = crm.reasons[DEALS[i].reason]
        assert event.get("loss_reason", "") == reason
    for fmt in ("table", "md", "html", "csv"):
        text = render_feed(full, fmt, "ru", "acme", zone("UTC"))
        assert "None" not in text and "сделка выиграна" in text


def test_goals_from_a_file_against_the_facts(planted, tmp_path):
    from implkit.audit.goals import goals_from_file, goals_report, render_goals

    crm, path = planted
    goals = tmp_path / "goals.yaml"
    goals.write_text("goals:\n  - manager: Продавец A\n    sales: 4\n    revenue: 100000\n"
                     f"  - manager: {crm.users['B']}\n    sales: 3\n", encoding="utf-8")
    span = (30, 70)  # the snapshot (day 60) lies inside the period
    with Snapshot(path) as snap:
        plan = goals_from_file(goals, snap, "ru")
        report = goals_report(snap, _period(span), plan, zone("UTC"))
    first = datetime.fromtimestamp(T0 + NOW_DAY * DAY, timezone.utc).date()
    left = sum(1 for n in range(span[1] - NOW_DAY) if (first + timedelta(days=n)).isoweekday() <= 5)
    assert report["working_days"]["left"] == left
    got = _names(report["managers"])
    won = won_truth(span)
    targets = {"A": (4, 100000), "B": (3, None)}
    for seller in SELLERS:
        count, total = won[seller]
        sales, revenue = targets[seller]
        row = got[seller]
        assert (row["sales"], row["revenue"]) == (count, total)
        assert (row["sales_plan"], row["revenue_plan"]) == (sales, revenue)
        assert row["sales_done"] == round(count / sales, 4)
        assert row["sales_per_day"] == round(max(sales - count, 0) / left, 2)
        if revenue:
            assert row["revenue_done"] == round(total / revenue, 4)
            assert row["revenue_per_day"] == round(max(revenue - total, 0) / left, 2)
        else:
            assert row["revenue_done"] is None and row["revenue_per_day"] is None
    for fmt in ("table", "md", "html", "csv"):
        text = render_goals(report, fmt, "ru", "acme", zone("UTC"))
        assert "None" not in text and "Продавец A" in text
