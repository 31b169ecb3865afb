"""The implementation's effect: the indicator table of the implementers' practice (seeds/001), before and now.

Each indicator is computed for a period (real dates in the tenant's time
zone) from the snapshot; "before" is a **baseline**: figures kept when the
tenant was first synced (or taken with `implkit audit baseline`), or the
same indicators recomputed from today's snapshot for a period ending at a
past date. The table gives both values, the change and whether it is
better or worse (each indicator knows which way is better).

Definitions (one place; docs/effect.md repeats them for curators):

- sellers: active users who are not administrators (else the responsible
  users of the period's deals);
- contacts: calls, e-mails and SMS logged in the period (notes `call_in`,
  `call_out`, `email_*`, `sms_*`) plus chat messages (events); a missed
  call is no contact. Credited to the record's responsible user. Per
  seller: total / sellers;
- overdue tasks: open tasks past their deadline at the period's end (a
  completed task counts as open until its last change, the nearest the API
  gives to a completion time);
- sales cycle: median days from creation to winning of the deals won in
  the period; contacts per sale: touches on those deals (their feed, the
  contact's and company's included) / their number;
- sales per seller and their sum: deals won in the period / sellers;
- conversion: of the deals created in the period, the share won; per step,
  the share of deals reaching a stage that reached the next (main pipeline,
  stage ids as keys, so a renamed stage still compares);
- complete data: share of the period's new deals with a budget and a contact.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import statistics
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from implkit.lang import say, say_in
from implkit.audit.analytics import DAY, Period, _pipeline
from implkit.audit.snapshot import Snapshot
from implkit.errors import InputError, RuntimeFailure

DEFAULT_TZ = "Europe/Moscow"  # amoCRM's and Bitrix24's default for Russian accounts
BASELINES_DIR = "baselines"
FIRST_SYNC = "first-sync"
CONTACT_NOTES = ("call_in", "call_out", "email_in", "email_out", "sms_in", "sms_out")
# Calls and SMS arrive twice on amoCRM (the note and its event): they are counted by the note; chat
# messages exist only as events. A missed call (note `call_missed`) is no contact.
CONTACT_EVENTS = ("incoming_chat_message", "outgoing_chat_message")
# key -> (+1 higher is better | -1 lower is better, unit)
INDICATORS: dict[str, tuple[int, str]] = {
    "contacts_per_seller": (+1, "count"),
    "contacts_total": (+1, "count"),
    "overdue_tasks": (-1, "count"),
    "sales_cycle_days": (-1, "days"),
    "contacts_per_sale": (-1, "count"),
    "sales_per_seller": (+1, "count"),
    "sales_sum_per_seller": (+1, "money"),
    "conversion_to_sale": (+1, "share"),
    "complete_data_share": (+1, "share"),
}
MESSAGES: dict[str, dict[str, str]] = {
    "contacts_per_seller": {"ru": "Контактов с клиентами на продавца", "en": "Client contacts per seller"},
    "contacts_total": {"ru": "Контактов с клиентами всего", "en": "Client contacts in total"},
    "overdue_tasks": {"ru": "Просроченных задач на конец периода", "en": "Overdue tasks at the period's end"},
    "sales_cycle_days": {"ru": "Цикл продажи, дней (медиана)", "en": "Sales cycle, days (median)"},
    "contacts_per_sale": {"ru": "Контактов на одну продажу", "en": "Contacts per sale"},
    "sales_per_seller": {"ru": "Продаж на продавца", "en": "Sales per seller"},
    "sales_sum_per_seller": {"ru": "Сумма продаж на продавца", "en": "Sales amount per seller"},
    "conversion_to_sale": {"ru": "Конверсия новых сделок в продажу", "en": "New deals converted to a sale"},
    "complete_data_share": {"ru": "Доля новых сделок с бюджетом и контактом",
                            "en": "New deals with a budget and a contact"},
    "step": {"ru": "Конверсия этапа «{stage}»", "en": "Conversion to «{stage}»"},
    "title": {"ru": "Эффект внедрения: {tenant}", "en": "Implementation effect: {tenant}"},
    "periods": {"ru": "До: {before} (база «{name}»). Сейчас: {now}. Часовой пояс: {tz}.",
                "en": "Before: {before} (baseline «{name}»). Now: {now}. Time zone: {tz}."},
    "columns": {"ru": "показатель|до|сейчас|изменение|оценка", "en": "indicator|before|now|change|verdict"},
    "better": {"ru": "лучше", "en": "better"},
    "worse": {"ru": "хуже", "en": "worse"},
    "same": {"ru": "без изменений", "en": "no change"},
    "unknown": {"ru": "не с чем сравнить", "en": "nothing to compare"},
    "sellers": {"ru": "Продавцов: до — {before}, сейчас — {now}.", "en": "Sellers: before {before}, now {now}."},
    "reconstructed": {"ru": "База посчитана по сегодняшнему снимку за прошлый период: просроченные задачи — оценка "
                            "(время закрытия задачи API не отдаёт).",
                      "en": "The baseline is recomputed from today's snapshot for a past period: overdue tasks are an "
                            "estimate (the API gives no task completion time)."},
    "lengths": {"ru": "Периоды разной длины ({before} и {now} дн.): сравнивайте показатели на продавца и доли.",
                "en": "The periods differ in length ({before} and {now} days): compare per-seller figures and "
                      "shares."},
    "per_seller_title": {"ru": "По продавцам (сейчас)", "en": "Per seller (now)"},
    "per_seller_columns": {"ru": "продавец|контактов|продаж|сумма продаж", "en": "seller|contacts|sales|sales amount"},
    "csv_columns": {"ru": "ключ|показатель|до|сейчас|изменение|оценка", "en": "key|indicator|before|now|change|verdict"},
}

# Refusals of the period, baseline and time zone options, in the user's language (a report's own texts are
# in its --lang, below).
_ERRORS = {
    "tz": {"ru": "неизвестный часовой пояс {name!r} (имя IANA, например Europe/Moscow)",
           "en": "unknown time zone {name!r} (an IANA name such as Europe/Moscow)"},
    "date": {"ru": "{option} {text!r}: не дата (YYYY-MM-DD)", "en": "{option} {text!r}: not a date (YYYY-MM-DD)"},
    "days": {"ru": "{option} {text!r}: число дней, например 30d (или недель: 4w)",
             "en": "{option} {text!r}: a number of days such as 30d (or weeks: 4w)"},
    "one_period": {"ru": "выберите один период: {chosen}", "en": "choose one period: {chosen}"},
    "or": {"ru": " или ", "en": " or "},
    "together": {"ru": "--from и --to указываются вместе", "en": "--from and --to go together"},
    "before": {"ru": "--to {date_to} раньше, чем --from {date_from}", "en": "--to {date_to} is before --from {date_from}"},
    "month": {"ru": "--month {month!r}: календарный месяц, например 2026-11",
              "en": "--month {month!r}: a calendar month such as 2026-11"},
    "no_sync_time": {"ru": "у снимка ещё нет времени синхронизации: сначала синхронизируйте клиента",
                     "en": "the snapshot has no sync time yet: sync the tenant first"},
    "baseline_name": {"ru": "имя базы {name!r}: только буквы, цифры, «.», «-» и «_»",
                      "en": "baseline name {name!r}: letters, digits, '.', '-' and '_' only"},
    "baseline_exists": {"ru": "база {name!r} уже есть ({path}); выберите другое --name",
                        "en": "baseline {name!r} already exists ({path}); choose another --name"},
    "no_baseline": {"ru": "у этого клиента нет сохранённой базы: сохраните её (`implkit audit baseline TENANT`) "
                          "или сравните с прошедшей датой: --baseline YYYY-MM-DD",
                    "en": "no baseline kept for this tenant: take one with `implkit audit baseline TENANT`, or "
                          "compare with a past date: --baseline YYYY-MM-DD"},
    "none_kept": {"ru": "сохранённых нет", "en": "none kept"},
    "bad_baseline": {"ru": "--baseline {ref!r}: ни сохранённая база ({names}), ни дата (YYYY-MM-DD)",
                     "en": "--baseline {ref!r}: neither a kept baseline ({names}) nor a date (YYYY-MM-DD)"},
}


def msg(key: str, lang: str, **values: Any) -> str:
    return say_in(MESSAGES, key, lang, **values)


# --- periods ---------------------------------------------------------------------------------------

def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TZ)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(say(_ERRORS, "tz", name=name)) from None


def _parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(say(_ERRORS, "date", option=option, text=text)) from None


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, dtime(0), tzinfo=tz).timestamp())


def parse_days(text: str, option: str = "--period") -> int:
    """`30d`, `4w` or `30` → days."""
    m = re.fullmatch(r"\s*(\d{1,4})\s*([dw]?)\s*", str(text))
    if not m or int(m.group(1)) < 1:
        raise InputError(say(_ERRORS, "days", option=option, text=text))
    return int(m.group(1)) * (7 if m.group(2) == "w" else 1)


def resolve_period(now: int, tz: ZoneInfo, *, date_from: str | None = None, date_to: str | None = None,
                   period: str | None = None, month: str | None = None) -> Period:
    """One of: --from/--to (whole local days, --to included), --month YYYY-MM (the calendar month),
    --period Nd (the last N days up to now); default the last 30 days."""
    chosen = [name for name, value in (("--from/--to", date_from or date_to), ("--period", period),
                                       ("--month", month)) if value]
    if len(chosen) > 1:
        raise InputError(say(_ERRORS, "one_period", chosen=say(_ERRORS, "or").join(chosen)))
    if date_from or date_to:
        if not (date_from and date_to):
            raise InputError(say(_ERRORS, "together"))
        start, end = _parse_date(date_from, "--from"), _parse_date(date_to, "--to")
        if end < start:
            raise InputError(say(_ERRORS, "before", date_to=date_to, date_from=date_from))
        return Period(_midnight(start, tz), _midnight(end + timedelta(days=1), tz))
    if month:
        m = re.fullmatch(r"(\d{4})-(\d{2})", month.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise InputError(say(_ERRORS, "month", month=month))
        first = date(int(m.group(1)), int(m.group(2)), 1)
        following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        return Period(_midnight(first, tz), _midnight(following, tz))
    days = parse_days(period) if period else 30
    return Period(now - days * DAY, now)


def _local(ts: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")


def describe(period: dict[str, Any], tz: ZoneInfo) -> str:
    return f"{_local(period['start'], tz)} — {_local(period['end'], tz)}"


# --- indicators ------------------------------------------------------------------------------------

def indicators(snapshot: Snapshot, period: Period, *, at: int | None = None) -> dict[str, Any]:
    """The indicator figures for `period`; state figures (overdue tasks) as of `at` (default: the period's end,
    capped at the snapshot time)."""
    db = snapshot.db
    snapshot_at = snapshot.snapshot_at or period.end
    at = min(at if at is not None else period.end, snapshot_at)
    p = {"start": period.start, "end": period.end, "at": at}
    users = {uid: name for uid, name in db.execute("SELECT id, name FROM users")}
    sellers = [r[0] for r in db.execute("SELECT id FROM users WHERE is_active = 1 AND is_admin = 0 ORDER BY id")]
    if not sellers:
        sellers = [r[0] for r in db.execute(
            "SELECT DISTINCT responsible_user_id FROM leads WHERE created_at >= :start AND created_at < :end"
            " AND responsible_user_id IS NOT NULL ORDER BY 1", p)]
    n = len(sellers) or None
    contacts_by_user: dict[Any, int] = {}
    for uid, count in db.execute(_CONTACTS_SQL.format(logged=_logged(":start", ":end")), p):
        contacts_by_user[uid] = count
    contacts = sum(contacts_by_user.values())
    overdue = db.execute(
        "SELECT count(*) FROM tasks WHERE complete_till < :at AND created_at < :at"
        " AND (is_completed = 0 OR updated_at > :at)", p).fetchone()[0]
    won = [dict(r) for r in db.execute(
        "SELECT id, price, created_at, closed_at, responsible_user_id FROM leads WHERE status_id = 142"
        " AND closed_at >= :start AND closed_at < :end", p)]
    cycle = [(d["closed_at"] - d["created_at"]) / DAY for d in won if d["closed_at"] >= d["created_at"]]
    touches = db.execute(_SALE_CONTACTS_SQL.format(logged=_logged("0", ":end")), p).fetchone()[0]
    created, complete = db.execute(
        "SELECT count(*), coalesce(sum(price > 0 AND EXISTS (SELECT 1 FROM lead_contacts lc WHERE lc.lead_id = l.id)),"
        " 0) FROM leads l WHERE created_at >= :start AND created_at < :end", p).fetchone()
    cohort_won = db.execute("SELECT count(*) FROM leads WHERE created_at >= :start AND created_at < :end"
                            " AND status_id = 142", p).fetchone()[0]
    figures = {
        "contacts_per_seller": _div(contacts, n), "contacts_total": contacts, "overdue_tasks": overdue,
        "sales_cycle_days": round(statistics.median(cycle), 2) if cycle else None,
        "contacts_per_sale": _div(touches, len(won)),
        "sales_per_seller": _div(len(won), n), "sales_sum_per_seller": _div(sum(d["price"] or 0 for d in won), n),
        "conversion_to_sale": _div(cohort_won, created, 4), "complete_data_share": _div(complete, created, 4),
    }
    main = db.execute("SELECT id, name FROM pipelines WHERE is_archive = 0 ORDER BY is_main DESC, sort, id"
                      " LIMIT 1").fetchone()
    steps = []
    if main is not None:
        funnel = _pipeline(snapshot, main[0], main[1], period, users)["funnel"]
        steps = [{"stage_id": st["stage_id"], "stage": st["stage"], "conversion": st["conversion_from_previous"]}
                 for st in funnel[1:]]
    per_seller = []
    for uid in sorted(set(sellers) | {d["responsible_user_id"] for d in won} | set(contacts_by_user),
                      key=lambda u: (u is None, str(u))):
        if uid is None:
            continue
        mine = [d for d in won if d["responsible_user_id"] == uid]
        per_seller.append({"user_id": uid, "name": users.get(uid, f"#{uid}"), "contacts": contacts_by_user.get(uid, 0),
                           "sales": len(mine), "sales_sum": sum(d["price"] or 0 for d in mine)})
    return {"period": {"start": period.start, "end": period.end, "days": round(period.days, 2)}, "at": at,
            "sellers": len(sellers), "figures": figures, "steps": steps, "per_seller": per_seller}


def _logged(start: str, end: str) -> str:
    """The contacts (entity_type, entity_id, at) logged from `start` to `end` (SQL expressions)."""
    return f"""
    SELECT entity_type, entity_id, created_at AS at FROM notes
     WHERE note_type IN {_in(CONTACT_NOTES)} AND created_at >= {start} AND created_at < {end}
    UNION ALL
    SELECT CASE entity_type WHEN 'lead' THEN 'leads' WHEN 'contact' THEN 'contacts' WHEN 'company' THEN 'companies'
                ELSE entity_type END, entity_id, created_at FROM events
     WHERE type IN {_in(CONTACT_EVENTS)} AND created_at >= {start} AND created_at < {end}"""


# A contact is credited to the responsible user of the record it is logged on (an API or a telephony
# integration often writes the note, not the seller).
_CONTACTS_SQL = """
WITH logged (entity_type, entity_id, at) AS ({logged})
SELECT coalesce(l.responsible_user_id, c.responsible_user_id, m.responsible_user_id) AS uid, count(*)
  FROM logged g
  LEFT JOIN leads l ON g.entity_type = 'leads' AND l.id = g.entity_id
  LEFT JOIN contacts c ON g.entity_type = 'contacts' AND c.id = g.entity_id
  LEFT JOIN companies m ON g.entity_type = 'companies' AND m.id = g.entity_id
 GROUP BY uid
