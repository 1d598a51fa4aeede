"""Coalesced wake-ups for outboxes whose jobs claim rows in batches.

One job per row is wasteful for such a kind: a burst of N rows publishes N jobs, and all
but a few find their row already taken by another job's batch. With a wake-up channel (a
Redis named by `OUTBOX_WAKE_REDIS_URL`, by default the broker's), a commit asks for a wake-up
instead: `wake_claim` sets the kind's token (`SET NX` with a time to live) and only the
caller that set it publishes a drain job, so at most one drain job waits per kind.

Why nothing is missed: the drain job clears the token (`wake_clear`) *before* it claims.
A commit that found the token set saw it before that clear, so the waiting job's claim
sees the commit's rows; a commit after the clear sets the token again and publishes.
The time to live bounds how long a lost or stuck job can hold the token (then the next
commit publishes again), and the kind's periodic sweep stays the backstop for rows whose
job never ran. When Redis does not answer, callers publish one job per row as before.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings

from console.redis_pool import redis_client

logger = logging.getLogger(__name__)


def _client() -> redis.Redis | None:
    url = settings.OUTBOX_WAKE_REDIS_URL
    return redis_client(url) if url else None


def _token(kind: str) -> str:
    return settings.OUTBOX_WAKE_KEY_PREFIX + kind.replace(" ", "-")


def wake_claim(kind: str) -> bool | None:
    """Take the wake-up token of `kind`: True when this caller took it and must publish
    the drain job, False when a drain job is already waiting, None when there is no
    wake-up channel (not configured, or Redis did not answer): publish per row."""
    client = _client()
    if client is None:
        return None
    ttl_ms = max(int(settings.OUTBOX_WAKE_TTL_SECONDS * 1000), 1)
    try:
        return bool(client.set(_token(kind), b"1", nx=True, px=ttl_ms))
    except (redis.RedisError, OSError) as exc:
        logger.warning("outbox wake-up for %s unavailable (%s)", kind, type(exc).__name__)
        return None


def wake_clear(kind: str) -> None:
    """Give the token of `kind` back: a drain job does this before it claims anything (and
    a caller whose publish failed, so that the next commit publishes again)."""
    client = _client()
    if client is None:
        return
    try:
        client.delete(_token(kind))
    except (redis.RedisError, OSError) as exc:
        # The token expires on its own; rows committed until then wait for that or for the
        # sweep.
        logger.warning("outbox wake-up token for %s not cleared (%s)", kind, type(exc).__name__)
