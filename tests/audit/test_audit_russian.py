"""A Russian report has no English words outside names, ids and command options: the audit report in every
format, the diff, the effect table and the assignment plan."""

from __future__ import annotations

import re

import pytest

from implkit.audit import AuditOptions, load_checks, run_audit
from implkit.audit.snapshot import Snapshot
from implkit.audit.sync import sync_snapshot
from implkit.providers.amocrm.records import AmoRecords

# Names a Russian text uses as they are: the CRMs, the product and its file, units, e-mail.
NAMES = {"acme", "id", "CRM", "API", "UTC", "amoCRM", "Bitrix", "implkit", "blueprint", "mail", "Europe", "Moscow", "JSON", "CSV"}
# Duplicate groups have their own renderer (the dedup work): their lines are checked there.
DEDUP = {"C01", "C02", "C03", "C04"}


def english_words(text: str) -> list[str]:
    text = re.sub(r"<style>.*?</style>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)  # HTML tags and attributes
    text = re.sub(r"https?://\S+", " ", text)  # links
    text = re.sub(r"--[a-z-]+(?: (?:csv|json|md|html|table))?", " ", text)  # command options and their values
    text = re.sub(r"`[^`]*`", " ", text)  # commands quoted in texts
    text = re.sub(r"\b\w+(?:\.\w+)+\b", " ", text)  # ids that are blueprint addresses (pipeline.sales.stage.x)
    return [w for w in re.findall(r"\b[A-Za-z][A-Za-z]+\b", text) if w not in NAMES]


@pytest.fixture
def audited(sync_rig, tmp_path):
    seed = pytest.importorskip("implkit.sandbox.amocrm.seed")
    seed.seed_account(sync_rig.sandbox.store, sync_rig.account_id, contacts=60, seed=3, now=int(sync_rig.clock.now()))
    with Snapshot(tmp_path / "s.sqlite") as snap:
        sync_snapshot(AmoRecords(sync_rig.http()), snap, clock=sync_rig.clock.now)
    only = tuple(c.id for c in load_checks() if c.id not in DEDUP)
    return tmp_path, only, sync_rig


@pytest.mark.parametrize("fmt", ["table", "md", "html", "csv"])
def test_a_russian_audit_report_has_no_english_words(audited, fmt):
    from implkit.blueprint import load_blueprint
    from implkit.data import blueprints_dir

    tmp_path, only, rig = audited
    blueprint = load_blueprint(str(blueprints_dir() / "presets" / "b2b-services.yaml"))
    options = AuditOptions(only=only, blueprint=blueprint)
    for _ in range(2):  # the second report carries the diff section against the first
        text = run_audit(tmp_path / "s.sqlite", tmp_path / "h.sqlite", tenant="acme", options=options, fmt=fmt,
                         clock=rig.clock.now).text
    assert english_words(text) == []
    english = run_audit(tmp_path / "s.sqlite", None, tenant="acme", options=options, fmt=fmt, lang="en",
                        clock=rig.clock.now).text
    assert len(english_words(english)) > 20  # the check itself sees English


def test_diff_effect_activity_calls_and_assign_speak_russian(audited):
    from implkit.audit.assign import AssignmentStore, plan_assignments, render_plan
    from implkit.audit.diff import audit_diff, render_diff
    from implkit.audit.effect import effect_report, indicators, render_effect, resolve_period, zone
    from implkit.audit.engine import run_checks
    from implkit.audit.history import History

    tmp_path, only, rig = audited
    for _ in range(2):
        run_audit(tmp_path / "s.sqlite", tmp_path / "h.sqlite", tenant="acme", options=AuditOptions(only=only),
                  clock=rig.clock.now)
    history = History(tmp_path / "h.sqlite")
    diff = audit_diff(history)
    history.close()
    texts = [render_diff(diff, fmt, "ru", "acme") for fmt in ("table", "md", "html", "csv")]
    with Snapshot(tmp_path / "s.sqlite") as snap:
        now = indicators(snap, resolve_period(snap.snapshot_at, zone(None)))
        texts += [render_effect(effect_report("acme", now, now, zone(None)), fmt, "ru")
                  for fmt in ("table", "md", "html", "csv")]
        from implkit.audit.activity import employee_activity, render_activity

        days = employee_activity(snap, resolve_period(snap.snapshot_at, zone(None), period="400d"), zone(None))
        assert days["rows"]
        texts += [render_activity(days, fmt, "ru", "acme") for fmt in ("table", "md", "html", "csv")]
        from implkit.audit.calls import calls_report, render_calls

        calls = calls_report(snap, resolve_period(snap.snapshot_at, zone(None), period="400d"), zone(None))
        assert calls["rows"] and calls["total"]["calls"] > 50
        texts += [render_calls(calls, fmt, "ru", "acme") for fmt in ("table", "md", "html", "csv")]
        assert len(english_words(render_calls(calls, "md", "en", "acme"))) > 10
        store = AssignmentStore(tmp_path / "a.sqlite")
        plan = plan_assignments(run_checks(snap, load_checks(), AuditOptions(only=only)), snap, store)
        store.close()
    texts.append(render_plan(plan, "ru"))
    for text in texts:
        assert english_words(text) == [], text[:300]


def test_sales_load_feed_and_goals_speak_russian_in_every_format(audited):
    from implkit.audit.feed import event_feed, render_feed
    from implkit.audit.goals import goals_from_blueprint, goals_report, render_goals
    from implkit.audit.load import load_report, render_load
    from implkit.audit.sales import render_sales, sales_report
    from implkit.audit.effect import resolve_period, zone
    from implkit.blueprint import load_blueprint
    from implkit.data import blueprints_dir

    tmp_path, _, _ = audited
    moscow = zone(None)
    blueprint = load_blueprint(str(blueprints_dir() / "presets" / "b2b-services.yaml"))
    with Snapshot(tmp_path / "s.sqlite") as snap:
        period = resolve_period(snap.snapshot_at, moscow, period="400d")
        reports = [(render_sales, sales_report(snap, period)), (render_load, load_report(snap, period)),
                   (render_feed, event_feed(snap, period)),
                   (render_goals, goals_report(snap, period, goals_from_blueprint(blueprint, snap, "ru"), moscow))]
    assert reports[0][1]["pipelines"][0]["lost"] and reports[2][1]["events"]  # the texts have something to say
    for render, report in reports:
        for fmt in ("table", "md", "html", "csv"):
            text = render(report, fmt, "ru", "acme", moscow)
            assert english_words(text) == [], (render.__name__, fmt, english_words(text)[:10])
        assert len(english_words(render(report, "table", "en", "acme", moscow))) > 5  # the check sees English
