"""Sends ride out a provider outage: retried with backoff and jitter for
SEND_RETRY_WINDOW_MINUTES, the message `queued` meanwhile, failed with a reason after it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from console.outbox import RetryPolicy
from messaging.models import SendState
from messaging.services.delivery import message_deliver
from messaging.services.status import message_status_update
from provisioning.providers.base import ProviderError
from tests.messaging.sends import queue_message, run_due_jobs, status

pytestmark = pytest.mark.django_db


def window() -> timedelta:
    return timedelta(minutes=settings.SEND_RETRY_WINDOW_MINUTES)


def test_a_provider_down_for_30_minutes_then_up_delivers_the_message_once(
    conversation, fake_provider, emitted, platform_setup
):
    message = queue_message(conversation)
    fake_provider.down_until = message.created_at + timedelta(minutes=30)

    message_deliver(message_id=message.id)
    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.QUEUED, "queued")
    message = run_due_jobs(message)

    assert message.send_state == SendState.SENT
    assert len(fake_provider.outbound) == 1  # on the handset once
    assert message.send_attempts > 5  # retried all along the outage, not given up early
    assert message.updated_at >= fake_provider.down_until
    message_status_update(setup=platform_setup, update=status(message.provider_handle, "delivered"))
    message.refresh_from_db()
    assert message.status == "delivered"
    assert emitted.types() == ["imessage.sent", "imessage.delivered"]


def test_a_provider_down_past_the_window_fails_the_message_once_with_a_reason(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    fake_provider.down_until = message.created_at + window() + timedelta(minutes=30)

    message_deliver(message_id=message.id)
    message = run_due_jobs(message)

    assert (message.send_state, message.status) == (SendState.FAILED, "error")
    assert f"{settings.SEND_RETRY_WINDOW_MINUTES} minutes" in message.error_reason
    assert message.error_code == "connection_error"
    assert fake_provider.outbound == []
    assert emitted.types() == ["imessage.delivery_failed"]
    # Given up at the end of the window, not before.
    assert message.updated_at >= message.created_at + window()


def test_the_message_stays_queued_with_no_event_while_the_provider_is_down(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    fake_provider.down_until = message.created_at + window() * 2

    message_deliver(message_id=message.id)
    for _ in range(6):
        message.refresh_from_db()
        with time_machine.travel(message.next_attempt_at + timedelta(milliseconds=1), tick=False):
            message_deliver(message_id=message.id)

    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.QUEUED, "queued")
    assert message.error_code is None
    assert emitted.types() == []


def test_the_provider_s_retry_after_is_honoured(conversation, fake_provider):
    fake_provider.fail_next.append(
        ProviderError("slow down", permanent=False, status_code=429, retry_after=45)
    )
    message = queue_message(conversation)
    before = timezone.now()

    message_deliver(message_id=message.id)

    message.refresh_from_db()
    assert message.next_attempt_at >= before + timedelta(seconds=45)


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    policy = RetryPolicy(base_seconds=5, max_delay_seconds=300, window=timedelta(hours=1))

    delays = [policy.backoff(attempt) for attempt in range(1, 12)]

    for attempt, delay in enumerate(delays, start=1):
        full = min(5 * 2 ** (attempt - 1), 300)
        assert full / 2 <= delay <= full


def test_no_retry_is_scheduled_past_the_end_of_the_window() -> None:
    policy = RetryPolicy(base_seconds=5, max_delay_seconds=300, window=timedelta(hours=1))
    started = timezone.now()
    deadline = policy.deadline(started)

    near_end = policy.next_attempt_at(
        attempt=20, deadline=deadline, now=deadline - timedelta(seconds=10)
    )
    after_end = policy.next_attempt_at(attempt=20, deadline=deadline, now=deadline)

    assert near_end == deadline
    assert after_end is None
