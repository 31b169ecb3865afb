"""The audit report: one plain-data document, rendered as a table, JSON, Markdown or one HTML file.

Every finding names its records (ids and CRM links) and the responsible
managers, not just a count; samples are capped per check (`samples` in the
check's YAML) and the cap is enforced here. The HTML is self-contained:
inline CSS and inline-SVG charts (funnel, findings by severity, manager
load, trend), no script, no external request.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from tabulate import tabulate

from implkit.audit import report_duplicates as duplicate_groups
from implkit.audit.engine import AuditRun, CheckResult

FORMATS = ("table", "json", "md", "html")
# Deep links per entity on amoCRM (the account's web address + path).
LINK_PATHS = {"leads": "/leads/detail/{id}", "contacts": "/contacts/detail/{id}",
              "companies": "/companies/detail/{id}", "users": "/settings/users/", "tasks": "/todo/line/"}


def build_report(run: AuditRun, *, tenant: str, web_url: str | None, analytics: dict[str, Any] | None,
                 trend: dict[str, list[dict[str, Any]]] | None, lang: str = "en",
                 users: dict[int, str] | None = None) -> dict[str, Any]:
    users = users or {}
    findings = [_finding(r, web_url, lang, users) for r in run.results]
    ran = [r for r in run.results if r.ran]
    return {
        "tenant": tenant,
        "lang": lang,
        "snapshot_at": run.snapshot_at,
        "snapshot_at_iso": _iso(run.snapshot_at),
        "summary": {
            "checks": len(run.results), "ran": len(ran),
            "failed": {sev: sum(1 for r in ran if r.status == "fail" and r.check.severity == sev)
                       for sev in ("error", "warning")},
            "unsupported": sum(1 for r in run.results if r.status == "unsupported"),
            "skipped": sum(1 for r in run.results if r.status == "skipped"),
            "budget_at_risk": sum(r.budget_at_risk for r in ran if r.check.entity == "leads"
                                  and r.check.id in ("D01", "D02", "D03")),
        },
        "findings": findings,
        "analytics": analytics,
        "trend": trend or {},
    }


def _finding(result: CheckResult, web_url: str | None, lang: str, users: dict[int, str]) -> dict[str, Any]:
    check = result.check
    out: dict[str, Any] = {
        "id": check.id, "name": check.name, "title": check.title.get(lang) or check.title["en"],
        "severity": check.severity, "entity": check.entity, "status": result.status,
    }
    if not result.ran:
        out["reason"] = result.reason
        return out
    by_manager = Counter(users.get(r.responsible_user_id, f"#{r.responsible_user_id}")
                         for r in result.failing if r.responsible_user_id is not None)
    out.update({
        "count": result.count, "population": result.population,
        "share": round(result.share, 4) if result.share is not None else None,
        "budget_at_risk": result.budget_at_risk, "threshold": result.threshold,
        "why": check.why.get(lang) or check.why["en"], "fix": check.fix.get(lang) or check.fix["en"],
        "examples": [{"entity": r.entity, "id": r.id, "budget": r.budget,
                      "responsible": users.get(r.responsible_user_id) if r.responsible_user_id else None,
                      "link": record_link(web_url, r.entity, r.id)}
                     for r in result.failing[:check.samples]],
        "by_manager": dict(by_manager.most_common()),
    })
    if result.details:
        details = dict(result.details)
        if "duplicate_groups" in details:
            details["duplicate_groups"] = details["duplicate_groups"][:check.samples]
        out["details"] = details
    return out


def record_link(web_url: str | None, entity: str, record_id: Any) -> str | None:
    if not web_url or entity not in LINK_PATHS:
        return None
    return web_url.rstrip("/") + LINK_PATHS[entity].format(id=record_id)


def _iso(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if ts else None


def render(report: dict[str, Any], fmt: str) -> str:
    return {"table": render_table, "json": render_json, "md": render_markdown, "html": render_html}[fmt](report)


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n"


def _rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for f in report["findings"]:
        if f["status"] in ("unsupported", "skipped"):
            rows.append([f["id"], f["severity"], f["status"], "", "", "", f["title"]])
            continue
        share = f"{f['share']:.1%}" if f.get("share") is not None else ""
        rows.append([f["id"], f["severity"], f["status"].upper() if f["status"] == "fail" else f["status"],
                     f["count"], share, f["budget_at_risk"] or "", f["title"]])
    return rows


HEADERS = ["check", "severity", "status", "count", "share", "budget at risk", "title"]


def render_table(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [f"Audit of {report['tenant']} — snapshot {report['snapshot_at_iso']}",
             tabulate(_rows(report), headers=HEADERS, tablefmt="simple"),
             "",
             f"{s['ran']} checks ran: {s['failed']['error']} errors and {s['failed']['warning']} warnings over "
             f"threshold; {s['unsupported']} unsupported, {s['skipped']} skipped."]
    for f in report["findings"]:
        if f["status"] == "fail" and f.get("examples"):
            ids = ", ".join(f"{e['entity']}:{e['id']}" if e["entity"] != f["entity"] else str(e["id"])
                            for e in f["examples"])
            lines.append(f"  {f['id']} e.g. {ids}")
        if f.get("count") and duplicate_groups.has_groups(f):
            lines.extend(duplicate_groups.text_lines(f, report.get("lang", "en")))
    return "\n".join(lines) + "\n"


def render_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    out = [f"# Audit: {report['tenant']}", "", f"Snapshot: {report['snapshot_at_iso']}", "",
           f"**{s['failed']['error']}** errors and **{s['failed']['warning']}** warnings over threshold "
           f"({s['ran']} checks ran, {s['unsupported']} unsupported, {s['skipped']} skipped).", "",
           tabulate(_rows(report), headers=HEADERS, tablefmt="github"), ""]
    for f in report["findings"]:
        if f["status"] != "fail":
            continue
        out += [f"## {f['id']} {f['title']}", "", f"{f['count']} records"
                + (f", {f['share']:.1%} of {f['population']}" if f.get("share") is not None else "")
                + (f", budget at risk {f['budget_at_risk']}" if f["budget_at_risk"] else "") + ".", "",
                f"*Why:* {f['why']}", "", f"*Fix:* {f['fix']}", ""]
        if duplicate_groups.has_groups(f):
            out += duplicate_groups.markdown_lines(f, report.get("lang", "en"))
            continue
        for e in f["examples"]:
            label = f"{e['entity']} {e['id']}"
            out.append(f"- [{label}]({e['link']})" if e["link"] else f"- {label}")
        out.append("")
    analytics = report.get("analytics")
    if analytics:
        out += ["## Analytics", "", f"Method: {analytics['method']}.", ""]
        for p in analytics["pipelines"]:
            out += [f"### {p['name']}", "",
                    f"Cohort {p['cohort']}, won {p['won']}, lost {p['lost']}, win rate {_pct(p['win_rate'])}, "
                    f"average check {p['average_check']}, cycle median {p['cycle_days']['median']} days.", "",
                    tabulate([[st["stage"], st["reached"], _pct(st["conversion_from_previous"])]
                              for st in p["funnel"]], headers=["stage", "reached", "conversion"],
                             tablefmt="github"), ""]
    return "\n".join(out) + "\n"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


# --- HTML ----------------------------------------------------------------------------------------

SEVERITY_COLOURS = {"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eee;padding:.3rem .5rem;text-align:left;vertical-align:top}
.fail{color:#c62828;font-weight:600}.pass{color:#2e7d32}.muted{color:#777}.charts{display:flex;flex-wrap:wrap;gap:2rem}
.chart{flex:1 1 320px}details{margin:.3rem 0}code{background:#f4f4f4;padding:0 .2rem}
"""


