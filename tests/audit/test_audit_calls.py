"""`implkit audit calls`: the calls report on sandbox accounts (amoCRM and Bitrix24) whose deals, stage moves
and calls — with their durations and outcomes — were planted through each CRM's API from the list of facts
below. Every expected figure is computed here from the facts, never with the report's own code."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import httpx
import pytest

from implkit.audit.analytics import Period
from implkit.audit.calls import COLUMNS, calls_report, render_calls
from implkit.audit.effect import zone
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot

DAY = 86400
T0 = 1_800_028_800 - 1_800_028_800 % DAY
START, END = 30, 60  # the period: days after T0 (the sync runs at END)
SELLERS = ("A", "B", "C")


@dataclass
class Deal:
    seller: str
    created: float
    moves: list = field(default_factory=list)  # (day, open stage position 1.. | "won" | "lost")


@dataclass
class Call:
    deal: int
    day: float
    seller: str  # who is on the line (not always the deal's owner)
    direction: str  # in | out
    duration: int  # seconds
    status: int | None = None  # amoCRM call_status (4 talked, 6 no answer, 7 busy); None: not sent
    on: str = "lead"  # logged on the deal or on its contact

    @property
    def answered(self) -> bool:  # the CRMs' own rule: a conversation took place
        return self.status == 4 if self.status else self.duration > 0


DEALS = [
    Deal("A", 31, [(33, 2), (38, "won")]),
    Deal("A", 32, [(34, 2)]),
    Deal("B", 20, [(25, 2)]),
    Deal("B", 35, [(36, "lost")]),
    Deal("C", 40),
    Deal("C", 41, [(50, 3), (55, "won")]),
    Deal("B", 5, [(10, "won")]),
]
CALLS = [
    Call(0, 31.1, "A", "out", 120), Call(0, 32, "A", "in", 0), Call(0, 35, "A", "out", 300, status=4, on="contact"),
    Call(1, 34.5, "A", "out", 45, status=6), Call(1, 36, "A", "out", 200),
    Call(2, 28, "B", "out", 100), Call(2, 31, "B", "out", 60),
    Call(3, 35.5, "B", "in", 90, on="contact"), Call(3, 37, "B", "out", 30),
    Call(4, 41, "C", "out", 0, status=7), Call(4, 59.9, "C", "in", 33),
    Call(5, 42, "C", "out", 240), Call(5, 43, "A", "in", 75),
    Call(6, 45, "B", "out", 50),
]


def _closed(deal: Deal) -> float | None:
    return next((day for day, to in deal.moves if to in ("won", "lost")), None)


def truth() -> dict[str, dict]:
    """Per seller, the report's figures from the facts alone."""
    out = {}
    for s in SELLERS:
        mine = [c for c in CALLS if c.seller == s and START <= c.day < END]
        answered = [c for c in mine if c.answered]
        won = [d for d in DEALS if d.seller == s and any(to == "won" and START <= day < END for day, to in d.moves)]
        first: dict[int, float] = {}
        for c in sorted(mine, key=lambda c: c.day):
            closed = _closed(DEALS[c.deal])
            if (closed is None or closed > c.day) and c.deal not in first:
                first[c.deal] = c.day
        forward = [i for i, at in first.items() if _moved_forward(DEALS[i], at)]
        calls = len(mine)
        out[s] = {"calls_in": sum(c.direction == "in" for c in mine), "calls_out": sum(c.direction == "out" for c in mine),
                  "calls": calls, "answered": len(answered),
                  "answered_share": round(len(answered) / calls, 4) if calls else None,
                  "duration_total": sum(c.duration for c in mine),
                  "duration_avg": round(sum(c.duration for c in answered) / len(answered), 1) if answered else None,
                  "won_deals": len(won), "calls_per_won_deal": round(calls / len(won), 2) if won else None,
                  "called_deals": len(first), "moved_forward": len(forward),
                  "call_to_next_stage": round(len(forward) / len(first), 4) if first else None}
    return out


def _moved_forward(deal: Deal, after: float) -> bool:
    position = 1
    for day, to in deal.moves:
        ahead = to == "won" or (to != "lost" and to > position)
        if ahead and after < day < END:
            return True
        position = to if isinstance(to, int) else position
    return False


