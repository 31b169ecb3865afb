"""The relevance matrix: seller-group boundaries, the matrix as data, and every answer-driven adjustment."""

from __future__ import annotations

from pathlib import Path

import pytest

from implkit.errors import InputError
from implkit.model import FEATURES, SELLER_GROUPS
from implkit.sizing import Assessment
from implkit.sizing.matrix import assess, load_matrix, seller_group, sizing_path
from implkit.yamlio import load_yaml, to_plain

SHARED = Path(__file__).resolve().parents[3] / "shared"

BOUNDARIES = [
    (1, "1-2"), (2, "1-2"), (3, "2-5"), (5, "2-5"), (6, "5-10"), (10, "5-10"),
    (11, "10-30"), (30, "10-30"), (31, "30-100"), (100, "30-100"), (101, "30-100"),
]
BAD_SELLERS = [0, -1, "ten", "8", 2.5, True, None]


@pytest.mark.parametrize(("sellers", "group"), BOUNDARIES)
def test_seller_group_boundaries(sellers, group):
    assert seller_group(sellers) == group


@pytest.mark.parametrize(("sellers", "group"), BOUNDARIES)
def test_assess_uses_the_same_group_and_its_matrix_column(sellers, group):
    assessment = assess({"sellers": sellers})
    assert assessment.group == group
    column = SELLER_GROUPS.index(group)
    for score, row in zip(assessment.features, load_matrix().rows):
        assert score.matrix_stars == row.stars[column]


@pytest.mark.parametrize("sellers", BAD_SELLERS)
def test_bad_seller_counts_are_bad_input(sellers):
    with pytest.raises(InputError) as seller_error:
        seller_group(sellers)
    assert seller_error.value.exit_code == 3
    assert "sellers" in str(seller_error.value)
    with pytest.raises(InputError):
        assess({"sellers": sellers})


def test_assess_without_sellers_is_bad_input():
    with pytest.raises(InputError, match="sellers: missing answer"):
        assess({"lead_channels": ["phone"]})


def test_more_than_100_sellers_carries_a_note_in_both_languages():
    assessment = assess({"sellers": 101})
    assert [n.code for n in assessment.notes] == ["beyond_matrix"]
    assert "ends at 100" in assessment.notes[0].en
    assert "заканчивается на 100" in assessment.notes[0].ru
    assert assess({"sellers": 100}).notes == ()


def test_every_feature_in_matrix_order_with_names_in_both_languages():
    assessment = assess({"sellers": 8})
    assert tuple(f.key for f in assessment.features) == FEATURES
    base = assessment.feature("base")
    assert (base.name_ru, base.name_en) == ("Базовая настройка", "Base setup (pipelines, card fields)")


def test_matrix_column_for_5_10_matches_design():
    stars = {f.key: f.stars for f in assess({"sellers": 8}).features}
    assert stars == {
        "base": 3, "messengers": 3, "telephony": 3, "documents": 3, "web_forms": 3, "digital_pipeline": 2,
        "lead_distribution": 1, "access_restrictions": 1, "multiple_pipelines": 1, "analytics": 2,
        "external_analytics": 1,
    }
    # the reason names the group by its bounds (6–10 sellers), as implkit labels groups everywhere (DESIGN.md)
    assert all(f.reasons[0].code == "matrix" and "group of 6–10 sellers" in f.reasons[0].en
               for f in assess({"sellers": 8}).features)


@pytest.mark.skipif(not (SHARED / "reference" / "sizing-matrix.yaml").is_file(),
                    reason="../shared/reference/sizing-matrix.yaml is not present")
def test_shipped_matrix_is_the_reference_transcription():
    reference = to_plain(load_yaml(SHARED / "reference" / "sizing-matrix.yaml"))
    matrix = load_matrix()
    assert [g.label for g in matrix.groups] == reference["groups"]
    assert [(r.key, r.name_ru, list(r.stars)) for r in matrix.rows] == [
        (f["key"], f["name"], f["stars"]) for f in reference["features"]
    ]


def test_group_bounds_and_labels_follow_the_model():
    groups = load_matrix().groups
    assert tuple(g.label for g in groups) == SELLER_GROUPS
    assert [(g.min, g.max) for g in groups] == [(1, 2), (3, 5), (6, 10), (11, 30), (31, 100)]


# --- adjustments: each one fires on its answers, and only then -------------------------------------------


def _adjusted(answers: dict, feature: str) -> tuple[int | None, int | None, list[str]]:
    score = assess(answers).feature(feature)
    return score.matrix_stars, score.stars, [r.code for r in score.reasons]


