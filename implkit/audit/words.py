"""The words an audit report, its diff and its worklists show for codes (severity, status, record type),
per language; JSON and CSV keep the codes themselves. A module of its own so report.py and diff.py both
read it without importing each other."""

from __future__ import annotations

from typing import Any

WORDS: dict[str, dict[str, str]] = {
    "ru": {"error": "ошибка", "warning": "предупреждение", "info": "информация",
           "fail": "СВЕРХ ПОРОГА", "pass": "в норме", "unsupported": "не поддерживается", "skipped": "пропущена",
           "leads": "сделка", "contacts": "контакт", "companies": "компания", "tasks": "задача", "users": "пользователь",
           "custom_fields": "поле", "config": "настройка"},
    "en": {"fail": "FAIL"},
}


def word(code: Any, lang: str) -> str:
    """A code as the report's language says it (the code itself where there is no word for it)."""
    return WORDS.get(lang, {}).get(code, code) if isinstance(code, str) else str(code)
