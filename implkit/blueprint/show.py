"""`implkit blueprint show`: a blueprint as summary tables a consultant can read at a glance."""

from __future__ import annotations

from tabulate import tabulate

from implkit.model import ENTITIES, RIGHT_ACTIONS, TASK_RIGHT_ACTIONS, Blueprint, ManualStep, seller_group_label, thaw

_OPTIONS_SHOWN = 4


def render_summary(blueprint: Blueprint, manual_steps: list[ManualStep] | None = None) -> str:
    """Summary tables: pipelines and stages, automations, fields per entity, roles, integrations, manual steps.

    `manual_steps` replaces the blueprint's own `manual:` list (e.g. with every
    step a CRM's API cannot do, from `implkit.blueprint.manual.manual_steps`).
    """
    sections = [_heading(blueprint)]
    sections.append(_section("Pipelines and stages", ["pipeline", "#", "stage", "key", "colour", "required fields"],
                             _stage_rows(blueprint)))
    sections.append(_section("Automations", ["pipeline", "stage", "on", "do", "text", "due"],
                             [(p.key, a.stage, a.on, a.do, a.text or "", a.due or "")
                              for p in blueprint.pipelines for a in p.automations]))
    sections.append(_section("Fields", ["entity", "key", "name", "type", "options", "group"],
                             [(f.entity, f.key, f.name, f.type, _options(f.options), f.group or "")
                              for f in blueprint.fields]))
    sections.append(_section("Groups", ["key", "name"], [(g.key, g.name) for g in blueprint.groups]))
    rights_headers = ["role", "name", *(f"{e} ({'/'.join(RIGHT_ACTIONS)})" for e in ENTITIES),
                      f"tasks ({'/'.join(TASK_RIGHT_ACTIONS)})"]
    sections.append(_section("Roles", rights_headers, _role_rows(blueprint)))
    sections.append(_section("Loss reasons", ["key", "name"], [(lr.key, lr.name) for lr in blueprint.loss_reasons]))
    sections.append(_section("Integrations", ["kind", "key", "name"],
                             [(i.kind, i.key, i.name) for i in blueprint.integrations]))
    rules = thaw(blueprint.distribution).get("rules", []) if blueprint.distribution else []
    sections.append(_section("Distribution rules", ["key", "method", "pipeline", "stage", "group"],
                             [(r.get("key"), r.get("method"), r.get("pipeline", ""), r.get("stage", ""),
                               r.get("group", "")) for r in rules]))
    sections.append(_section("Analytics", ["what", "value"], _analytics_rows(blueprint)))
    steps = list(blueprint.manual) if manual_steps is None else manual_steps
    sections.append(_section("Manual steps", ["key", "feature", "title"],
                             [(m.key, m.feature or "", m.title) for m in steps]))
    return "\n\n".join(s for s in sections if s) + "\n"


def _heading(bp: Blueprint) -> str:
    lines = [f"{bp.name} {bp.version}" + (f" — {bp.company}" if bp.company else "")]
    if bp.sellers is not None or bp.group:
        lines.append(f"sellers: {bp.sellers if bp.sellers is not None else '?'} (group {seller_group_label(bp.group) or '?'})")
    if bp.features:
        lines.append("features: " + ", ".join(bp.features))
    counts = [f"{len(bp.pipelines)} pipelines", f"{sum(len(p.stages) for p in bp.pipelines)} stages",
              f"{sum(len(p.automations) for p in bp.pipelines)} automations", f"{len(bp.fields)} fields",
              f"{len(bp.roles)} roles", f"{len(bp.integrations)} integrations", f"{len(bp.manual)} manual steps"]
    lines.append(", ".join(counts))
    return "\n".join(lines)


def _section(title: str, headers: list[str], rows: list) -> str:
    if not rows:
        return ""
    return f"{title}\n{tabulate(rows, headers=headers, tablefmt='simple')}"


def _stage_rows(bp: Blueprint) -> list[tuple]:
    rows = []
    for p in bp.pipelines:
        label = f"{p.name} ({p.key}{', main' if p.is_main else ''})"
        for n, s in enumerate(p.stages, 1):
            rows.append((label if n == 1 else "", n, s.name, s.key, s.color or "", ", ".join(s.required_fields)))
        rows.append(("", "✓", p.won_name or "(won)", "won", "", ""))
        rows.append(("", "✗", p.lost_name or "(lost)", "lost", "", ""))
    return rows


def _options(options: tuple[str, ...]) -> str:
    shown = ", ".join(options[:_OPTIONS_SHOWN])
    return shown + (f" … (+{len(options) - _OPTIONS_SHOWN})" if len(options) > _OPTIONS_SHOWN else "")


def _role_rows(bp: Blueprint) -> list[tuple]:
    rows = []
    for role in bp.roles:
        rights = role.rights_dict()
        cells = ["/".join(rights.get(e, {}).get(a, "-") for a in RIGHT_ACTIONS) for e in ENTITIES]
        cells.append("/".join(rights.get("tasks", {}).get(a, "-") for a in TASK_RIGHT_ACTIONS))
        rows.append((role.key, role.name, *cells))
    return rows


def _analytics_rows(bp: Blueprint) -> list[tuple]:
    analytics = thaw(bp.analytics) if bp.analytics else {}
    rows = [(f"plan.{k}", v) for k, v in (analytics.get("plan") or {}).items()]
    funnel = analytics.get("funnel") or []
    if funnel:
        rows.append(("funnel", " → ".join(f"{s['name']} {round(s['conversion'] * 100)}%" for s in funnel)
                     + " → продажа"))
    rows += [(f"kpi.{k['key']}", k["name"] + (f": {k['target']}" if "target" in k else ""))
             for k in analytics.get("kpi") or []]
    rows += [(f"report.{r['key']}", r["name"] + (f" ({r['frequency']})" if "frequency" in r else ""))
             for r in analytics.get("reports") or []]
    return rows
