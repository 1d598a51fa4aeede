"""Phone-number normalisation shared by every app: one E.164 spelling everywhere."""

from __future__ import annotations

import phonenumbers

from console.errors import ValidationFailed

INVALID_NUMBER = "Enter a valid phone number in E.164 form, e.g. +14155550100."


def to_e164(raw: object, *, region: str | None = None) -> str | None:
    """The E.164 form of `raw` (`+14155550100`), or None when it is not a valid number.

    Never raises, whatever `raw` is, so provider bodies can be read with it. Without a
    `region` only numbers written with a leading `+` are accepted; with one, national
    numbers are read in that region.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    international = text.startswith("+")
    if not text or (region is None and not international):
        return None
    try:
        parsed = phonenumbers.parse(text, None if international else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_e164(value: str, *, field: str = "number", region: str | None = "US") -> str:
    """Return `value` as E.164 (`+14155550100`).

    Numbers without a leading `+` are read in `region` (US by default, the provider's
    market). Raises `ValidationFailed` (400 validation_error) for anything that is not a
    valid, dialable number.
    """
    number = to_e164(value, region=region)
    if number is None:
        raise ValidationFailed(
            f"{field}: {INVALID_NUMBER}", extra={"fields": {field: [INVALID_NUMBER]}}
        )
    return number


def is_e164(raw: object) -> bool:
    """True only for a number already written exactly in canonical E.164."""
    return isinstance(raw, str) and to_e164(raw) == raw


def display_number(raw: str | None) -> str:
    """A number as people read it (`+1 415-555-0199`); anything that is not a valid
    number (an email address, a short code) comes back unchanged."""
    if not raw:
        return ""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return raw
    if not phonenumbers.is_valid_number(parsed):
        return raw
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
