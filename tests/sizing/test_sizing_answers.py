"""The answers file: the examples, every problem listed at once with file:line:col, rewriting with comments."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from implkit.errors import InputError
from implkit.sizing.answers import answers_document, load_answers, read_answers
from implkit.sizing.matrix import assess
from implkit.sizing.questionnaire import answers_schema_path, load_questionnaire, render_answers_schema
from implkit.yamlio import load_yaml, to_plain


QUESTION_IDS = (
    "company_name", "industry", "sellers", "has_head_of_sales", "segments", "lead_channels", "telephony_provider",
    "documents", "sales_processes", "average_check", "revenue_plan_month", "sales_cycle_days", "working_days",
    "bi_tool", "target_crm", "deferred_features", "curator", "crm_discipline_bonus", "project_start", "one_c", "products", "current_tools",
)


def test_the_examples_load_with_their_briefed_answers(examples):
    b2b = load_answers(examples / "b2b-services.yaml")
    assert (b2b["sellers"], b2b["has_head_of_sales"], b2b["target_crm"]) == (8, True, "amocrm")
    assert b2b["lead_channels"] == ["website_forms", "whatsapp", "telegram", "phone", "email"]
    assert b2b["documents"] == ["contract", "invoice", "act"]
    assert b2b["sales_processes"] == ["new_sales", "repeat_sales"]
    assert (b2b["average_check"], b2b["revenue_plan_month"], b2b["sales_cycle_days"]) == (40000, 800000, 21)
    retail = load_answers(examples / "retail.yaml")
    assert (retail["sellers"], retail["industry"], retail["telephony_provider"]) == (4, "ecommerce", None)
    maker = load_answers(examples / "manufacturer.yaml")
    assert (maker["sellers"], maker["bi_tool"]) == (60, "Power BI")
    assert {"b2b", "b2c", "service"} <= set(maker["sales_processes"]) and len(maker["segments"]) >= 2
    assert [assess(a).group for a in (b2b, retail, maker)] == ["5-10", "2-5", "30-100"]


@pytest.mark.parametrize("name", ["b2b-services.yaml", "retail.yaml", "manufacturer.yaml"])
def test_the_examples_hold_up_against_the_shipped_schema_alone(examples, name):
    schema = json.loads(answers_schema_path().read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(to_plain(load_yaml(examples / name)))) == []


def test_the_shipped_schema_is_generated_from_the_questionnaire():
    assert answers_schema_path().read_text(encoding="utf-8") == render_answers_schema(load_questionnaire()), \
        "run: python -m implkit.sizing.questionnaire"
    schema = json.loads(answers_schema_path().read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_questionnaire_has_exactly_the_agreed_ids():
    assert load_questionnaire().ids == QUESTION_IDS


def test_every_question_id_is_in_the_result_in_questionnaire_order(write_answers_file, answers):
    del answers["segments"], answers["bi_tool"]  # optional: they take their defaults
    loaded = load_answers(write_answers_file(answers))
    assert tuple(loaded) == QUESTION_IDS
    assert (loaded["segments"], loaded["working_days"], loaded["bi_tool"]) == ([], 21, "")


def test_a_whole_float_for_an_integer_question_reads_as_int(write_answers_file, answers):
    answers.update(sellers=8.0, average_check=40000.0)
    loaded = load_answers(write_answers_file(answers))
    assert type(loaded["sellers"]) is int and type(loaded["average_check"]) is int


def test_several_bad_answers_are_all_listed_with_file_line_col(write_answers_file):
    path = write_answers_file(text=(
        "questionnaire: 1\n"
        "lang: ru\n"
        "answers:\n"
        "  company_name: ''\n"
        "  industry: banking\n"
        "  sellers: ten\n"
        "  has_head_of_sales: yes\n"
        "  lead_channels: [website_forms, fax]\n"
        "  documents: [contract]\n"
        "  sales_processes: []\n"
        "  average_check: -5\n"
        "  revenue_plan_month: 800000\n"
        "  sales_cycle_days: 21\n"
        "  target_crm: sap\n"
        "  seller: 3\n"
    ))
    with pytest.raises(InputError) as error:
        load_answers(path)
    text = str(error.value)
    expected = [
        ("answers.company_name", 4, 3), ("answers.industry", 5, 3), ("answers.sellers", 6, 3),
        ("answers.has_head_of_sales", 7, 3), ("answers.lead_channels.1", 8, 34), ("answers.sales_processes", 10, 3),
        ("answers.average_check", 11, 3), ("answers.target_crm", 14, 3), ("answers.seller", 15, 3),
    ]
    got = [(p.location.key, p.location.line, p.location.column) for p in error.value.problems]
    assert got == expected
    assert f"{path}:6:3: answers.sellers: expected a whole number, got text 'ten'" in text
    assert "did you mean 'sellers'?" in text
    assert error.value.exit_code == 3


def test_missing_answers_are_listed_by_question_id(write_answers_file, answers):
    del answers["sellers"], answers["target_crm"]
    with pytest.raises(InputError) as error:
        load_answers(write_answers_file(answers))
    assert {(p.location.key, p.message) for p in error.value.problems} == {
        ("answers.sellers", "missing answer"), ("answers.target_crm", "missing answer"),
    }


def test_a_conditional_question_is_required_when_asked(write_answers_file, answers):
    del answers["telephony_provider"]
    with pytest.raises(InputError) as error:
        load_answers(write_answers_file(answers))
    (problem,) = error.value.problems
    assert problem.location.key == "answers.telephony_provider"
    assert "asked because lead_channels includes phone" in problem.message


def test_a_conditional_question_answered_when_not_asked_is_refused(write_answers_file, answers):
    answers["lead_channels"] = ["email"]  # no phone, yet telephony_provider: mango stays
    path = write_answers_file(answers)
    with pytest.raises(InputError) as error:
        load_answers(path)
    (problem,) = error.value.problems
    line = path.read_text(encoding="utf-8").splitlines().index("  telephony_provider: mango") + 1
    assert (problem.location.key, problem.location.line, problem.location.column) == (
        "answers.telephony_provider", line, 3)
    assert "asked only when lead_channels includes phone" in problem.message


def test_a_conditional_question_not_asked_reads_as_none(write_answers_file, answers):
    answers["lead_channels"] = ["email"]
    del answers["telephony_provider"]
    assert load_answers(write_answers_file(answers))["telephony_provider"] is None


def test_a_bad_answer_a_condition_depends_on_does_not_add_guesses(write_answers_file, answers):
    answers["lead_channels"] = "phone"  # not a list: whether telephony is asked is unknowable
    with pytest.raises(InputError) as error:
        load_answers(write_answers_file(answers))
    assert [p.location.key for p in error.value.problems] == ["answers.lead_channels"]


def test_another_questionnaire_version_is_refused(write_answers_file, answers):
    text = write_answers_file(answers).read_text(encoding="utf-8").replace("questionnaire: 1", "questionnaire: 2")
    with pytest.raises(InputError, match="questionnaire version 2; this implkit asks version 1"):
        load_answers(write_answers_file(text=text))


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("questionnaire: 1\nanswers: [1\n", "invalid YAML"),
    ("- 1\n- 2\n", "expected a mapping, got a list"),
    ("questionnaire: 1\nlang: de\nanswers: {}\nextra: 1\n", "unknown key"),
])
def test_malformed_files_are_bad_input(write_answers_file, text, message):
    with pytest.raises(InputError) as error:
        load_answers(write_answers_file(text=text))
    assert message in str(error.value)


def test_a_missing_file_is_bad_input(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_answers(tmp_path / "nope.yaml")


# --- rewriting --------------------------------------------------------------------------------------------


COMMENTED = """\
# Ромашка, first meeting
questionnaire: 1          # questionnaire version
lang: ru
answers:
  company_name: "ООО Ромашка"   # legal name
  industry: services
  sellers: 8   # without the head
  has_head_of_sales: true
  lead_channels: [website_forms, phone]
  telephony_provider: mango  # their PBX
  documents: [contract]
  sales_processes: [new_sales]
  average_check: 40000
  revenue_plan_month: 800000
  sales_cycle_days: 21
  target_crm: amocrm  # decided
