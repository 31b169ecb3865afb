"""The spec's section 7: the CRM work rules (регламент) a blueprint needs, each with the curator's checks
that verify it, and who the curator is."""

from __future__ import annotations

from typing import Any

from implkit.model import ENTITIES, RIGHT_ACTIONS, Blueprint, thaw
from implkit.spec.facts import Facts


# --- 7. work rules and the curator ------------------------------------------------------

def audit_checks(lang: str) -> dict[str, dict[str, Any]]:
    """The curator's checks (audits/*.yaml) by id: title in `lang` and parameters.

    Read as data (the audit layer is not imported: the spec sits beside it)."""
    from implkit.data import audits_dir
    from implkit.yamlio import load_yaml, to_plain

    checks = {}
    for path in sorted(audits_dir().glob("*.yaml")):
        data = to_plain(load_yaml(path))
        if isinstance(data, dict) and data.get("id"):
            checks[data["id"]] = {"title": (data.get("title") or {}).get(lang, data["id"]),
                                  "parameters": data.get("parameters") or {}}
    return checks


def work_rules(blueprint: Blueprint, facts: Facts, lang: str) -> list[dict[str, Any]]:
    """The CRM work rules (регламент) this blueprint needs, each with the audit checks that verify it.

    A rule is listed only when the blueprint has what it is about: lead channels
    for the response time, required fields for the stage rule, loss reasons for
    the loss rule, a company INN field for requisites, and so on. `values` feed
    the wording (minutes, days) from the checks' own parameters or the KPI.
    """
    checks = audit_checks(lang)
    analytics = thaw(blueprint.analytics) if blueprint.analytics else {}
    kpi = {k.get("key"): k for k in analytics.get("kpi") or ()}
    response = (kpi.get("response_time") or {}).get("target") or checks.get("D05", {}).get("parameters", {}).get("minutes", 15)
    stale_days = checks.get("D03", {}).get("parameters", {}).get("days", 7)
    required_stages = sum(1 for p in blueprint.pipelines for s in p.stages if s.required_fields)
    has_channels = bool(facts.channels.value) or bool(blueprint.integrations)
    company_fields = {f.key for f in blueprint.fields_of("companies")}
    rules = []

    def rule(key: str, ids: tuple[str, ...], **values: Any) -> None:
        rules.append({"key": key, "checks": [{"id": i, "title": checks[i]["title"]} for i in ids if i in checks],
                      **values})

    if has_channels:
        rule("first_response", ("D05", "D06"), minutes=response)
    rule("next_task", ("D01", "D02", "T01"))
    rule("task_result", ("T02", "T03"))
    if required_stages:
        rule("required_fields", ("D10",), stages=required_stages)
    rule("client_card", ("D11", "C05", "C01", "C02", "D13"))
    rule("no_stale", ("D03", "D04"), days=stale_days)
    if blueprint.loss_reasons:
        rule("loss_reason", ("D08",))
    if facts.revenue_month.known:
        rule("budget", ("D09",))
    if "inn" in company_fields:
        rule("requisites", ("C08", "C10"))
    rule("closed_tasks", ("D14",))
    return rules


CURATORS = ("client_employee", "head_of_sales", "integrator")


def curator(blueprint: Blueprint, answers: dict | None, answered: frozenset[str] | None,
             lang: str) -> dict[str, Any]:
    """Who the curator is (the answer, else an assumption), the role's rights and the checks it runs."""
    given = (answers or {}).get("curator") if answered is None or "curator" in answered else None
    who = given if given in CURATORS else "client_employee"
    role = next((r for r in blueprint.roles if r.key == "curator"), None)
    return {
        "who": who,
        "assumed": given not in CURATORS,
        "in_blueprint": role is not None,
        "role_name": role.name if role else None,
        # The curator reads everything and corrects data, but neither deletes nor exports the base.
        "rights": ([{"entity": e, "levels": [_CURATOR_RIGHTS[a] for a in RIGHT_ACTIONS]} for e in ENTITIES]
                   + [{"entity": "tasks", "levels": [None, "all", None, "none", None]}]) if role is None else [],
        "bonus": bool((answers or {}).get("crm_discipline_bonus")),
    }


_CURATOR_RIGHTS = {"view": "all", "edit": "all", "add": "none", "delete": "none", "export": "none"}