def _check(path, names: dict[str, str]) -> dict:
    with Snapshot(path) as snap:
        report = calls_report(snap, Period(T0 + START * DAY, T0 + END * DAY), zone("UTC"))
    got = {names[r["name"]]: {c: r[c] for c in COLUMNS} for r in report["rows"]}
    expected = truth()
    assert got == {s: v for s, v in expected.items() if v["calls"] or v["won_deals"]}
    assert report["total"]["calls"] == sum(1 for c in CALLS if START <= c.day < END)
    assert report["total"]["duration_total"] == sum(c.duration for c in CALLS if START <= c.day < END)
    return report


# --- amoCRM ------------------------------------------------------------------------------------------

class AmoPlanter:
    def __init__(self, rig):
        self.rig, self.http = rig, rig.http(rate=1000.0)
        users = self.http.post("/api/v4/users", json=[
            {"name": f"Продавец {s}", "email": f"{s.lower()}@example.ru", "password": "Secret12345", "rights": {}}
            for s in SELLERS])["_embedded"]["users"]
        self.users = {s: u["id"] for s, u in zip(SELLERS, users)}
        pipeline = next(p for p in self.http.get("/api/v4/leads/pipelines")["_embedded"]["pipelines"] if p["is_main"])
        self.pipeline = pipeline["id"]
        self.stages = [s["id"] for s in sorted(pipeline["_embedded"]["statuses"], key=lambda s: s["sort"])
                       if s["id"] not in (142, 143) and s.get("type") != 1]
        self.leads, self.contacts = {}, {}

    def play(self) -> None:
        actions = [(d.created, 0, "deal", i) for i, d in enumerate(DEALS)]
        actions += [(day, 2, "move", (i, to)) for i, d in enumerate(DEALS) for day, to in d.moves]
        actions += [(c.day, 1, "call", c) for c in CALLS]
        for day, _, kind, what in sorted(actions, key=lambda a: (a[0], a[1])):
            self.rig.clock.advance(T0 + day * DAY - self.rig.clock.now())
            getattr(self, "_" + kind)(what)
        self.rig.clock.advance(T0 + END * DAY - self.rig.clock.now())

    def _deal(self, i: int) -> None:
        owner = self.users[DEALS[i].seller]
        contact = self.http.post("/api/v4/contacts", json=[{"name": f"Клиент {i}", "responsible_user_id": owner}])
        self.contacts[i] = contact["_embedded"]["contacts"][0]["id"]
        self.leads[i] = self.http.post("/api/v4/leads", json=[{
            "name": f"Сделка {i}", "price": 1000, "responsible_user_id": owner, "pipeline_id": self.pipeline,
            "status_id": self.stages[0], "_embedded": {"contacts": [{"id": self.contacts[i]}]}}])["_embedded"]["leads"][0]["id"]

    def _move(self, what) -> None:
        i, to = what
        status = {"won": 142, "lost": 143}.get(to) or self.stages[to - 1]
        self.http.patch("/api/v4/leads", json=[{"id": self.leads[i], "status_id": status}])

    def _call(self, c: Call) -> None:
        params = {"uniq": f"call-{c.deal}-{c.day}", "duration": c.duration, "source": "sandbox", "phone": "+79001234567"}
        if c.status:
            params["call_status"] = c.status
        entity, record = ("leads", self.leads[c.deal]) if c.on == "lead" else ("contacts", self.contacts[c.deal])
        self.http.post(f"/api/v4/{entity}/notes", json=[{
            "entity_id": record, "note_type": f"call_{c.direction}", "responsible_user_id": self.users[c.seller],
            "params": params}])


