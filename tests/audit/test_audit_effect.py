"""`implkit audit effect`: the indicator table before and now, on a sandbox account whose activity was
planted through the API from a list of facts; every expected figure is computed from those facts here,
never with the snapshot's SQL."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field

import pytest

from implkit.audit.analytics import Period
from implkit.audit.effect import baseline, compare, indicators, resolve_period, take_baseline, zone
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.errors import InputError
from implkit.providers.amocrm.records import AmoRecords

DAY = 86400
T0 = 1_800_028_800 - 1_800_028_800 % DAY  # a UTC midnight: dates and eras line up in the UTC zone
T1, T2 = T0 + 30 * DAY, T0 + 60 * DAY


@dataclass
class Deal:
    seller: str
    created: float  # days after T0
    price: int = 0
    contact: bool = True
    calls: list[float] = field(default_factory=list)  # answered calls, days after T0
    missed: list[float] = field(default_factory=list)  # missed incoming calls: not a contact
    won: float | None = None
    lost: float | None = None


@dataclass
class Task:
    deal: int
    created: float
    due: float
    completed: float | None = None


# Before (days 0-30): few calls, slow wins, half the new deals lack a budget or a contact, tasks overdue.
# After (days 30-60): more calls, faster wins, complete cards, one task overdue.
DEALS = [
    Deal("A", 1, 10000, calls=[1.1, 3, 6, 9], won=12),
    Deal("A", 2, 0, contact=False, calls=[2.5], lost=20),
    Deal("B", 4, 20000, calls=[4.5, 10], won=24),
    Deal("B", 5, 5000, calls=[5.5], won=33),  # created before, won after: counts in the later period
    Deal("C", 6, 0, missed=[6.2]),
    Deal("C", 8, 7000, contact=False),
    Deal("A", 31, 12000, calls=[31.1, 32, 33], won=36),
    Deal("A", 32, 8000, calls=[32.1, 33.5], won=35),
    Deal("B", 34, 15000, calls=[34.1, 35, 37, 38], won=40),
    Deal("C", 36, 9000, calls=[36.1, 36.5, 38.5], missed=[37.2], won=41),
    Deal("C", 40, 4000, calls=[40.2, 44, 45]),
    Deal("B", 45, 6000, calls=[45.1, 46]),
]
TASKS = [Task(0, 1, 5, completed=4), Task(2, 4, 20, completed=31), Task(3, 5, 25, completed=32),
         Task(4, 6, 28, completed=33), Task(5, 8, 29),
         Task(2, 25, 31, completed=30.5),
         Task(6, 31, 40, completed=39), Task(10, 40, 58), Task(11, 45, 65)]
SELLERS = ("A", "B", "C")


def _between(t: float, start: float, end: float) -> bool:
    return start <= t < end


def truth(start_day: float, end_day: float) -> dict:
    """The indicators of [start_day, end_day) from the facts alone (state as of end_day)."""
    n = len(SELLERS)
    calls = [(d, c) for d in DEALS for c in d.calls if _between(c, start_day, end_day)]
    won = [d for d in DEALS if d.won is not None and _between(d.won, start_day, end_day)]
    created = [d for d in DEALS if _between(d.created, start_day, end_day)]
    overdue = [t for t in TASKS if t.due < end_day and t.created < end_day
               and (t.completed is None or t.completed >= end_day)]
    return {
        "contacts_total": len(calls), "contacts_per_seller": round(len(calls) / n, 2),
        "overdue_tasks": len(overdue),
        "sales_cycle_days": round(statistics.median(d.won - d.created for d in won), 2) if won else None,
        "contacts_per_sale": round(sum(sum(1 for c in d.calls if c <= d.won) for d in won) / len(won), 2)
        if won else None,
        "sales_per_seller": round(len(won) / n, 2), "sales_sum_per_seller": round(sum(d.price for d in won) / n, 2),
        "conversion_to_sale": round(sum(1 for d in created if d.won is not None and d.won < end_day) / len(created), 4),
        "complete_data_share": round(sum(1 for d in created if d.price > 0 and d.contact) / len(created), 4),
    }


class Planter:
    """Plays the facts through the sandbox's API in time order (the sandbox clock stamps every record)."""

    def __init__(self, rig):
        self.rig, self.http = rig, rig.http(rate=1000.0)
        users = self.http.post("/api/v4/users", json=[
            {"name": f"Продавец {s}", "email": f"{s.lower()}@example.ru", "password": "Secret12345",
             "rights": {}} for s in SELLERS])["_embedded"]["users"]
        self.users = {s: u["id"] for s, u in zip(SELLERS, users)}
        self.leads: dict[int, int] = {}
        self.tasks: dict[int, int] = {}

    def actions(self, start: float, end: float) -> list[tuple[float, int, object]]:
        out = []
        for i, d in enumerate(DEALS):
            out.append((d.created, 0, ("deal", i)))
            out += [(c, 1, ("call", i, 60)) for c in d.calls] + [(c, 1, ("call", i, 0)) for c in d.missed]
            if d.won is not None:
                out.append((d.won, 2, ("close", i, 142)))
            if d.lost is not None:
                out.append((d.lost, 2, ("close", i, 143)))
        for j, t in enumerate(TASKS):
            out.append((t.created, 1, ("task", j)))
            if t.completed is not None:
                out.append((t.completed, 2, ("done", j)))
        return sorted(a for a in out if start <= a[0] < end)

    def play(self, start: float, end: float) -> None:
        for day, _, action in self.actions(start, end):
            at = T0 + day * DAY
            if self.rig.clock.now() < at:
                self.rig.clock.advance(at - self.rig.clock.now())
            getattr(self, "_" + action[0])(*action[1:])
        self.rig.clock.advance(T0 + end * DAY - self.rig.clock.now())

    def _deal(self, i: int) -> None:
        d = DEALS[i]
        owner = self.users[d.seller]
        lead = {"name": f"Сделка {i}", "price": d.price, "responsible_user_id": owner}
        if d.contact:
            contact = self.http.post("/api/v4/contacts", json=[{"name": f"Клиент {i}", "responsible_user_id": owner}])
            lead["_embedded"] = {"contacts": [{"id": contact["_embedded"]["contacts"][0]["id"]}]}
        self.leads[i] = self.http.post("/api/v4/leads", json=[lead])["_embedded"]["leads"][0]["id"]

    def _call(self, i: int, duration: int) -> None:
        kind = "call_out" if duration else "call_in"
        self.http.post("/api/v4/leads/notes", json=[{"entity_id": self.leads[i], "note_type": kind, "params": {
            "uniq": f"call-{i}-{self.rig.clock.now()}", "duration": duration, "source": "sandbox",
            "phone": "+79001234567"}}])

    def _close(self, i: int, status: int) -> None:
        self.http.patch("/api/v4/leads", json=[{"id": self.leads[i], "status_id": status}])

    def _task(self, j: int) -> None:
        t = TASKS[j]
        self.tasks[j] = self.http.post("/api/v4/tasks", json=[{
            "text": "Перезвонить", "entity_type": "leads", "entity_id": self.leads[t.deal],
            "complete_till": int(T0 + t.due * DAY), "responsible_user_id": self.users[DEALS[t.deal].seller]}]
        )["_embedded"]["tasks"][0]["id"]

    def _done(self, j: int) -> None:
        self.http.patch("/api/v4/tasks", json=[{"id": self.tasks[j], "is_completed": True,
                                                 "result": {"text": "Сделано"}}])