def render_html(report: dict[str, Any]) -> str:
    e = html.escape
    s = report["summary"]
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Audit: {e(report['tenant'])}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>Audit: {e(report['tenant'])}</h1>",
             f"<p>Snapshot {e(str(report['snapshot_at_iso']))}. <b class=fail>{s['failed']['error']}</b> errors and "
             f"<b>{s['failed']['warning']}</b> warnings over threshold; {s['ran']} checks ran, "
             f"{s['unsupported']} unsupported, {s['skipped']} skipped.</p>",
             "<div class=charts>",
             _chart("Findings by severity", _severity_svg(report)),
             _chart("Funnel", _funnel_svg(report)),
             _chart("Manager load", _load_svg(report)),
             _chart("Trend (failing records per run)", _trend_svg(report)),
             "</div><h2>Findings</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADERS) + "</tr>"]
    for row, f in zip(_rows(report), report["findings"]):
        cls = "fail" if f["status"] == "fail" else "pass" if f["status"] == "pass" else "muted"
        parts.append("<tr class=\"%s\">" % cls + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
    parts.append("</table>")
    for f in report["findings"]:
        if not f.get("count"):
            continue
        parts.append(f"<details><summary><b>{e(f['id'])}</b> {e(f['title'])} — {f['count']}</summary>"
                     f"<p>{e(f['why'])}</p><p><i>{e(f['fix'])}</i></p><ul>")
        for ex in f["examples"]:
            label = e(f"{ex['entity']} {ex['id']}") + (f" — {e(ex['responsible'])}" if ex.get("responsible") else "")
            parts.append(f"<li><a href=\"{e(ex['link'])}\">{label}</a></li>" if ex["link"] else f"<li>{label}</li>")
        parts.append("</ul>" + (duplicate_groups.html_block(f, report.get("lang", "en"))
                                 if duplicate_groups.has_groups(f) else "") + "</details>")
    analytics = report.get("analytics")
    if analytics:
        parts.append(f"<h2>Analytics</h2><p class=muted>{e(analytics['method'])}</p>")
        for p in analytics["pipelines"]:
            parts.append(f"<h3>{e(p['name'])}</h3><p>Cohort {p['cohort']}, won {p['won']}, lost {p['lost']}, "
                         f"win rate {_pct(p['win_rate'])}, average check {p['average_check']}, cycle median "
                         f"{p['cycle_days']['median']} days, response median {p['response_minutes']['median']} "
                         "min.</p>")
        plan = analytics.get("plan")
        if plan and plan.get("steps"):
            parts.append("<h3>Plan vs actual</h3><table><tr><th>step</th><th>needed</th><th>per seller</th>"
                         "<th>per day</th><th>actual</th><th>actual per seller</th></tr>")
            for st in plan["steps"]:
                parts.append("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in (
                    st["name"] or st["key"], st["needed"], st["per_seller"], st["per_day"], st["actual"],
                    st["actual_per_seller"])) + "</tr>")
            parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _chart(title: str, svg: str) -> str:
    return f"<div class=chart><h3>{html.escape(title)}</h3>{svg}</div>"


