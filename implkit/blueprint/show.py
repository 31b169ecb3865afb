"""`implkit blueprint show`: a blueprint as summary tables a consultant can read at a glance."""

from __future__ import annotations

from tabulate import tabulate

from implkit.lang import count_noun, say
from implkit.model import ENTITIES, RIGHT_ACTIONS, TASK_RIGHT_ACTIONS, Blueprint, ManualStep, seller_group_label, thaw

_OPTIONS_SHOWN = 4

# Titles and column headers in the reader's language; keys, types, triggers and rights stay as the blueprint
# writes them. A table's headers are one text, "|"-separated, so a translation keeps their number.
_MESSAGES = {
    "stages": {"ru": "Воронки и этапы", "en": "Pipelines and stages"},
    "stages_h": {"ru": "воронка|#|этап|ключ|цвет|обязательные поля",
                 "en": "pipeline|#|stage|key|colour|required fields"},
    "automations": {"ru": "Автоматизации", "en": "Automations"},
    "automations_h": {"ru": "воронка|этап|когда|действие|текст|срок", "en": "pipeline|stage|on|do|text|due"},
    "fields": {"ru": "Поля", "en": "Fields"},
    "fields_h": {"ru": "сущность|ключ|название|тип|варианты|группа", "en": "entity|key|name|type|options|group"},
    "groups": {"ru": "Отделы", "en": "Groups"},
    "key_name": {"ru": "ключ|название", "en": "key|name"},
    "roles": {"ru": "Роли", "en": "Roles"},
    "role_name": {"ru": "роль|название", "en": "role|name"},
    "loss_reasons": {"ru": "Причины отказа", "en": "Loss reasons"},
    "integrations": {"ru": "Интеграции", "en": "Integrations"},
    "integrations_h": {"ru": "вид|ключ|название", "en": "kind|key|name"},
    "distribution": {"ru": "Правила распределения", "en": "Distribution rules"},
    "distribution_h": {"ru": "ключ|способ|воронка|этап|отдел", "en": "key|method|pipeline|stage|group"},
    "analytics": {"ru": "Аналитика", "en": "Analytics"},
    "analytics_h": {"ru": "что|значение", "en": "what|value"},
    "manual": {"ru": "Ручные шаги", "en": "Manual steps"},
    "manual_h": {"ru": "ключ|функция|шаг", "en": "key|feature|title"},
    "sellers": {"ru": "продавцов: {sellers} (группа {group})", "en": "sellers: {sellers} (group {group})"},
    "features": {"ru": "функции: {features}", "en": "features: {features}"},
    "main": {"ru": ", основная", "en": ", main"},
    "won": {"ru": "(успешно)", "en": "(won)"},
    "lost": {"ru": "(отказ)", "en": "(lost)"},
    "funnel": {"ru": "воронка продаж", "en": "funnel"},
    "sale": {"ru": "продажа", "en": "sale"},
    "leads": {"ru": "сделки", "en": "leads"},
    "contacts": {"ru": "контакты", "en": "contacts"},
    "companies": {"ru": "компании", "en": "companies"},
    "tasks": {"ru": "задачи", "en": "tasks"},
}
# what a blueprint holds, counted: Russian forms for 1, 2-4, 5, English for 1, many
_COUNTED = (
    (("воронка", "воронки", "воронок"), ("pipeline", "pipelines")),
    (("этап", "этапа", "этапов"), ("stage", "stages")),
    (("автоматизация", "автоматизации", "автоматизаций"), ("automation", "automations")),
    (("поле", "поля", "полей"), ("field", "fields")),
    (("роль", "роли", "ролей"), ("role", "roles")),
    (("интеграция", "интеграции", "интеграций"), ("integration", "integrations")),
    (("ручной шаг", "ручных шага", "ручных шагов"), ("manual step", "manual steps")),
)


def _headers(key: str) -> list[str]:
    return say(_MESSAGES, key).split("|")