@pytest.fixture
def planted(tmp_path):
    from audit_support import SyncRig

    rig = SyncRig(tmp_path, start=float(T0))
    planter = Planter(rig)
    path = tmp_path / "snapshot.sqlite"

    reader = rig.http()  # the sync keeps to the account's rate limit; planting ran unthrottled

    def sync() -> None:
        with Snapshot(path) as snap:
            sync_snapshot(AmoRecords(reader), snap, clock=rig.clock.now)

    yield planter, path, sync, tmp_path / "tenant"
    rig.close()


def test_effect_table_matches_the_planted_facts(planted):
    planter, path, sync, folder = planted
    utc = zone("UTC")
    planter.play(0, 30)
    sync()  # the first sync: "before the implementation"
    with Snapshot(path) as snap:
        assert snap.snapshot_at == T1
        kept = take_baseline(snap, folder, name="first-sync", days=30, tz=utc)
    expected_before = truth(0, 30)
    assert kept["figures"] == expected_before
    assert kept["sellers"] == 3  # the administrator who owns the account is no seller
    planter.play(30, 60)
    sync()
    with Snapshot(path) as snap:
        now = indicators(snap, resolve_period(snap.snapshot_at, utc, period="30d"))
        chosen = baseline(snap, folder, None, days=30, tz=utc)
        recomputed = baseline(snap, folder, _date(T1), days=30, tz=utc)
    expected_now = truth(30, 60)
    assert now["figures"] == expected_now
    assert chosen["name"] == "first-sync"
    rows = {r["key"]: r for r in compare(chosen, now)}
    verdicts = {k: rows[k]["verdict"] for k in expected_now}
    assert verdicts == {"contacts_per_seller": "better", "contacts_total": "better", "overdue_tasks": "better",
                        "sales_cycle_days": "better", "contacts_per_sale": "better", "sales_per_seller": "better",
                        "sales_sum_per_seller": "better", "conversion_to_sale": "better",
                        "complete_data_share": "better"}
    assert rows["contacts_total"]["change"] == expected_now["contacts_total"] - expected_before["contacts_total"]
    # the per-step rows compare stages by id; the won stage is one of them
    assert "step:142" in rows
    # a baseline recomputed today for the same dates agrees on what the events fix; the cohort's
    # conversion moved on since (deal 3 was won later) and overdue tasks are an estimate
    same = {k: v for k, v in expected_before.items() if k not in ("conversion_to_sale", "overdue_tasks")}
    assert {k: recomputed["figures"][k] for k in same} == same
    assert recomputed["kind"] == "recomputed" and recomputed["period"]["end"] == T1
    cohort = [d for d in DEALS if d.created < 30]
    assert recomputed["figures"]["conversion_to_sale"] == round(sum(d.won is not None for d in cohort) / len(cohort), 4)
    # tasks completed after T1 were open at T1: their last change stands for the completion time
    assert recomputed["figures"]["overdue_tasks"] == expected_before["overdue_tasks"]