def test_amocrm_calls_report_matches_the_planted_calls(sync_rig, tmp_path):
    from implkit.providers.amocrm.records import AmoRecords

    sync_rig.clock.advance(T0 - sync_rig.clock.now())
    planter = AmoPlanter(sync_rig)
    planter.play()
    path = tmp_path / "snapshot.sqlite"
    with Snapshot(path) as snap:
        sync_snapshot(AmoRecords(sync_rig.http()), snap, clock=sync_rig.clock.now)
        assert snap.query("SELECT count(*) FROM calls")[0][0] == len(CALLS)
    report = _check(path, {f"Продавец {s}": s for s in SELLERS})
    for fmt in ("table", "md", "html", "csv"):
        text = render_calls(report, fmt, "ru", "acme")
        assert "None" not in text and "Продавец A" in text and "итого" in text
    table = render_calls(report, "table", "ru", "acme")
    assert "0:12:20" in table  # A's talk time: 120 + 0 + 300 + 45 + 200 + 75 = 740 s
    assert json.loads(render_calls(report, "json", "en", "acme"))["rows"] == report["rows"]


# --- Bitrix24 ----------------------------------------------------------------------------------------

class B24Planter:
    """Deals and stage moves through crm.*, calls through telephony.externalCall.register/finish (an
    application's token: the methods refuse webhooks), on the sandbox clock."""

    def __init__(self, sandbox, clock, name: str):
        from implkit.http.asgi import SyncASGITransport
        from implkit.sandbox.bitrix24 import portal as portals

        self.clock, self.name = clock, name
        self.account_id = sandbox.create_portal(name)
        self.webhook = sandbox.webhook_url(name).rstrip("/").split("/rest/")[1]  # "USER/SECRET"
        self.transport = SyncASGITransport(sandbox.app)
        self.base = f"http://sandbox/bitrix24/{name}"
        store = sandbox.store
        with store.transaction() as db:
            first = portals.next_ids(db, self.account_id, "user", len(SELLERS))
            for k, s in enumerate(SELLERS):
                db.execute("INSERT INTO b24_users (account_id, id, active, data) VALUES (?, ?, 1, ?)",
                           (self.account_id, first + k, json.dumps(portals.user_record(
                               first + k, "Продавец", s, f"{s.lower()}@example.ru", [1], True, T0))))
        self.users = {s: first + k for k, s in enumerate(SELLERS)}
        self.store = store
        statuses = self.hook("crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}, "order": {"SORT": "ASC"}})
        self.stages = [s["STATUS_ID"] for s in statuses if not s.get("SEMANTICS")]
        self.deals, self.contacts = {}, {}

    def hook(self, method: str, params: dict):
        with httpx.Client(transport=self.transport, base_url=f"{self.base}/rest/{self.webhook}") as client:
            answer = client.post(f"/{method}", json=params).json()
        assert "error" not in answer, answer
        return answer["result"]

    @property
    def token(self) -> str:
        """An installed application's access token, fresh on the sandbox clock (they live an hour)."""
        from implkit.sandbox.bitrix24 import portal as portals

        return portals.issue_oauth(self.store, self.account_id, at=self.clock.now())["access_token"]

    def app(self, method: str, params: dict):
        with httpx.Client(transport=self.transport, base_url=f"{self.base}/rest") as client:
            answer = client.post(f"/{method}", json={**params, "auth": self.token}).json()
        assert "error" not in answer, answer
        return answer["result"]

    def play(self) -> None:
        actions = [(d.created, 0, "deal", i) for i, d in enumerate(DEALS)]
        actions += [(day, 2, "move", (i, to)) for i, d in enumerate(DEALS) for day, to in d.moves]
        actions += [(c.day, 1, "call", c) for c in CALLS]
        for day, _, kind, what in sorted(actions, key=lambda a: (a[0], a[1])):
            self.clock.advance(T0 + day * DAY - self.clock.now())
            getattr(self, "_" + kind)(what)
        self.clock.advance(T0 + END * DAY - self.clock.now())

    def _deal(self, i: int) -> None:
        owner = self.users[DEALS[i].seller]
        self.contacts[i] = self.hook("crm.contact.add", {"fields": {"NAME": f"Клиент {i}", "ASSIGNED_BY_ID": owner}})
        self.deals[i] = self.hook("crm.deal.add", {"fields": {"TITLE": f"Сделка {i}", "ASSIGNED_BY_ID": owner,
                                                              "CONTACT_ID": self.contacts[i], "OPPORTUNITY": 1000,
                                                              "CATEGORY_ID": 0, "STAGE_ID": self.stages[0]}})

    def _move(self, what) -> None:
        i, to = what
        stage = {"won": "WON", "lost": "LOSE"}.get(to) or self.stages[to - 1]
        self.hook("crm.deal.update", {"id": self.deals[i], "fields": {"STAGE_ID": stage}})

    def _call(self, c: Call) -> None:
        # register binds a call to a contact, company or lead (never a deal): the deal's own contact
        started = self.app("telephony.externalCall.register", {
            "USER_ID": self.users[c.seller], "PHONE_NUMBER": "+79001234567", "TYPE": 1 if c.direction == "out" else 2,
            "CRM_ENTITY_TYPE": "CONTACT", "CRM_ENTITY_ID": self.contacts[c.deal], "SHOW": 0,
            "EXTERNAL_CALL_ID": f"pbx-{c.deal}-{c.day}"})
        code = "200" if c.answered else ("304" if c.direction == "in" else "486")
        self.app("telephony.externalCall.finish", {"CALL_ID": started["CALL_ID"], "USER_ID": self.users[c.seller],
                                                   "DURATION": c.duration, "STATUS_CODE": code, "ADD_TO_CHAT": 0})


def test_bitrix24_calls_report_matches_the_planted_calls(tmp_path):
    from implkit.http import RateLimiter
    from implkit.providers.bitrix24 import open_records
    from implkit.sandbox import Sandbox
    from implkit.sandbox.app import Clock

    clock = Clock()
    clock.freeze(float(T0))
    sandbox = Sandbox(tmp_path / "sandbox.db", clock=clock)
    try:
        planter = B24Planter(sandbox, clock, "acme")
        planter.play()
        reader = open_records(planter.base, planter.webhook, transport=planter.transport,
                              rate=RateLimiter(1000.0, 50), clock=clock.now, sleep=clock.advance)
        path = tmp_path / "snapshot.sqlite"
        with Snapshot(path) as snap:
            sync_snapshot(reader, snap)
            assert snap.query("SELECT count(*) FROM calls")[0][0] == len(CALLS)
            assert snap.get_meta("calls_unavailable") is None
        _check(path, {f"Продавец {s}": s for s in SELLERS})
    finally:
        sandbox.close()


def test_bitrix24_telephony_methods_refuse_a_webhook_and_bad_input(tmp_path):
    from implkit.sandbox import Sandbox
    from implkit.sandbox.app import Clock

    clock = Clock()
    clock.freeze(float(T0))
    sandbox = Sandbox(tmp_path / "sandbox.db", clock=clock)
    try:
        planter = B24Planter(sandbox, clock, "acme")
        with httpx.Client(transport=planter.transport, base_url=f"{planter.base}/rest/{planter.webhook}") as client:
            refused = client.post("/telephony.externalCall.register", json={"USER_ID": 1, "PHONE_NUMBER": "1",
                                                                            "TYPE": 2}).json()
        assert refused["error"] == "WRONG_AUTH_TYPE"
        token = planter.token
        with httpx.Client(transport=planter.transport, base_url=f"{planter.base}/rest") as client:
            def app(method, **params):
                return client.post(f"/{method}", json={**params, "auth": token}).json()
            assert app("telephony.externalCall.register", PHONE_NUMBER="1", TYPE=2)["error_description"] == \
                "USER_ID or USER_PHONE_INNER should be set"
            assert app("telephony.externalCall.register", USER_ID=1, PHONE_NUMBER="1", TYPE=9)["error_description"] == \
                "Unknown TYPE"
            assert app("telephony.externalCall.finish", CALL_ID="nope", USER_ID=1)["error_description"].startswith(
                "Call is not found")
            call = app("telephony.externalCall.register", USER_ID=1, PHONE_NUMBER="+7 900 123-45-67", TYPE=2)["result"]
            done = app("telephony.externalCall.finish", CALL_ID=call["CALL_ID"], USER_ID=1)["result"]
            # the docs' defaults: DURATION 0, so STATUS_CODE 304 (missed); no CRM record named: no activity
            assert (done["CALL_DURATION"], done["CALL_FAILED_CODE"], done["CALL_STATUS"], done["CRM_ACTIVITY_ID"]) == \
                (0, "304", 0, None)
            listed = app("voximplant.statistic.get", FILTER={"CALL_FAILED_CODE": "304"}, SORT="ID", ORDER="DESC")
            assert listed["total"] == 1 and listed["result"][0]["CALL_TYPE"] == "2"
    finally:
        sandbox.close()


def test_calls_command(run_cli, tmp_path):
    from audit_support import build_snapshot

    from implkit.workspace import CredentialSource, init_workspace

    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    snap = build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {"leads": [{"id": 1, "responsible_user_id": 2}]})
    snap.insert("calls", [{"id": "note:1", "user_id": 2, "direction": "out", "answered": True, "duration": 95,
                           "entity_type": "leads", "entity_id": 1, "at": snap.snapshot_at - 2 * DAY}])
    snap.close()
    where = ("--workspace", tmp_path / "ws")
    week = run_cli("audit", "calls", "acme", *where, "--period", "7d", "--format", "json", "--tz", "UTC")
    rows = json.loads(week.output)["rows"]
    assert week.exit_code == 0 and [(r["name"], r["calls_out"], r["duration_total"]) for r in rows] == [("Борис", 1, 95)]
    ru = run_cli("audit", "calls", "acme", *where)
    assert ru.exit_code == 0 and "Звонки" in ru.output and "0:01:35" in ru.output and "итого" in ru.output
    en = run_cli("audit", "calls", "acme", *where, "--lang", "en", "--format", "md")
    assert "| manager" in en.output and "calls per won deal" in en.output
    bad = run_cli("audit", "calls", "acme", *where, "--from", "2026-02-30")
    assert bad.exit_code == 3 and "Traceback" not in bad.output


