"""Retry policies for the outboxes: exponential backoff with jitter inside a time window.

One formula for every kind of outbound job, so that sends and webhook deliveries back off
the same way; each kind names its own policy from its settings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient failures for `window`, waiting `base_seconds` doubling per attempt
    up to `max_delay_seconds`."""

    base_seconds: float
    max_delay_seconds: float
    window: timedelta

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first):
        exponential, capped, with "equal jitter" (half fixed, half random) so that jobs
        failed by one outage do not all come back at the same instant."""
        delay = min(self.base_seconds * 2 ** max(attempt - 1, 0), self.max_delay_seconds)
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not security

    def deadline(self, started_at: datetime) -> datetime:
        """The last moment a job first tried at `started_at` may be tried again."""
        return started_at + self.window

    def next_attempt_at(
        self,
        *,
        attempt: int,
        deadline: datetime,
        now: datetime,
        retry_after: float | None = None,
    ) -> datetime | None:
        """When to try again after failed attempt number `attempt`, never later than
        `deadline` (a server's `retry_after` is honoured within it). Returns None once the
        deadline has passed: give up."""
        if now >= deadline:
            return None
        delay = max(self.backoff(attempt), retry_after or 0.0)
        return min(now + timedelta(seconds=delay), deadline)
