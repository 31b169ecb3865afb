"""`implkit audit` and `implkit sync` from the command line: exit codes, formats, history, bad check files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audit_support import NOW, build_snapshot

from implkit.data import audits_dir
from implkit.workspace import CredentialSource, init_workspace


@pytest.fixture
def workspace(tmp_path):
    """A workspace with tenant `acme` whose snapshot has one error-level finding (D08) and one warning (T01)."""
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    snap = build_snapshot(ws.tenant_dir("acme") / "snapshot.sqlite", {
        "leads": [{"id": 1, "status_id": 143}, {"id": 2, "status_id": 143, "loss_reason_id": 4},
                  {"id": 3, "contacts": [{"id": 50, "is_main": True}]}],
        "contacts": [{"id": 50, "phones": ["+79123456789"]}],
        "tasks": [{"id": 9, "entity_type": "leads", "entity_id": 3, "complete_till": "now-1h"}],
    })
    snap.set_meta(web_url="https://acme.amocrm.ru")
    snap.close()
    return tmp_path / "ws"


def test_errors_over_threshold_exit_2_and_name_records(run_cli, workspace):
    result = run_cli("audit", "acme", "--workspace", workspace, env={"IMPLKIT_LANG": None})  # the default
    assert result.exit_code == 2
    assert "D08" in result.output and "СВЕРХ ПОРОГА" in result.output
    assert "D08 например 1" in result.output  # Russian by default
    english = run_cli("audit", "acme", "--workspace", workspace, "--lang", "en")
    assert "D08 e.g. 1" in english.output and "checks ran" in english.output


def test_warnings_alone_exit_0_unless_fail_on_warning(run_cli, workspace):
    assert run_cli("audit", "acme", "--workspace", workspace, "--checks", "T01").exit_code == 0
    assert run_cli("audit", "acme", "--workspace", workspace, "--checks", "T01",
                   "--fail-on", "warning").exit_code == 2
    assert run_cli("audit", "acme", "--workspace", workspace, "--checks", "D08,T01").exit_code == 2


def test_json_report_carries_ids_links_share_and_budget(run_cli, workspace):
    result = run_cli("audit", "acme", "--workspace", workspace, "--format", "json", "--checks", "D08,D02")
    report = json.loads(result.output)
    d08 = next(f for f in report["findings"] if f["id"] == "D08")
    assert d08["count"] == 1 and d08["population"] == 2 and d08["share"] == 0.5
    assert d08["examples"][0] == {"entity": "leads", "id": 1, "name": "", "budget": 1000, "value": None,
                                  "responsible": "Анна", "responsible_user_id": 1,
                                  "link": "https://acme.amocrm.ru/leads/detail/1", "parent": None,
                                  "parent_link": None}
    assert d08["records"] == d08["examples"] and d08["left_out"] == 0
    d02 = next(f for f in report["findings"] if f["id"] == "D02")
    assert d02["budget_at_risk"] == 1000
    assert report["snapshot_at"] == NOW
    assert report["analytics"]["method"].startswith("cohort")


def test_html_report_is_one_self_contained_file(run_cli, workspace, tmp_path):
    out = tmp_path / "audit.html"
    result = run_cli("audit", "acme", "--workspace", workspace, "--format", "html", "-o", out)
    assert result.exit_code == 2, result.output
    text = out.read_text(encoding="utf-8")
    assert text.count("<svg") >= 3 and "https://acme.amocrm.ru/leads/detail/1" in text
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert result.stdout == ""


def test_markdown_report(run_cli, workspace):
    result = run_cli("audit", "acme", "--workspace", workspace, "--format", "md", "--checks", "D08")
    assert result.output.startswith("# Аудит acme")
    assert "[сделка 1 (Анна)](https://acme.amocrm.ru/leads/detail/1)" in result.output


def test_tenant_overrides_apply(workspace):
    """Thresholds and exempt stages from the tenant's workspace entry (when the workspace exposes them)."""
    from implkit.audit import AuditOptions, run_audit

    ws_dir = Path(workspace) / ".implkit" / "tenants" / "acme"
    strict = run_audit(ws_dir / "snapshot.sqlite", None, tenant="acme", options=AuditOptions(only=("D08",)))
    assert strict.run.exit_code() == 2
    lenient = run_audit(ws_dir / "snapshot.sqlite", None, tenant="acme",
                        options=AuditOptions(only=("D08",), thresholds={"D08": 1}))
    assert lenient.run.exit_code() == 0
    exempt = run_audit(ws_dir / "snapshot.sqlite", None, tenant="acme",
                       options=AuditOptions(only=("D02",), exempt_stages=("Первичный контакт",)))
    assert exempt.run.result("D02").count == 0


def test_history_keeps_every_audit(run_cli, workspace):
    for _ in range(2):
        run_cli("audit", "acme", "--workspace", workspace, "--checks", "D08,T01")
    result = run_cli("audit", "history", "acme", "--workspace", workspace)
    assert result.exit_code == 0
    d08 = next(line for line in result.output.splitlines() if line.startswith("D08"))
    assert d08.split()[1:] == ["1!", "1!"]


def test_list_shows_every_check_and_why_unsupported(run_cli):
    result = run_cli("audit", "--list", "--format", "json")
    rows = json.loads(result.output)
    assert len(rows) == len(list(audits_dir().glob("*.yaml")))
    i01 = next(r for r in rows if r["id"] == "I01")
    assert not i01["supported"] and "catalog" in i01["why_unsupported"]
    assert next(r for r in rows if r["id"] == "D01")["supported"]
    table = run_cli("audit", "--list")
    assert "U01" in table.output and "needs blueprint" in table.output


