"""Blueprint validation: the JSON Schema first, then what a schema cannot say.

Every problem found is reported at once, each as `FILE:LINE:COL: address:
message`, so an integrator fixes a file in one pass. The semantic checks run
even when the schema fails, and guard every step, because a half-wrong file
is exactly when the most help is needed.

Semantic checks (beyond the schema):
- duplicate keys at any level (groups, roles, pipelines, a pipeline's stages
  and automations, fields per entity, loss reasons, integrations per kind,
  manual steps, distribution rules, funnel steps, KPIs, reports);
- a stage requiring an unknown field; an automation on an unknown stage;
- a select / multiselect / radiobutton field without options, and options on
  a field of another type;
- more than one main pipeline;
- amoCRM's limits: at most 50 pipelines, at most 97 stages a pipeline
  (100 statuses including the 3 system ones);
- distribution rules and funnel steps naming an unknown pipeline, stage or
  group; report audiences naming an unknown role; a generate_document
  automation naming an unknown template, a distribute automation an unknown rule.
Right levels and every other enumeration are the schema's job.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Iterable, Iterator

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from implkit.blueprint.addressing import KEYED_LISTS, address_of, item_key
from implkit.data import blueprints_dir
from implkit.errors import Location, Problem
from implkit.model import OPTION_FIELD_TYPES
from implkit.yamlio import location_of

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
    """Collects problems, each located in the round-trip tree `tree` of file `file`."""

    def __init__(self, tree: Any, data: Any, file: str):
        self.tree = tree
        self.data = data
        self.file = file
        self.problems: list[Problem] = []

    def add(self, path: tuple, message: str) -> None:
        loc = location_of(self.tree, path, self.file)
        line, column = (loc.line, loc.column) if loc.line is not None else (1, 1)  # an empty document
        self.problems.append(Problem(Location(loc.file, line, column, address_of(self.data, path)),
                                     message))


def schema_problems(tree: Any, data: Any, file: str, kind: str = "Blueprint") -> list[Problem]:
    """Every JSON Schema violation of `data` (plain form of the round-trip `tree`)."""
    report = Reporter(tree, data, file)
    errors = sorted(_validator(kind).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        for path, message in _explain(error):
            report.add(path, message)
    return _sorted(report.problems)


def _explain(error: ValidationError) -> Iterator[tuple[tuple, str]]:
    """One or more (path, message) for a schema error, pointing at the offending key itself."""
    path = tuple(error.absolute_path)
    value = error.instance
    if error.validator == "additionalProperties" and isinstance(value, dict):
        allowed = set(error.schema.get("properties") or {})
        for extra in value:
            if extra not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                yield path + (extra,), f"unknown key {extra!r} (allowed here: {known})"
    elif error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield path, f"missing required key {missing!r}"
    elif error.validator == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        yield path, f"{value!r} is not one of: {choices}"
    elif error.validator == "const":
        yield path, f"must be {error.validator_value!r}, not {value!r}"
    elif error.validator == "pattern":
        yield path, f"{value!r} does not match {_pattern_hint(error.validator_value)}"
    elif error.validator == "type":
        yield path, f"expected {_type_name(error.validator_value)}, got {_type_name_of(value)}"
    elif error.validator == "uniqueItems":
        yield path, "contains the same item twice"
    elif error.validator == "minItems":
        yield path, f"needs at least {error.validator_value} item(s)"
    else:
        yield path, error.message


_PATTERN_HINTS = {
    "^[a-z][a-z0-9_]*$": "the key format (a lowercase latin letter, then letters, digits, underscores)",
    "^[a-z0-9][a-z0-9-]*$": "the name format (lowercase latin letters, digits, dashes)",
    "^#[0-9a-fA-F]{6}$": "the colour format #rrggbb",
    "^[0-9]+[mhd]$": "the duration format (a number and m, h or d: 15m, 2h, 1d)",
}


def _pattern_hint(pattern: str) -> str:
    if pattern.startswith("^(0|[1-9]"):
        return "semantic versioning (MAJOR.MINOR.PATCH, e.g. 1.0.0)"
    if pattern.startswith("^field\\."):
        return "a field address (field.<leads|contacts|companies>.<key>)"
    if pattern.startswith("^pipeline\\."):
        return "a stage address (pipeline.<key>.stage.<key>)"
    return _PATTERN_HINTS.get(pattern, f"the pattern {pattern}")


def _type_name(expected: Any) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "text", "integer": "a whole number",
             "number": "a number", "boolean": "true or false", "null": "nothing"}
    if isinstance(expected, list):
        return " or ".join(names.get(t, t) for t in expected)
    return names.get(expected, str(expected))


def _type_name_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a mapping", list: "a list", str: f"text {value!r}", int: f"the number {value}",
            float: f"the number {value}"}.get(type(value), type(value).__name__)


# --- semantic checks ---------------------------------------------------------


def semantic_problems(tree: Any, data: Any, file: str) -> list[Problem]:
    """Cross-reference and limit checks of a blueprint (see the module docstring)."""
    if not isinstance(data, dict):
        return []
    report = Reporter(tree, data, file)
    _check_duplicates(report, data)
    fields = _field_addresses(data)
    pipelines = list(_items(data.get("pipelines")))
    _check_pipelines(report, pipelines, fields)
    _check_fields(report, data)
    _check_references(report, data, pipelines)
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
            earlier = location_of(report.tree, list_path + (first_seen[key],), report.file)
            report.add(list_path + (index, "key") if "key" in item else list_path + (index,),
                       f"duplicate key {key!r} (first defined at line {earlier.line})")
        else:
            first_seen[key] = index


def _field_addresses(data: dict) -> dict[str, dict]:
    fields = data.get("fields") if isinstance(data.get("fields"), dict) else {}
    return {f"field.{entity}.{f['key']}": f
            for entity, items in fields.items()
            for _, f in _items(items) if isinstance(f.get("key"), str)}


def _check_pipelines(report: Reporter, pipelines: list[tuple[int, dict]], fields: dict[str, dict]) -> None:
    if len(pipelines) > MAX_PIPELINES:
        report.add(("pipelines", MAX_PIPELINES),
                   f"{len(pipelines)} pipelines: amoCRM allows at most {MAX_PIPELINES} an account")
    mains = [(index, p.get("key")) for index, p in pipelines if p.get("is_main") is True]
    for index, _ in mains[1:]:
        report.add(("pipelines", index, "is_main"),
                   f"more than one main pipeline (pipeline.{mains[0][1]} is main already)")
    for p_index, pipeline in pipelines:
        stages = list(_items(pipeline.get("stages")))
        if len(stages) > MAX_STAGES:
            report.add(("pipelines", p_index, "stages", MAX_STAGES),
                       f"{len(stages)} stages: amoCRM allows at most {MAX_STAGES} a pipeline "
                       f"(100 statuses including the 3 system ones)")
        for s_index, stage in stages:
            required = stage.get("required_fields")
            for r_index, address in enumerate(required if isinstance(required, list) else ()):
                if isinstance(address, str) and address not in fields:
                    report.add(("pipelines", p_index, "stages", s_index, "required_fields", r_index),
                               f"requires unknown field {address!r}")
        stage_keys = {s.get("key") for _, s in stages}
        for a_index, automation in _items(pipeline.get("automations")):
            stage = automation.get("stage")
            if isinstance(stage, str) and stage not in stage_keys:
                report.add(("pipelines", p_index, "automations", a_index, "stage"),
                           f"automation on unknown stage {stage!r} of pipeline {pipeline.get('key')!r}")


def _check_fields(report: Reporter, data: dict) -> None:
    fields = data.get("fields")
    if not isinstance(fields, dict):
        return
    for entity, items in fields.items():
        for index, field in _items(items):
            kind = field.get("type")
            options = field.get("options")
            if kind in OPTION_FIELD_TYPES and not options:
                report.add(("fields", entity, index, "type"), f"a {kind} field needs options")
            elif options and isinstance(kind, str) and kind not in OPTION_FIELD_TYPES:
                report.add(("fields", entity, index, "options"),
                           f"options are only for {', '.join(OPTION_FIELD_TYPES)} fields, not {kind}")


def _check_references(report: Reporter, data: dict, pipelines: list[tuple[int, dict]]) -> None:
    stages_by_pipeline = {p.get("key"): {s.get("key") for _, s in _items(p.get("stages"))} for _, p in pipelines}
    groups = {g.get("key") for _, g in _items(data.get("groups"))}
    roles = {r.get("key") for _, r in _items(data.get("roles"))}
    distribution = data.get("distribution") if isinstance(data.get("distribution"), dict) else {}
    for index, rule in _items(distribution.get("rules")):
        here = ("distribution", "rules", index)
        pipeline = rule.get("pipeline")
        if isinstance(pipeline, str) and pipeline not in stages_by_pipeline:
            report.add(here + ("pipeline",), f"unknown pipeline {pipeline!r}")
        stage = rule.get("stage")
        if isinstance(stage, str):
            if not isinstance(pipeline, str):
                report.add(here + ("stage",), "a stage needs its pipeline")
            elif pipeline in stages_by_pipeline and stage not in stages_by_pipeline[pipeline]:
                report.add(here + ("stage",), f"unknown stage {stage!r} of pipeline {pipeline!r}")
        group = rule.get("group")
        if isinstance(group, str) and group not in groups:
            report.add(here + ("group",), f"unknown group {group!r}")
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
                report.add(here + ("template",), f"unknown document template {params['template']!r} "
                                                 "(expected a key of integrations.document)")
            if automation.get("do") == "distribute" and "rule" in params and params["rule"] not in rules:
                report.add(here + ("rule",), f"unknown distribution rule {params['rule']!r}")
    for index, step in _items(analytics.get("funnel")):
        stage = step.get("stage")
        if isinstance(stage, str) and stage not in stage_addresses:
            report.add(("analytics", "funnel", index, "stage"), f"unknown stage {stage!r}")
    for index, item in _items(analytics.get("reports")):
        audience = item.get("audience")
        for a_index, role in enumerate(audience if isinstance(audience, list) else ()):
            if isinstance(role, str) and role not in roles:
                report.add(("analytics", "reports", index, "audience", a_index), f"unknown role {role!r}")


def _sorted(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.location.line or 0, p.location.column or 0, p.message))


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
                    warnings.append(Problem(location_of(tree, path, file),
                                            f"fires on the same event and does the same as {first!r} "
                                            f"(stage {automation.get('stage')!r}, {automation.get('do')}): "
                                            "one lead would get it twice"))
            seen.append((a_index, automation))
    return warnings