def render_summary(blueprint: Blueprint, manual_steps: list[ManualStep] | None = None) -> str:
    """Summary tables: pipelines and stages, automations, fields per entity, roles, integrations, manual steps.

    `manual_steps` replaces the blueprint's own `manual:` list (e.g. with every
    step a CRM's API cannot do, from `implkit.blueprint.manual.manual_steps`).
    """
    sections = [_heading(blueprint)]
    sections.append(_section(say(_MESSAGES, "stages"), _headers("stages_h"), _stage_rows(blueprint)))
    sections.append(_section(say(_MESSAGES, "automations"), _headers("automations_h"),
                             [(p.key, a.stage, a.on, a.do, a.text or "", a.due or "")
                              for p in blueprint.pipelines for a in p.automations]))
    sections.append(_section(say(_MESSAGES, "fields"), _headers("fields_h"),
                             [(f.entity, f.key, f.name, f.type, _options(f.options), f.group or "")
                              for f in blueprint.fields]))
    sections.append(_section(say(_MESSAGES, "groups"), _headers("key_name"), [(g.key, g.name) for g in blueprint.groups]))
    rights_headers = [*_headers("role_name"), *(f"{say(_MESSAGES, e)} ({'/'.join(RIGHT_ACTIONS)})" for e in ENTITIES),
                      f"{say(_MESSAGES, 'tasks')} ({'/'.join(TASK_RIGHT_ACTIONS)})"]
    sections.append(_section(say(_MESSAGES, "roles"), rights_headers, _role_rows(blueprint)))
    sections.append(_section(say(_MESSAGES, "loss_reasons"), _headers("key_name"),
                             [(lr.key, lr.name) for lr in blueprint.loss_reasons]))
    sections.append(_section(say(_MESSAGES, "integrations"), _headers("integrations_h"),
                             [(i.kind, i.key, i.name) for i in blueprint.integrations]))
    rules = thaw(blueprint.distribution).get("rules", []) if blueprint.distribution else []
    sections.append(_section(say(_MESSAGES, "distribution"), _headers("distribution_h"),
                             [(r.get("key"), r.get("method"), r.get("pipeline", ""), r.get("stage", ""),
                               r.get("group", "")) for r in rules]))
    sections.append(_section(say(_MESSAGES, "analytics"), _headers("analytics_h"), _analytics_rows(blueprint)))
    steps = list(blueprint.manual) if manual_steps is None else manual_steps
    sections.append(_section(say(_MESSAGES, "manual"), _headers("manual_h"),
                             [(m.key, m.feature or "", m.title) for m in steps]))
    return "\n\n".join(s for s in sections if s) + "\n"


def _heading(bp: Blueprint) -> str:
    lines = [f"{bp.name} {bp.version}" + (f" — {bp.company}" if bp.company else "")]
    if bp.sellers is not None or bp.group:
        lines.append(say(_MESSAGES, "sellers", sellers=bp.sellers if bp.sellers is not None else "?",
                         group=seller_group_label(bp.group) or "?"))
    if bp.features:
        lines.append(say(_MESSAGES, "features", features=", ".join(bp.features)))
    numbers = (len(bp.pipelines), sum(len(p.stages) for p in bp.pipelines),
               sum(len(p.automations) for p in bp.pipelines), len(bp.fields), len(bp.roles), len(bp.integrations),
               len(bp.manual))
    lines.append(", ".join(count_noun(n, *nouns) for n, nouns in zip(numbers, _COUNTED)))
    return "\n".join(lines)


def _section(title: str, headers: list[str], rows: list) -> str:
    if not rows:
        return ""
    return f"{title}\n{tabulate(rows, headers=headers, tablefmt='simple')}"


def _stage_rows(bp: Blueprint) -> list[tuple]:
    rows = []
    for p in bp.pipelines:
        label = f"{p.name} ({p.key}{say(_MESSAGES, 'main') if p.is_main else ''})"
        for n, s in enumerate(p.stages, 1):
            rows.append((label if n == 1 else "", n, s.name, s.key, s.color or "", ", ".join(s.required_fields)))
        rows.append(("", "✓", p.won_name or say(_MESSAGES, "won"), "won", "", ""))
        rows.append(("", "✗", p.lost_name or say(_MESSAGES, "lost"), "lost", "", ""))
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
        rows.append((say(_MESSAGES, "funnel"), " → ".join(f"{s['name']} {round(s['conversion'] * 100)}%"
                                                          for s in funnel) + " → " + say(_MESSAGES, "sale")))
    rows += [(f"kpi.{k['key']}", k["name"] + (f": {k['target']}" if "target" in k else ""))
             for k in analytics.get("kpi") or []]
    rows += [(f"report.{r['key']}", r["name"] + (f" ({r['frequency']})" if "frequency" in r else ""))
             for r in analytics.get("reports") or []]
    return rows
