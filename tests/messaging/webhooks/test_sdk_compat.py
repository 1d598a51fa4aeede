"""Wire compatibility: the public `inkbox` SDK (0.7.20) webhook calls against a live server."""

from __future__ import annotations

import pytest
from inkbox import Inkbox
from inkbox.exceptions import InkboxAPIError
from inkbox.signing_keys import verify_webhook

from messaging.webhooks.events import event_emit
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.webhooks.conftest import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sdk(live_server, identity_key) -> Inkbox:
    return Inkbox(api_key=identity_key.raw_key, base_url=live_server.url)


@pytest.fixture
def admin_sdk(live_server, admin_key) -> Inkbox:
    return Inkbox(api_key=admin_key.raw_key, base_url=live_server.url)


def test_the_sdk_manages_subscriptions_and_verifies_a_real_delivery(
    sdk, admin_sdk, identity, receiver: Receiver
):
    created = sdk.webhooks.subscriptions.create(
        url=receiver.url,
        event_types=["imessage.received"],
        agent_identity_id=identity.id,
        auth_token="bearer-1",
    )
    assert created.signing_key and created.signing_key.startswith("whsec_")
    [listed] = sdk.webhooks.subscriptions.list(scope="identity")
    assert listed.id == created.id
    updated = sdk.webhooks.subscriptions.update(
        created.id, event_types=["imessage.received", "imessage.sent"]
    )
    assert sorted(updated.event_types) == ["imessage.received", "imessage.sent"]
    assert sdk.webhooks.subscriptions.get(created.id).has_auth_token is True

    message = MessageFactory(conversation=ConversationFactory(identity=identity))
    event = event_emit(event_type="imessage.received", identity=identity, message=message)
    assert event is not None
    [request] = receiver.requests
    assert verify_webhook(payload=request.body, headers=request.headers, secret=created.signing_key)
    assert request.headers["Authorization"] == "Bearer bearer-1"

    [delivery] = admin_sdk.webhooks.deliveries.list(success=True)
    assert delivery.event_id == event.id
    replay = admin_sdk.webhooks.deliveries.replay(delivery.id)
    assert replay.is_replay is True
    assert replay.event_id == event.id
    assert len(receiver.requests) == 2

    sdk.webhooks.subscriptions.delete(created.id)
    assert sdk.webhooks.subscriptions.list() == []


def test_the_sdk_rotates_and_reads_the_signing_key(sdk, identity):
    assert sdk.signing_keys.get_status("nurse-bot").configured is False
    first = sdk.signing_keys.create_or_rotate("nurse-bot")
    second = sdk.signing_keys.create_or_rotate("nurse-bot")
    status = sdk.signing_keys.get_status("nurse-bot")

    assert first.signing_key != second.signing_key
    assert status.configured is True
    assert status.created_at == second.created_at


def test_the_sdk_sees_a_bad_event_type_as_an_api_error(sdk, identity, receiver: Receiver):
    with pytest.raises(InkboxAPIError) as caught:
        sdk.webhooks.subscriptions.create(
            url=receiver.url, event_types=["imessage.bogus"], agent_identity_id=identity.id
        )

    assert caught.value.status_code == 400
