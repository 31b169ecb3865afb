"""`implkit size`: interactive in both languages, --answers for CI, exit codes, comments kept, nothing half-written."""

from __future__ import annotations

import re

import pytest

from implkit.sizing.answers import load_answers
from implkit.yamlio import load_yaml, to_plain

RU_TYPED = [
    "ООО Ромашка",  # company_name
    "1",  # industry: Услуги
    "десять",  # sellers: refused, asked again
    "8",
    "да",  # has_head_of_sales
    "",  # segments: default (none)
    "1, 2, 3, 7, 8",  # lead_channels, phone among them
    "Sipuni",  # telephony_provider: asked because phone is a channel
    "1,2,3",  # documents
    "1,2",  # sales_processes
    "40 000",  # average_check
    "800000",  # revenue_plan_month
    "21",  # sales_cycle_days
    "",  # working_days: default 21
    "",  # bi_tool: none
    "",  # target_crm: default amoCRM
    "",  # deferred_features: none
    "",  # curator: default
    "",  # crm_discipline_bonus: default no
    "",  # project_start: none
    "",  # one_c: default none
    "",  # products: none
    "",  # current_tools: none
]

EN_TYPED = [
    "Acme Ltd",
    "retail",
    "4",
    "no",
    "North, South",
    "website_forms, whatsapp",  # no phone: the telephony question is skipped
    "-",  # no documents
    "b2c",
    "3500",
    "1200000",
    "2",
    "20",  # working days
    "Power BI",
    "2",  # Bitrix24
    "-",  # deferred_features: none
    "3",  # curator: the integrator
    "no",  # crm_discipline_bonus
    "2026-02-02",  # project_start
    "4",  # one_c: both ways
    "Office furniture",  # products
    "Excel",  # current_tools
]


