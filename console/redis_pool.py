"""One Redis client per process and URL for the platform's own small uses of Redis (the
agent-read tally queue, outbox wake-ups); the broker has its own connections."""

from __future__ import annotations

from functools import cache

import redis

# Callers fall back to the database or to the broker when Redis does not answer: they
# never wait longer than this on it.
SOCKET_TIMEOUT_SECONDS = 0.5


@cache
def redis_client(url: str) -> redis.Redis:
    # redis-py replaces a pool's connections after a fork, so a cached client is fork-safe.
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