# --- the seeders' planted calls --------------------------------------------------------------------------

def _per_manager(path) -> dict[str, dict]:
    with Snapshot(path) as snap:
        report = calls_report(snap, Period(0, 2 ** 40), zone("UTC"))
    return {str(r["user_id"]): {"in": r["calls_in"], "out": r["calls_out"], "answered": r["answered"],
                                "duration": r["duration_total"]} for r in report["rows"] if r["calls"]}


def test_amocrm_seeded_calls_equal_the_seeders_truth(sync_rig, tmp_path):
    from implkit.providers.amocrm.records import AmoRecords
    from implkit.sandbox.amocrm.seed import seed_account

    truth = seed_account(sync_rig.sandbox.store, sync_rig.account_id, contacts=60, seed=3,
                         now=int(sync_rig.clock.now())).ground_truth["calls"]
    path = tmp_path / "snapshot.sqlite"
    with Snapshot(path) as snap:
        sync_snapshot(AmoRecords(sync_rig.http()), snap, clock=sync_rig.clock.now)
    assert sum(t["in"] + t["out"] for t in truth.values()) > 100
    assert _per_manager(path) == {uid: {k: t[k] for k in ("in", "out", "answered", "duration")}
                                  for uid, t in truth.items()}


def test_bitrix24_seeded_calls_equal_the_seeders_truth(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "providers_b24"))
    from b24p_rig import Portal

    from implkit.http import RateLimiter
    from implkit.providers.bitrix24 import open_records
    from implkit.sandbox.bitrix24.seed import seed_portal

    portal = Portal(tmp_path)
    try:
        truth = seed_portal(portal.sandbox.store, portal.account_id, deals=300, seed=5).ground_truth["calls"]
        reader = open_records(portal.base, portal.webhook, transport=portal.transport, rate=RateLimiter(1000.0, 50))
        path = tmp_path / "snapshot.sqlite"
        with Snapshot(path) as snap:
            sync_snapshot(reader, snap)
        assert sum(t["in"] + t["out"] for t in truth.values()) > 300
        assert _per_manager(path) == {uid: {k: t[k] for k in ("in", "out", "answered", "duration")}
                                      for uid, t in truth.items()}
    finally:
        portal.close()


