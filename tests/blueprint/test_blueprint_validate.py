"""Validation: every error class at its exact file:line:col, all reported at once, exit 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from implkit.blueprint import load_blueprint, parse_blueprint, validate_file
from implkit.errors import InputError

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def problems_of(name: str) -> list[str]:
    return [str(p) for p in validate_file(FIXTURES / name)]


def test_valid_file_has_no_problems_and_loads():
    assert validate_file(FIXTURES / "valid.yaml") == []
    bp = load_blueprint(FIXTURES / "valid.yaml")
    assert bp.name == "minimal"
    assert [s.key for s in bp.pipeline("sales").stages] == ["new", "qualified"]
    assert bp.pipeline("sales").automations[0].due == "15m"


@pytest.mark.parametrize("name, expected", [
    ("syntax_error.yaml", "syntax_error.yaml:5:10: expected ',' or '}', but got ':'"),
    ("unknown_key.yaml", "unknown_key.yaml:12:9: pipeline.sales.stage.new.colour: unknown key 'colour'"),
    ("bad_key_format.yaml", "bad_key_format.yaml:7:5: group.Sales-Team.key: 'Sales-Team' does not match the key format"),
    ("unknown_level.yaml", "unknown_level.yaml:11:9: role.manager.rights.leads.view: 'mine' is not one of: "
                           "all, group, own, none"),
    ("unknown_required_field.yaml", "unknown_required_field.yaml:13:13: pipeline.sales.stage.new.required_fields[0]:"
                                    " requires unknown field 'field.leads.budget'"),
    ("unknown_automation_stage.yaml", "unknown_automation_stage.yaml:14:9: "
                                      "pipeline.sales.automation.meeting.enter.create_task.stage: "
                                      "automation on unknown stage 'meeting' of pipeline 'sales'"),
    ("two_main_pipelines.yaml", "two_main_pipelines.yaml:13:5: pipeline.service.is_main: more than one main pipeline"),
    ("not_a_mapping.yaml", "not_a_mapping.yaml:1:1: (document): expected a mapping, got a list"),
])
def test_each_error_class_is_located(name, expected):
    problems = problems_of(name)
    assert len(problems) == 1, problems
    assert problems[0].startswith(str(FIXTURES / expected.split(":")[0]) + ":")
    assert expected in problems[0]


def test_duplicate_keys_at_every_level():
    problems = problems_of("duplicate_keys.yaml")
    assert len(problems) == 2, problems
    assert "duplicate_keys.yaml:12:9: pipeline.sales.stage.new.key: duplicate key 'new' (first defined at line 10)" \
        in problems[0]
    # `need` in leads and in contacts is fine; twice in contacts is not.
    assert "duplicate_keys.yaml:23:7: field.contacts.need.key: duplicate key 'need' (first defined at line 20)" \
        in problems[1]


def test_option_fields_need_options_and_others_take_none():
    problems = problems_of("select_without_options.yaml")
    assert len(problems) == 2
    assert "select_without_options.yaml:10:7: field.companies.industry.type: a multiselect field needs options" \
        in problems[0]
    assert "select_without_options.yaml:14:7: field.companies.inn.options: options are only for" in problems[1]


def test_all_problems_reported_at_once_in_line_order():
    problems = problems_of("many_problems.yaml")
    assert [p.split(": ")[0].rsplit("/", 1)[-1] for p in problems] == [
        "many_problems.yaml:5:3", "many_problems.yaml:12:9", "many_problems.yaml:13:27", "many_problems.yaml:16:9"]
    assert "semantic versioning" in problems[0]
    assert "colour format" in problems[1]
    assert "unknown field 'field.leads.source'" in problems[2]
    assert "unknown stage 'paid'" in problems[3]  # not 'won': automations may name the closing stages


def test_load_blueprint_raises_input_error_with_every_problem():
    with pytest.raises(InputError) as caught:
        load_blueprint(FIXTURES / "many_problems.yaml")
    assert caught.value.exit_code == 3
    assert len(caught.value.problems) == 4
    assert "4 problems" in str(caught.value)


def test_yaml_duplicate_mapping_key_is_located(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("apiVersion: implkit/v1\nkind: Blueprint\nkind: Blueprint\n", encoding="utf-8")
    [problem] = validate_file(path)
    assert str(problem).startswith(f"{path}:3:1:")
    assert "duplicate key" in str(problem)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert [str(p) for p in validate_file(empty)] == [f"{empty}:1:1: (document): expected a mapping, got nothing"]
    missing = tmp_path / "missing.yaml"
    assert [str(p) for p in validate_file(missing)] == [f"{missing}: no such file"]


def _pipelines_yaml(pipelines: int, stages: int) -> str:
    lines = ["apiVersion: implkit/v1", "kind: Blueprint", "metadata: {name: big, version: 1.0.0}", "pipelines:"]
    for p in range(pipelines):
        lines.append(f"  - key: p{p}")
        lines.append(f"    name: Воронка {p}")
        lines.append("    stages:")
        lines += [f"      - {{key: s{s}, name: Этап {s}}}" for s in range(stages)]
    return "\n".join(lines) + "\n"


def test_amocrm_pipeline_limit(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(_pipelines_yaml(51, 1), encoding="utf-8")
    [problem] = validate_file(path)
    # The 51st pipeline (index 50) starts at line 5 + 50 * 4.
    assert str(problem) == (f"{path}:205:5: pipeline.p50: 51 pipelines: amoCRM allows at most 50 an account")
    path.write_text(_pipelines_yaml(50, 1), encoding="utf-8")
    assert validate_file(path) == []


def test_amocrm_stage_limit(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(_pipelines_yaml(1, 98), encoding="utf-8")
    [problem] = validate_file(path)
    # The 98th stage (index 97) is on line 8 + 97.
    assert str(problem) == (f"{path}:105:9: pipeline.p0.stage.s97: 98 stages: amoCRM allows at most 97 a pipeline "
                            "(100 statuses including the 3 system ones)")
    path.write_text(_pipelines_yaml(1, 97), encoding="utf-8")
    assert validate_file(path) == []


def test_cross_references_of_distribution_and_analytics():
    text = (FIXTURES / "valid.yaml").read_text(encoding="utf-8") + (
        "distribution:\n"
        "  rules:\n"
        "    - {key: rr, name: По очереди, method: round_robin, pipeline: sales, stage: nope, group: ghosts}\n"
        "analytics:\n"
        "  funnel:\n"
        "    - {key: lead, name: Лид, conversion: 0.5, stage: pipeline.sales.stage.nope}\n"
        "  reports:\n"
        "    - {key: daily, name: Сводка, audience: [director]}\n")
    with pytest.raises(InputError) as caught:
        parse_blueprint(text, "x.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any("distribution.rule.rr.stage: unknown stage 'nope' of pipeline 'sales'" in m for m in messages)
    assert any("distribution.rule.rr.group: unknown group 'ghosts'" in m for m in messages)
    assert any("analytics.funnel.lead.stage: unknown stage 'pipeline.sales.stage.nope'" in m for m in messages)
    assert any("analytics.report.daily.audience[0]: unknown role 'director'" in m for m in messages)


def test_conversion_must_be_a_share():
    text = (FIXTURES / "valid.yaml").read_text(encoding="utf-8") + (
        "analytics:\n  funnel:\n    - {key: lead, name: Лид, conversion: 60}\n")
    with pytest.raises(InputError) as caught:
        parse_blueprint(text, "x.yaml")
    assert "analytics.funnel.lead.conversion" in str(caught.value)


def test_cli_validate_exit_codes(run_cli):
    ok = run_cli("blueprint", "validate", FIXTURES / "valid.yaml")
    assert ok.exit_code == 0
    assert ok.output.startswith("ok:")
    bad = run_cli("blueprint", "validate", FIXTURES / "many_problems.yaml")
    assert bad.exit_code == 3
    assert "many_problems.yaml:13:27: pipeline.sales.stage.new.required_fields[0]" in bad.output
    assert "Traceback" not in bad.output


def test_schema_is_a_valid_draft_2020_12_schema():
    from jsonschema import Draft202012Validator

    from implkit.blueprint.validate import schema

    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_missing_key_and_wrong_type_are_located(tmp_path):
    path = tmp_path / "req.yaml"
    path.write_text("apiVersion: implkit/v1\nkind: Blueprint\nmetadata:\n  name: x\n  version: 1.0.0\n"
                    "pipelines:\n  - key: sales\n    stages:\n      - key: new\n        name: 5\n", encoding="utf-8")
    assert [str(p) for p in validate_file(path)] == [
        f"{path}:7:5: pipeline.sales: missing required key 'name'",
        f"{path}:10:9: pipeline.sales.stage.new.name: expected text, got the number 5",
    ]


def test_wrong_api_version_and_kind(tmp_path):
    path = tmp_path / "kind.yaml"
    path.write_text("apiVersion: implkit/v2\nkind: BlueprintFeature\nmetadata: {name: x, version: 1.0.0}\n",
                    encoding="utf-8")
    assert [str(p) for p in validate_file(path)] == [
        f"{path}:1:1: apiVersion: must be 'implkit/v1', not 'implkit/v2'",
        f"{path}:2:1: kind: must be 'Blueprint', not 'BlueprintFeature'",
    ]


def test_automation_params_must_name_known_templates_and_rules():
    text = (FIXTURES / "valid.yaml").read_text(encoding="utf-8").replace(
        "        due: 15m\n",
        "        due: 15m\n"
        "      - {on: enter, stage: qualified, do: generate_document, params: {template: contract}}\n"
        "      - {on: create, stage: new, do: distribute, params: {rule: round_robin}}\n")
    with pytest.raises(InputError) as caught:
        parse_blueprint(text, "x.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "x.yaml:32:71: pipeline.sales.automation.qualified.enter.generate_document.params.template: "
        "unknown document template 'contract' (expected a key of integrations.document)",
        "x.yaml:33:59: pipeline.sales.automation.new.create.distribute.params.rule: "
        "unknown distribution rule 'round_robin'",
    ]
