"""`blueprint show` and `blueprint diff`: outputs and exit codes."""

from __future__ import annotations

from pathlib import Path

from implkit.blueprint import load_blueprint
from implkit.blueprint.diff import Change, diff_blueprints, render_changes
from implkit.blueprint.show import render_summary
from implkit.data import blueprints_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures"
B2B = blueprints_dir() / "presets" / "b2b-services.yaml"


def test_show_lists_pipelines_fields_roles_integrations_manual():
    text = render_summary(load_blueprint(B2B))
    for title in ("Pipelines and stages", "Automations", "Fields", "Roles", "Integrations", "Manual steps",
                  "Loss reasons", "Analytics"):
        assert f"\n{title}\n" in text
    assert "Продажи (sales, main)" in text
    assert "Согласование договора" in text and "field.companies.inn" in text
    assert "all/all/all/none/none" in text  # the manager's lead rights: view/edit/add/delete/export
    assert "messenger" in text and "WhatsApp" in text
    assert "connect_messengers" in text
    assert "Лид 60% → Квалифицирован 50% → Встреча 70% → КП отправлено 40% → sale" in text  # English run


def test_show_cli_and_derived_manual_steps(run_cli):
    result = run_cli("blueprint", "show", FIXTURES / "valid.yaml")
    assert result.exit_code == 0
    assert result.output.startswith("minimal 1.0.0 — ООО Тест\n")
    assert "1 pipeline, 2 stages, 1 automation, 1 field" in result.output
    assert "Manual steps" not in result.output  # the fixture lists no manual steps of its own
    derived = run_cli("blueprint", "show", FIXTURES / "valid.yaml", "--crm", "amocrm")
    assert derived.exit_code == 0
    assert "Manual steps" in derived.output
    assert "pipeline.sales.automation.new.enter.create_task" in derived.output
    bad = run_cli("blueprint", "show", FIXTURES / "unknown_key.yaml")
    assert bad.exit_code == 3 and "unknown_key.yaml:12:9" in bad.output


def _edited(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = (FIXTURES / "valid.yaml").read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_diff_identical_after_reformatting(tmp_path, run_cli):
    # Flow style vs block style and a comment are not changes.
    reformatted = _edited(tmp_path, "same.yaml", ("  - key: expensive\n    name: Дорого\n",
                                                  "  - {key: expensive, name: Дорого}  # same\n"))
    assert diff_blueprints(load_blueprint(FIXTURES / "valid.yaml"), load_blueprint(reformatted)) == []
    result = run_cli("blueprint", "diff", FIXTURES / "valid.yaml", reformatted)
    assert result.exit_code == 0
    assert result.output == "no changes\n"


def test_diff_added_removed_changed_and_order(tmp_path, run_cli):
    new = _edited(
        tmp_path, "new.yaml",
        ("        name: Первичный контакт\n", "        name: Новая заявка\n"),
        ("      options: [Сайт, Телефон]\n", "      options: [Сайт, Телефон, WhatsApp]\n"),
        ("loss_reasons:\n  - key: expensive\n    name: Дорого\n", "loss_reasons:\n  - key: competitor\n"
                                                                  "    name: Выбрали конкурента\n"),
        ("      leads: {view: own,", "      leads: {view: group,"),
        ("      - key: new\n        name: Новая заявка\n        color: \"#c1e0ff\"\n      - key: qualified\n"
         "        name: Квалификация\n        required_fields: [field.leads.source]\n",
         "      - key: qualified\n        name: Квалификация\n        required_fields: [field.leads.source]\n"
         "      - key: new\n        name: Новая заявка\n        color: \"#c1e0ff\"\n      - key: won_soon\n"
         "        name: Почти\n"),
    )
    changes = diff_blueprints(load_blueprint(FIXTURES / "valid.yaml"), load_blueprint(new))
    assert Change("removed", "loss_reason.expensive") in changes
    assert Change("added", "loss_reason.competitor") in changes
    assert Change("added", "pipeline.sales.stage.won_soon") in changes
    assert Change("changed", "pipeline.sales.stage.new.name", "Первичный контакт", "Новая заявка") in changes
    assert Change("changed", "field.leads.source.options", ["Сайт", "Телефон"],
                  ["Сайт", "Телефон", "WhatsApp"]) in changes
    assert Change("changed", "role.manager.rights.leads.view", "own", "group") in changes
    assert Change("changed", "pipeline.sales.stages (order)", "new, qualified", "qualified, new, won_soon") in changes
    # The new stage's own attributes are not listed separately.
    assert not any(c.address.startswith("pipeline.sales.stage.won_soon.") for c in changes)
    assert len(changes) == 7
    result = run_cli("blueprint", "diff", FIXTURES / "valid.yaml", new)
    assert result.exit_code == 2
    assert "~ pipeline.sales.stage.new.name: Первичный контакт → Новая заявка\n" in result.output
    assert "- loss_reason.expensive\n" in result.output and "+ loss_reason.competitor\n" in result.output
    assert result.output.endswith("2 added, 1 removed, 4 changed\n")


def test_diff_removed_pipeline_is_one_line(tmp_path):
    old = load_blueprint(blueprints_dir() / "presets" / "manufacturer.yaml")
    new_dict = old.to_dict()
    new_dict["pipelines"] = [p for p in new_dict["pipelines"] if p["key"] != "tenders"]
    new_dict["distribution"]["rules"] = [r for r in new_dict["distribution"]["rules"] if r["pipeline"] != "tenders"]
    from implkit.model import Blueprint

    changes = diff_blueprints(old, Blueprint.from_dict(new_dict))
    assert Change("removed", "pipeline.tenders") in changes
    assert Change("removed", "distribution.rule.tenders_to_tender_team") in changes
    assert not any(c.address.startswith("pipeline.tenders.") for c in changes)
    assert render_changes(changes).endswith("0 added, 2 removed, 0 changed\n")


def test_diff_bad_input_exit_3(run_cli):
    result = run_cli("blueprint", "diff", FIXTURES / "valid.yaml", FIXTURES / "syntax_error.yaml")
    assert result.exit_code == 3
    assert "syntax_error.yaml:5:10" in result.output
