"""Normalisation on entry: the fast path agrees with phonenumbers; e-mail keys; INN control digits."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from implkit.audit.normalize import company_key, email_key, inn_key, name_key, phone_key


@pytest.mark.parametrize(("raw", "key", "valid"), [
    ("8 (912) 345-67-89", "+79123456789", True),
    ("+7 912 345 67 89", "+79123456789", True),
    ("9123456789", "+79123456789", True),
    ("8-800-555-35-35", "+78005553535", True),
    ("+7 (495) 123-45-67", "+74951234567", True),
    ("+380 50 123 4567", "+380501234567", True),
    ("0000000", "+70000000", False),
    ("+7 000 000 00 00", "+70000000000", False),
    ("звоните в офис", None, False),
    ("", None, False),
])
def test_phone_keys(raw, key, valid):
    assert (phone_key(raw).key, phone_key(raw).valid) == (key, valid)


def test_fast_path_agrees_with_phonenumbers_on_russian_mobiles():
    rng = random.Random(5)
    formats = ["8 ({}) {}-{}-{}", "+7 {} {} {} {}", "7{}{}{}{}", "{}{}{}{}", "8-{}-{}-{}-{}"]
    for _ in range(3000):
        code = str(rng.randint(900, 999))
        parts = (code, f"{rng.randint(0, 999):03d}", f"{rng.randint(0, 99):02d}", f"{rng.randint(0, 99):02d}")
        raw = rng.choice(formats).format(*parts)
        number = phonenumbers.parse(raw, "RU")
        expected = (phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                    phonenumbers.is_valid_number(number))
        assert (phone_key(raw).key, phone_key(raw).valid) == expected, raw


def test_email_key_lower_cases_the_whole_address():
    assert email_key(" Ivan.Petrov@Mail.RU ").key == "ivan.petrov@mail.ru"
    assert email_key("ivan@").valid is False
    assert email_key(None).key is None


@pytest.mark.parametrize(("raw", "valid"), [
    ("7707083893", True),        # a legal entity (10 digits)
    ("7707083890", False),       # control digit off
    ("500100732259", True),      # a sole trader (12 digits)
    ("500100732250", False),
    ("0000000000", False),
    ("77070838", False),
    ("ИНН 7707-083-893", True),  # digits are extracted
])
def test_inn_control_digits(raw, valid):
    assert inn_key(raw).valid is valid


def test_name_keys():
    assert name_key("Пётр  Иванов-Сидоров") == "петр иванов сидоров"
    assert company_key("ООО «Ромашка»") == company_key("Ромашка LLC") == company_key("Ромашка, ООО") == "ромашка"