def typed(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def test_interactive_in_russian_asks_re_asks_and_writes_the_file(run_cli, tmp_path):
    out = tmp_path / "answers.yaml"
    result = run_cli("size", "-o", out, input=typed(RU_TYPED))
    assert result.exit_code == 0, result.output
    assert "Как называется компания?" in result.output
    assert "Какая у вас IP-телефония?" in result.output
    assert "✗ Введите целое число, например 8" in result.output
    assert "Группа по числу продавцов: 6–10 (8 чел.)" in result.stdout
    assert "Несколько воронок" in result.stdout and "★★★" in result.stdout
    answers = load_answers(out)
    assert answers == {
        "company_name": "ООО Ромашка", "industry": "services", "sellers": 8, "has_head_of_sales": True,
        "segments": [], "lead_channels": ["website_forms", "whatsapp", "telegram", "phone", "email"],
        "telephony_provider": "sipuni", "documents": ["contract", "invoice", "act"],
        "sales_processes": ["new_sales", "repeat_sales"], "average_check": 40000, "revenue_plan_month": 800000,
        "sales_cycle_days": 21, "working_days": 21, "bi_tool": "", "target_crm": "amocrm",
        "deferred_features": [], "curator": "client_employee", "crm_discipline_bonus": False,
        "project_start": "", "one_c": "none", "products": "", "current_tools": "",
    }
    assert to_plain(load_yaml(out))["lang"] == "ru"


def test_interactive_in_english_honours_the_condition(run_cli, tmp_path):
    out = tmp_path / "answers.yaml"
    result = run_cli("size", "--lang", "en", "-o", out, input=typed(EN_TYPED))
    assert result.exit_code == 0, result.output
    assert "What is the company called?" in result.output
    assert "Which IP telephony provider" not in result.output
    assert "Как называется" not in result.output
    assert "Seller group: 3–5 (4 sellers)" in result.stdout
    assert "Up to 5 sellers and no head of sales" in result.stdout
    answers = load_answers(out)
    assert answers["telephony_provider"] is None and "telephony_provider" not in out.read_text(encoding="utf-8")
    assert (answers["segments"], answers["documents"], answers["working_days"], answers["bi_tool"],
            answers["target_crm"]) == (["North", "South"], [], 20, "Power BI", "bitrix24")
    assert to_plain(load_yaml(out))["lang"] == "en"


def test_interactive_writes_answers_yaml_by_default(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("size", "--lang", "en", input=typed(EN_TYPED))
    assert result.exit_code == 0, result.output
    assert load_answers(tmp_path / "answers.yaml")["company_name"] == "Acme Ltd"


def test_interactive_rerun_offers_the_earlier_answers_and_keeps_comments(run_cli, tmp_path, examples):
    out = tmp_path / "answers.yaml"
    out.write_text("# notes from the call\n" + (examples / "b2b-services.yaml").read_text(encoding="utf-8")
                   .replace("sellers: 8", "sellers: 8  # two more in spring"), encoding="utf-8")
    # "y": overwrite it; then Enter everywhere: accept every earlier answer
    result = run_cli("size", "-o", out, input="y\n" + "\n" * 30)
    assert result.exit_code == 0, result.output
    assert f"Файл {out} уже есть: его ответы станут ответами по умолчанию" in result.stderr
    assert f"Ответы по умолчанию — из {out}; файл будет перезаписан." in result.stderr
    assert "[ООО Ромашка Консалт]" in result.output
    text = out.read_text(encoding="utf-8")
    assert "# notes from the call" in text and "sellers: 8  # two more in spring" in text
    assert load_answers(out) == load_answers(examples / "b2b-services.yaml")


@pytest.mark.parametrize("reply", ["\n", "n\n", ""])   # Enter (the default is no), "no", end of input
def test_interactive_refuses_to_overwrite_an_existing_answers_file_unless_told(run_cli, tmp_path, examples, reply):
    out = tmp_path / "answers.yaml"
    before = (examples / "b2b-services.yaml").read_text(encoding="utf-8")
    out.write_text(before, encoding="utf-8")
    result = run_cli("size", "-o", out, input=reply + "\n" * 30)
    assert result.exit_code == 3
    assert "--force" in result.stderr and "Как называется компания?" not in result.output
    assert out.read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.yaml"]


def test_interactive_force_overwrites_without_asking_and_says_where_the_defaults_come_from(run_cli, tmp_path,
                                                                                           examples):
    out = tmp_path / "answers.yaml"
    out.write_text((examples / "b2b-services.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = run_cli("size", "--lang", "en", "-o", out, "--force", input="Other Ltd\n" + "\n" * 30)
    assert result.exit_code == 0, result.output
    assert "Continue?" not in result.stderr
    assert f"The defaults are the answers in {out}; the file will be overwritten." in result.stderr
    assert load_answers(out)["company_name"] == "Other Ltd"
    assert load_answers(out)["sellers"] == 8


def test_interactive_input_running_out_keeps_a_draft_and_writes_no_answers_file(run_cli, tmp_path):
    out = tmp_path / "answers.yaml"
    result = run_cli("size", "-o", out, input=typed(RU_TYPED[:5]))
    assert result.exit_code == 1
    assert not out.exists()
    draft = tmp_path / "answers.draft.yaml"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.draft.yaml"]
    assert to_plain(load_yaml(draft))["answers"] == {
        "company_name": "ООО Ромашка", "industry": "services", "sellers": 8, "has_head_of_sales": True}
    assert f"Анкета прервана. Черновик {draft}: 4 ответа; `implkit size` продолжит с него." in result.stderr


def test_an_interrupted_interview_resumes_from_its_draft(run_cli, tmp_path):
    out = tmp_path / "answers.yaml"
    assert run_cli("size", "-o", out, input=typed(RU_TYPED[:5])).exit_code == 1
    # Enter accepts resuming (the default), then only the questions not yet answered are asked
    result = run_cli("size", "-o", out, input="\n" + typed(RU_TYPED[5:]))
    assert result.exit_code == 0, result.output
    assert "Найден черновик прерванной анкеты" in result.stderr and "(4 ответа)" in result.stderr
    assert "Как называется компания? — ООО Ромашка (из черновика)" in result.stderr
    assert result.stderr.count("Как называется компания?") == 1     # shown once, not asked again
    assert load_answers(out)["sellers"] == 8 and load_answers(out)["telephony_provider"] == "sipuni"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.yaml"]   # the draft is gone once done


def test_a_draft_declined_is_not_used(run_cli, tmp_path):
    out = tmp_path / "answers.yaml"
    assert run_cli("size", "-o", out, input=typed(RU_TYPED[:5])).exit_code == 1
    again = ["ООО Лютик", *RU_TYPED[1:]]
    result = run_cli("size", "-o", out, input="n\n" + typed(again))
    assert result.exit_code == 0, result.output
    assert "(из черновика)" not in result.stderr
    assert load_answers(out)["company_name"] == "ООО Лютик"
    assert not (tmp_path / "answers.draft.yaml").exists()


@pytest.mark.parametrize(("lang", "said"), [("ru", "Это обязательный вопрос: введите ответ"),
                                             ("en", "This question needs an answer")])
def test_a_blank_answer_to_a_required_question_says_why(run_cli, tmp_path, lang, said):
    out = tmp_path / "answers.yaml"
    lines = RU_TYPED if lang == "ru" else EN_TYPED
    result = run_cli("size", "--lang", lang, "-o", out, input="\n   \n" + typed(lines))  # blank, then spaces
    assert result.exit_code == 0, result.output
    assert result.stderr.count(said) == 2
    assert load_answers(out)["company_name"] == lines[0]


# --- --answers (no prompts) -----------------------------------------------------------------------------


@pytest.mark.parametrize(("sellers", "code", "group"), [
    (0, 3, None), (-1, 3, None), ("ten", 3, None),
    (1, 0, "1–2"), (2, 0, "1–2"), (3, 0, "3–5"), (5, 0, "3–5"), (6, 0, "6–10"), (10, 0, "6–10"),
    (11, 0, "11–30"), (30, 0, "11–30"), (31, 0, "31–100"), (100, 0, "31–100"), (101, 0, "31–100"),
])
def test_seller_boundaries_through_the_cli(run_cli, write_answers_file, answers, sellers, code, group):
    answers["sellers"] = sellers
    path = write_answers_file(answers, lang="en")
    result = run_cli("size", "--answers", path)
    assert result.exit_code == code, result.output
    if group is None:
        assert f"{path}:" in result.stderr and "answers.sellers:" in result.stderr
        assert result.stdout == ""
    else:
        assert f"Seller group: {group} ({sellers} sellers)" in result.stdout
        assert ("the matrix ends at 100" in result.stdout) is (sellers > 100)
        # one labelling: a group is shown by its bounds, never by the overlapping column names
        assert not {"2-5", "5-10", "10-30", "30-100"} & set(result.stdout.replace("(", " ").replace(")", " ").split())


@pytest.mark.parametrize(("sellers", "words"), [(101, "101 продавец"), (102, "102 продавца"), (111, "111 продавцов")])
def test_beyond_the_matrix_note_agrees_in_russian(run_cli, write_answers_file, answers, sellers, words):
    answers["sellers"] = sellers
    result = run_cli("size", "--answers", write_answers_file(answers, lang="en"), "--lang", "ru")
    assert result.exit_code == 0, result.output
    assert f"{words}: матрица заканчивается на 100 — использована последняя группа «31–100»" in result.stdout


def test_answers_mode_lists_every_problem_and_writes_nothing(run_cli, write_answers_file, answers, tmp_path):
    answers.update(sellers="ten", industry="banking", lead_channels=["email", "fax"], average_check=0)
    del answers["target_crm"]
    path = write_answers_file(answers)
    out = tmp_path / "out.yaml"
    result = run_cli("size", "--answers", path, "-o", out)
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert [line.split(": ", 2)[1] for line in lines] == [
        "answers.target_crm", "answers.industry", "answers.sellers", "answers.lead_channels.1",
        "answers.average_check",
    ]
    assert all(line.split(":")[1].isdigit() and line.split(":")[2].isdigit() for line in lines)
    assert "5 problems" in result.stderr and "Traceback" not in result.output
    assert not out.exists()


def test_a_failed_run_leaves_the_existing_output_untouched(run_cli, write_answers_file, answers, tmp_path):
    out = tmp_path / "out.yaml"
    out.write_text("# mine\nquestionnaire: 1\n", encoding="utf-8")
    answers["sellers"] = 0
    result = run_cli("size", "--answers", write_answers_file(answers), "-o", out)
    assert result.exit_code == 3
    assert out.read_text(encoding="utf-8") == "# mine\nquestionnaire: 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.yaml", "out.yaml"]


def test_a_failing_write_keeps_the_old_file_whole(run_cli, examples, tmp_path, monkeypatch):
    out = tmp_path / "out.yaml"
    out.write_text("# old\n", encoding="utf-8")

    def refuse(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("implkit.yamlio.os.replace", refuse)
    result = run_cli("size", "--answers", examples / "retail.yaml", "-o", out)
    assert result.exit_code == 1
    assert out.read_text(encoding="utf-8") == "# old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.yaml"]


def test_answers_mode_rewrites_its_own_file_keeping_comments(run_cli, write_answers_file):
    source = write_answers_file(text=(
        "# first meeting, 12 May\n"
        "questionnaire: 1          # questionnaire version\n"
        "lang: en\n"
        "answers:\n"
        "  company_name: \"ООО Ромашка\"   # legal name\n"
        "  industry: services\n"
        "  sellers: 150   # all regions\n"
        "  has_head_of_sales: true\n"
        "  lead_channels: [email]\n"
        "  documents: []   # none yet\n"
        "  sales_processes: [new_sales]\n"
        "  average_check: 40000\n"
        "  revenue_plan_month: 800000\n"
        "  sales_cycle_days: 21\n"
        "  target_crm: amocrm  # decided\n"
    ))
    result = run_cli("size", "--answers", source, "-o", source)
    assert result.exit_code == 0, result.output
    text = source.read_text(encoding="utf-8")
    for comment in ("# first meeting, 12 May", "# questionnaire version", "# legal name", "# all regions",
                    "# none yet", "# decided"):
        assert comment in text
    assert "segments: []" in text and "bi_tool: ''" in text  # defaults made explicit
    assert "Seller group: 31–100 (150 sellers)" in result.stdout  # the file's lang without --lang
    assert "Note: 150 sellers: the matrix ends at 100" in result.stdout


def test_answers_mode_copies_into_an_existing_file_keeping_its_comments(run_cli, examples, tmp_path):
    out = tmp_path / "client.yaml"
    out.write_text("# client file — keep\nquestionnaire: 1\nlang: ru\nanswers:\n  sellers: 3  # old count\n",
                   encoding="utf-8")
    result = run_cli("size", "--answers", examples / "manufacturer.yaml", "-o", out, "--lang", "en")
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "# client file — keep" in text
    assert re.search(r"^  sellers: 60 +# old count$", text, re.M)
    assert load_answers(out) == load_answers(examples / "manufacturer.yaml")
    assert "External analytics" in result.stdout and "Power BI" in result.stdout


def test_answers_mode_without_output_writes_nothing(run_cli, examples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("size", "--answers", examples / "b2b-services.yaml")
    assert result.exit_code == 0
    assert list(tmp_path.iterdir()) == []
    assert "Группа по числу продавцов: 6–10" in result.stdout


@pytest.mark.parametrize("args", [
    ("--lang", "de"),
    ("--answers", "no-such-file.yaml"),
    ("--bogus",),
])
def test_bad_command_lines_exit_3(run_cli, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = run_cli("size", *args)
    assert result.exit_code == 3
    assert list(tmp_path.iterdir()) == []


def test_a_broken_existing_output_is_refused_before_asking(run_cli, tmp_path):
    out = tmp_path / "answers.yaml"
    out.write_text("answers: [1\n", encoding="utf-8")
    result = run_cli("size", "-o", out, input=typed(RU_TYPED))
    assert result.exit_code == 3
    assert f"{out}:2:1" in result.stderr
    assert "Как называется компания?" not in result.output
    assert out.read_text(encoding="utf-8") == "answers: [1\n"


@pytest.mark.parametrize("content", [
    "apiVersion: implkit/v1\nkind: Blueprint\nmetadata: {name: x}\n",
    "- just\n- a list\n",
])
def test_an_output_that_is_not_an_answers_file_is_refused(run_cli, examples, tmp_path, content):
    out = tmp_path / "blueprint.yaml"
    out.write_text(content, encoding="utf-8")
    result = run_cli("size", "--answers", examples / "retail.yaml", "-o", out)
    assert result.exit_code == 3
    assert "not an answers file" in result.stderr and f"{out}:1:1" in result.stderr
    assert out.read_text(encoding="utf-8") == content


def test_the_overwrite_question_re_asks_a_reply_that_is_neither_yes_nor_no(run_cli, tmp_path, examples):
    out = tmp_path / "answers.yaml"
    out.write_text((examples / "b2b-services.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = run_cli("size", "-o", out, input="может быть\nда\n" + "\n" * 30)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("✗ Ответьте «да» или «нет»") == 1
    assert "(да/нет) [нет]" in result.stderr      # the question and its default in Russian, not click's [y/N]
