"""The data the spec templates lay out, prepared from a blueprint (and an assessment).

Everything that needs a decision lives here: which features are in scope,
what moves a deal on from each stage, which fields each stage requires, the
rights matrix, where each channel puts its leads, the plan decomposition and
the manual checklist. The templates only lay it out and word it; the words of
each language live in `templates/<lang>.j2`. Values stay raw (numbers,
Decimals, keys) so the templates format them with the language's filters.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from implkit.blueprint.manual import (
    CRM_NAMES, describe_action, describe_trigger, distribution_rules, every_manual_step,
)
from implkit.lang import say
from implkit.model import ENTITIES, RIGHT_ACTIONS, SELLER_GROUPS, Blueprint, Pipeline, thaw
from implkit.model import seller_group_label as group_label
from implkit.sizing import Assessment
from implkit.spec import figures, rules
from implkit.spec.facts import Conflict, Facts, resolve
from implkit.spec.messages import MESSAGES as _SPEC_MESSAGES


@dataclass(frozen=True)
class SpecOptions:
    lang: str = "ru"
    date: _dt.date = _dt.date(2000, 1, 1)
    integrator: str = ""
    crms: tuple[str, ...] = ("amocrm", "bitrix24")  # whose manual checklist to print
    source: str = "blueprint.yaml"  # the blueprint's file name, for error locations
    from_answers: bool = False  # the assessment comes from questionnaire answers (not only the seller count)
    answers: dict | None = None  # the questionnaire answers (question id → value), when given
    answered: frozenset[str] | None = None  # the ids the answers file states (the rest took defaults)
    measured: Any = None  # implkit.spec.measured.Measured: the tenant's measured funnel, when asked for


def build_context(blueprint: Blueprint, assessment: Assessment | None, options: SpecOptions,
                  facts: Facts | None = None) -> dict[str, Any]:
    lang = options.lang
    facts = facts or resolve(blueprint, assessment, options.answers, options.answered, options.measured)
    analytics = figures.analytics(blueprint, facts, options.crms, options.source)
    curator = rules.curator(blueprint, options.answers, options.answered, lang)
    roadmap = _roadmap(blueprint, options)
    integrations = _integrations(blueprint, lang, facts)
    # The roadmap connects the channels the integrations table keeps (the client's, when answered).
    roadmap["channels"] = [i["name"] for i in integrations
                           if i["kind"] in ("messenger", "telephony", "web_form", "email") and i["status"] != "not_named"]
    assumptions = figures.assumptions(facts, analytics["decomposition"])
    if curator["assumed"]:
        assumptions.append({"key": "curator", "value": curator["who"], "source": "default", "step": None})
    if roadmap["start_assumed"]:
        assumptions.append({"key": "project_start", "value": roadmap["start"], "source": "default", "step": None})
    assumptions.append({"key": "durations", "value": roadmap["weeks_total"], "source": "default", "step": None})
    return {
        "lang": lang,
        "meta": {
            "company": facts.company.value,
            "company_assumed": facts.company.assumed,
            "name": blueprint.name,
            "version": blueprint.version,
            "date": options.date,
            "integrator": options.integrator,
            "crms": [CRM_NAMES[c] for c in options.crms],
        },
        "sizing": _sizing(blueprint, assessment, lang, options.from_answers, facts),
        "facts": _facts(facts, lang),
        "roadmap": roadmap,
        "training": _training(blueprint, facts, options.answers),
        "pipelines": [_pipeline(blueprint, p, lang) for p in blueprint.pipelines],
        "loss_reasons": [lr.name for lr in blueprint.loss_reasons],
        "fields": _fields(blueprint),
        "distribution": _distribution(blueprint),
        "groups": [g.name for g in blueprint.groups],
        "rights": _rights(blueprint),
        "right_actions": list(RIGHT_ACTIONS),
        "integrations": integrations,
        "messaging": _messaging(blueprint, lang),
        "analytics": analytics,
        "assumptions": assumptions,
        "signoff": _signoff(blueprint, facts, options.answers),
        "current": current_state(options.answers, options.answered, lang),
        "rules": rules.work_rules(blueprint, facts, lang),
        "curator": curator,
        "motivation": figures.motivation(analytics["decomposition"]) if curator["bonus"] else None,
        "manual": [{"crm": CRM_NAMES[crm], "steps": manual_checklist(blueprint, crm, lang)} for crm in options.crms],
    }


# --- 2. current state ------------------------------------------------------------------------

# The answers that describe the company as it is today, in the order the spec lists them.
CURRENT_STATE = ("industry", "has_head_of_sales", "segments", "products", "sales_processes", "lead_channels",
                 "documents", "current_tools", "sales_cycle_days", "one_c")


def current_state(answers: dict | None, answered: frozenset[str] | None, lang: str) -> list[dict[str, str]]:
    """What the client told about the company today: (question, answer as the questionnaire shows it).

    Only answers the client gave (a default is not a description of the company)."""
    if not answers:
        return []
    from implkit.sizing.questionnaire import load_questionnaire

    questions = {q.id: q for q in load_questionnaire().questions}
    rows = []
    for key in CURRENT_STATE:
        value = answers.get(key)
        if key not in questions or value in (None, "", []) or (answered is not None and key not in answered):
            continue
        rows.append({"key": key, "value": questions[key].show(value, lang)})
    return rows


# --- 12. approval and signatures ----------------------------------------------------

_MARKETING_CHANNELS = ("website_forms", "vk", "instagram", "avito", "telegram", "whatsapp")


def _signoff(blueprint: Blueprint, facts: Facts, answers: dict | None) -> list[str]:
    """Who approves the spec, from what the implementation touches.

    The owner and the integrator always; the head of sales when the company has
    one (the answer, else a `head` role in the blueprint); marketing when leads
    come from marketing channels; IT and security when telephony, an external
    BI export or access restrictions are in scope.
    """
    who = ["owner"]
    head = (answers or {}).get("has_head_of_sales")
    if head or (head is None and any(r.key == "head" for r in blueprint.roles)):
        who.append("head_of_sales")
    channels = set(facts.channels.value or ())
    if channels & set(_MARKETING_CHANNELS) or "external_analytics" in blueprint.features:
        who.append("marketing")
    kinds = {i.kind for i in blueprint.integrations}
    if "phone" in channels or kinds & {"telephony", "bi"} or "access_restrictions" in blueprint.features:
        who.append("it_security")
    who.append("integrator")
    return who


# --- 10. manual checklist --------------------------------------------------------

# Features whose derived per-integration steps ("Мессенджер: подключить «WhatsApp»") are the same
# work as a blueprint's own step for the feature ("Подключить мессенджеры…"): the first own step absorbs them.
_CONNECT_FEATURES = ("messengers", "telephony", "web_forms", "documents")
_INCLUDES = {"ru": "Входит: ", "en": "Covers: "}


def manual_checklist(blueprint: Blueprint, crm: str, lang: str) -> list[dict[str, str]]:
    """The consultant's checklist with each step once.

    A blueprint's own step and the steps derived for the same thing merge into
    the own step (at the first derived step's place): connecting a feature's
    integrations (the first own step of messengers, telephony, web_forms or
    documents) and duplicate control (an own step whose key names duplicates).
    """
    from implkit.spec.labels import label_settings, object_names

    names = object_names(blueprint, lang)
    steps = every_manual_step(blueprint, crm, lang, describe=lambda settings, l: label_settings(thaw(settings), l, names))
    own = {s.key: s for s in blueprint.manual}
    absorber: dict[str, str] = {}  # derived key → own key
    claimed: set[str] = set()
    for step in blueprint.manual:
        if step.feature in _CONNECT_FEATURES and step.feature not in claimed:
            claimed.add(step.feature)
            for derived in steps:
                if derived.key not in own and derived.key.startswith("integration.") and derived.feature == step.feature:
                    absorber.setdefault(derived.key, step.key)
        if "duplicate" in step.key:
            for derived in steps:
                if derived.key not in own and derived.key.endswith(".duplicate_control"):
                    absorber.setdefault(derived.key, step.key)
    covered: dict[str, list[str]] = {}
    for derived_key, own_key in absorber.items():
        covered.setdefault(own_key, []).append(_object_name(blueprint, derived_key, lang))
    out: list[dict[str, str]] = []
    emitted: set[str] = set()
    for step in steps:
        key = absorber.get(step.key, step.key)
        if key in emitted:
            continue
        emitted.add(key)
        chosen = own.get(key, step)
        details = chosen.details or ""
        if key in covered:
            details = (details + " " if details else "") + _INCLUDES[lang] + ", ".join(covered[key]) + "."
        out.append({"title": chosen.title, "details": details})
    return out


def _object_name(blueprint: Blueprint, key: str, lang: str) -> str:
    """The quoted name of the object a derived step is about (an integration or a pipeline)."""
    quote = ("«{}»" if lang == "ru" else "“{}”").format
    for integration in blueprint.integrations:
        if integration.address == key:
            return quote(integration.name)
    for pipeline in blueprint.pipelines:
        if key.startswith(pipeline.address + "."):
            return quote(pipeline.name)
    return key


# --- 2. goals and sizing ---------------------------------------------------------


def _sizing(blueprint: Blueprint, assessment: Assessment | None, lang: str, from_answers: bool,
            facts: Facts) -> dict[str, Any]:
    """The feature table: stars and reasons from the assessment, scope from the blueprint.

    Without an assessment (no answers and no seller count in the blueprint) the
    stars come straight from the matrix column of the blueprint's group, if any.
    """
    in_blueprint = set(blueprint.features)
    if assessment is None:
        from implkit.sizing.matrix import load_matrix

        column = SELLER_GROUPS.index(blueprint.group) if blueprint.group in SELLER_GROUPS else None
        rows = [{"key": r.key, "name": r.name_ru if lang == "ru" else r.name_en,
                 "stars": None if column is None else r.stars[column],
                 "adjusted": False, "matrix_stars": None, "reasons": [], "in_scope": r.key in in_blueprint}
                for r in load_matrix().rows]
        notes = []
    else:
        rows = [{"key": f.key, "name": f.name(lang), "stars": f.stars, "matrix_stars": f.matrix_stars,
                 "adjusted": f.stars != f.matrix_stars, "reasons": [r.text(lang) for r in f.reasons],
                 "in_scope": f.key in in_blueprint}
                for f in assessment.features]
        notes = [n.text(lang) for n in assessment.notes]
    names = {r["key"]: r["name"] for r in rows}
    return {
        "sellers": facts.sellers.value, "sellers_assumed": facts.sellers.assumed,
        "group": facts.group.value, "group_label": group_label(facts.group.value),
        "from_answers": from_answers and assessment is not None, "features": rows, "notes": notes,
        "in_scope": [r["name"] for r in rows if r["in_scope"]],
        # Left out: why, without attributing to the client a decision the client did not state.
        "out_of_scope": [{"name": r["name"], "stars": r["stars"], "why": _why_out(r, facts)}
                         for r in rows if not r["in_scope"]],
        "differences": [{"name": names.get(d.key, d.key), "change": d.change, "stars": d.stars,
                         "reasons": [reason.text(lang) for reason in d.reasons]}
                        for d in facts.feature_differences],
    }


def _why_out(row: dict[str, Any], facts: Facts) -> str:
    """not_relevant | optional | deferred (the client said so) | undecided (recommended, nobody decided)."""
    if not row["stars"]:
        return "not_relevant"
    if row["key"] in facts.deferred:
        return "deferred"
    return "optional" if row["stars"] == 1 else "undecided"


def _facts(facts: Facts, lang: str) -> dict[str, Any]:
    """The single-source rule and its conflicts, for section 2."""
    return {
        "from_answers": facts.from_answers,
        "preset": facts.preset,
        "conflicts": [_conflict(c, lang) for c in facts.conflicts],
    }


def _conflict(conflict: Conflict, lang: str) -> dict[str, Any]:
    def shown(value: Any) -> Any:
        if conflict.key == "channels":
            return [channel_label(v, lang) for v in value]
        if conflict.key == "group":
            return group_label(value)
        return value

    return {"key": conflict.key, "blueprint": shown(conflict.blueprint), "client": shown(conflict.client)}


def channel_label(value: str, lang: str) -> str:
    """A questionnaire lead channel ("email") by its label in `lang`."""
    from implkit.sizing.questionnaire import load_questionnaire

    question = next(q for q in load_questionnaire().questions if q.id == "lead_channels")
    return next((o.label(lang) for o in question.options if o.value == value), value)


def conflict_messages(facts: Facts, lang: str) -> list[str]:
    """One line per conflict, for stderr (the spec words the same in its section 2)."""
    from implkit.sizing.matrix import load_matrix
    from implkit.spec import formatting

    labels = _CONFLICT_LABELS[lang]
    features = {r.key: (r.name_ru if lang == "ru" else r.name_en) for r in load_matrix().rows}

    def text(key: str, value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(map(str, value))
        if key in ("revenue_month", "avg_check"):
            return formatting.money(value, lang)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return formatting.number(value, lang)
        return str(value)

    lines = []
    for c in facts.conflicts:
        shown = _conflict(c, lang)
        lines.append(labels["line"].format(what=labels[c.key], blueprint=text(c.key, shown["blueprint"]),
                                           client=text(c.key, shown["client"])))
    for d in facts.feature_differences:
        lines.append(labels["feature_" + d.change].format(feature=features.get(d.key, d.key)))
    return lines


_CONFLICT_LABELS = {
    "ru": {"line": "{what}: в конфигурации «{blueprint}», в ответах заказчика «{client}» — в ТЗ взяты ответы",
           "company": "заказчик", "sellers": "число продавцов", "group": "группа матрицы",
           "revenue_month": "план выручки в месяц", "avg_check": "средний чек", "working_days": "рабочих дней в месяце",
           "channels": "каналы заявок",
           "feature_add": "функция «{feature}»: рекомендуется для группы из ответов, но её нет в конфигурации",
           "feature_drop": "функция «{feature}»: есть в конфигурации, но для группы из ответов не рекомендуется"},
    "en": {"line": "{what}: the blueprint says “{blueprint}”, the client's answers say “{client}”; the spec uses the answers",
           "company": "client", "sellers": "number of sellers", "group": "matrix group",
           "revenue_month": "monthly revenue plan", "avg_check": "average check", "working_days": "working days a month",
           "channels": "lead channels",
           "feature_add": "feature “{feature}”: recommended for the answers' group but not in the blueprint",
           "feature_drop": "feature “{feature}”: in the blueprint but not recommended for the answers' group"},
}


# --- 3. roadmap --------------------------------------------------------------------


# Default stage durations in weeks (None: ongoing) and who leads each stage, in the order of the
# roadmap's stages in templates/<lang>.j2. Assumptions until the client confirms them.
STAGE_WEEKS = (1, 2, 1, 1, 4, 1, None)
STAGE_OWNERS = (("integrator", "owner"), ("integrator",), ("integrator", "marketing"), ("integrator", "head_of_sales"),
                ("curator",), ("integrator", "head_of_sales"), ("head_of_sales",))


def project_start(answers: dict | None, answered: frozenset[str] | None, date: _dt.date) -> tuple[_dt.date, bool]:
    """The start date: the client's answer, else the Monday after the document's date (an assumption)."""
    text = str((answers or {}).get("project_start") or "").strip()
    if text and (answered is None or "project_start" in answered):
        try:
            return _dt.date.fromisoformat(text), False
        except ValueError:
            raise InputError("project_start: " + say(_SPEC_MESSAGES, "not_date", text=text)) from None
    return date + _dt.timedelta(days=7 - date.weekday()), True


def _roadmap(blueprint: Blueprint, options: SpecOptions) -> dict[str, Any]:
    """The facts the roadmap stages name, and each stage's dates; the stages themselves are worded per language."""
    start, assumed = project_start(options.answers, options.answered, options.date)
    schedule, current = [], start
    for weeks, owners in zip(STAGE_WEEKS, STAGE_OWNERS):
        end = current + _dt.timedelta(days=weeks * 7 - 3) if weeks else None  # a stage ends on a Friday
        schedule.append({"start": current, "end": end, "weeks": weeks, "owners": list(owners)})
        current = current + _dt.timedelta(days=weeks * 7) if weeks else current
    return {
        "pipelines": [p.name for p in blueprint.pipelines],
        "field_count": len(blueprint.fields),
        "roles": [r.name for r in blueprint.roles],
        "channels": [i.name for i in blueprint.integrations if i.kind in ("messenger", "telephony", "web_form")],
        "documents": [i.name for i in blueprint.integrations if i.kind == "document"],
        "automation_count": sum(len(p.automations) for p in blueprint.pipelines),
        "has_plan": bool(blueprint.analytics and thaw(blueprint.analytics).get("plan")),
        "start": start, "start_assumed": assumed, "schedule": schedule,
        "weeks_total": sum(w for w in STAGE_WEEKS if w),
    }


def _training(blueprint: Blueprint, facts: Facts, answers: dict | None) -> list[dict[str, Any]]:
    """Who is trained in what: the owner, the head of sales (when there is one), the sellers, the curator."""
    head = (answers or {}).get("has_head_of_sales")
    rows = [{"who": "owner", "hours": 1}]
    if head or (head is None and any(r.key == "head" for r in blueprint.roles)):
        rows.append({"who": "head_of_sales", "hours": 2})
    rows.append({"who": "sellers", "hours": 4, "count": facts.sellers.value,
                 "channels": [channel_label(c, "ru") for c in facts.channels.value or ()]})
    rows.append({"who": "curator", "hours": 2})
    return rows


# --- 4. pipelines, 6. automations ----------------------------------------------------


def _pipeline(blueprint: Blueprint, pipeline: Pipeline, lang: str) -> dict[str, Any]:
    stages = []
    for index, stage in enumerate(pipeline.stages):
        following = pipeline.stages[index + 1] if index + 1 < len(pipeline.stages) else None
        moves = [describe_trigger(a, lang) for a in pipeline.automations
                 if a.stage == stage.key and a.do == "change_stage"]
        stages.append({
            "number": index + 1,
            "name": stage.name,
            "description": stage.description or "",
            "required": [_field_name(blueprint, address) for address in stage.required_fields],
            # What moves a deal on: the next stage's required fields filled in (or the sale).
            "next": following.name if following else None,
            "next_required": [_field_name(blueprint, a) for a in following.required_fields] if following else [],
            "auto_moves": moves,
        })
    return {
        "key": pipeline.key,
        "name": pipeline.name,
        "is_main": pipeline.is_main,
        "won_name": pipeline.won_name,
        "lost_name": pipeline.lost_name,
        "stages": stages,
        "automations": [
            {"stage": pipeline.stage_name(a.stage),
             "trigger": describe_trigger(a, lang), "action": describe_action(a, lang),
             "params": labelled_settings(a.params, lang, blueprint) if a.params else ""}
            for a in sorted(pipeline.automations, key=lambda a: (_stage_order(pipeline, a.stage), _TRIGGER_ORDER.get(a.on, 9)))
        ],
    }


_TRIGGER_ORDER = {"create": 0, "enter": 1, "no_activity": 2, "leave": 3}  # within a stage, as time goes


def _stage_order(pipeline: Pipeline, key: str) -> int:
    """A stage's place in the pipeline, the closing won and lost stages after the rest: the automations
    table reads in the order a deal meets them (the blueprint lists them in any order)."""
    order = [s.key for s in pipeline.stages] + ["won", "lost"]
    return order.index(key) if key in order else len(order)


def _distribution(blueprint: Blueprint) -> list[dict[str, Any]]:
    rules = []
    for rule in distribution_rules(blueprint):
        pipeline = blueprint.pipeline(rule.get("pipeline", "")) if rule.get("pipeline") else None
        stage = pipeline.stage(rule.get("stage", "")) if pipeline and rule.get("stage") else None
        group = next((g.name for g in blueprint.groups if g.key == rule.get("group")), rule.get("group"))
        rules.append({
            "name": rule.get("name", rule.get("key", "")),
            "method": rule.get("method", ""),
            "pipeline": pipeline.name if pipeline else rule.get("pipeline"),
            "stage": stage.name if stage else rule.get("stage"),
            "group": group,
            "sources": list(rule.get("sources") or ()),
            "weights": dict(rule.get("weights") or {}),
            "max_open_per_user": rule.get("max_open_per_user"),
            "working_hours_only": bool(rule.get("working_hours_only")),
            "description": rule.get("description", ""),
        })
    return rules


# --- 5. fields -------------------------------------------------------------------------


def _fields(blueprint: Blueprint) -> list[dict[str, Any]]:
    required_at: dict[str, list[str]] = {}
    for pipeline in blueprint.pipelines:
        for stage in pipeline.stages:
            for address in stage.required_fields:
                required_at.setdefault(address, []).append(f"{pipeline.name} → {stage.name}")
    return [
        {"entity": entity,
         "rows": [{"name": f.name, "type": f.type, "options": list(f.options), "description": f.description or "",
                   "required_at": required_at.get(f.address, [])}
                  for f in blueprint.fields_of(entity)]}
        for entity in ENTITIES if blueprint.fields_of(entity)
    ]


def _field_name(blueprint: Blueprint, address: str) -> str:
    found = blueprint.field(address)
    return found.name if found else address


# --- 7. rights -----------------------------------------------------------------------------


def _rights(blueprint: Blueprint) -> list[dict[str, Any]]:
    """One row per role × entity: the level of each action (None where the entity has no such action)."""
    rows = []
    for role in blueprint.roles:
        for entity, actions in role.rights_dict().items():
            rows.append({"role": role.name, "entity": entity,
                         "levels": [actions.get(action) for action in RIGHT_ACTIONS]})
    return rows


# --- 8. integrations -------------------------------------------------------------------------


def _messaging(blueprint: Blueprint, lang: str) -> list[dict[str, Any]]:
    """Letters and SMS to clients sent by stage automations: where, when, through which channel, what."""
    from implkit.blueprint.manual import MESSAGING_ACTIONS, messaging_automations

    rows = []
    for pipeline, a in messaging_automations(blueprint):
        rows.append({"pipeline": pipeline.name, "stage": pipeline.stage_name(a.stage),
                     "trigger": describe_trigger(a, lang), "channel": MESSAGING_ACTIONS[a.do], "text": a.text or "",
                     "params": labelled_settings(a.params, lang, blueprint) if a.params else ""})
    return rows


def _integrations(blueprint: Blueprint, lang: str, facts: Facts) -> list[dict[str, Any]]:
    """The blueprint's integrations, then the lead channels the client named that none of them carries.

    With answers, a lead-channel integration the client did not name is kept
    but marked (status "not_named"): the integrator confirms or removes it.
    """
    from implkit.spec.facts import blueprint_channels

    client_channels = set(facts.channels.value or ()) if facts.channels.source == "client" else None
    rows = []
    for integration in blueprint.integrations:
        settings = thaw(integration.settings) if integration.settings else {}
        pipeline = blueprint.pipeline(str(settings.get("pipeline", ""))) if isinstance(settings, dict) else None
        stage = pipeline.stage(str(settings.get("stage", ""))) if pipeline else None
        rest = {k: v for k, v in settings.items() if k not in ("pipeline", "stage")} if isinstance(settings, dict) else {}
        channel = _channel_of(integration)
        status = "configured"
        if client_channels is not None and channel is not None and channel not in client_channels:
            status = "not_named"
        rows.append({
            "kind": integration.kind,
            "name": integration.name,
            "pipeline": pipeline.name if pipeline else None,
            "stage": stage.name if stage else None,
            "settings": labelled_settings(rest, lang, blueprint) if rest else "",
            "status": status,
        })
    one_c = facts.one_c or "none"
    if one_c != "none":
        rows.append({"kind": "accounting", "name": "1С", "pipeline": None, "stage": None,
                     "settings": "", "status": "one_c_" + one_c})
    if client_channels is not None:
        carried = set(blueprint_channels(blueprint))
        for channel in facts.channels.value:
            if channel not in carried:
                rows.append({"kind": _CHANNEL_KIND.get(channel, "messenger"), "name": channel_label(channel, lang),
                             "pipeline": None, "stage": None, "settings": "", "status": "added"})
    return rows


_CHANNEL_KIND = {"website_forms": "web_form", "phone": "telephony", "email": "email"}


def _channel_of(integration: Any) -> str | None:
    from implkit.spec.facts import MESSENGER_CHANNELS

    if integration.kind == "messenger":
        key = integration.key if integration.key in MESSENGER_CHANNELS else integration.name.lower()
        return key if key in MESSENGER_CHANNELS else None
    return {"web_form": "website_forms", "telephony": "phone"}.get(integration.kind)


def labelled_settings(settings: Any, lang: str, blueprint: Blueprint) -> str:
    """Settings as "label: value; …" with every key and enum value by its human label (no raw keys)."""
    from implkit.spec.labels import label_settings, object_names

    return label_settings(thaw(settings), lang, object_names(blueprint, lang))


