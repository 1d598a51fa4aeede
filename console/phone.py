"""Phone-number normalisation shared by every app: one E.164 spelling everywhere."""

from __future__ import annotations

import phonenumbers

from console.errors import ValidationFailed

INVALID_NUMBER = "Enter a valid phone number in E.164 form, e.g. +14155550100."


def normalize_e164(value: str, *, field: str = "number", region: str | None = "US") -> str:
    """Return `value` as E.164 (`+14155550100`).

    Numbers without a leading `+` are read in `region` (US by default, the provider's
    market). Raises `ValidationFailed` (400 validation_error) for anything that is not a
    valid, dialable number.
    """
    raw = (value or "").strip() if isinstance(value, str) else ""
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed(
            f"{field}: {INVALID_NUMBER}", extra={"fields": {field: [INVALID_NUMBER]}}
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_e164(value: str) -> bool:
    try:
        return normalize_e164(value) == value
    except ValidationFailed:
        return False
