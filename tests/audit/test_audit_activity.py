"""Employee activity per manager and day, on the sandbox account planted from facts (test_audit_effect's
Planter): every count is computed from the facts here."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

from test_audit_effect import DEALS, DAY, T0, TASKS, planted  # noqa: F401  (planted: the fixture)

from implkit.audit.activity import COLUMNS, employee_activity, render_activity
from implkit.audit.analytics import Period
from implkit.audit.effect import zone
from implkit.audit.snapshot import Snapshot


def _day(days_after_t0: float) -> str:
    return datetime.fromtimestamp(T0 + days_after_t0 * DAY, timezone.utc).strftime("%Y-%m-%d")


def truth(start: float, end: float) -> dict[tuple[str, str], Counter]:
    """(seller, day) -> counts, from the facts."""
    out: dict[tuple[str, str], Counter] = {}

    def add(seller: str, when: float, column: str, amount: int = 1) -> None:
        if start <= when < end:
            out.setdefault((seller, _day(when)), Counter())[column] += amount

    for d in DEALS:
        for c in d.calls:
            add(d.seller, c, "calls_out")
            add(d.seller, c, "call_seconds", 60)  # the planter's answered calls last a minute
        for c in d.missed:
            add(d.seller, c, "calls_missed")
        for closed in (d.won, d.lost):
            if closed is not None:
                add(d.seller, closed, "stage_moves")
    for t in TASKS:
        seller = DEALS[t.deal].seller
        add(seller, t.created, "tasks_created")
        if t.completed is not None:
            add(seller, t.completed, "tasks_closed")
    return out


def test_activity_per_manager_and_day_matches_the_facts(planted):  # noqa: F811
    planter, path, sync, _ = planted
    planter.play(0, 60)
    sync()
    with Snapshot(path) as snap:
        report = employee_activity(snap, Period(T0 + 30 * DAY, T0 + 60 * DAY), zone("UTC"))
    names = {f"Продавец {s}": s for s in ("A", "B", "C")}
    got = {(names[r["name"]], r["day"]): Counter({c: r[c] for c in COLUMNS if r[c]}) for r in report["rows"]}
    assert got == truth(30, 60)
    totals = {names[t["name"]]: t["calls_out"] for t in report["totals"]}
    assert totals == dict(Counter(d.seller for d in DEALS for c in d.calls if 30 <= c < 60))
    for fmt in ("table", "md", "html", "csv"):
        text = render_activity(report, fmt, "ru", "acme")
        assert "None" not in text and "Продавец A" in text
    assert json.loads(render_activity(report, "json", "en", "acme"))["rows"] == report["rows"]


def test_activity_command(run_cli, tmp_path):
    from audit_support import build_snapshot

    from implkit.workspace import CredentialSource, init_workspace

    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {
        "leads": [{"id": 1, "responsible_user_id": 2}],
        "notes": [{"id": 5, "entity_type": "leads", "entity_id": 1, "note_type": "call_out", "created_at": "now-2d"},
                  {"id": 6, "entity_type": "leads", "entity_id": 1, "note_type": "call_missed", "created_at": "now-2d"},
                  {"id": 7, "entity_type": "leads", "entity_id": 1, "note_type": "common", "created_at": "now-20d"}],
    }).close()
    where = ("--workspace", tmp_path / "ws")
    week = run_cli("audit", "activity", "acme", *where, "--period", "7d", "--format", "json", "--tz", "UTC")
    rows = json.loads(week.output)["rows"]
    assert week.exit_code == 0 and len(rows) == 1
    assert (rows[0]["name"], rows[0]["calls_out"], rows[0]["calls_missed"], rows[0]["notes"]) == ("Борис", 1, 1, 0)
    month = run_cli("audit", "activity", "acme", *where)
    assert "Активность сотрудников" in month.output and "итого" in month.output
    bad = run_cli("audit", "activity", "acme", *where, "--month", "2026-13")
    assert bad.exit_code == 3 and "календарный месяц" in bad.output  # the Russian default, refusals included
