from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from inkbox.signing_keys import verify_webhook
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from console.models import AgentIdentity
from console.services import Actor
from messaging.webhooks.delivery import delivery_attempt, delivery_sweep
from messaging.webhooks.events import event_emit
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from messaging.webhooks.signing_keys import signing_key_create_or_rotate
from messaging.webhooks.subscriptions import subscription_create
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.webhooks.conftest import Receiver, Reply


@pytest.fixture
def hook(identity: AgentIdentity, receiver: Receiver) -> tuple[WebhookSubscription, str]:
    created = subscription_create(
        identity=identity,
        url=receiver.url,
        event_types=["imessage.received"],
        actor=Actor.system(),
    )
    assert created.signing_key is not None
    return created.subscription, created.signing_key


def emit(identity: AgentIdentity, callbacks) -> WebhookDelivery:  # type: ignore[no-untyped-def]
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with callbacks(execute=True):
        event = event_emit(event_type="imessage.received", identity=identity, message=message)
    assert event is not None
    return WebhookDelivery.objects.get(event=event)


def verify_both(secret: str, body: bytes, headers: dict[str, str]) -> None:
    assert verify_webhook(payload=body, headers=headers, secret=secret)
    Webhook(secret).verify(body, headers)


def test_delivery_is_signed_so_inkbox_and_standard_webhooks_both_verify_it(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    _, secret = hook
    delivery = emit(identity, django_capture_on_commit_callbacks)

    [request] = receiver.requests
    verify_both(secret, request.body, request.headers)
    assert request.body == delivery.request_payload.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Inkbox-Request-ID"] == request.headers["webhook-id"]
    assert request.headers["X-Inkbox-Timestamp"] == request.headers["webhook-timestamp"]


def test_a_tampered_body_fails_both_verifications(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    _, secret = hook
    emit(identity, django_capture_on_commit_callbacks)
    [request] = receiver.requests
    tampered = request.body.replace(b"imessage.received", b"imessage.delivered")

    assert not verify_webhook(payload=tampered, headers=request.headers, secret=secret)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)


def test_successful_delivery_records_status_code_latency_and_attempts(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    receiver.reply(Reply(status=202, body=b"thanks"))
    delivery = emit(identity, django_capture_on_commit_callbacks)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.response_status == 202
    assert delivery.response_body == "thanks"
    assert delivery.attempt_count == 1
    assert delivery.duration_ms is not None
    assert delivery.next_attempt_at is None
    assert delivery.claimed_at is None


def test_receiver_answering_500_five_times_gets_the_event_later_with_one_event_id(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    _, secret = hook
    receiver.reply(*[Reply(status=500, body=b"down")] * 5)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        delivery = emit(identity, django_capture_on_commit_callbacks)
        for _ in range(5):
            delivery.refresh_from_db()
            assert delivery.status == DeliveryStatus.PENDING
            assert delivery.response_status == 500
            clock.move_to(delivery.next_attempt_at + timedelta(seconds=61))
            delivery_sweep()

        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SUCCEEDED
        assert delivery.attempt_count == 6
        assert len(receiver.requests) == 6
        assert len({json.loads(r.body)["id"] for r in receiver.requests}) == 1
        verify_both(secret, receiver.requests[-1].body, receiver.requests[-1].headers)


def test_retries_back_off_exponentially(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    receiver.default = Reply(status=503)
    gaps = []
    with time_machine.travel(timezone.now(), tick=False) as clock:
        delivery = emit(identity, django_capture_on_commit_callbacks)
        for _ in range(6):
            delivery.refresh_from_db()
            gaps.append((delivery.next_attempt_at - timezone.now()).total_seconds())
            clock.move_to(delivery.next_attempt_at)
            delivery_attempt(delivery_id=delivery.id)

    # Equal jitter: each delay lies in [d/2, d] for d = 30 s * 2^(n-1).
    for n, gap in enumerate(gaps, start=1):
        full = 30 * 2 ** (n - 1)
        assert full / 2 <= gap <= full


def test_transient_failures_stop_as_failed_after_the_retry_window(
    identity, hook, receiver, settings, django_capture_on_commit_callbacks
):
    receiver.default = Reply(status=502)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        delivery = emit(identity, django_capture_on_commit_callbacks)
        for _ in range(200):
            delivery.refresh_from_db()
            if delivery.status != DeliveryStatus.PENDING:
                break
            clock.move_to(delivery.next_attempt_at)
            delivery_attempt(delivery_id=delivery.id)

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_attempt_at >= start + timedelta(hours=24)
    assert delivery.response_status == 502


def test_429_is_retried(identity, hook, receiver, django_capture_on_commit_callbacks):
    receiver.reply(Reply(status=429))
    delivery = emit(identity, django_capture_on_commit_callbacks)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at > timezone.now()


@pytest.mark.parametrize("status_code", [400, 401, 404, 410, 301])
def test_other_client_errors_and_redirects_fail_at_once(
    status_code, identity, hook, receiver, django_capture_on_commit_callbacks
):
    receiver.reply(Reply(status=status_code, body=b"nope"))
    delivery = emit(identity, django_capture_on_commit_callbacks)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.response_status == status_code
    assert delivery.attempt_count == 1
    assert len(receiver.requests) == 1


def test_a_hanging_receiver_is_cut_off_at_the_timeout(
    identity, hook, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    receiver.reply(Reply(status=200, delay=5))
    delivery = emit(identity, django_capture_on_commit_callbacks)

    delivery.refresh_from_db()
    # The attempt returned while the receiver was still holding its answer.
    assert receiver.finished_replies == 0
    assert delivery.response_status is None
    assert delivery.error_detail == "timed out after 0.5s"
    assert delivery.status == DeliveryStatus.PENDING


def test_a_huge_response_body_is_not_read_past_the_cap(
    identity, hook, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 1000
    huge = 200 * 1024 * 1024
    receiver.reply(Reply(status=200, stream_bytes=huge))
    delivery = emit(identity, django_capture_on_commit_callbacks)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(delivery.response_body) == 1000
    # We hung up early: the receiver could not push the whole body.
    for _ in range(100):
        if receiver.stream_broken:
            break
        import time

        time.sleep(0.05)
    assert receiver.stream_broken
    assert receiver.streamed_bytes < huge


def test_connection_refused_is_retried(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    receiver.server.shutdown()
    receiver.server.server_close()
    delivery = emit(identity, django_capture_on_commit_callbacks)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.response_status is None
    assert delivery.error_detail == "connection failed"


def test_auth_token_is_sent_as_bearer(identity, receiver, django_capture_on_commit_callbacks):
    subscription_create(
        identity=identity,
        url=receiver.url,
        event_types=["imessage.received"],
        auth_token="s3cret-token",
        actor=Actor.system(),
    )
    emit(identity, django_capture_on_commit_callbacks)

    assert receiver.requests[0].headers["Authorization"] == "Bearer s3cret-token"


def test_no_authorization_header_without_auth_token(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    emit(identity, django_capture_on_commit_callbacks)

    assert "Authorization" not in receiver.requests[0].headers


def test_after_rotation_deliveries_are_signed_with_the_new_key(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    _, old_secret = hook
    new_secret = signing_key_create_or_rotate(identity=identity, actor=Actor.system()).secret
    emit(identity, django_capture_on_commit_callbacks)

    [request] = receiver.requests
    verify_both(new_secret, request.body, request.headers)
    assert not verify_webhook(payload=request.body, headers=request.headers, secret=old_secret)


def test_url_that_now_resolves_to_a_private_address_is_refused_at_delivery_time(
    identity, receiver, fake_dns, django_capture_on_commit_callbacks
):
    created = subscription_create(
        identity=identity,
        url="https://hooks.example.com/in",
        event_types=["imessage.received"],
        actor=Actor.system(),
    )
    fake_dns["hooks.example.com"] = ["10.0.0.7"]
    delivery = emit(identity, django_capture_on_commit_callbacks)

    delivery.refresh_from_db()
    assert created.subscription.url == delivery.url
    assert delivery.status == DeliveryStatus.FAILED
    assert "private" in delivery.error_detail
    assert delivery.response_status is None


def test_disabled_identity_pending_deliveries_are_not_sent(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event_emit(event_type="imessage.received", identity=identity, message=message)
    AgentIdentity.objects.filter(pk=identity.pk).update(imessage_enabled=False)
    for callback in callbacks:
        callback()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert receiver.requests == []


def test_deleted_subscription_stops_its_pending_retries(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    sub, _ = hook
    receiver.reply(Reply(status=500))
    delivery = emit(identity, django_capture_on_commit_callbacks)
    WebhookSubscription.objects.filter(pk=sub.pk).update(status="deleted")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())

    delivery_attempt(delivery_id=delivery.id)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert len(receiver.requests) == 1


def test_a_claimed_delivery_is_not_sent_twice(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with django_capture_on_commit_callbacks(execute=False):
        event_emit(event_type="imessage.received", identity=identity, message=message)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_at=timezone.now())

    assert delivery_attempt(delivery_id=delivery.id) is None
    assert receiver.requests == []


def test_a_finished_delivery_is_not_sent_again(
    identity, hook, receiver, django_capture_on_commit_callbacks
):
    delivery = emit(identity, django_capture_on_commit_callbacks)

    assert delivery_attempt(delivery_id=delivery.id) is None
    assert len(receiver.requests) == 1