def _date(ts: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d")


def test_periods_are_local_calendar_dates():
    moscow = zone("Europe/Moscow")
    p = resolve_period(T2, moscow, date_from="2026-11-01", date_to="2026-11-30")
    assert p.end - p.start == 30 * DAY
    assert p.start == 1_793_480_400  # 2026-11-01 00:00 at +03:00 (GNU date -d "2026-11-01 00:00 +0300")
    month = resolve_period(T2, moscow, month="2026-02")
    assert month.end - month.start == 28 * DAY and month.start == 1_769_893_200
    assert resolve_period(T2, moscow, period="2w") == Period(T2 - 14 * DAY, T2)
    assert resolve_period(T2, moscow) == Period(T2 - 30 * DAY, T2)


@pytest.mark.usefixtures("english")  # reads English refusals
@pytest.mark.parametrize("kwargs, message", [
    ({"date_from": "2026-11-01"}, "--from and --to go together"),
    ({"date_from": "2026-11-31", "date_to": "2026-12-01"}, "not a date"),
    ({"date_from": "2026-12-02", "date_to": "2026-12-01"}, "before --from"),
    ({"month": "2026-13"}, "calendar month"),
    ({"period": "soon"}, "number of days"),
    ({"period": "30d", "month": "2026-11"}, "choose one period"),
])
def test_bad_periods_are_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message):
        resolve_period(T2, zone("UTC"), **kwargs)


@pytest.mark.usefixtures("english")  # reads English refusals
def test_unknown_time_zone_is_bad_input():
    with pytest.raises(InputError, match="time zone"):
        zone("Mars/Olympus")


# --- the commands -----------------------------------------------------------------------------------

@pytest.fixture
def workspace(tmp_path):
    from audit_support import build_snapshot

    from implkit.workspace import CredentialSource, init_workspace

    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {
        "leads": [{"id": 1, "status_id": 142, "price": 900, "created_at": "now-5d", "closed_at": "now-1d"},
                  {"id": 2, "created_at": "now-2d"}],
        "notes": [{"id": 5, "entity_type": "leads", "entity_id": 1, "note_type": "call_out", "created_at": "now-3d"}],
    }).close()
    return tmp_path / "ws", ws


