"""Normalisation of contact channels and requisites, done once per record as it enters the snapshot.

The duplicate checks group on the keys computed here, so they must be
stable: the same number written as `8 (912) 345-67-89`, `+7 912 345 67 89`
or `9123456789` gets one key, `+79123456789`.

Speed matters on a million contacts (DESIGN.md, performance notes):
`phonenumbers` costs about 13 µs a number, so the common Russian mobile
formats take a regular-expression fast path (under 1 µs) that agrees with
the library on them, and everything else goes to the library with region RU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# Digits, spaces, brackets, dashes, dots and one leading plus: what people type into a phone field.
_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-]+$")
_NON_DIGITS = re.compile(r"\D")
# Russian mobile numbers: +7 9XX XXX XX XX. phonenumbers treats every 9XX range as valid
# except parts of 930, so 930 goes to the library.
_FAST_MOBILE = re.compile(r"^9(?!30)\d{9}$")


@dataclass(frozen=True)
class ChannelKey:
    """A normalised channel: `key` groups duplicates (None when nothing usable), `valid` feeds C06."""

    key: str | None
    valid: bool


def phone_key(raw: str | None) -> ChannelKey:
    """E.164 for a phone as typed; default region RU. Invalid numbers keep a digits key for blocking."""
    text = (raw or "").strip()
    if not text:
        return ChannelKey(None, False)
    if _PHONE_CHARS.match(text):
        digits = _NON_DIGITS.sub("", text)
        national = _russian_national(digits, text.startswith("+"))
        if national is not None and _FAST_MOBILE.match(national):
            return ChannelKey("+7" + national, True)
    try:
        number = phonenumbers.parse(text, "RU")
    except phonenumbers.NumberParseException:
        digits = _NON_DIGITS.sub("", text)
        return ChannelKey(("+" + digits) if digits else None, False)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return ChannelKey(e164, phonenumbers.is_valid_number(number))


def _russian_national(digits: str, has_plus: bool) -> str | None:
    """The 10-digit national number of a Russian phone, or None if it is not obviously Russian."""
    if len(digits) == 11 and (digits[0] == "7" or (digits[0] == "8" and not has_plus)):
        return digits[1:]
    if len(digits) == 10 and not has_plus:
        return digits
    return None


def email_key(raw: str | None) -> ChannelKey:
    """The whole address lower-cased (email-validator keeps the local part's case; a duplicate key must not)."""
    text = (raw or "").strip()
    if not text:
        return ChannelKey(None, False)
    try:
        normalized = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return ChannelKey(text.lower(), False)
    return ChannelKey(normalized.lower(), True)


# FNS control-digit weights for the INN (ИНН).
_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def inn_key(raw: str | None) -> ChannelKey:
    """INN digits and whether the control digits hold (10 digits: legal entity, 12: ИП / person)."""
    digits = _NON_DIGITS.sub("", str(raw or ""))
    if not digits:
        return ChannelKey(None, False)
    return ChannelKey(digits, inn_is_valid(digits))


def inn_is_valid(digits: str) -> bool:
    if not digits.isdigit() or set(digits) == {"0"}:
        return False
    n = [int(c) for c in digits]
    if len(n) == 10:
        return _control(n, _INN10_WEIGHTS) == n[9]
    if len(n) == 12:
        return _control(n, _INN12_WEIGHTS_1) == n[10] and _control(n, _INN12_WEIGHTS_2) == n[11]
    return False


def _control(digits: list[int], weights: tuple[int, ...]) -> int:
    return sum(d * w for d, w in zip(digits, weights)) % 11 % 10


# Legal forms stripped from company names before comparing them (C04).
_LEGAL_FORMS = re.compile(
    r"\b(ооо|оао|зао|пао|ао|ип|тоо|нко|ано|чп|гуп|муп|фгуп|llc|llp|ltd|inc|gmbh|too|ooo|ip|jsc|pjsc|corp|co)\b\.?",
    re.IGNORECASE,
)
_PUNCTUATION = re.compile(r"[\"'«»“”„`.,;:!?()\[\]{}/\\|_\-–—]+")
_SPACES = re.compile(r"\s+")


def name_key(name: str | None) -> str:
    """A person's name for fuzzy comparison: lower case, ё→е, punctuation gone, single spaces."""
    text = (name or "").lower().replace("ё", "е")
    text = _PUNCTUATION.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def company_key(name: str | None) -> str:
    """A company name without its legal form (ООО, ИП, LLC…), quotes and punctuation."""
    text = _PUNCTUATION.sub(" ", (name or "").lower().replace("ё", "е"))
    text = _LEGAL_FORMS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()
