"""Blueprint validation: the JSON Schema first, then what a schema cannot say.

Every problem found is reported at once, each as `FILE:LINE:COL: address:
message`, so an integrator fixes a file in one pass. The semantic checks run
even when the schema fails, and guard every step, because a half-wrong file
is exactly when the most help is needed.

Semantic checks (beyond the schema):
- duplicate keys at any level (groups, roles, pipelines, a pipeline's stages
  and automations, fields per entity, loss reasons, integrations per kind,
  manual steps, distribution rules, funnel steps, KPIs, reports);
- duplicate names where the CRM shows, and plan/apply adopts, an object by
  its name: pipelines, a pipeline's stages, fields per entity, roles, groups,
  loss reasons. Two names are the same when `implkit.model.name_identity`
  says so (whitespace collapsed, case folded: «Продажи» = « продажи»), the
  rule recovery uses to find an object whose creation answer was lost;
- a stage requiring an unknown field; an automation on an unknown stage;
- a select / multiselect / radiobutton field without options, and options on
  a field of another type;
- more than one main pipeline;
- amoCRM's limits: at most 50 pipelines, at most 97 stages a pipeline
  (100 statuses including the 3 system ones);
- distribution rules and funnel steps naming an unknown pipeline, stage or
  group; report audiences naming an unknown role; a generate_document
  automation naming an unknown template, a distribute automation an unknown
  rule, a notify automation (`to: role.X`) an unknown role; an integration's
  settings naming an unknown pipeline or stage, or mapping a form field to an
  unknown `field.<entity>.<key>`.
Right levels and every other enumeration are the schema's job.

Messages are in the user's language (`implkit.lang`): jsonschema's own
English never reaches a Russian reader. `explain_schema_errors` is shared by
every file checked against a schema of `blueprints/schema/`.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Callable, Iterable, Iterator

from jsonschema import Draft202012Validator

from implkit.blueprint.addressing import KEYED_LISTS, address_of, item_key
from implkit.data import blueprints_dir
from implkit.errors import Problem
from implkit.lang import say
from implkit.model import OPTION_FIELD_TYPES, SYSTEM_STAGES, name_identity
from implkit.schemas import explain_schema_errors, non_finite_problems, problem_at, sort_problems
from implkit.yamlio import location_of, to_plain

# Every message this module writes, in both languages.
_MESSAGES = {
    "same_automation": {"ru": "срабатывает на то же событие и делает то же, что {first!r} (этап {stage!r}, {do}): "
                              "одна сделка получила бы это дважды",
                        "en": "fires on the same event and does the same as {first!r} (stage {stage!r}, {do}): "
                              "one lead would get it twice"},
    # semantics
    "duplicate_key": {"ru": "ключ {key!r} уже встречался (строка {line})",
                      "en": "duplicate key {key!r} (first defined at line {line})"},
    "duplicate_name": {"ru": "название {name!r} уже есть у {other} (строка {line}): в CRM их не различить, и "
                             "восстановление после сбоя не поймёт, какой из них создан; дайте разные названия",
                       "en": "the name {name!r} is already used by {other} (line {line}): the CRM shows them "
                             "alike and recovery after a lost answer could not tell which one was created; "
                             "give them different names"},
    "too_many_pipelines": {"ru": "{count}: amoCRM допускает не больше {limit} воронок в аккаунте",
                           "en": "{count} pipelines: amoCRM allows at most {limit} an account"},
    "second_main": {"ru": "больше одной главной воронки (главная уже pipeline.{main})",
                    "en": "more than one main pipeline (pipeline.{main} is main already)"},
    "too_many_stages": {"ru": "{count}: amoCRM допускает не больше {limit} этапов в воронке "
                              "(100 статусов вместе с тремя системными)",
                        "en": "{count} stages: amoCRM allows at most {limit} a pipeline "
                              "(100 statuses including the 3 system ones)"},
    "unknown_required_field": {"ru": "требует неизвестное поле {address!r}",
                               "en": "requires unknown field {address!r}"},
    "reserved_stage_key": {"ru": "ключ этапа {key!r} занят: так автоматизация называет закрывающий этап воронки "
                                 "(won — успешный, lost — неуспешный)",
                           "en": "stage key {key!r} is reserved: automations name the pipeline's closing stage by it "
                                 "(won, lost)"},
    "automation_unknown_stage": {"ru": "автоматизация на неизвестном этапе {stage!r} воронки {pipeline!r}",
                                 "en": "automation on unknown stage {stage!r} of pipeline {pipeline!r}"},
    "needs_options": {"ru": "поле типа {kind} требует списка вариантов (options)",
                      "en": "a {kind} field needs options"},
    "options_not_here": {"ru": "варианты (options) бывают только у полей {types}, а не у {kind}",
                         "en": "options are only for {types} fields, not {kind}"},
    "unknown_pipeline": {"ru": "неизвестная воронка {pipeline!r}", "en": "unknown pipeline {pipeline!r}"},
    "stage_needs_pipeline": {"ru": "для этапа нужна его воронка (pipeline)", "en": "a stage needs its pipeline"},
    "unknown_stage_of": {"ru": "неизвестный этап {stage!r} воронки {pipeline!r}",
                         "en": "unknown stage {stage!r} of pipeline {pipeline!r}"},
    "unknown_group": {"ru": "неизвестная группа {group!r}", "en": "unknown group {group!r}"},
    "unknown_template": {"ru": "неизвестный шаблон документа {template!r} (ожидается ключ из integrations.document)",
                         "en": "unknown document template {template!r} (expected a key of integrations.document)"},
    "unknown_rule": {"ru": "неизвестное правило распределения {rule!r}",
                     "en": "unknown distribution rule {rule!r}"},
    "unknown_stage": {"ru": "неизвестный этап {stage!r}", "en": "unknown stage {stage!r}"},
    "unknown_role": {"ru": "неизвестная роль {role!r}", "en": "unknown role {role!r}"},
    "unknown_field": {"ru": "неизвестное поле {field!r}", "en": "unknown field {field!r}"},
}
MAX_PIPELINES = 50
# amoCRM: 100 statuses a pipeline including «Неразобранное», won (142) and lost (143).
MAX_STAGES = 97


@cache
def schema() -> dict[str, Any]:
    return json.loads((blueprints_dir() / "schema" / "blueprint.schema.json").read_text(encoding="utf-8"))


@cache
def _validator(kind: str) -> Draft202012Validator:
    full = schema()
    if kind == "Blueprint":
        return Draft202012Validator(full)
    # The same $defs, rooted at the feature-module definition.
    return Draft202012Validator({**full, "$ref": "#/$defs/featureModule", "properties": {},
                                 "required": [], "additionalProperties": True, "type": "object"})


class Reporter:
    """Collects problems, each located in the round-trip tree `tree` of file `file`.

    `address` names a path for a person (the blueprint's object addresses by
    default; a plain dotted path for other files)."""

    def __init__(self, tree: Any, data: Any, file: str, address: Callable[[Any, tuple], str] = address_of):
        self.tree = tree
        self.data = data
        self.file = file
        self.address = address
        self.problems: list[Problem] = []

    def add(self, path: tuple, message: str) -> None:
        self.problems.append(problem_at(self.tree, self.data, self.file, self.address, path, message))

    def say(self, path: tuple, message: str, /, **values: Any) -> None:
        self.add(path, say(_MESSAGES, message, **values))

    def line_of(self, path: tuple) -> int | None:
        return location_of(self.tree, path, self.file).line


def schema_problems(tree: Any, data: Any, file: str, kind: str = "Blueprint") -> list[Problem]:
    """Every JSON Schema violation of `data` (plain form of the round-trip `tree`), and any .nan / .inf."""
    return _sorted(explain_schema_errors(_validator(kind), tree, data, file, address_of)
                   + non_finite_problems(tree, data, file, address_of))


# --- semantic checks ---------------------------------------------------------


def semantic_problems(tree: Any, data: Any, file: str) -> list[Problem]:
    """Cross-reference and limit checks of a blueprint (see the module docstring)."""
    if not isinstance(data, dict):
        return []
    report = Reporter(tree, data, file)
    _check_duplicates(report, data)
    _check_duplicate_names(report, data)
    fields = _field_addresses(data)
    pipelines = list(_items(data.get("pipelines")))
    _check_pipelines(report, pipelines, fields)
    _check_fields(report, data)
    _check_references(report, data, pipelines)
    _check_integrations(report, data, pipelines, fields)
    return _sorted(report.problems)


def _items(value: Any) -> Iterator[tuple[int, dict]]:
    """(index, item) for every mapping in a list; anything else yields nothing."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def _lookup(data: Any, path: tuple) -> Any:
    for step in path:
        data = data.get(step) if isinstance(data, dict) else None
    return data


