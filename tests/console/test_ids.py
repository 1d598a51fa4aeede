"""Time-ordered keys (`console.ids.uuid7`)."""

from __future__ import annotations

import uuid

import pytest

from console import ids
from console.ids import uuid7

MILLISECOND = 1_000_000  # in nanoseconds


def at(monkeypatch: pytest.MonkeyPatch, milliseconds: int) -> None:
    monkeypatch.setattr(ids, "time_ns", lambda: milliseconds * MILLISECOND + 123)


def test_a_key_is_an_rfc_9562_version_7_uuid():
    key = uuid7()

    assert key.version == 7
    assert key.variant == uuid.RFC_4122
    assert uuid.UUID(str(key)) == key


def test_a_key_starts_with_the_unix_time_in_milliseconds(monkeypatch):
    at(monkeypatch, 1_796_466_749_659)

    assert uuid7().int >> 80 == 1_796_466_749_659
    assert str(uuid7()).startswith("01a245c3-30db-7")


def test_keys_of_later_milliseconds_sort_after_earlier_ones(monkeypatch):
    made = []
    for milliseconds in (1_000, 1_001, 1_002, 5_000):
        at(monkeypatch, milliseconds)
        made.append(uuid7())

    assert sorted(made) == made
    assert sorted(str(key) for key in made) == [str(key) for key in made]


def test_keys_of_one_millisecond_differ_in_their_random_bits(monkeypatch):
    at(monkeypatch, 1_796_466_749_659)

    keys = {uuid7() for _ in range(1_000)}

    assert len(keys) == 1_000
    assert {key.int >> 80 for key in keys} == {1_796_466_749_659}
    assert all(key.version == 7 and key.variant == uuid.RFC_4122 for key in keys)


def test_the_random_part_uses_every_one_of_its_74_bits(monkeypatch):
    at(monkeypatch, 0)
    monkeypatch.setattr(ids, "urandom", lambda n: b"\xff" * n)
    every = uuid7()
    monkeypatch.setattr(ids, "urandom", lambda n: b"\x00" * n)
    none = uuid7()

    assert bin(every.int ^ none.int).count("1") == 74
    assert none == uuid.UUID("00000000-0000-7000-8000-000000000000")
    assert every == uuid.UUID("00000000-0000-7fff-bfff-ffffffffffff")
