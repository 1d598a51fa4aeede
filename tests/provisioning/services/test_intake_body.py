"""Reading a provider body: parsed once, NUL characters dropped and hostile nesting
refused, whichever way the body's bytes are written."""

from __future__ import annotations

import json

import pytest

from provisioning.services.intake import MAX_BODY_DEPTH, _load_body

BODY = {"content": "Can I come in at 3?", "participants": ["+14155550199"], "n": 1}


def test_a_plain_body_reads_as_sent() -> None:
    assert _load_body(json.dumps(BODY).encode()) == BODY


def test_a_nul_character_is_dropped_from_values_and_keys() -> None:
    raw = json.dumps({"content": "a\x00b", "ke\x00y": ["c\x00"]}).encode()

    assert _load_body(raw) == {"content": "ab", "key": ["c"]}


def test_a_nul_character_in_a_utf16_body_is_dropped() -> None:
    raw = json.dumps({"content": "a\x00b"}).encode("utf-16")

    assert _load_body(raw) == {"content": "ab"}


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = MAX_BODY_DEPTH + 2
    raw = (b'{"a":' * depth) + b"1" + (b"}" * depth)

    with pytest.raises(ValueError, match="nested too deeply"):
        _load_body(raw)


def test_many_brackets_inside_strings_still_read_as_sent() -> None:
    body = {"content": "{[" * MAX_BODY_DEPTH}

    assert _load_body(json.dumps(body).encode()) == body
