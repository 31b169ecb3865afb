"""Compose: feature selection, the merge rules, conflicts, determinism, the CLI."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from blueprint_support import assessment_with

from implkit.blueprint import parse_blueprint
from implkit.blueprint.compose import compose, load_modules, merge_modules, select_features, slugify
from implkit.errors import InputError
from implkit.model import FEATURES

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "answers"
ANSWERS = {"company_name": "ООО «Мебельная фабрика»", "sellers": 8, "revenue_plan_month": 800000,
           "average_check": 40000}
MATRIX_5_10 = {"base": 3, "messengers": 3, "telephony": 3, "documents": 3, "web_forms": 3, "digital_pipeline": 2,
               "lead_distribution": 1, "access_restrictions": 1, "multiple_pipelines": 1, "analytics": 2,
               "external_analytics": 1}


def composed(**kw) -> str:
    return compose(ANSWERS, assessment=assessment_with(MATRIX_5_10), answers_name="answers.yaml", **kw)


def test_every_feature_has_a_module_with_titles():
    modules = load_modules()
    assert sorted(modules) == sorted(FEATURES)
    for key, module in modules.items():
        assert module.title_ru and module.title_en
        assert key == "base" or "base" in module.requires


def test_compose_selects_two_stars_and_fills_metadata():
    bp = parse_blueprint(composed())
    assert bp.features == ("base", "messengers", "telephony", "documents", "web_forms", "digital_pipeline",
                           "analytics")
    assert bp.name == "mebelnaya-fabrika"
    assert bp.company == "ООО «Мебельная фабрика»"
    assert (bp.sellers, bp.group) == (8, "5-10")
    plan = dict(dict(bp.analytics)["plan"])
    assert plan == {"revenue_month": 800000, "avg_check": 40000, "working_days": 21}
    # Stars 1 are left out: no distribution rules, no second pipeline.
    assert not bp.distribution
    assert [p.key for p in bp.pipelines] == ["sales"]


def test_compose_is_byte_identical_and_has_no_timestamp():
    first, second = composed(), composed()
    assert first == second
    header = [line for line in first.splitlines() if line.startswith("#")]
    assert header[0].startswith("# Composed by implkit ")
    assert any("answers: answers.yaml sha256:" in line for line in header)
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", first)  # no dates or times anywhere


def test_include_and_exclude_override_stars():
    bp = parse_blueprint(composed(include=("multiple_pipelines",), exclude=("telephony",)))
    assert "multiple_pipelines" in bp.features and "telephony" not in bp.features
    assert [p.key for p in bp.pipelines] == ["sales", "repeat", "service"]
    assert not any(i.kind == "telephony" for i in bp.integrations)
    assert "# selection: stars >= 2; include: multiple_pipelines; exclude: telephony" in composed(
        include=("multiple_pipelines",), exclude=("telephony",))


def test_min_stars_three_narrows_the_selection():
    bp = parse_blueprint(compose(ANSWERS, min_stars=3, assessment=assessment_with(MATRIX_5_10)))
    assert bp.features == ("base", "messengers", "telephony", "documents", "web_forms")


def test_base_always_and_requires_pulled_in():
    assert select_features((), ()) == ("base",)
    # external_analytics requires analytics: including it brings analytics along.
    assert select_features((), ("external_analytics",)) == ("base", "analytics", "external_analytics")
    with pytest.raises(InputError, match="--exclude base"):
        select_features((), (), ("base",))
    with pytest.raises(InputError, match="requires 'analytics', which --exclude removes"):
        select_features(("external_analytics",), (), ("analytics",))
    with pytest.raises(InputError, match="unknown feature"):
        select_features((), ("crm_magic",))


def test_module_stage_after_places_it_and_others_append():
    bp = parse_blueprint(composed())
    keys = [s.key for s in bp.pipeline("sales").stages]
    # documents adds `contract` after `negotiation`, not at the end.
    assert keys == ["new", "qualification", "meeting", "proposal", "negotiation", "contract", "invoice"]


def test_plain_lists_gain_missing_values_in_order():
    bp = parse_blueprint(composed())
    source = bp.field("field.leads.source")
    assert source.options[-2:] == ("WhatsApp", "Telegram")
    assert len(source.options) == len(set(source.options))


def test_access_restrictions_overrides_manager_rights():
    open_bp = parse_blueprint(composed())
    closed_bp = parse_blueprint(composed(include=("access_restrictions",)))
    manager = {r.key: r for r in open_bp.roles}["manager"].rights_dict()
    restricted = {r.key: r for r in closed_bp.roles}["manager"].rights_dict()
    assert manager["leads"]["view"] == "all"
    assert restricted["leads"]["view"] == "own"
    assert "senior_manager" in {r.key for r in closed_bp.roles}


def _conflict_modules(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "features"
    folder.mkdir()
    for name in names:
        shutil.copy(FIXTURES / "conflict" / f"{name}.yaml", folder / f"{name}.yaml")
    return folder


def test_conflict_names_both_sources(tmp_path):
    folder = _conflict_modules(tmp_path, "base", "messengers")
    modules = load_modules(folder)
    with pytest.raises(InputError) as caught:
        merge_modules(("base", "messengers"), modules)
    error = caught.value
    base, messengers = str(folder / "base.yaml"), str(folder / "messengers.yaml")
    assert base in str(error) and messengers in str(error)
    [problem] = error.problems
    assert str(problem).startswith(f"{messengers}:11:9: pipeline.sales.stage.new.name:")
    assert "'Новая заявка' in feature 'messengers' conflicts with 'Первичный контакт' set by feature 'base' " \
           f"at {base}:12:9" in problem.message
    assert "pipeline.sales.stage.new" in problem.message  # what to list in overrides


def test_overrides_after_and_option_union_in_fixture_modules(tmp_path):
    folder = _conflict_modules(tmp_path, "base", "telephony")
    body = merge_modules(("base", "telephony"), load_modules(folder))
    stages = [s["key"] for s in body["pipelines"][0]["stages"]]
    assert stages == ["new", "call_back", "won_soon", "last"]
    assert body["fields"]["leads"][0]["options"] == ["Сайт", "Входящий звонок"]
    assert body["roles"][0]["rights"]["leads"]["view"] == "own"  # telephony lists role.manager in overrides


def test_after_an_unknown_stage_is_an_error(tmp_path):
    folder = _conflict_modules(tmp_path, "base", "telephony")
    text = (folder / "telephony.yaml").read_text(encoding="utf-8").replace("after: new", "after: ghost")
    (folder / "telephony.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        merge_modules(("base", "telephony"), load_modules(folder))
    assert "after: no 'ghost' in pipeline.sales.stages" in str(caught.value)
    assert f"{folder / 'telephony.yaml'}:12:9: pipeline.sales.stage.call_back:" in str(caught.value)


def test_requires_missing_module_and_bad_module_schema(tmp_path):
    folder = _conflict_modules(tmp_path, "base", "documents")
    with pytest.raises(InputError, match="no feature module for 'telephony'"):
        select_features(("documents",), (), (), load_modules(folder))
    (folder / "documents.yaml").write_text(
        "apiVersion: implkit/v1\nkind: BlueprintFeature\nmetadata:\n  feature: documents\n"
        "  title: {ru: Д, en: D}\nstuff: 1\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_modules(folder)
    assert f"{folder / 'documents.yaml'}:6:1: stuff: unknown key 'stuff'" in str(caught.value)


def test_each_feature_alone_and_all_together_compose_valid():
    # compose validates its result and raises InputError otherwise.
    for feature in FEATURES:
        text = compose(ANSWERS, include=(feature,), assessment=assessment_with({"base": 3}))
        assert f"# features: base (3★)" in text and (feature == "base" or f"{feature} (0★)" in text)
    everything = parse_blueprint(compose(ANSWERS, assessment=assessment_with({f: 3 for f in FEATURES})))
    assert everything.features == FEATURES


def test_modules_composing_into_an_invalid_blueprint_are_refused(tmp_path):
    folder = _conflict_modules(tmp_path, "base")
    (folder / "analytics.yaml").write_text(
        "apiVersion: implkit/v1\nkind: BlueprintFeature\nmetadata:\n  feature: analytics\n"
        "  title: {ru: А, en: A}\npipelines:\n  - key: sales\n    automations:\n"
        "      - {on: enter, stage: ghost, do: notify}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        compose(ANSWERS, include=("analytics",), assessment=assessment_with({"base": 3}), modules_dir=folder)
    assert "compose into an invalid blueprint" in str(caught.value)
    assert "automation on unknown stage 'ghost'" in str(caught.value)
    assert "<composed blueprint>:" in str(caught.value)


def test_slugify():
    assert slugify("ООО «Мебельная фабрика»") == "mebelnaya-fabrika"
    assert slugify("ИП Петрова — интернет-магазин «Уютный дом»") == "petrova-internet-magazin-uyutnyy-dom"
    assert slugify("Acme LLC") == "acme"
    assert slugify("«»") == "blueprint"


def test_plan_left_out_without_revenue():
    bp = parse_blueprint(compose({"company_name": "X"}, assessment=assessment_with({"analytics": 3})))
    assert "plan" not in dict(bp.analytics)


@pytest.mark.skipif(not (EXAMPLES / "b2b-services.yaml").exists(), reason="examples/answers not in this checkout")
def test_cli_compose_with_the_sizing_matrix(run_cli, tmp_path):
    out = tmp_path / "blueprint.yaml"
    args = ("blueprint", "compose", "--answers", EXAMPLES / "b2b-services.yaml", "-o", out)
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    first = out.read_bytes()
    assert run_cli(*args).exit_code == 0
    assert out.read_bytes() == first
    assert run_cli("blueprint", "validate", out).exit_code == 0
    bp = parse_blueprint(first.decode("utf-8"))
    assert bp.sellers == 8 and "base" in bp.features
    assert b"# answers: b2b-services.yaml sha256:" in first


def test_cli_compose_bad_inputs_write_nothing(run_cli, tmp_path):
    out = tmp_path / "blueprint.yaml"
    answers = tmp_path / "answers.yaml"
    answers.write_text("questionnaire: 1\nlang: ru\nanswers: {sellers: [\n", encoding="utf-8")
    result = run_cli("blueprint", "compose", "--answers", answers, "-o", out)
    assert result.exit_code == 3
    assert f"{answers}:" in result.output
    assert not out.exists()
    usage = run_cli("blueprint", "compose", "--answers", answers, "--exclude", "nope", "-o", out)
    assert usage.exit_code == 3
    assert not out.exists()
