"""`implkit audit sales|load|feed|goals` from the command line: formats, languages, the blueprint's plan,
and every bad input (unknown manager, unknown event type, bad period, bad goals file) exiting 3 with
its location and nothing written. The figures themselves are checked against planted facts in
test_audit_reports.py; here a small hand-built snapshot is enough."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit_support import NOW, build_snapshot

from implkit.data import blueprints_dir
from implkit.workspace import CredentialSource, init_workspace

DAY = 86400
REPORTS = ("sales", "load", "feed", "goals")


@pytest.fixture
def workspace(tmp_path):
    """Tenant `acme`: Анна won deal 1 (900) and lost deal 2 for reason «Дорого»; Борис holds open deal 3
    with an overdue task and open deal 4 with none; open deal 5 is nobody's. Its blueprint plans 800 000 a month at 40 000 a sale
    over 4 sellers (the plan of seeds/003)."""
    text = (blueprints_dir() / "presets" / "b2b-services.yaml").read_text(encoding="utf-8")
    blueprint = tmp_path / "blueprint.yaml"
    blueprint.write_text(text.replace("  sellers: 8", "  sellers: 4"), encoding="utf-8")
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"), blueprint=blueprint)
    build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {
        "loss_reasons": [{"id": 4, "name": "Дорого"}],
        "leads": [{"id": 1, "status_id": 142, "price": 900, "created_at": "now-5d", "closed_at": "now-1d"},
                  {"id": 2, "status_id": 143, "loss_reason_id": 4, "created_at": "now-4d", "closed_at": "now-2d"},
                  {"id": 3, "responsible_user_id": 2, "price": 500, "created_at": "now-3d"},
                  {"id": 4, "responsible_user_id": 2, "price": 700, "status_id": 12, "created_at": "now-2d"},
                  {"id": 5, "responsible_user_id": None, "price": 100, "created_at": "now-1d"},  # nobody's
                  {"id": 6, "status_id": 10, "price": 300, "created_at": "now-1d"}],  # still unsorted
        "tasks": [{"id": 9, "responsible_user_id": 2, "entity_type": "leads", "entity_id": 3,
                   "complete_till": "now-1h", "created_at": "now-2d"}],
        "events": [{"id": "e1", "type": "lead_status_changed", "entity_type": "lead", "entity_id": 1,
                    "created_at": "now-1d", "pipeline_before": 100, "status_before": 11, "pipeline_after": 100,
                    "status_after": 142},
                   {"id": "e2", "type": "lead_status_changed", "entity_type": "lead", "entity_id": 2,
                    "created_at": "now-2d", "pipeline_before": 100, "status_before": 11, "pipeline_after": 100,
                    "status_after": 143}],
    }).close()
    return tmp_path, ws


def _where(tmp_path: Path) -> tuple:
    return ("--workspace", tmp_path / "ws", "--tz", "UTC")


@pytest.mark.parametrize("report", REPORTS)
def test_every_report_in_every_format(run_cli, workspace, report):
    tmp_path, _ = workspace
    for fmt in ("table", "md", "html", "csv"):
        result = run_cli("audit", report, "acme", *_where(tmp_path), "--format", fmt, "--period", "7d",
                         env={"IMPLKIT_LANG": None})
        assert result.exit_code == 0, result.output
        assert "None" not in result.output and "Traceback" not in result.output
    data = json.loads(run_cli("audit", report, "acme", *_where(tmp_path), "--format", "json", "--lang", "en").output)
    assert data["lang"] == "en" and data["tenant"] == "acme"


def test_sales_load_feed_figures(run_cli, workspace):
    tmp_path, _ = workspace
    sales = json.loads(run_cli("audit", "sales", "acme", *_where(tmp_path), "--format", "json", "--period", "7d").output)
    [pipeline] = sales["pipelines"]
    assert (pipeline["created"], pipeline["won"], pipeline["won_sum"], pipeline["lost"], pipeline["open"]) == \
        (6, 1, 900, 1, 4)
    assert pipeline["loss_reasons"] == {"Дорого": 1} and pipeline["win_rate"] == 0.5
    # stage by stage: reached = moved on + lost here + still here; the unsorted deal stands before them all
    first = pipeline["funnel"][0]
    assert (first["reached"], first["moved_on"], first["lost_here"], first["still_here"]) == (5, 2, 1, 2)
    assert pipeline["open_before_first_stage"] == 1
    text = run_cli("audit", "sales", "acme", *_where(tmp_path), "--period", "7d", env={"IMPLKIT_LANG": None}).output
    assert "Анализ продаж: acme" in text and "Дорого: 1" in text and "50 %" in text.replace("\u00a0", " ")
    assert "Ещё не разобрано (до первого этапа): 1." in text
    load = json.loads(run_cli("audit", "load", "acme", *_where(tmp_path), "--format", "json").output)
    boris = next(m for m in load["managers"] if m["name"] == "Борис")
    assert (boris["open_deals"], boris["open_budget"], boris["open_tasks"], boris["overdue_tasks"],
            boris["no_next_step"], boris["no_next_step_ids"]) == (2, 1200, 1, 1, 1, [4])
    nobody = next(m for m in load["managers"] if m["user_id"] is None)
    assert (nobody["name"], nobody["open_deals"], nobody["no_next_step_ids"]) == ("—", 1, [5])
    table = run_cli("audit", "load", "acme", *_where(tmp_path), env={"IMPLKIT_LANG": None}).output
    assert "(без ответственного)" in table and "#None" not in table
    feed = json.loads(run_cli("audit", "feed", "acme", *_where(tmp_path), "--format", "json", "--manager", "Анна",
                              "--type", "won,lost").output)
    assert [(e["type"], e["entity_id"]) for e in feed["events"]] == [("won", 1), ("lost", 2)]
    assert feed["events"][1]["loss_reason"] == "Дорого"


def test_goals_from_the_blueprint_are_the_plan_of_seeds_003(run_cli, workspace):
    """800 000 a month at 40 000 a sale is 20 sales; over 4 sellers, 5 sales and 200 000 each."""
    tmp_path, _ = workspace
    result = run_cli("audit", "goals", "acme", *_where(tmp_path), "--format", "json", "--period", "7d")
    data = json.loads(result.output)
    assert data["plan"]["share"] == {"sales": 5, "revenue": 200000}
    anna = next(m for m in data["managers"] if m["name"] == "Анна")
    assert (anna["sales_plan"], anna["sales"], anna["revenue_plan"], anna["revenue"]) == (5, 1, 200000, 900)
    assert anna["sales_done"] == 0.2
    assert data["working_days"]["left"] == 0 and anna["sales_per_day"] is None  # the period ends at the snapshot
    text = run_cli("audit", "goals", "acme", *_where(tmp_path), env={"IMPLKIT_LANG": None}).output
    assert "Цели: acme" in text and "200\u00a0000" in text


@pytest.mark.parametrize("args, message", [
    (("feed", "--manager", "Никто"), "--manager 'Никто'"),
    (("feed", "--type", "won,kisses"), "--type 'kisses'"),
    (("feed", "--entity", "deal"), "deal"),
    (("sales", "--month", "2026-13"), "календарный месяц"),       # refusals speak the user's language (ru here)
    (("load", "--from", "2026-12-02", "--to", "2026-12-01"), "раньше, чем --from"),
    (("goals", "--period", "soon"), "число дней"),
])
def test_bad_input_exits_3_and_writes_nothing(run_cli, workspace, args, message):
    tmp_path, _ = workspace
    out = tmp_path / "report.txt"
    result = run_cli("audit", args[0], "acme", *_where(tmp_path), *args[1:], "-o", out)
    assert result.exit_code == 3 and message in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()


@pytest.mark.parametrize("text, where, message", [
    ("goals:\n  - manager: Анна\n    sales: many\n", "goals.yaml:3:5", "sales"),
    ("goals:\n  - manager: Анна\n    sales: 3\n  - manager: Никто\n    sales: 1\n", "goals.yaml:4:5", "Никто"),
    ("goals:\n  - manager: Анна\n    sales: 3\n  - manager: 1\n    revenue: 5\n", "goals.yaml:4:5", "1"),
    ("goals:\n  - manager: Анна\n", "goals.yaml:2:5", "sales"),
    ("goals:\n  - manager: Анна\n    sales: 3\n    bonus: 9\n", "goals.yaml:4:5", "bonus"),
    ("goals:\n  - manager: Анна\n    sales: [3\n", "goals.yaml:", ""),
    ("goals:\n  - manager: Анна\n    revenue: .nan\n", "goals.yaml:3:5", "revenue"),
])
def test_a_bad_goals_file_is_named_at_file_line_column(run_cli, workspace, text, where, message):
    tmp_path, _ = workspace
    goals = tmp_path / "goals.yaml"
    goals.write_text(text, encoding="utf-8")
    out = tmp_path / "report.txt"
    result = run_cli("audit", "goals", "acme", *_where(tmp_path), "--goals", goals, "-o", out)
    assert result.exit_code == 3, result.output
    assert where in result.output and message in result.output, result.output
    assert "Traceback" not in result.output and not out.exists()


def test_goals_from_a_file(run_cli, workspace):
    tmp_path, _ = workspace
    goals = tmp_path / "goals.yaml"
    goals.write_text("goals:\n  - manager: анна\n    sales: 2\n    revenue: 1800\n  - manager: 2\n    sales: 1\n",
                     encoding="utf-8")
    data = json.loads(run_cli("audit", "goals", "acme", *_where(tmp_path), "--goals", goals, "--format", "json",
                              "--period", "7d").output)
    rows = {m["name"]: m for m in data["managers"]}
    assert (rows["Анна"]["sales_done"], rows["Анна"]["revenue_done"]) == (0.5, 0.5)
    assert (rows["Борис"]["sales_plan"], rows["Борис"]["sales"], rows["Борис"]["revenue_plan"]) == (1, 0, None)


def test_goals_without_a_plan_is_bad_input(run_cli, tmp_path):
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("bare", provider="amocrm", url="http://127.0.0.1:9/amocrm/bare",
                  credentials=CredentialSource("env", var="BARE_TOKEN"))
    build_snapshot(ws.tenant_dir("bare") / "snapshot.sqlite").close()
    result = run_cli("audit", "goals", "bare", "--workspace", tmp_path / "ws")
    assert result.exit_code == 3 and "--goals FILE" in result.output


def test_the_audit_help_lists_the_new_reports(run_cli):
    text = run_cli("audit", "--help").output
    for report in REPORTS:
        assert f"implkit audit {report} TENANT" in text
    assert run_cli("audit", "feed", "--help").exit_code == 0


def test_goals_from_the_questionnaires_answers(run_cli, workspace):
    """The answers of a 4-seller company planning 800 000 a month at 40 000 a sale (seeds/003)."""
    tmp_path, _ = workspace
    answers = Path(__file__).resolve().parent.parent / "spec" / "fixtures" / "answers-no-phone.yaml"
    data = json.loads(run_cli("audit", "goals", "acme", *_where(tmp_path), "--answers", answers,
                              "--format", "json").output)
    assert data["plan"]["source"] == "answers" and data["plan"]["share"] == {"sales": 5, "revenue": 200000}
    text = run_cli("audit", "goals", "acme", *_where(tmp_path), "--answers", answers, env={"IMPLKIT_LANG": None})
    assert "из ответов анкеты" in text.output
    bad = tmp_path / "answers.yaml"
    bad.write_text(answers.read_text(encoding="utf-8").replace("sellers: 4", "sellers: four"), encoding="utf-8")
    result = run_cli("audit", "goals", "acme", *_where(tmp_path), "--answers", bad)
    assert result.exit_code == 3 and "answers.yaml:7:" in result.output and "Traceback" not in result.output
    both = run_cli("audit", "goals", "acme", *_where(tmp_path), "--answers", answers, "--goals", bad)
    assert both.exit_code == 3 and "choose one plan" in both.output
