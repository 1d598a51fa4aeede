"""Authenticated API keys remembered per process, for at most one second.

Every API request authenticates its `X-API-Key`. Without this cache each request selects
the key with its organisation and identity; with it a busy key is read from the database
at most once a second per process (`console.recent_reads` says why a time limit). A
revoked, rotated or expired key, a suspended organisation or an archived or disabled
identity is therefore honoured everywhere within a second, and at once in the process
that saved it: every change to a key, identity or organisation saved through the ORM
empties this process's cache (`keys_forget`, connected in `console.apps`).

Keys are stored under the SHA-256 of their secret, and only while valid; an expiry is
checked again on every hit by the caller.
"""

from __future__ import annotations

from typing import Any

from console.models import ApiKey
from console.recent_reads import RecentReads

KEYS: RecentReads[ApiKey] = RecentReads()


def keys_forget(*, using: str | None = None, **_: Any) -> None:
    """Signal receiver: a key, identity or organisation changed."""
    KEYS.forget(using=using)