def _check_duplicates(report: Reporter, data: dict) -> None:
    for list_path in KEYED_LISTS:
        _duplicates_in(report, _lookup(data, list_path), list_path, "")
    for p_index, pipeline in _items(data.get("pipelines")):
        for list_name in ("stages", "automations"):
            _duplicates_in(report, pipeline.get(list_name), ("pipelines", p_index, list_name), list_name)


def _duplicates_in(report: Reporter, items: Any, list_path: tuple, list_name: str) -> None:
    first_seen: dict[str, int] = {}
    for index, item in _items(items):
        key = item_key(item, list_name)
        if key is None:
            continue
        if key in first_seen:
            report.say(list_path + (index, "key") if "key" in item else list_path + (index,), "duplicate_key",
                       key=key, line=report.line_of(list_path + (first_seen[key],)))
        else:
            first_seen[key] = index


# Lists whose items the CRM shows by name and plan/apply adopts by name (scope: the list itself).
_NAMED_LISTS = (("groups",), ("roles",), ("pipelines",), ("loss_reasons",),
                ("fields", "leads"), ("fields", "contacts"), ("fields", "companies"))


def _check_duplicate_names(report: Reporter, data: dict) -> None:
    for list_path in _NAMED_LISTS:
        _duplicate_names_in(report, [(list_path + (i, "name"), item.get("name"))
                                     for i, item in _items(_lookup(data, list_path))])
    for p_index, pipeline in _items(data.get("pipelines")):
        here = ("pipelines", p_index)
        # The won and lost stages live in the pipeline beside its stages, and are matched by name alike.
        named = [(here + ("stages", i, "name"), stage.get("name")) for i, stage in _items(pipeline.get("stages"))]
        named += [(here + (key,), pipeline.get(key)) for key in ("won_name", "lost_name") if key in pipeline]
        _duplicate_names_in(report, named)


