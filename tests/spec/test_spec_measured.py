"""`spec render --measured-from TENANT`: the funnel's conversions from the tenant's latest audit snapshot.

The tenant's snapshot is built here from known deals (100 created in the last
30 days, each standing at the furthest stage it reached): 100 reached the first
contact, 50 qualification, 40 the meeting, 20 the proposal, 5 were won. The
b2b-services preset's funnel steps name those stages, so the measured
conversions are 50 %, 80 %, 50 % and 25 %, and the decomposition of the
preset's plan (20 sales) follows from them.
"""

from __future__ import annotations

import re

import pytest

from implkit.audit.snapshot import Snapshot
from implkit.data import blueprints_dir
from implkit.workspace import CredentialSource, init_workspace

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86400
PRESET = blueprints_dir() / "presets" / "b2b-services.yaml"
STAGES = [
    {"id": 10, "name": "Неразобранное", "sort": 10, "type": 1},
    {"id": 11, "name": "Первичный контакт", "sort": 20},
    {"id": 12, "name": "Квалификация", "sort": 30},
    {"id": 13, "name": "Встреча", "sort": 40},
    {"id": 14, "name": "КП отправлено", "sort": 50},
    {"id": 15, "name": "Переговоры", "sort": 60},
    {"id": 142, "name": "Успешно реализовано", "sort": 10000},
    {"id": 143, "name": "Закрыто и не реализовано", "sort": 11000},
]


def workspace_with(tmp_path, standing: dict[int, int], won_price: int = 40000):
    """A workspace whose tenant `acme` has, for each stage id, that many deals created 5 days ago standing there."""
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    snap = Snapshot(ws.tenant_dir("acme") / "snapshot.sqlite")
    snap.insert("users", [{"id": 1, "name": "Анна", "is_active": True, "rights": {}}])
    snap.insert("pipelines", [{"id": 100, "name": "Продажи", "sort": 1, "is_main": True, "stages": STAGES}])
    leads, next_id = [], 1
    for status, count in standing.items():
        for _ in range(count):
            closed = NOW - 2 * DAY if status in (142, 143) else None
            leads.append({"id": next_id, "pipeline_id": 100, "status_id": status, "responsible_user_id": 1,
                          "price": won_price if status == 142 else 0, "created_at": NOW - 5 * DAY,
                          "updated_at": NOW - DAY, "closed_at": closed})
            next_id += 1
    # one older deal, outside the 30-day period: not in the cohort
    leads.append({"id": next_id, "pipeline_id": 100, "status_id": 142, "responsible_user_id": 1, "price": 1,
                  "created_at": NOW - 90 * DAY, "updated_at": NOW - 80 * DAY, "closed_at": NOW - 80 * DAY})
    snap.insert("leads", leads)
    snap.set_meta(snapshot_at=NOW)
    snap.close()
    return tmp_path / "ws"


def render(run_cli, tmp_path, ws, *extra):
    output = tmp_path / "spec.md"
    result = run_cli("spec", "render", "-b", PRESET, "--date", "2026-01-15", "--measured-from", "acme",
                     "--workspace", ws, "-o", output, *extra)
    return result, output


def test_measured_conversions_drive_the_decomposition(run_cli, tmp_path):
    ws = workspace_with(tmp_path, {11: 50, 12: 10, 13: 20, 14: 15, 142: 5})
    result, output = render(run_cli, tmp_path, ws)
    assert result.exit_code == 0, result.output
    # the CLI prints the period and the measured conversions
    assert "measured: acme, pipeline 'Продажи', deals created 2025-12-02..2025-12-31 (30 days): 100 deals, 5 won" \
        in result.stderr
    assert "  Лид: 100 deals, 50.0%" in result.stderr and "  КП отправлено: 20 deals, 25.0%" in result.stderr
    text = output.read_text(encoding="utf-8")
    nbsp = "\u00a0"
    rows = re.findall(r"^\| (Лид|Квалифицирован|Встреча|КП отправлено|Продажа \(оплата\)) \| ([^|]+) \| (\d+) \|", text, re.M)
    # 800 000 / 40 000 = 20 sales; 20 / 0.25 = 80; 80 / 0.5 = 160; 160 / 0.8 = 200; 200 / 0.5 = 400
    assert rows[:5] == [("Лид", f"50{nbsp}% (замер)", "400"), ("Квалифицирован", f"80{nbsp}% (замер)", "200"),
                        ("Встреча", f"50{nbsp}% (замер)", "160"), ("КП отправлено", f"25{nbsp}% (замер)", "80"),
                        ("Продажа (оплата)", "—", "20")]
    assert ("Конверсии измерены по данным CRM (аккаунт «acme», воронка «Продажи»): сделки, созданные с 02.12.2025 "
            f"по 31.12.2025 (30{nbsp}дней), — 100{nbsp}сделок, из них выиграно 5") in text
    assumptions = text[text.index("### Допущения"):text.index("## 3.")]
    assert "Конверсия шага" not in assumptions  # every step measured: none is an assumption any more


def test_a_step_with_too_few_deals_keeps_the_assumption(run_cli, tmp_path):
    # the proposal stage reached by 8 deals only (< 10): its 40 % from the preset stands
    ws = workspace_with(tmp_path, {11: 60, 12: 12, 13: 20, 14: 6, 142: 2})
    result, output = render(run_cli, tmp_path, ws)
    assert result.exit_code == 0, result.output
    assert "  КП отправлено: 8 deals, not measured (few_deals), the assumption stands" in result.stderr
    text = output.read_text(encoding="utf-8")
    assert "| КП отправлено | 40\u00a0% (допущение) |" in text
    assert "Шаг «КП отправлено» — мало сделок (8 при минимуме 10): оставлено допущение." in text
    assert re.search(r"^\| \d+ \| Конверсия шага «КП отправлено» в следующий \| 40\u00a0% \|", text, re.M)
    assert "| Встреча | 28,6\u00a0% (замер) |" in text  # 8 of 28


def test_a_tenant_without_a_snapshot_is_a_runtime_failure(run_cli, tmp_path):
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    result, output = render(run_cli, tmp_path, tmp_path / "ws")
    assert result.exit_code == 1 and "implkit sync acme" in result.output and not output.exists()


@pytest.mark.parametrize("tenant", ["nobody"])
def test_unknown_tenant_is_bad_input(run_cli, tmp_path, tenant):
    ws = workspace_with(tmp_path, {11: 1})
    output = tmp_path / "spec.md"
    result = run_cli("spec", "render", "-b", PRESET, "--measured-from", tenant, "--workspace", ws, "-o", output)
    assert result.exit_code == 3 and "nobody" in result.output and not output.exists()
