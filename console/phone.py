"""Phone-number normalisation shared by every app: one E.164 spelling everywhere."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from console.errors import ValidationFailed

INVALID_NUMBER = "Enter a valid phone number in E.164 form, e.g. +14155550100."

# A North American number as E.164 writes it: an area code never starts with 0 or 1, so
# the digits after `+1` are the national number as `phonenumbers.parse` reads it.
_CANONICAL_NANP = re.compile(r"\+1[2-9][0-9]{9}")  # ASCII digits: `\d` takes any script's


def to_e164(raw: object, *, region: str | None = None) -> str | None:
    """The E.164 form of `raw` (`+14155550100`), or None when it is not a valid number.

    Never raises, whatever `raw` is, so provider bodies can be read with it. Without a
    `region` only numbers written with a leading `+` are accepted; with one, national
    numbers are read in that region.
    """
    if not isinstance(raw, str):
        return None
    return _e164(raw.strip(), region)


# Every provider webhook and send parses two or three numbers, mostly the same few
# thousand (lines and the people on them): parsing was a tenth of an ingest's CPU. Kept in
# this process's memory only, never written anywhere.
@lru_cache(maxsize=4096)
def _e164(text: str, region: str | None) -> str | None:
    if _CANONICAL_NANP.fullmatch(text):
        # Already canonical: parsing would only split it again, two thirds of a miss's
        # cost (people outnumber the cache: most of their numbers miss it).
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(text[2:]))
        return text if phonenumbers.is_valid_number(number) else None
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


_NUMBER_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")
# Fewer digits than this match too many numbers to be a useful search.
MIN_SEARCH_DIGITS = 3


def number_search_digits(raw: object) -> str:
    """The digits to look for inside stored E.164 numbers when someone types part of a
    number as people write them (`0199`, `(415) 555-0199`, `+1 415`), or "" when `raw` is
    not number-like or too short to search by."""
    if not isinstance(raw, str) or not _NUMBER_LIKE.match(raw.strip()):
        return ""
    digits = re.sub(r"\D", "", raw)
    return digits if len(digits) >= MIN_SEARCH_DIGITS else ""


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