def _duplicate_names_in(report: Reporter, named: list[tuple[tuple, Any]]) -> None:
    first_seen: dict[str, tuple] = {}
    # in the order of the file, so the later of two is the one reported (won_name sits above the stages)
    for path, name in sorted(named, key=lambda item: report.line_of(item[0]) or 0):
        if not isinstance(name, str) or not name.strip():
            continue
        identity = name_identity(name)
        if identity in first_seen:
            earlier = first_seen[identity]
            owner = earlier[:-1] if earlier[-1] == "name" else earlier
            report.say(path, "duplicate_name", name=name, other=report.address(report.data, owner),
                       line=report.line_of(earlier))
        else:
            first_seen[identity] = path


def _field_addresses(data: dict) -> dict[str, dict]:
    fields = data.get("fields") if isinstance(data.get("fields"), dict) else {}
    return {f"field.{entity}.{f['key']}": f
            for entity, items in fields.items()
            for _, f in _items(items) if isinstance(f.get("key"), str)}


def _check_pipelines(report: Reporter, pipelines: list[tuple[int, dict]], fields: dict[str, dict]) -> None:
    if len(pipelines) > MAX_PIPELINES:
        report.say(("pipelines", MAX_PIPELINES), "too_many_pipelines", count=len(pipelines), limit=MAX_PIPELINES)
    mains = [(index, p.get("key")) for index, p in pipelines if p.get("is_main") is True]
    for index, _ in mains[1:]:
        report.say(("pipelines", index, "is_main"), "second_main", main=mains[0][1])
    for p_index, pipeline in pipelines:
        stages = list(_items(pipeline.get("stages")))
        if len(stages) > MAX_STAGES:
            report.say(("pipelines", p_index, "stages", MAX_STAGES), "too_many_stages",
                       count=len(stages), limit=MAX_STAGES)
        for s_index, stage in stages:
            required = stage.get("required_fields")
            for r_index, address in enumerate(required if isinstance(required, list) else ()):
                if isinstance(address, str) and address not in fields:
                    report.say(("pipelines", p_index, "stages", s_index, "required_fields", r_index),
                               "unknown_required_field", address=address)
        stage_keys = {s.get("key") for _, s in stages} | set(SYSTEM_STAGES)
        for s_index, stage in stages:
            if stage.get("key") in SYSTEM_STAGES:
                report.say(("pipelines", p_index, "stages", s_index, "key"), "reserved_stage_key",
                           key=stage.get("key"))
        for a_index, automation in _items(pipeline.get("automations")):
            stage = automation.get("stage")
            if isinstance(stage, str) and stage not in stage_keys:
                report.say(("pipelines", p_index, "automations", a_index, "stage"), "automation_unknown_stage",
                           stage=stage, pipeline=pipeline.get("key"))