def _bars(items: list[tuple[str, float, str]], width: int = 360) -> str:
    """Horizontal bars: (label, value, colour)."""
    if not items:
        return "<p class=muted>no data</p>"
    top = max(v for _, v, _ in items) or 1
    row = 22
    out = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{row * len(items) + 4}\" "
           f"role=\"img\">"]
    bar_area = width - 150 - 70  # labels left of x=150; room on the right for the widest value
    for i, (label, value, colour) in enumerate(items):
        w = int(bar_area * value / top)
        y = i * row
        shown = f"{value:,.0f}".replace(",", "\u00a0") if float(value).is_integer() else f"{value:,.1f}"
        out.append(f"<text x=\"0\" y=\"{y + 15}\" font-size=\"12\">{html.escape(label[:22])}</text>"
                   f"<rect x=\"150\" y=\"{y + 3}\" width=\"{max(w, 1)}\" height=\"16\" fill=\"{colour}\"/>"
                   f"<text x=\"{154 + w}\" y=\"{y + 15}\" font-size=\"11\">{shown}</text>")
    out.append("</svg>")
    return "".join(out)


def _severity_svg(report: dict[str, Any]) -> str:
    counts = Counter()
    for f in report["findings"]:
        if f["status"] == "fail":
            counts[f["severity"]] += f["count"]
    return _bars([(sev, counts[sev], SEVERITY_COLOURS[sev]) for sev in ("error", "warning", "info")])


def _funnel_svg(report: dict[str, Any]) -> str:
    analytics = report.get("analytics") or {}
    pipelines = analytics.get("pipelines") or []
    if not pipelines:
        return "<p class=muted>no data</p>"
    main = max(pipelines, key=lambda p: p["cohort"])
    return _bars([(st["stage"], st["reached"], "#2e7d32" if st["kind"] == "won" else "#1976d2")
                  for st in main["funnel"]])


def _load_svg(report: dict[str, Any]) -> str:
    managers = (report.get("analytics") or {}).get("managers") or []
    return _bars([(m["name"], m["open_deals"], "#6a1b9a") for m in managers[:12]])


def _trend_svg(report: dict[str, Any]) -> str:
    totals: Counter = Counter()
    for series in (report.get("trend") or {}).values():
        for point in series:
            totals[point["run"]] += point["count"] or 0
    if not totals:
        return "<p class=muted>no history yet</p>"
    runs = sorted(totals)
    width, height = 360, 120
    top = max(totals.values()) or 1
    step = (width - 20) / max(len(runs) - 1, 1)
    points = " ".join(f"{10 + i * step:.1f},{height - 10 - (height - 20) * totals[r] / top:.1f}"
                      for i, r in enumerate(runs))
    return (f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\">"
            f"<polyline fill=\"none\" stroke=\"#c62828\" stroke-width=\"2\" points=\"{points}\"/>"
            + "".join(f"<circle cx=\"{10 + i * step:.1f}\" cy=\"{height - 10 - (height - 20) * totals[r] / top:.1f}\" "
                      f"r=\"3\" fill=\"#c62828\"/>" for i, r in enumerate(runs))
            + "</svg>")