def test_a_version_1_snapshot_is_upgraded_and_its_calls_filled_by_the_next_sync(sync_rig, tmp_path):
    """A snapshot a version-1 implkit synced (notes read, no `calls` table): opening it upgrades the schema,
    and the next sync — incremental for everything else — reads the notes again whole, so the calls made
    before the upgrade are there."""
    from implkit.audit.snapshot import SCHEMA_VERSION
    from implkit.providers.amocrm.records import AmoRecords

    sync_rig.clock.advance(T0 - sync_rig.clock.now())
    AmoPlanter(sync_rig).play()
    path = tmp_path / "snapshot.sqlite"
    with Snapshot(path) as snap:
        sync_snapshot(AmoRecords(sync_rig.http()), snap, clock=sync_rig.clock.now)
        notes = snap.query("SELECT count(*) FROM notes")[0][0]
        # what a version-1 file looks like: no calls table, version 1
        snap.db.executescript("DROP TABLE calls; UPDATE meta SET value = '1' WHERE key = 'schema_version';")
    sync_rig.clock.advance(3600)
    with Snapshot(path) as snap:
        assert snap.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert snap.query("SELECT count(*) FROM calls")[0][0] == 0
        assert snap.cursor("notes.leads") is None and snap.cursor("leads") is not None
        summary = sync_snapshot(AmoRecords(sync_rig.http()), snap, clock=sync_rig.clock.now)
        modes = {s.name: s.mode for s in summary.streams}
        assert modes["notes.leads"] == "full" and modes["leads"] == "incremental"
        assert snap.query("SELECT count(*) FROM calls")[0][0] == len(CALLS)
        assert snap.query("SELECT count(*) FROM notes")[0][0] == notes
    _check(path, {f"Продавец {s}": s for s in SELLERS})