def _check_fields(report: Reporter, data: dict) -> None:
    fields = data.get("fields")
    if not isinstance(fields, dict):
        return
    for entity, items in fields.items():
        for index, field in _items(items):
            kind = field.get("type")
            options = field.get("options")
            if kind in OPTION_FIELD_TYPES and not options:
                report.say(("fields", entity, index, "type"), "needs_options", kind=kind)
            elif options and isinstance(kind, str) and kind not in OPTION_FIELD_TYPES:
                report.say(("fields", entity, index, "options"), "options_not_here",
                           types=", ".join(OPTION_FIELD_TYPES), kind=kind)


def _stages_by_pipeline(pipelines: list[tuple[int, dict]]) -> dict[Any, set]:
    return {p.get("key"): {s.get("key") for _, s in _items(p.get("stages"))} for _, p in pipelines}


def _check_pipeline_stage(report: Reporter, here: tuple, holder: dict, stages_by_pipeline: dict[Any, set]) -> None:
    """`pipeline` / `stage` keys of a rule or an integration's settings: both must exist, a stage in its pipeline."""
    pipeline = holder.get("pipeline")
    if isinstance(pipeline, str) and pipeline not in stages_by_pipeline:
        report.say(here + ("pipeline",), "unknown_pipeline", pipeline=pipeline)
    stage = holder.get("stage")
    if isinstance(stage, str):
        if not isinstance(pipeline, str):
            report.say(here + ("stage",), "stage_needs_pipeline")
        elif pipeline in stages_by_pipeline and stage not in stages_by_pipeline[pipeline]:
            report.say(here + ("stage",), "unknown_stage_of", stage=stage, pipeline=pipeline)


def _check_references(report: Reporter, data: dict, pipelines: list[tuple[int, dict]]) -> None:
    stages_by_pipeline = _stages_by_pipeline(pipelines)
    groups = {g.get("key") for _, g in _items(data.get("groups"))}
    roles = {r.get("key") for _, r in _items(data.get("roles"))}
    distribution = data.get("distribution") if isinstance(data.get("distribution"), dict) else {}
    for index, rule in _items(distribution.get("rules")):
        here = ("distribution", "rules", index)
        _check_pipeline_stage(report, here, rule, stages_by_pipeline)
        group = rule.get("group")
        if isinstance(group, str) and group not in groups:
            report.say(here + ("group",), "unknown_group", group=group)
    analytics = data.get("analytics") if isinstance(data.get("analytics"), dict) else {}
    stage_addresses = {f"pipeline.{p}.stage.{s}" for p, keys in stages_by_pipeline.items() for s in keys}
    templates = {i.get("key") for _, i in _items(_lookup(data, ("integrations", "document")))}
    rules = {r.get("key") for _, r in _items(distribution.get("rules"))}
    for p_index, pipeline in pipelines:
        for a_index, automation in _items(pipeline.get("automations")):
            params = automation.get("params") if isinstance(automation.get("params"), dict) else {}
            here = ("pipelines", p_index, "automations", a_index, "params")
            if automation.get("do") == "generate_document" and "template" in params \
                    and params["template"] not in templates:
                report.say(here + ("template",), "unknown_template", template=params["template"])
            if automation.get("do") == "distribute" and "rule" in params and params["rule"] not in rules:
                report.say(here + ("rule",), "unknown_rule", rule=params["rule"])
            target = params.get("to")
            if isinstance(target, str) and target.startswith("role.") and target[len("role."):] not in roles:
                report.say(here + ("to",), "unknown_role", role=target)
    for index, step in _items(analytics.get("funnel")):
        stage = step.get("stage")
        if isinstance(stage, str) and stage not in stage_addresses:
            report.say(("analytics", "funnel", index, "stage"), "unknown_stage", stage=stage)
    for index, item in _items(analytics.get("reports")):
        audience = item.get("audience")
        for a_index, role in enumerate(audience if isinstance(audience, list) else ()):
            if isinstance(role, str) and role not in roles:
                report.say(("analytics", "reports", index, "audience", a_index), "unknown_role", role=role)


