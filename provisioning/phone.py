"""E.164 helpers: every number is stored and returned in E.164."""

from __future__ import annotations

import phonenumbers

E164_INVALID = "Enter a valid phone number in E.164 format, e.g. +14155550123."


def to_e164(raw: object) -> str | None:
    """The E.164 form of `raw`, or None when it is not a valid international number."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    if not text.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_e164(raw: object) -> bool:
    """True only for a number already written exactly in canonical E.164."""
    return isinstance(raw, str) and to_e164(raw) == raw