@pytest.mark.parametrize("sellers", [1, 4, 8, 20, 60, 150])
def test_no_phone_channel_makes_telephony_optional_whatever_the_group(answers, sellers):
    answers.update(sellers=sellers, lead_channels=["website_forms", "email"], telephony_provider=None)
    _, stars, codes = _adjusted(answers, "telephony")
    assert stars == 1
    assert codes == ["matrix", "no_phone_channel"]


def test_phone_channel_keeps_the_matrix_telephony(answers):
    assert _adjusted(answers, "telephony") == (3, 3, ["matrix"])


def test_two_sales_processes_make_multiple_pipelines_essential(answers):
    answers["sales_processes"] = ["new_sales", "service"]
    matrix_stars, stars, codes = _adjusted(answers, "multiple_pipelines")
    assert (matrix_stars, stars, codes) == (1, 3, ["matrix", "several_sales_processes"])
    reason = assess(answers).feature("multiple_pipelines").reasons[-1]
    assert "Новые продажи, Сервис и поддержка" in reason.ru
    assert "New sales, Service and support" in reason.en


def test_one_sales_process_keeps_the_matrix_pipelines(answers):
    assert _adjusted(answers, "multiple_pipelines") == (1, 1, ["matrix"])


@pytest.mark.parametrize("sellers", [1, 5])
def test_no_head_of_sales_and_up_to_5_sellers_need_no_access_restrictions(answers, sellers):
    answers.update(sellers=sellers, has_head_of_sales=False)
    _, stars, codes = _adjusted(answers, "access_restrictions")
    assert stars is None
    assert codes[-1] == "small_team_no_head"


def test_access_restrictions_kept_with_a_head_or_more_than_5_sellers(answers):
    answers.update(sellers=6, has_head_of_sales=False)
    assert _adjusted(answers, "access_restrictions") == (1, 1, ["matrix"])
    answers.update(sellers=5, has_head_of_sales=True)
    assert _adjusted(answers, "access_restrictions") == (None, None, ["matrix"])


def test_a_named_bi_tool_makes_external_analytics_essential(answers):
    answers["bi_tool"] = "Power BI"
    matrix_stars, stars, codes = _adjusted(answers, "external_analytics")
    assert (matrix_stars, stars, codes[-1]) == (1, 3, "bi_tool_named")
    assert "Power BI" in assess(answers).feature("external_analytics").reasons[-1].en


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_no_bi_tool_keeps_the_matrix_external_analytics(answers, empty):
    answers["bi_tool"] = empty
    assert _adjusted(answers, "external_analytics") == (1, 1, ["matrix"])


def test_no_messenger_channel_makes_messengers_not_essential(answers):
    answers["lead_channels"] = ["website_forms", "phone", "email"]
    assert _adjusted(answers, "messengers") == (3, 1, ["matrix", "no_messenger_channel"])


@pytest.mark.parametrize("messenger", ["whatsapp", "telegram", "vk", "avito", "instagram"])
def test_any_messenger_channel_keeps_messengers(answers, messenger):
    answers["lead_channels"] = ["email", messenger]
    assert _adjusted(answers, "messengers") == (3, 3, ["matrix"])


def test_no_documents_makes_document_generation_not_relevant(answers):
    answers["documents"] = []
    assert _adjusted(answers, "documents") == (3, None, ["matrix", "no_documents"])


def test_no_website_forms_channel_needs_no_form_integration(answers):
    answers["lead_channels"] = ["phone", "whatsapp"]
    assert _adjusted(answers, "web_forms") == (3, None, ["matrix", "no_web_forms"])


def test_adjustments_need_their_answers_present():
    """A caller passing only `sellers` gets the bare matrix, not every "no X" rule."""
    assessment = assess({"sellers": 8})
    assert all([r.code for r in f.reasons] == ["matrix"] for f in assessment.features)


def test_selected_features_follow_the_adjusted_stars(answers):
    answers.update(lead_channels=["email"], documents=[], telephony_provider=None)
    selected = assess(answers).selected()
    assert "telephony" not in selected and "documents" not in selected and "web_forms" not in selected
    assert selected[:1] == ("base",)


def test_assessment_is_the_shared_dataclass():
    assert isinstance(assess({"sellers": 3}), Assessment)


def test_a_broken_sizing_file_lists_every_problem(tmp_path):
    text = sizing_path().read_text(encoding="utf-8")
    broken = text.replace("stars: [2, 3, 3, 3, 3]", "stars: [2, 3, 3]").replace(
        "feature: web_forms", "feature: web_form").replace("lacks: phone", "lacks_all: phone")
    path = tmp_path / "sizing.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(InputError) as error:
        load_matrix(str(path))
    keys = [p.location.key for p in error.value.problems]
    assert "features.1.stars" in keys
    assert "adjustments.6.feature" in keys
    assert "adjustments.0.when" in keys
    assert all(p.location.line for p in error.value.problems)
