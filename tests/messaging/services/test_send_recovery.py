"""A message the person received is never reported failed: sends whose outcome was lost
are recovered from the provider, retried only when they never reached it, and end
`outcome_unknown` (never `delivery_failed`) when nothing can settle them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from messaging.models import Message, SendState
from messaging.services.delivery import SweepResult, message_deliver, message_send_sweep
from messaging.webhooks.models import WebhookDelivery
from provisioning.models import ProviderEvent, ProviderEventStatus
from provisioning.providers.base import ProviderError
from provisioning.services.credentials import setup_credentials, status_callback_url
from tests.messaging.conftest import PERSON
from tests.messaging.factories import ConversationFactory
from tests.messaging.sends import queue_message, run_due_jobs, status
from tests.messaging.webhooks.factories import SigningKeyFactory, WebhookSubscriptionFactory
from tests.provisioning.factories import PhoneLineFactory, setup_secret

pytestmark = pytest.mark.django_db


def worker_died_after_the_call(message: Message, fake_provider: Any) -> str:
    """Leave the row as a worker killed right after the provider accepted it: claimed,
    marked, the provider holding the message, no handle stored. Returns the handle."""
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        send_state=SendState.SENDING,
        claimed_at=now,
        send_attempts=1,
        provider_call_started_at=now,
    )
    line = message.line
    result = fake_provider.send_message(
        credentials=setup_credentials(line.setup),
        from_number=line.number,
        to_number=message.remote_number,
        content=message.content,
        media_url=None,
        send_style=None,
        status_callback=status_callback_url(line.setup, str(message.id)),
    )
    return result.provider_handle


def worker_died_before_the_call(message: Message) -> None:
    """A worker killed between its claim and the provider call: claimed, never marked."""
    Message.objects.filter(pk=message.pk).update(
        send_state=SendState.SENDING, claimed_at=timezone.now(), send_attempts=1
    )


def sweep_after_the_stuck_timeout() -> SweepResult:
    later = timezone.now() + timedelta(seconds=settings.SEND_STUCK_TIMEOUT_SECONDS + 60)
    with time_machine.travel(later, tick=False):
        return message_send_sweep()


def post_callback(setup: Any, message_ref: str, body: dict[str, Any], secret: str) -> Any:
    return Client().post(
        f"/api/v1/provider-webhooks/{setup.id}/status_callback/{message_ref}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=secret,
    )


def callback_body(handle: str, value: str) -> dict[str, Any]:
    return {"message_handle": handle, "status": value, "is_outbound": True, "service": "iMessage"}


# --- The call mark and the callback URL -------------------------------------------------


def test_every_send_carries_the_status_callback_url_of_its_own_message(conversation, fake_provider):
    message = queue_message(conversation)

    message_deliver(message_id=message.id)

    (call,) = fake_provider.calls_to("send_message")
    assert call.kwargs["status_callback"] == status_callback_url(
        conversation.line.setup, str(message.id)
    )
    assert call.kwargs["status_callback"].endswith(f"/status_callback/{message.id}")


def test_the_call_mark_is_committed_before_the_provider_is_called(conversation, fake_provider):
    message = queue_message(conversation)
    seen: list[Any] = []
    original = fake_provider.send_message

    def spy(**kwargs: Any) -> Any:
        seen.append(Message.objects.get(pk=message.pk).provider_call_started_at)
        return original(**kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fake_provider, "send_message", spy)
        message_deliver(message_id=message.id)

    assert seen[0] is not None
    message.refresh_from_db()
    assert message.provider_call_started_at is None  # cleared with the recorded outcome


# --- Worker killed after the provider accepted --------------------------------------------


def test_a_send_whose_worker_died_after_the_provider_accepted_is_settled_by_its_callback(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    handle = worker_died_after_the_call(message, fake_provider)
    setup = conversation.line.setup

    response = post_callback(
        setup, str(message.id), callback_body(handle, "DELIVERED"), setup_secret(setup)
    )

    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.SENT, "delivered")
    assert message.provider_handle == handle
    assert sweep_after_the_stuck_timeout().recovered == 0
    assert len(fake_provider.calls_to("send_message")) == 1
    assert emitted.types() == ["imessage.sent", "imessage.delivered"]


def test_a_send_whose_worker_died_after_the_provider_accepted_is_found_by_the_sweep(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation, text="Your results are ready")
    handle = worker_died_after_the_call(message, fake_provider)

    result = sweep_after_the_stuck_timeout()

    assert result.recovered == 1
    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.SENT, "sent")
    assert message.provider_handle == handle
    assert len(fake_provider.calls_to("send_message")) == 1  # looked up, never sent again
    assert len(fake_provider.calls_to("outbound_messages")) == 1
    assert emitted.types() == ["imessage.sent"]


def test_the_lookup_matches_on_content_and_skips_records_another_message_owns(
    conversation, fake_provider
):
    earlier = queue_message(conversation, text="OK")
    message_deliver(message_id=earlier.id)  # delivered normally, handle stored
    other_text = queue_message(conversation, text="Something else")
    worker_died_after_the_call(other_text, fake_provider)
    message = queue_message(conversation, text="OK")
    handle = worker_died_after_the_call(message, fake_provider)

    sweep_after_the_stuck_timeout()

    message.refresh_from_db()
    earlier.refresh_from_db()
    assert message.provider_handle == handle != earlier.provider_handle
    assert len(fake_provider.outbound) == 3


def test_a_stuck_send_with_a_handle_is_settled_from_the_status_lookup(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    Message.objects.filter(pk=message.pk).update(
        send_state=SendState.SENDING,
        claimed_at=timezone.now(),
        provider_call_started_at=timezone.now(),
        provider_handle="h-lost",
    )
    fake_provider.statuses["h-lost"] = status("h-lost", "delivered", service="imessage")

    sweep_after_the_stuck_timeout()

    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.SENT, "delivered")
    assert fake_provider.calls_to("send_message") == []
    assert len(fake_provider.calls_to("message_status")) == 1
    assert emitted.types() == ["imessage.sent", "imessage.delivered"]


# --- Worker killed before the call ----------------------------------------------------------


def test_a_send_whose_worker_died_before_the_call_is_sent_once_by_a_retry(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    worker_died_before_the_call(message)

    result = sweep_after_the_stuck_timeout()

    assert result.recovered == 1
    message.refresh_from_db()
    assert message.send_state == SendState.SENT
    assert len(fake_provider.calls_to("send_message")) == 1
    assert fake_provider.calls_to("outbound_messages") == []
    assert emitted.types() == ["imessage.sent"]


def test_a_sending_row_within_the_timeout_is_left_to_its_worker(conversation, fake_provider):
    message = queue_message(conversation)
    worker_died_before_the_call(message)

    result = message_send_sweep()

    assert result.recovered == 0
    message.refresh_from_db()
    assert message.send_state == SendState.SENDING


# --- Nothing settles it: outcome unknown, never "failed" ----------------------------------


def test_a_send_the_provider_has_no_record_of_ends_outcome_unknown_not_failed(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    worker_died_after_the_call(message, fake_provider)
    fake_provider.outbound.clear()  # its message list does not show it

    sweep_after_the_stuck_timeout()

    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.UNKNOWN, "error")
    assert message.error_reason == "outcome_unknown"
    assert message.error_code == "outcome_unknown"
    assert len(fake_provider.calls_to("send_message")) == 1
    assert emitted.types() == ["imessage.delivery_unknown"]


def test_a_send_whose_every_lookup_fails_ends_outcome_unknown_after_the_retry_window(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    worker_died_after_the_call(message, fake_provider)
    fake_provider.down_until = message.created_at + timedelta(days=1)  # callbacks lost too

    sweep_after_the_stuck_timeout()
    message = run_due_jobs(message)

    assert (message.send_state, message.error_reason) == (SendState.UNKNOWN, "outcome_unknown")
    assert len(fake_provider.calls_to("send_message")) == 1
    assert len(fake_provider.calls_to("outbound_messages")) > 1  # asked again and again
    assert "imessage.delivery_failed" not in emitted.types()
    assert emitted.types() == ["imessage.delivery_unknown"]
    assert message.updated_at >= message.created_at + timedelta(
        minutes=settings.SEND_RETRY_WINDOW_MINUTES
    )


def test_a_late_callback_settles_a_message_whose_outcome_was_unknown(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    handle = worker_died_after_the_call(message, fake_provider)
    fake_provider.outbound.clear()
    sweep_after_the_stuck_timeout()
    setup = conversation.line.setup

    post_callback(setup, str(message.id), callback_body(handle, "DELIVERED"), setup_secret(setup))

    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.SENT, "delivered")
    assert message.error_reason is None
    assert emitted.types() == [
        "imessage.delivery_unknown",
        "imessage.sent",
        "imessage.delivered",
    ]


def test_a_send_that_timed_out_after_leaving_is_looked_up_not_sent_again(
    conversation, fake_provider, emitted
):
    message = queue_message(conversation)
    original = fake_provider.send_message

    def accepted_then_timed_out(**kwargs: Any) -> Any:
        original(**kwargs)
        raise ProviderError("provider timed out", permanent=False, ambiguous=True)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fake_provider, "send_message", accepted_then_timed_out)
        message_deliver(message_id=message.id)
    message.refresh_from_db()
    assert message.send_state == SendState.QUEUED
    assert message.provider_call_started_at is not None  # the mark stays

    message = run_due_jobs(message)

    assert message.send_state == SendState.SENT
    assert len(fake_provider.outbound) == 1
    assert len(fake_provider.calls_to("send_message")) == 1
    assert emitted.types() == ["imessage.sent"]


# --- The callback touches only the authenticated setup's messages --------------------------


def test_a_callback_naming_a_message_of_another_setup_changes_nothing(
    conversation, fake_provider, outsider_identity, emitted
):
    message = queue_message(conversation)
    handle = worker_died_after_the_call(message, fake_provider)
    foreign_line = PhoneLineFactory(identity=outsider_identity)
    ConversationFactory(identity=outsider_identity, remote_number=PERSON, line=foreign_line)
    foreign_setup = foreign_line.setup

    response = post_callback(
        foreign_setup,
        str(message.id),
        callback_body(handle, "ERROR"),
        setup_secret(foreign_setup),
    )

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.send_state == SendState.SENDING
    assert message.provider_handle is None
    assert emitted.types() == []
    recorded = ProviderEvent.objects.get(setup=foreign_setup)
    assert recorded.status == ProviderEventStatus.REJECTED_FOREIGN


def test_a_callback_with_a_handle_another_message_owns_is_ignored(
    conversation, fake_provider, emitted
):
    other = queue_message(conversation, text="first")
    message_deliver(message_id=other.id)
    other.refresh_from_db()
    message = queue_message(conversation, text="second")
    worker_died_after_the_call(message, fake_provider)
    setup = conversation.line.setup
    emitted.clear()

    response = post_callback(
        setup,
        str(message.id),
        callback_body(other.provider_handle, "DELIVERED"),
        setup_secret(setup),
    )

    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.send_state, message.provider_handle) == (SendState.SENDING, None)
    assert emitted.types() == []


def test_the_intake_records_a_message_callback_apart_from_the_outbound_webhook(
    conversation, fake_provider
):
    message = queue_message(conversation)
    handle = worker_died_after_the_call(message, fake_provider)
    setup = conversation.line.setup
    body = callback_body(handle, "SENT")
    # The same status reaches the setup's `outbound` webhook first, naming only the handle.
    Client().post(
        f"/api/v1/provider-webhooks/{setup.id}/outbound",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=setup_secret(setup),
    )

    post_callback(setup, str(message.id), body, setup_secret(setup))

    message.refresh_from_db()
    assert message.provider_handle == handle
    assert message.send_state == SendState.SENT


def test_subscribers_of_delivery_failed_are_not_told_an_unknown_outcome_failed(
    conversation, fake_provider
):
    identity = conversation.identity
    SigningKeyFactory(identity=identity)
    failed_only = WebhookSubscriptionFactory(
        identity=identity, url="https://a.example/hook", event_types=["imessage.delivery_failed"]
    )
    opted_in = WebhookSubscriptionFactory(
        identity=identity, url="https://b.example/hook", event_types=["imessage.delivery_unknown"]
    )
    message = queue_message(conversation)
    worker_died_after_the_call(message, fake_provider)
    fake_provider.outbound.clear()

    sweep_after_the_stuck_timeout()

    assert not WebhookDelivery.objects.filter(subscription=failed_only).exists()
    (delivery,) = WebhookDelivery.objects.filter(subscription=opted_in)
    payload = json.loads(delivery.request_payload)
    assert payload["event_type"] == "imessage.delivery_unknown"
    assert payload["data"]["message"]["status"] == "error"
    assert payload["data"]["message"]["error_reason"] == "outcome_unknown"
