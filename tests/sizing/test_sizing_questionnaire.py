"""The questionnaire as data: typed answers in both languages, conditions, and a broken questionnaire file."""

from __future__ import annotations

import pytest

from implkit.errors import InputError
from implkit.sizing import conditions
from implkit.sizing.questionnaire import AnswerError, load_questionnaire, questionnaire_path


def q(qid: str):
    return load_questionnaire().question(qid)


@pytest.mark.parametrize(("qid", "typed", "value"), [
    ("sellers", " 8 ", 8),
    ("sellers", "1 200", 1200),
    ("average_check", "40 000 ₽", 40000),
    ("average_check", "40000,50", 40000.5),
    ("revenue_plan_month", "800000 руб.", 800000),
    ("has_head_of_sales", "Да", True),
    ("has_head_of_sales", "n", False),
    ("has_head_of_sales", "yes", True),
    ("industry", "4", "manufacturing"),
    ("industry", "интернет-магазин", "ecommerce"),
    ("industry", "Retail", "retail"),
    ("industry", "wholesale", "wholesale"),
    ("lead_channels", "1, 7; Telegram", ["website_forms", "phone", "telegram"]),
    ("lead_channels", "2,2", ["whatsapp"]),
    ("documents", "-", []),
    ("documents", "Договор, счёт", ["contract", "invoice"]),
    ("segments", "Москва, Регионы", ["Москва", "Регионы"]),
    ("segments", "", []),
    ("bi_tool", "  Power BI ", "Power BI"),
    ("bi_tool", "", ""),
])
def test_typed_answers_are_read(qid, typed, value):
    assert q(qid).parse(typed, "ru") == value


@pytest.mark.parametrize(("qid", "typed", "ru", "en"), [
    ("sellers", "ten", "Введите целое число", "Enter a whole number"),
    ("sellers", "0", "Не меньше 1", "At least 1"),
    ("sellers", "-1", "Не меньше 1", "At least 1"),
    ("sales_cycle_days", "5000", "Не больше 3650", "At most 3650"),
    ("average_check", "много", "Введите сумму", "Enter an amount"),
    ("average_check", "0", "Не меньше 1", "At least 1"),
    ("has_head_of_sales", "может быть", "Ответьте «да» или «нет»", "Answer yes or no"),
    ("industry", "9", "Нет такого варианта: 9", "No such option: 9"),
    ("industry", "banking", "Нет такого варианта: banking", "No such option: banking"),
    ("lead_channels", "-", "Выберите хотя бы 1", "Choose at least 1"),
    ("lead_channels", "1, fax", "Нет такого варианта: fax", "No such option: fax"),
    ("company_name", "   ", "Ответ не может быть пустым", "The answer cannot be empty"),
])
def test_bad_typed_answers_are_refused_in_the_interview_language(qid, typed, ru, en):
    with pytest.raises(AnswerError, match=ru):
        q(qid).parse(typed, "ru")
    with pytest.raises(AnswerError, match=en):
        q(qid).parse(typed, "en")


@pytest.mark.parametrize(("qid", "value", "lang"), [
    ("industry", "construction", "ru"), ("lead_channels", ["phone", "vk"], "en"), ("documents", [], "ru"),
    ("has_head_of_sales", False, "ru"), ("average_check", 1250000, "ru"), ("segments", ["A", "B"], "en"),
])
def test_a_shown_answer_reads_back(qid, value, lang):
    assert q(qid).parse(q(qid).show(value, lang), lang) == value


def test_every_question_has_text_in_both_languages_and_types_as_briefed():
    types = {question.id: question.type for question in load_questionnaire().questions}
    assert types == {
        "company_name": "text", "industry": "choice", "sellers": "integer", "has_head_of_sales": "yes_no",
        "segments": "text_list", "lead_channels": "multi_choice", "telephony_provider": "choice",
        "documents": "multi_choice", "sales_processes": "multi_choice", "average_check": "money",
        "revenue_plan_month": "money", "sales_cycle_days": "integer", "working_days": "integer", "bi_tool": "text", "target_crm": "choice",
        "deferred_features": "multi_choice", "curator": "choice", "crm_discipline_bonus": "yes_no",
        "project_start": "text", "one_c": "choice", "products": "text", "current_tools": "text",
    }
    assert all(question.text_ru and question.text_en for question in load_questionnaire().questions)
    assert [o.value for o in q("lead_channels").options] == [
        "website_forms", "whatsapp", "telegram", "vk", "avito", "instagram", "phone", "email"]
    assert [o.value for o in q("target_crm").options] == ["amocrm", "bitrix24"]


