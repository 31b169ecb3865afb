"""`spec render --measured-from TENANT` on a sandbox tenant whose funnel is known.

The tenant is built the way a client's account comes to be: `implkit apply` lays the
b2b-services preset out in a sandbox account, deals are created through the amoCRM API and
moved stage by stage (each move is a status-change event, as in a real account), some are
won at a known price after a known number of days, some lost on the way; then `implkit sync`
reads the account over HTTP. The truth is written as the deals' paths below, and the expected
figures are counted from those paths here — not from the analytics that measure them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from fractions import Fraction

import httpx
import pytest
from click.testing import CliRunner

from implkit.cli import cli
from implkit.data import blueprints_dir
from implkit.workspace import CredentialSource, init_workspace

NBSP = "\u00a0"
DAY = 86400
NOW = 1_767_268_800  # 2026-01-01T12:00:00Z: the sandbox's clock starts here (and runs)
PRESET = blueprints_dir() / "presets" / "b2b-services.yaml"
# The preset's funnel: step name → the stage of pipeline «Продажи» it stands for (b2b-services.yaml).
STEPS = [("Лид", "Первичный контакт"), ("Квалифицирован", "Квалификация"), ("Встреча", "Встреча"),
         ("КП отправлено", "КП отправлено")]
PATH = ["Первичный контакт", "Квалификация", "Встреча", "КП отправлено", "Переговоры", "Согласование договора",
        "Счёт выставлен"]
PLAN = 800_000  # the preset's monthly revenue plan
PRESET_CONVERSION = {"Лид": "60", "Квалифицирован": "50", "Встреча": "70", "КП отправлено": "40"}

# A path: (how many deals, the furthest stage they were moved to, how they end, price, days to close).
# "open" deals stay where they are; "lost" ones are closed from there; "won" ones go through every stage.
ACME = [
    (84, "Первичный контакт", "open", 0, None), (60, "Первичный контакт", "lost", 0, 3),
    (20, "Квалификация", "open", 0, None), (16, "Квалификация", "lost", 0, 6),
    (7, "Встреча", "open", 0, None), (5, "Встреча", "lost", 0, 9),
    (12, "КП отправлено", "open", 0, None), (8, "КП отправлено", "lost", 0, 12),
    (5, "Переговоры", "open", 0, None), (5, "Согласование договора", "open", 0, None),
    (6, "Счёт выставлен", "won", 40_000, 10), (6, "Счёт выставлен", "won", 52_000, 14),
    (6, "Счёт выставлен", "won", 64_000, 21),
]
# The proposal stage reached by 8 deals only: too few to measure (the minimum is 10); 3 won: too few for
# the average check and the cycle, which stay the preset's.
SMALL = [
    (30, "Первичный контакт", "open", 0, None), (30, "Первичный контакт", "lost", 0, 2),
    (15, "Квалификация", "open", 0, None), (17, "Встреча", "open", 0, None),
    (5, "КП отправлено", "open", 0, None), (3, "Счёт выставлен", "won", 90_000, 7),
]


def truth(paths):
    """What the planted paths say: deals, won, how many reached each step's stage, average check, median cycle."""
    reached = {step: sum(n for n, last, end, *_ in paths if end == "won" or PATH.index(last) >= PATH.index(stage))
               for step, stage in STEPS}
    won = [(n, price, days) for n, _, end, price, days in paths if end == "won"]
    count = sum(n for n, *_ in won)
    cycles = sorted(d for n, _, d in won for _ in range(n))
    return {"deals": sum(p[0] for p in paths), "won": count, "reached": reached,
            "avg_check": sum(n * price for n, price, _ in won) // count if count else None,
            "cycle": (cycles[(count - 1) // 2] + cycles[count // 2]) / 2 if count else None}


class Api:
    """The sandbox account through its amoCRM API, as an integration would write to it."""

    def __init__(self, url: str, token: str):
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        pipelines = {p["name"]: p for p in self.request("GET", "/api/v4/leads/pipelines")["_embedded"]["pipelines"]}
        self.pipeline = pipelines["Продажи"]["id"]
        self.status = {s["name"]: s["id"] for s in pipelines["Продажи"]["_embedded"]["statuses"]}
        self.other = pipelines["Повторные продажи"]["id"]

    def request(self, method: str, path: str, rows: list[dict] | None = None) -> dict:
        for _ in range(20):
            time.sleep(0.2)  # stay under the account's 7 requests a second
            answer = self.http.request(method, path, json=rows)
            if answer.status_code != 429:
                break
        assert answer.status_code == 200, answer.text
        return answer.json()

    def _send(self, method: str, rows: list[dict]) -> list[dict]:
        return [lead for i in range(0, len(rows), 50)
                for lead in self.request(method, "/api/v4/leads", rows[i:i + 50])["_embedded"]["leads"]]

    def create(self, rows: list[dict]) -> list[int]:
        return [lead["id"] for lead in self._send("POST", rows)]

    def plant(self, paths) -> None:
        """Create the deals of `paths` in the period, move each along the pipeline to its last stage, close it."""
        deals = []  # (id, last stage, end, price, days)
        for n, last, end, price, days in paths:
            for _ in range(n):
                deals.append([None, last, end, price, days])
        created = [NOW - (5 + (i * 7) % 23) * DAY - 3600 for i in range(len(deals))]  # 5..27 days ago
        ids = self.create([{"name": f"Заявка {i + 1}", "pipeline_id": self.pipeline, "created_at": at,
                            "status_id": self.status[PATH[0]]} for i, at in enumerate(created)])
        for deal, lead_id in zip(deals, ids):
            deal[0] = lead_id
        for index, stage in enumerate(PATH[1:], start=1):  # one move per stage, as a seller makes them
            moving = [d for d in deals if d[2] == "won" or PATH.index(d[1]) >= index]
            if moving:
                self._send("PATCH", [{"id": d[0], "status_id": self.status[stage]} for d in moving])
        closing = []
        for (lead_id, _, end, price, days), at in zip(deals, created):
            if end != "open":
                closing.append({"id": lead_id, "status_id": 142 if end == "won" else 143, "price": price,
                                "closed_at": at + days * DAY})
        self._send("PATCH", closing)

    def plant_outside(self) -> None:
        """Deals that must not be measured: won two months ago at a big price, and the repeat-sales pipeline's."""
        old = self.create([{"name": f"Старая {i}", "pipeline_id": self.pipeline, "status_id": self.status[PATH[0]],
                            "created_at": NOW - 60 * DAY} for i in range(10)])
        self._send("PATCH", [{"id": i, "status_id": 142, "price": 1_000_000, "closed_at": NOW - 50 * DAY} for i in old])
        self.create([{"name": f"Повторная {i}", "pipeline_id": self.other, "created_at": NOW - 3 * DAY}
                     for i in range(12)])


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A workspace with two synced sandbox tenants: `acme` (every step measurable), `small` (too few deals)."""
    from implkit.sandbox import Sandbox, serve_in_thread
    from implkit.sandbox.app import Clock

    tmp = tmp_path_factory.mktemp("measured")
    clock = Clock()
    clock.advance(NOW - time.time())  # the account's "now" is NOW, and the clock keeps running
    sandbox = Sandbox(tmp / "sandbox.db", clock=clock)
    runner = CliRunner()
    ws_dir = tmp / "ws"
    ws = init_workspace(ws_dir)
    with serve_in_thread(sandbox) as root:
        env = {}
        for name, paths in (("acme", ACME), ("small", SMALL)):
            sandbox.create_account(name)
            ws.add_tenant(name, provider="amocrm", url=root + sandbox.base_url(name),
                          credentials=CredentialSource("env", var=f"{name.upper()}_TOKEN"))
            env[f"{name.upper()}_TOKEN"] = sandbox.token(name)
            applied = runner.invoke(cli, ["apply", name, "-b", str(PRESET), "--yes", "-w", str(ws_dir)], env=env,
                                    catch_exceptions=False)
            assert applied.exit_code == 0, applied.output
            api = Api(root + sandbox.base_url(name), env[f"{name.upper()}_TOKEN"])
            api.plant(paths)
            if name == "acme":
                api.plant_outside()
            synced = runner.invoke(cli, ["sync", name, "-w", str(ws_dir)], env=env, catch_exceptions=False)
            assert synced.exit_code == 0, synced.output
    sandbox.close()
    return ws_dir


def render(synced, tmp_path, tenant, lang="ru"):
    output = tmp_path / f"spec.{lang}.md"
    result = CliRunner().invoke(cli, ["spec", "render", "-b", str(PRESET), "--date", "2026-01-15", "--lang", lang,
                                      "--measured-from", tenant, "-w", str(synced), "-o", str(output)],
                                env={"IMPLKIT_LANG": "en"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result, output.read_text(encoding="utf-8")


def period_dates():
    """The 30 days before the sync (the sandbox's clock has run for seconds, not hours, since NOW)."""
    return (dt.datetime.fromtimestamp(NOW - 30 * DAY, dt.timezone.utc).date(),
            dt.datetime.fromtimestamp(NOW, dt.timezone.utc).date())


def decomposition_rows(text: str) -> list[tuple[str, str, str]]:
    names = "|".join(re.escape(s) for s, _ in STEPS) + r"|Продажа \(оплата\)"
    return re.findall(rf"^\| ({names}) \| ([^|]+) \| (\d[\d{NBSP}]*) \|", text, re.M)


def percent_ru(value: Fraction) -> str:
    text = f"{float(value) * 100:.1f}".rstrip("0").rstrip(".").replace(".", ",")
    return f"{text}{NBSP}%"


def test_measured_conversions_average_check_and_cycle_come_from_the_synced_tenant(synced, tmp_path):
    planted = truth(ACME)
    assert planted == {"deals": 240, "won": 18, "avg_check": 52_000, "cycle": 14.0,
                       "reached": {"Лид": 240, "Квалифицирован": 96, "Встреча": 60, "КП отправлено": 48}}
    result, text = render(synced, tmp_path, "acme")
    start, end = period_dates()
    # the CLI says what it measured
    assert (f"measured: acme, pipeline 'Продажи', deals created {start}..{end} (30 days): "
            f"{planted['deals']} deals, {planted['won']} won") in result.stderr
    reached = planted["reached"]
    after = [reached[s] for s, _ in STEPS[1:]] + [planted["won"]]
    conversions = {step: Fraction(nxt, reached[step]) for (step, _), nxt in zip(STEPS, after)}
    for step, _ in STEPS:
        assert f"  {step}: {reached[step]} deals, {float(conversions[step]) * 100:.1f}%" in result.stderr
    # the document states the period and the deal count
    assert (f"Конверсии измерены по данным CRM (аккаунт «acme», воронка «Продажи»): сделки, созданные с "
            f"{start:%d.%m.%Y} по {end:%d.%m.%Y} (30{NBSP}дней), — 240{NBSP}сделок, из них выиграно 18") in text
    # the decomposition runs on the measured figures: sales from the measured average check, then back up
    # the funnel at the measured conversions, rounding up at every step (seed 003's method)
    needed = [math.ceil(Fraction(PLAN, planted["avg_check"]))]
    for step, _ in reversed(STEPS):
        needed.insert(0, math.ceil(needed[0] / conversions[step]))
    assert needed == [218, 87, 54, 43, 16]
    expected = [(step, f"{percent_ru(conversions[step])} (замер)", str(n)) for (step, _), n in zip(STEPS, needed)]
    assert decomposition_rows(text)[:5] == expected + [("Продажа (оплата)", "—", "16")]
    # the average check and the cycle are the tenant's, named as measured, and no longer assumptions
    assert f"- **Средний чек:** 52{NBSP}000{NBSP}₽ (замер)" in text
    assert f"Средний чек 52{NBSP}000{NBSP}₽ — по 18{NBSP}выигранным сделкам этого периода." in text
    assert f"Цикл сделки — медиана 14{NBSP}дней от создания до успешного закрытия" in text
    assert re.search(rf"\| Цикл сделки \| 14{NBSP}дней \|", text)  # the effect indicators' "before"
    assumptions = text[text.index("### Допущения"):text.index("## 3.")]
    assert "Конверсия шага" not in assumptions and "средний чек" not in assumptions.lower()


def test_a_step_with_too_few_deals_keeps_the_assumption_and_says_so(synced, tmp_path):
    planted = truth(SMALL)
    assert planted["reached"] == {"Лид": 100, "Квалифицирован": 40, "Встреча": 25, "КП отправлено": 8}
    assert planted["won"] == 3
    result, text = render(synced, tmp_path, "small")
    assert "  КП отправлено: 8 deals, not measured (few_deals), the assumption stands" in result.stderr
    assert f"| КП отправлено | {PRESET_CONVERSION['КП отправлено']}{NBSP}% (допущение) |" in text
    assert "Шаг «КП отправлено» — мало сделок (8 при минимуме 10): оставлено допущение." in text
    assert re.search(rf"^\| \d+ \| Конверсия шага «КП отправлено» в следующий \| 40{NBSP}% \|", text, re.M)
    assert f"| Встреча | 32{NBSP}% (замер) |" in text  # 8 of 25
    assert f"| Квалифицирован | 62,5{NBSP}% (замер) |" in text  # 25 of 40
    # 3 won deals are too few for an average check: the preset's 40 000 ₽ stays, and stays an assumption
    assumptions = text[text.index("### Допущения"):text.index("## 3.")]
    assert f"40{NBSP}000{NBSP}₽" in assumptions
    assert "Выигранных сделок мало (3 при минимуме 10): средний чек и цикл сделки не измерялись." in text
    assert f"- **Средний чек:** 40{NBSP}000{NBSP}₽ (допущение)" in text


def test_the_english_spec_says_the_same(synced, tmp_path):
    _, text = render(synced, tmp_path, "small", lang="en")
    start, end = period_dates()
    assert (f"deals created from {start.isoformat()} to {end.isoformat()} (30{NBSP}days), 100{NBSP}deals, "
            "3 of them won") in text
    assert "Step “КП отправлено”: too few deals (8, at least 10 needed), so the assumption stands." in text
    assert "Too few won deals (3, at least 10 needed) to measure the average check and the sales cycle." in text


def test_a_tenant_without_a_snapshot_is_a_runtime_failure(run_cli, tmp_path):
    ws = init_workspace(tmp_path / "ws")
    ws.add_tenant("acme", provider="amocrm", url="http://127.0.0.1:9/amocrm/acme",
                  credentials=CredentialSource("env", var="ACME_TOKEN"))
    output = tmp_path / "spec.md"
    result = run_cli("spec", "render", "-b", PRESET, "--measured-from", "acme", "--workspace", tmp_path / "ws",
                     "-o", output)
    assert result.exit_code == 1 and "implkit sync acme" in result.output and not output.exists()


def test_unknown_tenant_is_bad_input(run_cli, tmp_path):
    init_workspace(tmp_path / "ws")
    output = tmp_path / "spec.md"
    result = run_cli("spec", "render", "-b", PRESET, "--measured-from", "nobody", "--workspace", tmp_path / "ws",
                     "-o", output)
    assert result.exit_code == 3 and "nobody" in result.output and not output.exists()