"""


def test_rewrite_keeps_comments_and_unchanged_values(write_answers_file):
    source = read_answers(write_answers_file(text=COMMENTED))
    changed = dict(source.answers, sellers=12, bi_tool="DataLens")
    text = answers_document(changed, "ru", source.tree)
    for comment in ("# Ромашка, first meeting", "# questionnaire version", "# legal name", "# without the head",
                    "# their PBX", "# decided"):
        assert comment in text
    assert "  sellers: 12  # without the head\n" in text  # the comment keeps its column
    assert '  company_name: "ООО Ромашка"   # legal name\n' in text  # quotes kept
    assert text.index("segments:") < text.index("lead_channels:")  # added in questionnaire order
    assert text.index("bi_tool: DataLens") < text.index("target_crm:")
    assert to_plain(load_yaml("x", text=text))["answers"] == {k: v for k, v in changed.items() if v is not None}


def test_rewrite_drops_an_answer_no_longer_asked(write_answers_file):
    source = read_answers(write_answers_file(text=COMMENTED))
    text = answers_document(dict(source.answers, lead_channels=["email"], telephony_provider=None), "ru",
                            source.tree)
    assert "telephony_provider" not in text and "# their PBX" not in text
    assert "lead_channels: [email]" in text


def test_a_new_file_has_a_header_and_flow_lists(answers):
    text = answers_document(answers, "en")
    assert text.startswith("# implkit sizing answers")
    assert "lang: en\n" in text and "lead_channels: [website_forms, whatsapp, telegram, phone, email]" in text
    assert to_plain(load_yaml("x", text=text))["answers"] == answers