def test_activity_talk_time_is_the_planted_calls_seconds(sync_rig, tmp_path):
    """`audit activity` credits a call to the owner of the record it is on (as it does its counts): its talk
    time column sums the planted durations of the calls on each seller's deals and their contacts."""
    from implkit.audit.activity import employee_activity, render_activity
    from implkit.providers.amocrm.records import AmoRecords

    sync_rig.clock.advance(T0 - sync_rig.clock.now())
    AmoPlanter(sync_rig).play()
    path = tmp_path / "snapshot.sqlite"
    with Snapshot(path) as snap:
        sync_snapshot(AmoRecords(sync_rig.http()), snap, clock=sync_rig.clock.now)
        report = employee_activity(snap, Period(T0 + START * DAY, T0 + END * DAY), zone("UTC"))
    got = {t["name"][-1]: t["call_seconds"] for t in report["totals"]}
    expected = {s: sum(c.duration for c in CALLS if DEALS[c.deal].seller == s and START <= c.day < END)
                for s in SELLERS}
    assert got == expected
    assert "0:11:05" in render_activity(report, "table", "ru", "acme")  # A's deals: 120 + 0 + 300 + 45 + 200 s


def test_a_webhook_without_telephony_gives_no_calls_and_the_report_says_so(tmp_path):
    """A portal's webhook without the `telephony` scope: voximplant.statistic.get is refused
    (insufficient_scope); the sync goes on, keeps why, and the report says it instead of showing zeros."""
    from implkit.http import RateLimiter
    from implkit.providers.bitrix24 import open_records
    from implkit.sandbox import Sandbox

    sandbox = Sandbox(tmp_path / "sandbox.db")
    try:
        sandbox.create_portal("acme")
        webhook = sandbox.webhook_url("acme", scope=("crm", "user", "department", "task")).rstrip("/").split("/rest/")[1]
        from implkit.http.asgi import SyncASGITransport

        transport = SyncASGITransport(sandbox.app)
        reader = open_records("http://sandbox/bitrix24/acme", webhook, transport=transport, rate=RateLimiter(1000.0, 50))
        path = tmp_path / "snapshot.sqlite"
        with Snapshot(path) as snap:
            sync_snapshot(reader, snap)
            assert snap.get_meta("calls_unavailable") == "insufficient_scope"
            report = calls_report(snap, Period(0, 2 ** 31), zone("UTC"))
        assert report["rows"] == [] and report["calls_unavailable"] == "insufficient_scope"
        assert "CRM не отдала статистику звонков (insufficient_scope)" in render_calls(report, "table", "ru", "acme")
        assert "gave no call statistics" in render_calls(report, "html", "en", "acme")
        transport.shutdown()
    finally:
        sandbox.close()
