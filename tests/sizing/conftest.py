"""Fixtures for the sizing tests: valid answers to start from, and a writer of answers files."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from implkit.yamlio import dump_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "answers"

# A complete, valid set of answers (the B2B services example's shape) that tests change one thing in.
VALID_ANSWERS = {
    "company_name": "ООО Ромашка",
    "industry": "services",
    "sellers": 8,
    "has_head_of_sales": True,
    "segments": [],
    "lead_channels": ["website_forms", "whatsapp", "telegram", "phone", "email"],
    "telephony_provider": "mango",
    "documents": ["contract", "invoice", "act"],
    "sales_processes": ["new_sales"],
    "average_check": 40000,
    "revenue_plan_month": 800000,
    "sales_cycle_days": 21,
    "bi_tool": "",
    "target_crm": "amocrm",
}


@pytest.fixture
def examples() -> Path:
    """examples/answers/ of the checkout."""
    return EXAMPLES


@pytest.fixture
def answers():
    """A fresh copy of VALID_ANSWERS to modify."""
    return copy.deepcopy(VALID_ANSWERS)


@pytest.fixture
def write_answers_file(tmp_path):
    """write_answers_file(answers, name=..., lang=..., text=None) -> Path of an answers file."""

    def write(answers: dict | None = None, name: str = "answers.yaml", lang: str = "ru",
              text: str | None = None) -> Path:
        path = tmp_path / name
        if text is None:
            text = dump_yaml({"questionnaire": 1, "lang": lang, "answers": answers})
        path.write_text(text, encoding="utf-8")
        return path

    return write
