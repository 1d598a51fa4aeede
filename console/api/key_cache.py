"""Authenticated API keys remembered per process (`console.recent_reads`).

Every API request authenticates its `X-API-Key`. Without this cache each request selects
the key with its organisation and identity; with it a busy key is read from the database
once a second per process, or once a minute while the process's change feed vouches for
it (`console.db.change_feed`). A revoked, rotated or expired key, a suspended organisation
or an archived or disabled identity is therefore honoured everywhere within a second, and
at once in the process that saved it: every change to a key, identity or organisation
saved through the ORM empties this process's cache (`keys_forget`, connected in
`console.apps`), and every change committed anywhere empties the cache of every process
whose feed hears it.

Keys are stored under the SHA-256 of their secret, and only while valid; an expiry is
checked again on every hit by the caller.
"""

from __future__ import annotations

from typing import Any

from console.db.change_feed import CREDENTIAL_CHANGES
from console.models import ApiKey
from console.recent_reads import RecentReads

KEYS: RecentReads[ApiKey] = RecentReads(feed=CREDENTIAL_CHANGES)


def keys_forget(*, using: str | None = None, **_: Any) -> None:
    """Signal receiver: a key, identity or organisation changed."""
    KEYS.forget(using=using)
