"""The router's contact card: RFC 6350 escaping and folding, no property injection."""

from __future__ import annotations

import pytest

from routing.replies import VCARD_LINE_OCTETS, vcard_text

NUMBER = "+14155556001"


def physical_lines(card: str) -> list[str]:
    assert card.endswith("\r\n")
    return card[:-2].split("\r\n")


def properties(card: str) -> list[str]:
    """Content lines after unfolding (RFC 6350 §3.2)."""
    return card[:-2].replace("\r\n ", "").split("\r\n")


def names(card: str) -> list[str]:
    return [line.split(":", 1)[0].split(";", 1)[0] for line in properties(card)]


def test_a_display_name_with_a_bare_cr_cannot_add_a_property():
    card = vcard_text(display_name="Nurse\rTEL:+19995550000", number=NUMBER)

    assert names(card) == ["BEGIN", "VERSION", "FN", "N", "TEL", "END"]
    assert [p for p in properties(card) if p.startswith("TEL")] == [f"TEL;TYPE=CELL:{NUMBER}"]
    assert "\r" not in card.replace("\r\n", "")
    assert "FN:Nurse\\nTEL:+19995550000" in properties(card)


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r", "\u0085", "\u2028", "\u2029"])
def test_every_kind_of_line_break_becomes_an_escaped_newline(line_break):
    card = vcard_text(display_name=f"A{line_break}B", number=NUMBER)

    assert "FN:A\\nB" in properties(card)
    assert names(card) == ["BEGIN", "VERSION", "FN", "N", "TEL", "END"]


def test_every_other_control_character_is_removed():
    controls = "".join(chr(c) for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)])

    card = vcard_text(display_name=f"Nurse{controls}Bot", number=NUMBER)

    body = card.replace("\r\n", "")
    assert not any(0x00 <= ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in body)
    assert [p for p in properties(card) if p.startswith("FN:")] == ["FN:Nurse\\n\\n\\nBot"]


def test_text_special_characters_are_escaped():
    card = vcard_text(display_name="Dr. Smith, MD; back\\slash", number=NUMBER)

    assert "FN:Dr. Smith\\, MD\\; back\\\\slash" in properties(card)
    assert "N:;Dr. Smith\\, MD\\; back\\\\slash;;;" in properties(card)


@pytest.mark.parametrize("name", ["A" * 300, "é" * 200, "🦷" * 120, "x" + "é🦷" * 90])
def test_long_lines_are_folded_to_75_octets_without_splitting_a_character(name):
    card = vcard_text(display_name=name, number=NUMBER)

    for line in physical_lines(card):
        assert len(line.encode("utf-8")) <= VCARD_LINE_OCTETS
    assert f"FN:{name}" in properties(card)
    assert names(card) == ["BEGIN", "VERSION", "FN", "N", "TEL", "END"]