def _check_integrations(report: Reporter, data: dict, pipelines: list[tuple[int, dict]],
                        fields: dict[str, dict]) -> None:
    """An integration's settings: where its leads land (pipeline, stage) and the fields its form fills."""
    integrations = data.get("integrations") if isinstance(data.get("integrations"), dict) else {}
    stages_by_pipeline = _stages_by_pipeline(pipelines)
    for kind, items in integrations.items():
        for index, integration in _items(items):
            settings = integration.get("settings")
            if not isinstance(settings, dict):
                continue
            here = ("integrations", kind, index, "settings")
            _check_pipeline_stage(report, here, settings, stages_by_pipeline)
            mapping = settings.get("mapping") if isinstance(settings.get("mapping"), dict) else {}
            for name, target in mapping.items():
                if isinstance(target, str) and target.startswith("field.") and target not in fields:
                    report.say(here + ("mapping", name), "unknown_field", field=target)


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    return sort_problems(list(problems))


# --- warnings (not errors: the blueprint stays valid) ------------------------------------------

_SAME_EVENT = {"create": "enter"}  # a deal created in a stage also enters it


def duplicate_automation_warnings(tree: Any, data: Any, file: str) -> list[Problem]:
    """Two automations of one stage that fire on the same event and do the same thing.

    Same event: the same trigger, where "created in the stage" counts as "entered
    it". Same thing: the same action and task type, with conditions that overlap
    (one has none, or both have the same). A client would get two tasks or two
    messages for one lead, e.g. "call about the site form" and "contact the client".
    """
    warnings: list[Problem] = []
    for p_index, pipeline in _items(data.get("pipelines") if isinstance(data, dict) else None):
        seen: list[tuple[int, dict]] = []
        for a_index, automation in _items(pipeline.get("automations")):
            params = automation.get("params") if isinstance(automation.get("params"), dict) else {}
            for o_index, other in seen:
                other_params = other.get("params") if isinstance(other.get("params"), dict) else {}
                conditions = (params.get("condition"), other_params.get("condition"))
                if (other.get("stage") == automation.get("stage")
                        and _SAME_EVENT.get(other.get("on"), other.get("on"))
                        == _SAME_EVENT.get(automation.get("on"), automation.get("on"))
                        and other.get("do") == automation.get("do")
                        and other_params.get("task_type") == params.get("task_type")
                        and (None in conditions or conditions[0] == conditions[1])):
                    path = ("pipelines", p_index, "automations", a_index)
                    first = other.get("key") or f"automations[{o_index}]"
                    warnings.append(Problem(location_of(tree, path, file), say(
                        _MESSAGES, "same_automation", first=first, stage=automation.get("stage"),
                        do=automation.get("do"))))
            seen.append((a_index, automation))
    return warnings


def check_data(tree: Any, file: str) -> list[Problem]:
    """Schema and semantic problems of an already loaded round-trip tree."""
    data = to_plain(tree)
    problems = schema_problems(tree, data, file) + semantic_problems(tree, data, file)
    return sorted(problems, key=lambda p: (p.location.line or 0, p.location.column or 0, p.message))