"""
# Contacts before winning on the deals won in the period: on the deal, its contacts and its company.
_SALE_CONTACTS_SQL = """
WITH logged (entity_type, entity_id, at) AS ({logged}),
won AS (SELECT id, company_id, closed_at FROM leads WHERE status_id = 142 AND closed_at >= :start AND closed_at < :end)
SELECT (SELECT count(*) FROM won w JOIN logged g ON g.entity_type = 'leads' AND g.entity_id = w.id
         WHERE g.at <= w.closed_at)
     + (SELECT count(*) FROM won w JOIN lead_contacts lc ON lc.lead_id = w.id
          JOIN logged g ON g.entity_type = 'contacts' AND g.entity_id = lc.contact_id WHERE g.at <= w.closed_at)
     + (SELECT count(*) FROM won w JOIN logged g ON g.entity_type = 'companies' AND g.entity_id = w.company_id
         WHERE g.at <= w.closed_at)
"""


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _div(a: float, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if b else None


# --- baselines -------------------------------------------------------------------------------------

def baselines_dir(tenant_dir: str | Path) -> Path:
    return Path(tenant_dir) / BASELINES_DIR


def take_baseline(snapshot: Snapshot, tenant_dir: str | Path, *, name: str | None = None, days: int = 30,
                  tz: ZoneInfo, overwrite: bool = False) -> dict[str, Any]:
    """Keep the indicators of the `days` before the snapshot time as a named baseline (a small JSON file)."""
    from implkit.yamlio import atomic_write

    now = snapshot.snapshot_at
    if not now:
        raise RuntimeFailure(say(_ERRORS, "no_sync_time"))
    name = name or datetime.fromtimestamp(now, tz).strftime("%Y-%m-%d")
    if not re.fullmatch(r"[\w.-]{1,64}", name):
        raise InputError(say(_ERRORS, "baseline_name", name=name))
    path = baselines_dir(tenant_dir) / f"{name}.json"
    if path.exists() and not overwrite:
        raise InputError(say(_ERRORS, "baseline_exists", name=name, path=path))
    from implkit.files import FILE_MODE, private_dir

    data = {"name": name, "taken_at": now, "tz": tz.key, "kind": "kept",
            **indicators(snapshot, Period(now - days * DAY, now), at=now)}
    private_dir(path.parent)  # sales figures per seller: private like the snapshot
    atomic_write(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n", mode=FILE_MODE)
    return data


def kept_baselines(tenant_dir: str | Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(baselines_dir(tenant_dir).glob("*.json")):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda b: (b.get("taken_at") or 0, b.get("name") or ""))


def baseline(snapshot: Snapshot, tenant_dir: str | Path, ref: str | None, *, days: float,
             tz: ZoneInfo) -> dict[str, Any]:
    """The baseline to compare with: a kept one by name (default: the earliest kept), or figures
    recomputed from this snapshot for the `days` before a date (local midnight)."""
    kept = kept_baselines(tenant_dir)
    if ref is None:
        if not kept:
            raise RuntimeFailure(say(_ERRORS, "no_baseline"))
        return kept[0]
    match = next((b for b in kept if b.get("name") == ref), None)
    if match is not None:
        return match
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", ref):
        end = _midnight(_parse_date(ref, "--baseline"), tz)
        start = end - int(days * DAY)
        return {"name": ref, "taken_at": end, "tz": tz.key, "kind": "recomputed",
                **indicators(snapshot, Period(start, end), at=end)}
    names = ", ".join(b["name"] for b in kept) or say(_ERRORS, "none_kept")
    raise InputError(say(_ERRORS, "bad_baseline", ref=ref, names=names))


# --- comparison and rendering ----------------------------------------------------------------------

def compare(before: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, (better, unit) in INDICATORS.items():
        rows.append(_row(key, unit, better, before["figures"].get(key), now["figures"].get(key)))
    old_steps = {s["stage_id"]: s for s in before.get("steps") or ()}
    for step in now.get("steps") or ():
        old = old_steps.get(step["stage_id"])
        rows.append(_row(f"step:{step['stage_id']}", "share", +1, old["conversion"] if old else None,
                         step["conversion"], stage=step["stage"]))
    return rows


def _row(key: str, unit: str, better: int, old: Any, new: Any, stage: str | None = None) -> dict[str, Any]:
    change = None if old is None or new is None else round(new - old, 4)
    verdict = ("unknown" if change is None else "same" if change == 0
               else "better" if (change > 0) == (better > 0) else "worse")
    return {"key": key, "unit": unit, "stage": stage, "before": old, "now": new, "change": change, "verdict": verdict}


def effect_report(tenant: str, before: dict[str, Any], now: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    return {"tenant": tenant, "tz": tz.key, "baseline": {k: before.get(k) for k in ("name", "kind", "taken_at")},
            "before": before, "now": now, "rows": compare(before, now)}


def _value(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "share":
        return f"{value:.1%}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}".replace(",", "\u00a0") if isinstance(value, int) else f"{value:,.2f}".replace(",", "\u00a0")


def _label(row: dict[str, Any], lang: str) -> str:
    return msg("step", lang, stage=row["stage"]) if row["key"].startswith("step:") else msg(row["key"], lang)


def _table_rows(report: dict[str, Any], lang: str) -> list[list[str]]:
    return [[_label(r, lang), _value(r["before"], r["unit"]), _value(r["now"], r["unit"]), _change_text(r, lang),
             msg(r["verdict"], lang)] for r in report["rows"]]


def _change_text(row: dict[str, Any], lang: str) -> str:
    if row["change"] is None:
        return "—"
    if row["unit"] == "share":
        sign = "+" if row["change"] > 0 else ""
        return f"{sign}{row['change'] * 100:.1f} {'п. п.' if lang == 'ru' else 'pp'}"
    return ("+" if row["change"] > 0 else "") + _value(row["change"], row["unit"])


def _notes(report: dict[str, Any], lang: str) -> list[str]:
    tz = ZoneInfo(report["tz"])
    before, now = report["before"], report["now"]
    lines = [msg("periods", lang, before=describe(before["period"], tz), name=before.get("name") or "—",
                 now=describe(now["period"], tz), tz=report["tz"]),
             msg("sellers", lang, before=before.get("sellers"), now=now.get("sellers"))]
    if before.get("kind") == "recomputed":
        lines.append(msg("reconstructed", lang))
    if abs(before["period"]["days"] - now["period"]["days"]) > 0.5:
        lines.append(msg("lengths", lang, before=round(before["period"]["days"]), now=round(now["period"]["days"])))
    return lines


def render_effect(report: dict[str, Any], fmt: str, lang: str) -> str:
    from tabulate import tabulate

    if fmt == "json":
        return json.dumps({"lang": lang, **report}, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(msg("csv_columns", lang).split("|"))
        for r in report["rows"]:
            key = r["key"].replace("step:", "этап:") if lang == "ru" else r["key"]
            writer.writerow([key, _label(r, lang), "" if r["before"] is None else r["before"],
                             "" if r["now"] is None else r["now"], "" if r["change"] is None else r["change"],
                             msg(r["verdict"], lang)])
        return out.getvalue()
    title = msg("title", lang, tenant=report["tenant"])
    headers = msg("columns", lang).split("|")
    sellers = [[s["name"], _value(s["contacts"], "count"), _value(s["sales"], "count"), _value(s["sales_sum"], "money")]
               for s in report["now"].get("per_seller") or ()]
    if fmt == "html":
        e = html.escape
        parts = [f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
                 f"</head><body><h1>{e(title)}</h1>"]
        parts += [f"<p>{e(line)}</p>" for line in _notes(report, lang)]
        parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _table_rows(report, lang)]
        parts.append(f"</table><h2>{e(msg('per_seller_title', lang))}</h2><table><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in msg("per_seller_columns", lang).split("|")) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in sellers]
        return "".join(parts) + "</table></body></html>\n"
    md = fmt == "md"
    lines = [("# " if md else "") + title, "", *_notes(report, lang), "",
             tabulate(_table_rows(report, lang), headers=headers, tablefmt="github" if md else "simple"), "",
             ("## " if md else "") + msg("per_seller_title", lang), "",
             tabulate(sellers, headers=msg("per_seller_columns", lang).split("|"),
                      tablefmt="github" if md else "simple")]
    return "\n".join(lines) + "\n"
