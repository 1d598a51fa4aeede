"""The send retry policy: how long and how often a provider send is tried again.

A transient provider failure (5xx, 429, a timeout, a refused connection) is retried with
exponential backoff and jitter (SEND_RETRY_BASE_SECONDS doubling up to
SEND_RETRY_MAX_DELAY_SECONDS) for SEND_RETRY_WINDOW_MINUTES after the agent sent the message,
which stays `queued` meanwhile; then it fails with `imessage.delivery_failed`. A permanent
refusal fails at once. The same policy paces the retries of a send whose outcome is being
recovered from the provider (messaging/services/send_recovery.py).
"""

from __future__ import annotations

from datetime import datetime

from console.outbox import RetryPolicy, retry_policy
from messaging.models import Message
from provisioning.providers.base import ProviderError


def send_retry_policy() -> RetryPolicy:
    """The `message_send` policy of `settings.OUTBOX_RETRY_POLICIES`."""
    return retry_policy("message_send")


def send_retry_at(message: Message, *, now: datetime, exc: ProviderError) -> datetime | None:
    """When to try `message` again after its attempt number `send_attempts` failed with
    `exc` (the provider's Retry-After is honoured); None once the retry window is over."""
    policy = send_retry_policy()
    return policy.next_attempt_at(
        attempt=message.send_attempts,
        # A scheduled or held send's window starts when it was due, not when accepted.
        deadline=policy.deadline(message.scheduled_for or message.created_at),
        now=now,
        retry_after=exc.retry_after,
    )
