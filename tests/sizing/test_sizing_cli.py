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
    assert "Группа по числу продавцов: 5-10 (8 чел.)" in result.stdout
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
    assert "Seller group: 2-5 (4 sellers)" in result.stdout
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
    result = run_cli("size", "-o", out, input="\n" * 30)  # Enter everywhere: accept every earlier answer
    assert result.exit_code == 0, result.output
    assert "[ООО Ромашка Консалт]" in result.output
    text = out.read_text(encoding="utf-8")
    assert "# notes from the call" in text and "sellers: 8  # two more in spring" in text
    assert load_answers(out) == load_answers(examples / "b2b-services.yaml")


def test_interactive_input_running_out_writes_nothing(run_cli, tmp_path):
    out = tmp_path / "answers.yaml"
    result = run_cli("size", "-o", out, input=typed(RU_TYPED[:5]))
    assert result.exit_code == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


# --- --answers (no prompts) -----------------------------------------------------------------------------


@pytest.mark.parametrize(("sellers", "code", "group"), [
    (0, 3, None), (-1, 3, None), ("ten", 3, None),
    (1, 0, "1-2"), (2, 0, "1-2"), (3, 0, "2-5"), (5, 0, "2-5"), (6, 0, "5-10"), (10, 0, "5-10"),
    (11, 0, "10-30"), (30, 0, "10-30"), (31, 0, "30-100"), (100, 0, "30-100"), (101, 0, "30-100"),
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
    assert "Seller group: 30-100 (150 sellers)" in result.stdout  # the file's lang without --lang
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
    assert "Группа по числу продавцов: 5-10" in result.stdout


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
