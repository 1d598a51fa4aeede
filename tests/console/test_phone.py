"""The one E.164 normaliser every app uses (API input, console forms, provider bodies)."""

from __future__ import annotations

import random
from typing import Any

import phonenumbers
import pytest

from console import phone
from console.errors import ValidationFailed
from console.phone import INVALID_NUMBER, is_e164, normalize_e164, number_search_digits, to_e164


def test_international_numbers_are_written_in_e164() -> None:
    assert to_e164(" +1 (415) 555-0100 ") == "+14155550100"


def test_provider_reader_refuses_national_numbers_without_a_region() -> None:
    assert to_e164("4155550100") is None


def test_provider_reader_reads_national_numbers_in_the_given_region() -> None:
    assert to_e164("(415) 555-0100", region="US") == "+14155550100"


@pytest.mark.parametrize("raw", [None, 14155550100, "", "   ", "+1", "hello", "+999123", ["+1"]])
def test_provider_reader_answers_none_for_anything_else(raw: object) -> None:
    assert to_e164(raw) is None


def test_api_normaliser_reads_national_numbers_as_us() -> None:
    assert normalize_e164("415-555-0100") == "+14155550100"


def test_api_normaliser_names_the_field_of_an_invalid_number() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_e164("+1555", field="match_target")
    assert caught.value.extra["fields"] == {"match_target": [INVALID_NUMBER]}


def test_only_canonical_spelling_counts_as_e164() -> None:
    assert is_e164("+14155550100")
    assert not is_e164("+1 415 555 0100")
    assert not is_e164(None)


@pytest.mark.parametrize(
    ("raw", "digits"),
    [("0199", "0199"), ("(415) 555-0199", "4155550199"), ("+1 415", "1415"), (" 555.01 ", "55501")],
)
def test_number_search_reads_partial_and_formatted_numbers_as_digits(raw: str, digits: str) -> None:
    assert number_search_digits(raw) == digits


@pytest.mark.parametrize("raw", ["nurse-bot", "12", "@415", "", None])
def test_number_search_ignores_words_and_too_short_numbers(raw: object) -> None:
    assert number_search_digits(raw) == ""


def test_a_number_read_before_is_not_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[int] = []
    real_check = phonenumbers.is_valid_number

    def counted(number: Any) -> bool:
        checked.append(number.national_number)
        return bool(real_check(number))

    monkeypatch.setattr(phonenumbers, "is_valid_number", counted)
    phone._e164.cache_clear()
    number = "+14155550177"

    assert to_e164(number) == number
    assert to_e164(f"  {number} ") == number
    assert to_e164("4155550177", region="US") == number
    assert to_e164("4155550177", region="US") == number

    # Once per spelling and region, whitespace aside.
    assert checked == [4155550177, 4155550177]


@pytest.mark.parametrize(
    "digits", ["\uff11", "\u0661", "\u0967"], ids=["fullwidth", "arabic", "devanagari"]
)
def test_a_number_written_with_other_digits_is_read_as_parsing_reads_it(digits: str) -> None:
    number = "+1415555010" + digits
    parsed = phonenumbers.parse(number, None)

    assert to_e164(number) == phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.E164
    )
    assert not is_e164(number)


def test_a_canonical_north_american_number_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parses: list[str] = []
    monkeypatch.setattr(phonenumbers, "parse", lambda text, region: parses.append(text))
    phone._e164.cache_clear()

    assert to_e164("+14155550178") == "+14155550178"
    assert parses == []


@pytest.mark.parametrize("seed", range(4))
def test_canonical_north_american_numbers_read_as_parsing_reads_them(seed: int) -> None:
    rng = random.Random(seed)
    # Area and exchange codes of every kind: assigned, unassigned, N11, 555, toll-free,
    # Canadian and Caribbean, most of them invalid somewhere.
    numbers = [f"+1{rng.randint(200, 999)}{rng.randint(0, 9_999_999):07d}" for _ in range(500)]
    phone._e164.cache_clear()

    for number in numbers:
        parsed = phonenumbers.parse(number, None)
        expected = (
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if phonenumbers.is_valid_number(parsed)
            else None
        )
        assert to_e164(number) == expected, number
