"""The outbound pipeline: the task, retries and the sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from messaging.models import Message, SendCapBucket, SendState
from messaging.services import common
from messaging.services.delivery import message_deliver, message_send_sweep
from messaging.services.status import message_status_update
from provisioning.providers.base import ProviderError
from tests.messaging.conftest import PERSON
from tests.messaging.sends import outbound_at, queue_message, run_due_jobs, status, transient

pytestmark = pytest.mark.django_db


# --- The send task ----------------------------------------------------------------------


def test_the_task_sends_once_and_emits_imessage_sent(conversation, fake_provider, emitted):
    message = queue_message(conversation)

    message_deliver(message_id=message.id)

    message.refresh_from_db()
    assert message.send_state == SendState.SENT
    assert message.status == "sent"
    assert message.send_attempts == 1
    assert len(fake_provider.calls_to("send_message")) == 1
    assert emitted.types() == ["imessage.sent"]


def test_a_second_run_of_the_task_does_not_send_again(conversation, fake_provider):
    message = queue_message(conversation)

    message_deliver(message_id=message.id)
    message_deliver(message_id=message.id)

    assert len(fake_provider.calls_to("send_message")) == 1


def test_provider_outage_is_retried_then_delivered(
    conversation, fake_provider, emitted, platform_setup
):
    fake_provider.fail_next.extend([transient(), ProviderError("timeout", permanent=False)])
    message = queue_message(conversation)

    message_deliver(message_id=message.id)
    message = run_due_jobs(message)

    assert message.send_state == SendState.SENT
    assert message.send_attempts == 3
    assert len(fake_provider.calls_to("send_message")) == 3
    assert emitted.types() == ["imessage.sent"]
    message_status_update(setup=platform_setup, update=status(message.provider_handle, "delivered"))
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_transient_failure_leaves_the_message_queued_until_a_backed_off_retry(
    conversation, fake_provider, emitted
):
    fake_provider.fail_next.append(transient())
    message = queue_message(conversation)
    before = timezone.now()

    with pytest.MonkeyPatch.context() as mp:
        scheduled = []
        mp.setattr(common, "enqueue", lambda task, *a, countdown=None: scheduled.append(countdown))
        message_deliver(message_id=message.id)

    message.refresh_from_db()
    base = settings.SEND_RETRY_BASE_SECONDS
    assert (message.send_state, message.status) == (SendState.QUEUED, "queued")
    assert len(scheduled) == 1 and base / 2 <= scheduled[0] <= base  # jittered first delay
    assert before + timedelta(seconds=base / 2) <= message.next_attempt_at
    assert message.provider_call_started_at is None  # the provider surely refused it
    assert emitted.types() == []


def test_a_job_that_runs_before_its_retry_is_due_does_nothing(conversation, fake_provider):
    fake_provider.fail_next.append(transient())
    message = queue_message(conversation)
    message_deliver(message_id=message.id)

    message_deliver(message_id=message.id)  # a stray duplicate job, early

    assert len(fake_provider.calls_to("send_message")) == 1
    message.refresh_from_db()
    assert message.send_state == SendState.QUEUED


def test_a_permanent_provider_error_fails_the_message_with_a_reason(
    conversation, fake_provider, emitted
):
    fake_provider.fail_next.append(
        ProviderError("opted out", permanent=True, status_code=400, error_key="OPTED_OUT")
    )
    message = queue_message(conversation)

    message_deliver(message_id=message.id)

    message.refresh_from_db()
    assert message.status == "error"
    assert message.send_state == SendState.FAILED
    assert message.error_code == "OPTED_OUT"
    assert message.error_reason
    assert emitted.types() == ["imessage.delivery_failed"]
    assert len(fake_provider.calls_to("send_message")) == 1


def test_a_downgrade_to_sms_is_recorded(conversation, fake_provider):
    fake_provider.fallback[PERSON] = "sms"
    message = queue_message(conversation)

    message_deliver(message_id=message.id)

    message.refresh_from_db()
    assert message.service == "sms"
    assert message.was_downgraded is True


# --- The sweep -----------------------------------------------------------------------------


def test_a_lost_job_is_recovered_by_the_sweep_and_sent_once(
    conversation, fake_provider, django_capture_on_commit_callbacks
):
    message = queue_message(conversation)

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        result = message_send_sweep()

    assert result.requeued == 1
    message.refresh_from_db()
    assert message.send_state == SendState.SENT
    assert len(fake_provider.calls_to("send_message")) == 1


def test_the_sweep_leaves_fresh_queued_rows_to_their_own_job(conversation, fake_provider):
    queue_message(conversation)

    result = message_send_sweep()

    assert result.requeued == 0
    assert fake_provider.calls_to("send_message") == []


def test_the_sweep_waits_for_a_retry_that_is_not_due(conversation, fake_provider):
    message = queue_message(conversation)
    Message.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=10)
    )

    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        result = message_send_sweep()

    assert result.requeued == 0


def test_a_broker_outage_at_commit_does_not_break_the_send(
    identity_client, conversation, monkeypatch, django_capture_on_commit_callbacks
):
    from messaging import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.message_deliver_task, "apply_async", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        response = identity_client.post(
            "/api/v1/imessage/messages",
            {"conversation_id": str(conversation.id), "text": "x"},
            format="json",
        )

    assert response.status_code == 201
    assert Message.objects.get().send_state == SendState.QUEUED


def test_the_sweep_deletes_the_send_caps_buckets_no_window_reaches(conversation):
    now = timezone.now()
    outbound_at(conversation, at=now - timedelta(hours=30))
    outbound_at(conversation, at=now - timedelta(hours=2))

    message_send_sweep(now=now)

    (kept,) = SendCapBucket.objects.filter(identity=conversation.identity)
    assert kept.starts_at > now - timedelta(hours=3)
