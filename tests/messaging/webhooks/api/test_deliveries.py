from __future__ import annotations

import json
import uuid

import pytest
from inkbox.signing_keys import verify_webhook

from console.models import AuditEntry
from console.services import Actor
from messaging.webhooks.delivery import delivery_retry
from messaging.webhooks.events import event_emit
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery
from messaging.webhooks.subscriptions import subscription_create
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.webhooks.conftest import Receiver, Reply
from tests.messaging.webhooks.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory

URL = "/api/v1/webhooks/deliveries"


@pytest.fixture
def delivered(identity, receiver: Receiver, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    created = subscription_create(
        identity=identity, url=receiver.url, event_types=["imessage.received"], actor=Actor.system()
    )
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(event_type="imessage.received", identity=identity, message=message)
    delivery = WebhookDelivery.objects.get()
    return delivery, created.signing_key


def test_list_is_wrapped_newest_first_with_the_contract_fields(admin_client, delivered):
    delivery, _ = delivered
    older = WebhookDeliveryFactory(subscription=delivery.subscription)
    WebhookDelivery.objects.filter(pk=older.pk).update(
        created_at=delivery.created_at.replace(year=2020)
    )

    response = admin_client.get(URL, {"limit": 50, "offset": 0})

    assert response.status_code == 200
    rows = response.json()["deliveries"]
    assert [r["id"] for r in rows] == [str(delivery.id), str(older.id)]
    row = rows[0]
    assert row["event_id"] == delivery.event_id
    assert row["event_type"] == "imessage.received"
    assert row["request_payload"] == delivery.request_payload
    assert row["is_replay"] is False
    assert row["webhook_subscription_id"] == str(delivery.subscription_id)
    assert row["response_status"] == 200
    assert row["status"] == "succeeded"
    assert row["attempt_count"] == 1
    assert row["replayable"] is True
    assert row["replay_unavailable_reason"] is None
    assert row["phone_number_id"] is None
    assert isinstance(row["duration_ms"], int)


def test_list_is_scoped_to_the_organisation(outsider_client, delivered):
    assert outsider_client.get(URL).json()["deliveries"] == []


def test_scoped_key_sees_only_its_identitys_deliveries(identity_client, other_identity, delivered):
    WebhookDeliveryFactory(subscription=WebhookSubscriptionFactory(identity=other_identity))

    rows = identity_client.get(URL).json()["deliveries"]

    assert [r["id"] for r in rows] == [str(delivered[0].id)]


def test_list_filters_by_subscription_event_type_and_success(admin_client, identity, delivered):
    delivery, _ = delivered
    other_sub = WebhookSubscriptionFactory(identity=identity, event_types=["imessage.sent"])
    failed = WebhookDeliveryFactory(
        subscription=other_sub,
        event__event_type="imessage.sent",
        status="failed",
        response_status=500,
    )

    by_sub = admin_client.get(URL, {"subscription_id": str(other_sub.id)}).json()["deliveries"]
    by_type = admin_client.get(URL, {"event_type": "imessage.sent"}).json()["deliveries"]
    ok = admin_client.get(URL, {"success": "true"}).json()["deliveries"]
    not_ok = admin_client.get(URL, {"success": "false"}).json()["deliveries"]

    assert [r["id"] for r in by_sub] == [str(failed.id)]
    assert [r["id"] for r in by_type] == [str(failed.id)]
    assert [r["id"] for r in ok] == [str(delivery.id)]
    assert [r["id"] for r in not_ok] == [str(failed.id)]


def test_phone_number_filter_matches_nothing(admin_client, delivered):
    rows = admin_client.get(URL, {"phone_number_id": str(uuid.uuid4())}).json()["deliveries"]

    assert rows == []


@pytest.mark.parametrize(("limit", "expected"), [("0", 1), ("-5", 1), ("500", 3), ("2", 2)])
def test_limit_is_clamped_to_1_200(admin_client, identity, limit, expected):
    sub = WebhookSubscriptionFactory(identity=identity)
    for _ in range(3):
        WebhookDeliveryFactory(subscription=sub)

    rows = admin_client.get(URL, {"limit": limit, "offset": "0"}).json()["deliveries"]

    assert len(rows) == expected


def test_offset_pages_through(admin_client, identity):
    sub = WebhookSubscriptionFactory(identity=identity)
    for _ in range(3):
        WebhookDeliveryFactory(subscription=sub)

    first = admin_client.get(URL, {"limit": 2, "offset": 0}).json()["deliveries"]
    rest = admin_client.get(URL, {"limit": 2, "offset": 2}).json()["deliveries"]

    assert len(first) == 2 and len(rest) == 1
    assert {r["id"] for r in first}.isdisjoint({r["id"] for r in rest})


def test_list_query_count_is_constant(admin_client, identity, django_assert_num_queries):
    sub = WebhookSubscriptionFactory(identity=identity)
    for _ in range(5):
        WebhookDeliveryFactory(subscription=sub)
    admin_client.get(URL)

    with django_assert_num_queries(1):  # the deliveries with event + subscription (key: cached)
        rows = admin_client.get(URL).json()["deliveries"]

    assert len(rows) == 5


def test_replay_without_body_or_content_type_creates_a_replay_row(
    admin_client, delivered, receiver, django_capture_on_commit_callbacks
):
    delivery, secret = delivered

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.generic("POST", f"{URL}/{delivery.id}/replay")

    assert response.status_code == 201
    body = response.json()
    assert body["is_replay"] is True
    assert body["event_id"] == delivery.event_id
    assert body["id"] != str(delivery.id)
    first, second = receiver.requests
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"] == delivery.event_id
    assert first.headers["X-Inkbox-Request-ID"] != second.headers["X-Inkbox-Request-ID"]
    assert verify_webhook(payload=second.body, headers=second.headers, secret=secret)
    assert WebhookDelivery.objects.get(pk=body["id"]).status == DeliveryStatus.SUCCEEDED
    assert AuditEntry.objects.filter(action="webhook_delivery.replay").count() == 1


def test_replay_goes_to_the_subscriptions_current_url(
    admin_client, delivered, receiver, django_capture_on_commit_callbacks
):
    delivery, _ = delivered
    sub = delivery.subscription
    sub.url = receiver.url + "/moved"
    sub.save()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{URL}/{delivery.id}/replay")

    assert response.json()["url"] == receiver.url + "/moved"
    assert receiver.requests[-1].path == "/hook/moved"


def test_replay_needs_an_admin_key(identity_client, delivered):
    response = identity_client.post(f"{URL}/{delivered[0].id}/replay")

    assert response.status_code == 403


def test_replay_of_another_organisations_delivery_is_404(outsider_client, delivered):
    response = outsider_client.post(f"{URL}/{delivered[0].id}/replay")

    assert response.status_code == 404


def test_replay_for_a_deleted_subscription_is_409(admin_client, delivered):
    delivery, _ = delivered
    delivery.subscription.status = "deleted"
    delivery.subscription.save()

    response = admin_client.post(f"{URL}/{delivery.id}/replay")

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "subscription_inactive"


def test_replay_when_the_subscription_no_longer_selects_the_type_is_409(admin_client, delivered):
    delivery, _ = delivered
    delivery.subscription.event_types = ["imessage.sent"]
    delivery.subscription.save()

    response = admin_client.post(f"{URL}/{delivery.id}/replay")
    listed = admin_client.get(URL).json()["deliveries"][0]

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "event_type_not_selected"
    assert listed["replayable"] is False
    assert listed["replay_unavailable_reason"]


def test_replay_for_a_disabled_identity_is_422(admin_client, identity, delivered):
    identity.imessage_enabled = False
    identity.save()

    response = admin_client.post(f"{URL}/{delivered[0].id}/replay")

    assert response.status_code == 422


def test_console_retry_reattempts_a_failed_delivery_now(
    identity, receiver, django_capture_on_commit_callbacks
):
    subscription_create(
        identity=identity, url=receiver.url, event_types=["imessage.received"], actor=Actor.system()
    )
    receiver.reply(Reply(status=404))
    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(event_type="imessage.received", identity=identity, message=message)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED

    with django_capture_on_commit_callbacks(execute=True):
        delivery_retry(delivery=delivery, actor=Actor.system())

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_count == 2
    assert AuditEntry.objects.filter(action="webhook_delivery.retry").exists()


def test_console_retry_of_a_delivered_row_is_refused(delivered):
    from console.errors import Conflict

    with pytest.raises(Conflict):
        delivery_retry(delivery=delivered[0], actor=Actor.system())