def test_telephony_provider_is_asked_only_when_phone_is_a_lead_channel():
    provider = q("telephony_provider")
    assert provider.is_asked({"lead_channels": ["email", "phone"]})
    assert not provider.is_asked({"lead_channels": ["email"]})
    assert not provider.is_asked({})


@pytest.mark.parametrize(("condition", "answers", "holds"), [
    ({"answer": "x", "equals": False}, {"x": False}, True),
    ({"answer": "x", "equals": False}, {"x": None}, False),
    ({"answer": "x", "lacks": "a"}, {"x": None}, True),
    ({"answer": "x", "contains_any": ["a", "b"]}, {"x": ["c", "b"]}, True),
    ({"answer": "x", "contains_none": ["a", "b"]}, {"x": ["c", "b"]}, False),
    ({"answer": "x", "min_items": 2}, {"x": ["a"]}, False),
    ({"answer": "x", "at_least": 6}, {"x": 6}, True),
    ({"answer": "x", "at_most": 5}, {"x": "5"}, False),
    ({"answer": "x", "empty": True}, {"x": "  "}, True),
    ({"any": [{"answer": "x", "empty": True}, {"answer": "y", "at_least": 1}]}, {"x": "a", "y": 2}, True),
    ({"not": {"answer": "x", "empty": True}}, {"x": "a"}, True),
])
def test_conditions(condition, answers, holds):
    assert conditions.evaluate(condition, answers) is holds


def test_condition_problems_name_where_they_are():
    found = conditions.problems({"all": [{"answer": "x", "bigger": 1}, {"answer": "nope", "min_items": "two"}]},
                                known=["x"])
    assert found == [
        (("all", 0), "a condition needs exactly one operator of: equals, contains, lacks, contains_any, "
                     "contains_none, min_items, at_least, at_most, empty"),
        (("all", 1, "answer"), "unknown or later question 'nope'"),
        (("all", 1, "min_items"), "'min_items' takes a number"),
    ]


def test_a_broken_questionnaire_lists_every_problem_with_its_place(tmp_path):
    text = questionnaire_path().read_text(encoding="utf-8")
    broken = (text
              .replace("  - id: industry\n    type: choice", "  - id: industry\n    type: dropdown")
              .replace("when: {answer: lead_channels, contains: phone}", "when: {answer: target_crm, contains: phone}")
              .replace("validation: {min: 1, max: 3650}", "validation: {min: 1, max_length: 3650}")
              .replace("  - id: bi_tool", "  - id: sellers"))
    path = tmp_path / "questionnaire.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(InputError) as error:
        load_questionnaire(str(path))
    by_key = {p.location.key: p.message for p in error.value.problems}
    assert by_key == {
        "questions.1.type": "type must be one of integer, money, text, yes_no, choice, multi_choice, text_list",
        "questions.6.when.answer": "unknown or later question 'target_crm'",
        "questions.11.validation.max_length": "integer takes no 'max_length' (allowed: max, min)",
        "questions.13.id": "duplicate question id 'sellers'",
    }
    assert all(p.location.line and p.location.column for p in error.value.problems)


@pytest.mark.parametrize("qid, value, ru, en", [
    ("industry", "space", "'space' — не одно из: services", "'space' is not one of: services"),
    ("lead_channels", ["whatsapp", "whatsapp"], "один и тот же элемент указан дважды", "contains the same item twice"),
    ("lead_channels", ["fax"], "'fax' — не одно из: website_forms", "'fax' is not one of: website_forms"),
])
def test_a_schema_finding_on_an_answer_is_told_in_the_interview_language(qid, value, ru, en):
    """jsonschema's own English ("is not one of", "has non-unique elements") never reaches the reader:
    the shared explainer words it, in the interview's language whatever the process's."""
    question = load_questionnaire().question(qid)
    for lang, expected in (("ru", ru), ("en", en)):
        with pytest.raises(AnswerError) as caught:
            question.check(value, lang)
        assert expected in str(caught.value), str(caught.value)
        assert "non-unique" not in str(caught.value) and "is too short" not in str(caught.value)
