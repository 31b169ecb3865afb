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
    CRM_NAMES, describe_action, describe_trigger, distribution_rules, manual_steps, settings_text,
)
from implkit.decomposition import Decomposition, DecompositionError, from_analytics
from implkit.errors import InputError, Location, Problem
from implkit.model import ENTITIES, RIGHT_ACTIONS, SELLER_GROUPS, Blueprint, Pipeline, thaw
from implkit.sizing import Assessment


@dataclass(frozen=True)
class SpecOptions:
    lang: str = "ru"
    date: _dt.date = _dt.date(2000, 1, 1)
    integrator: str = ""
    crms: tuple[str, ...] = ("amocrm", "bitrix24")  # whose manual checklist to print
    source: str = "blueprint.yaml"  # the blueprint's file name, for error locations
    from_answers: bool = False  # the assessment comes from questionnaire answers (not only the seller count)


def build_context(blueprint: Blueprint, assessment: Assessment | None, options: SpecOptions) -> dict[str, Any]:
    lang = options.lang
    return {
        "lang": lang,
        "meta": {
            "company": blueprint.company,
            "name": blueprint.name,
            "version": blueprint.version,
            "date": options.date,
            "integrator": options.integrator,
            "crms": [CRM_NAMES[c] for c in options.crms],
        },
        "sizing": _sizing(blueprint, assessment, lang, options.from_answers),
        "roadmap": _roadmap(blueprint),
        "pipelines": [_pipeline(blueprint, p, lang) for p in blueprint.pipelines],
        "loss_reasons": [lr.name for lr in blueprint.loss_reasons],
        "fields": _fields(blueprint),
        "distribution": _distribution(blueprint),
        "groups": [g.name for g in blueprint.groups],
        "rights": _rights(blueprint),
        "right_actions": list(RIGHT_ACTIONS),
        "integrations": _integrations(blueprint, lang),
        "analytics": _analytics(blueprint, assessment, options),
        "manual": [
            {"crm": CRM_NAMES[crm],
             "steps": [{"title": s.title, "details": s.details or ""} for s in manual_steps(blueprint, crm, lang)]}
            for crm in options.crms
        ],
    }


# --- 2. goals and sizing ---------------------------------------------------------


def _sizing(blueprint: Blueprint, assessment: Assessment | None, lang: str, from_answers: bool) -> dict[str, Any]:
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
        sellers, group, notes = blueprint.sellers, blueprint.group, []
    else:
        rows = [{"key": f.key, "name": f.name(lang), "stars": f.stars, "matrix_stars": f.matrix_stars,
                 "adjusted": f.stars != f.matrix_stars, "reasons": [r.text(lang) for r in f.reasons],
                 "in_scope": f.key in in_blueprint}
                for f in assessment.features]
        sellers, group, notes = assessment.sellers, assessment.group, [n.text(lang) for n in assessment.notes]
    return {
        "sellers": sellers, "group": group, "from_answers": from_answers and assessment is not None, "features": rows, "notes": notes,
        "in_scope": [r["name"] for r in rows if r["in_scope"]],
        # Left out on purpose: features the matrix rates for this group that the blueprint does not take.
        "out_of_scope": [{"name": r["name"], "stars": r["stars"]} for r in rows if not r["in_scope"]],
    }


# --- 3. roadmap --------------------------------------------------------------------


def _roadmap(blueprint: Blueprint) -> dict[str, Any]:
    """The facts the roadmap stages name; the stages themselves are worded per language."""
    return {
        "pipelines": [p.name for p in blueprint.pipelines],
        "field_count": len(blueprint.fields),
        "roles": [r.name for r in blueprint.roles],
        "channels": [i.name for i in blueprint.integrations if i.kind in ("messenger", "telephony", "web_form")],
        "documents": [i.name for i in blueprint.integrations if i.kind == "document"],
        "automation_count": sum(len(p.automations) for p in blueprint.pipelines),
        "has_plan": bool(blueprint.analytics and thaw(blueprint.analytics).get("plan")),
    }


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
            {"stage": (pipeline.stage(a.stage).name if pipeline.stage(a.stage) else a.stage),
             "trigger": describe_trigger(a, lang), "action": describe_action(a, lang),
             "params": settings_text(a.params, lang) if a.params else ""}
            for a in pipeline.automations
        ],
    }


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


def _integrations(blueprint: Blueprint, lang: str) -> list[dict[str, Any]]:
    rows = []
    for integration in blueprint.integrations:
        settings = thaw(integration.settings) if integration.settings else {}
        pipeline = blueprint.pipeline(str(settings.get("pipeline", ""))) if isinstance(settings, dict) else None
        stage = pipeline.stage(str(settings.get("stage", ""))) if pipeline else None
        rest = {k: v for k, v in settings.items() if k not in ("pipeline", "stage")} if isinstance(settings, dict) else {}
        rows.append({
            "kind": integration.kind,
            "name": integration.name,
            "pipeline": pipeline.name if pipeline else None,
            "stage": stage.name if stage else None,
            "settings": settings_text(rest, lang) if rest else "",
        })
    return rows


# --- 9. analytics ------------------------------------------------------------------------------


def _analytics(blueprint: Blueprint, assessment: Assessment | None, options: SpecOptions) -> dict[str, Any]:
    analytics = thaw(blueprint.analytics) if blueprint.analytics else {}
    sellers = blueprint.sellers or (assessment.sellers if assessment else None)
    try:
        decomposition = from_analytics(analytics, sellers=sellers)
    except DecompositionError as exc:
        raise InputError("the plan cannot be decomposed",
                         [Problem(Location(options.source, key=exc.key), exc.reason)]) from None
    roles = {r.key: r.name for r in blueprint.roles}
    return {
        "decomposition": _decomposition(decomposition),
        # Every optional key present (None when absent): the templates run with StrictUndefined.
        "kpi": [{key: k.get(key) for key in ("key", "name", "target", "unit", "period", "per", "description")}
                for k in analytics.get("kpi") or ()],
        "reports": [
            {"key": r.get("key"), "name": r.get("name"), "frequency": r.get("frequency"),
             "audience": [roles.get(a, a) for a in r.get("audience") or ()], "description": r.get("description")}
            for r in analytics.get("reports") or ()
        ],
    }


def _decomposition(decomposition: Decomposition | None) -> dict[str, Any] | None:
    if decomposition is None:
        return None
    return {
        "revenue_month": decomposition.revenue_month,
        "avg_check": decomposition.avg_check,
        "sellers": decomposition.sellers,
        "working_days": decomposition.working_days,
        "sales": decomposition.sales,
        "overall_conversion": decomposition.overall_conversion,
        "steps": [
            {"name": s.name, "is_sale": s.is_sale, "conversion": s.conversion, "needed": s.needed,
             "per_seller": s.per_seller, "per_day": s.per_day}
            for s in decomposition.steps
        ],
        # Leading indicators: what each seller must do per working day at the steps before the sale.
        "leading": [
            {"name": s.name, "per_day": s.per_day, "per_seller": s.per_seller}
            for s in decomposition.steps if not s.is_sale and s.per_seller is not None
        ],
    }
