"""Keys for the rows written with every message: time-ordered, so their indexes grow at
one place instead of everywhere.

A random (version 4) key lands on a random page of its index. Messages, agent events
and their deliveries are written for every message, and their key indexes outgrow the
database's buffer cache: nearly every insert read a page back from disk and, after each
checkpoint, wrote the whole page into the write-ahead log again. A version 7 key
(RFC 9562) starts with the time in milliseconds, so the newest keys share the same few
pages, which stay in memory. The 74 bits after the time are random. These keys are not
secrets (every read of a row is scoped to its organisation and identity), and what a key
tells beyond that, the millisecond its row was made, the row's `created_at` tells too.
"""

from __future__ import annotations

import uuid
from os import urandom
from time import time_ns

_TIME_BITS = 48
_VERSION = 7 << 76  # the version nibble: bits 76-79
_VARIANT = 0b10 << 62  # RFC 9562's variant: bits 62-63
_RANDOM = ((1 << 80) - 1) & ~(0xF << 76) & ~(0b11 << 62)  # the 74 bits neither takes


def uuid7() -> uuid.UUID:
    """A version 7 UUID: Unix time in milliseconds, then random bits. Keys made in one
    millisecond are in random order among themselves."""
    milliseconds = time_ns() // 1_000_000 & ((1 << _TIME_BITS) - 1)
    random_bits = int.from_bytes(urandom(10)) & _RANDOM
    return uuid.UUID(int=milliseconds << 80 | _VERSION | _VARIANT | random_bits)
