"""Wire compatibility of the timing additions with the public `inkbox` SDK (0.7.20):
pending messages with `scheduled_for`, identities with `quiet_hours`, and the typed
errors of the new codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from inkbox import Inkbox
from inkbox.exceptions import InkboxAPIError

from messaging.models import Message, SendState
from messaging.services.sending import message_send
from tests.messaging.factories import QuietHoursFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sdk(live_server, identity_key) -> Inkbox:
    return Inkbox(api_key=identity_key.raw_key, base_url=live_server.url)


@pytest.fixture
def admin_sdk(live_server, admin_key) -> Inkbox:
    return Inkbox(api_key=admin_key.raw_key, base_url=live_server.url)


def _scheduled(conversation) -> Message:
    return message_send(
        identity=conversation.identity,
        conversation=conversation,
        to=None,
        text="Reminder",
        media_urls=[],
        send_style=None,
        send_at=timezone.now() + timedelta(hours=2),
    ).message


def test_the_sdk_reads_a_scheduled_message_as_pending(sdk, conversation):
    scheduled = _scheduled(conversation)

    one = sdk.imessages.get(scheduled.id)
    [listed] = sdk.imessages.list(conversation_id=conversation.id)

    assert one.id == scheduled.id
    assert one.status.value == "pending"
    assert listed.id == scheduled.id


def test_the_sdk_reads_an_identity_with_quiet_hours(admin_sdk, identity):
    QuietHoursFactory(identity=identity, auto_reply="Closed")

    got = admin_sdk.get_identity(identity.handle)

    assert got.agent_handle == identity.handle


def test_the_sdk_gets_a_429_with_retry_after_on_the_loop_guard(sdk, conversation, settings):
    settings.CONVERSATION_BURST_LIMIT = 1
    sdk.imessages.send(conversation_id=conversation.id, text="one")

    with pytest.raises(InkboxAPIError) as caught:
        sdk.imessages.send(conversation_id=conversation.id, text="two")

    assert caught.value.status_code == 429
    assert caught.value.detail["error"] == "conversation_burst_limited"
    assert 1 <= caught.value.retry_after_seconds <= 60


def test_the_sdk_transport_sees_409_already_sending_on_a_late_cancel(sdk, conversation):
    scheduled = _scheduled(conversation)
    Message.objects.filter(pk=scheduled.pk).update(send_state=SendState.SENDING, send_attempts=1)

    with pytest.raises(InkboxAPIError) as caught:
        sdk._imessage_http.delete(f"/messages/{scheduled.id}")

    assert caught.value.status_code == 409
    assert caught.value.detail["error"] == "already_sending"