@pytest.mark.parametrize(("mutation", "where", "message"), [
    (lambda t: t.replace("severity: error", "severity: fatal"), ":6:1:", "severity"),
    (lambda t: t.replace("entity: leads", "entity: leads\nbogus: 1"), ":8:1:", "unknown key"),
    (lambda t: t.replace("FROM leads l", "FROM leadz l", 1), ":", "no such table: leadz"),
    (lambda t: t.replace("title:", "title: [", 1), ":5:5:", "expected"),
])
def test_a_malformed_check_file_exits_3_with_its_location(run_cli, workspace, tmp_path, mutation, where, message):
    folder = tmp_path / "checks"
    shutil.copytree(audits_dir(), folder)
    path = folder / "D08.yaml"
    path.write_text(mutation(path.read_text(encoding="utf-8")), encoding="utf-8")
    result = run_cli("audit", "acme", "--workspace", workspace, "--checks-dir", folder, env={"IMPLKIT_LANG": "en"})
    assert result.exit_code == 3
    assert f"{path}{where}" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_check_id_and_unknown_tenant_are_bad_input(run_cli, workspace):
    assert run_cli("audit", "acme", "--workspace", workspace, "--checks", "Z99").exit_code == 3
    assert run_cli("audit", "nobody", "--workspace", workspace).exit_code == 3


def test_no_snapshot_yet_is_a_runtime_failure(run_cli, workspace):
    (Path(workspace) / ".implkit" / "tenants" / "acme" / "snapshot.sqlite").unlink()
    result = run_cli("audit", "acme", "--workspace", workspace)
    assert result.exit_code == 1 and "implkit sync acme" in result.output


def test_sync_then_audit_a_served_sandbox_account(run_cli, tmp_path):
    """The whole path a curator types: sync over loopback HTTP, then audit; progress on stderr."""
    seed = pytest.importorskip("implkit.sandbox.amocrm.seed")
    from implkit.sandbox import Sandbox, serve_in_thread

    sandbox = Sandbox(tmp_path / "sandbox.db")
    account = sandbox.create_account("shop")
    seed.seed_account(sandbox.store, account, contacts=40, seed=2)
    with serve_in_thread(sandbox) as root:
        ws = init_workspace(tmp_path / "ws")
        ws.add_tenant("shop", provider="amocrm", url=root + sandbox.base_url("shop"),
                      credentials=CredentialSource("env", var="SHOP_TOKEN"))
        token = sandbox.token("shop")
        env = {"SHOP_TOKEN": token}
        synced = run_cli("--lang", "en", "sync", "shop", "--workspace", tmp_path / "ws", env=env)  # reads English
        assert synced.exit_code == 0, synced.output
        assert "leads" in synced.stdout and "requests" in synced.stdout
        assert "sync done" in synced.stderr and "page 1" not in synced.stderr  # piped: notes on stderr, no page lines
        requests_before = len(sandbox.request_log("shop"))
        again = run_cli("--lang", "en", "sync", "shop", "--workspace", tmp_path / "ws", env=env)
        assert again.exit_code == 0 and "incremental" in again.stdout
        streams = len([line for line in again.stdout.splitlines() if line.startswith("  ")])
        assert len(sandbox.request_log("shop")) - requests_before == streams + 1  # one page each + /account
    audited = run_cli("audit", "shop", "--workspace", tmp_path / "ws", "--format", "json")
    assert audited.exit_code == 2, audited.output  # the seeder plants error-level defects
    report = json.loads(audited.stdout)
    assert next(f for f in report["findings"] if f["id"] == "D08")["count"] > 0
    assert token not in audited.output + synced.output + again.output
    sandbox.close()


def test_a_check_whose_sql_returns_no_id_is_bad_input(run_cli, workspace, tmp_path):
    folder = tmp_path / "checks"
    folder.mkdir()
    text = (audits_dir() / "D08.yaml").read_text(encoding="utf-8")
    (folder / "D08.yaml").write_text(text.replace("SELECT l.id,", "SELECT l.id AS lead,"), encoding="utf-8")
    result = run_cli("audit", "acme", "--workspace", workspace, "--checks-dir", folder)
    assert result.exit_code == 3
    assert f"{folder / 'D08.yaml'}:" in result.output and "must return an `id` column" in result.output


def test_thresholds_and_exempt_stages_from_the_workspace_tenant_entry(run_cli, workspace):
    from implkit.yamlio import dump_yaml, load_yaml

    config_path = Path(workspace) / "implkit.yaml"
    assert run_cli("audit", "acme", "--workspace", workspace, "--checks", "D08").exit_code == 2
    config = load_yaml(config_path)
    config["tenants"]["acme"]["audit"] = {"thresholds": {"D08": 1}, "exempt_stages": ["Первичный контакт"]}
    config_path.write_text(dump_yaml(config), encoding="utf-8")
    assert run_cli("audit", "acme", "--workspace", workspace, "--checks", "D08").exit_code == 0
    report = json.loads(run_cli("audit", "acme", "--workspace", workspace, "--checks", "D02",
                                "--format", "json").output)
    assert report["findings"][0]["count"] == 0  # the overdue deal sits in an exempt stage


def test_bar_chart_values_are_whole_numbers_and_fit_inside_the_chart():
    import re

    from implkit.audit.report import _bars

    svg = _bars([("big", 1234567, "#000"), ("small", 3, "#000")], width=360)
    assert "1\u00a0234\u00a0567" in svg and "e+" not in svg
    value_x = max(int(x) for x in re.findall(r'<text x="(\d+)" y="\d+" font-size="11"', svg))
    assert value_x + len("1 234 567") * 7 <= 360  # ~7 px a digit at font-size 11