def test_baseline_and_effect_commands(run_cli, workspace):
    root, ws = workspace
    where = ("--workspace", root)
    none = run_cli("audit", "effect", "acme", *where)
    assert none.exit_code == 1 and "implkit audit baseline" in none.output
    kept = run_cli("audit", "baseline", "acme", *where, "--name", "before")
    assert kept.exit_code == 0 and (ws.tenant_dir("acme") / "baselines" / "before.json").is_file()
    assert run_cli("audit", "baseline", "acme", *where, "--name", "before").exit_code == 3  # never overwritten
    ru = run_cli("audit", "effect", "acme", *where)
    assert ru.exit_code == 0 and "Эффект внедрения: acme" in ru.output and "Контактов с клиентами всего" in ru.output
    assert "без изменений" in ru.output and "Europe/Moscow" in ru.output
    en = run_cli("audit", "effect", "acme", *where, "--lang", "en", "--format", "json", "--tz", "UTC")
    data = json.loads(en.output)
    rows = {r["key"]: r for r in data["rows"]}
    assert rows["contacts_total"]["now"] == 1 and rows["sales_sum_per_seller"]["now"] == 450.0  # 900 / 2 sellers
    assert all(r["verdict"] == "same" for r in data["rows"] if r["before"] is not None)
    for fmt in ("md", "html", "csv"):
        out = run_cli("audit", "effect", "acme", *where, "--format", fmt, "--month", "2023-11").output
        assert "None" not in out and "Контактов" in out


@pytest.mark.usefixtures("english")  # reads English refusals
@pytest.mark.parametrize("args, message", [
    (("--baseline", "nope"), "neither a kept baseline"),
    (("--period", "30d", "--month", "2026-11"), "choose one period"),
    (("--tz", "Mars/Olympus"), "time zone"),
    (("--from", "2026-11-01"), "go together"),
])
def test_effect_bad_input_exits_3(run_cli, workspace, args, message):
    root, _ = workspace
    run_cli("audit", "baseline", "acme", "--workspace", root)
    result = run_cli("audit", "effect", "acme", "--workspace", root, *args)
    assert result.exit_code == 3 and message in result.output and "Traceback" not in result.output


def test_a_bad_time_zone_setting_is_named_with_its_location(run_cli, workspace):
    root, ws = workspace
    text = ws.config_path.read_text(encoding="utf-8")
    ws.config_path.write_text(text.replace("    provider: amocrm", "    provider: amocrm\n    audit: {timezone: Moon/Base}"),
                              encoding="utf-8")
    result = run_cli("audit", "baseline", "acme", "--workspace", root)
    assert result.exit_code == 3 and "implkit.yaml:" in result.output and "Moon/Base" in result.output
    assert not (ws.tenant_dir("acme") / "baselines").exists()


def test_the_first_sync_keeps_a_baseline(run_cli, tmp_path):
    seed = pytest.importorskip("implkit.sandbox.amocrm.seed")
    from implkit.sandbox import Sandbox, serve_in_thread
    from implkit.workspace import CredentialSource, init_workspace

    sandbox = Sandbox(tmp_path / "sandbox.db")
    seed.seed_account(sandbox.store, sandbox.create_account("shop"), contacts=20, seed=2)
    with serve_in_thread(sandbox) as root:
        ws = init_workspace(tmp_path / "ws")
        ws.add_tenant("shop", provider="amocrm", url=root + sandbox.base_url("shop"),
                      credentials=CredentialSource("env", var="SHOP_TOKEN"))
        env = {"SHOP_TOKEN": sandbox.token("shop")}
        first = run_cli("sync", "shop", "--workspace", tmp_path / "ws", env=env)
        assert first.exit_code == 0 and "first-sync" in first.stderr
        kept = ws.tenant_dir("shop") / "baselines" / "first-sync.json"
        before = kept.read_bytes()
        again = run_cli("sync", "shop", "--workspace", tmp_path / "ws", env=env)
        assert again.exit_code == 0 and "first-sync" not in again.stderr and kept.read_bytes() == before
    sandbox.close()
    data = json.loads(before)
    assert data["name"] == "first-sync" and data["figures"]["contacts_total"] > 0
