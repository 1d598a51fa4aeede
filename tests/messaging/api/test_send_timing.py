"""The send API's timing additions: `send_at`, `urgent`, cancelling with DELETE, and the
loop guard's 429."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from console.models import AuditEntry
from console.services import api_key_create
from messaging.models import Message, SendState
from tests.conftest import keyed_client
from tests.console.factories import AgentIdentityFactory
from tests.messaging.factories import ConversationFactory, MessageFactory, QuietHoursFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/imessage/messages"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NIGHT = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)  # 03:00 for the person (New York)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def send(client, conversation, **extra):
    return client.post(
        URL, {"conversation_id": str(conversation.id), "text": "Reminder", **extra}, format="json"
    )


# --- send_at ----------------------------------------------------------------------------


def test_send_at_answers_201_pending_with_scheduled_for(identity_client, conversation):
    with time_machine.travel(NOW, tick=False):
        response = send(identity_client, conversation, send_at=iso(NOW + timedelta(hours=3)))

    assert response.status_code == 201
    message = response.json()["message"]
    assert message["status"] == "pending"
    assert message["scheduled_for"] == "2026-03-02T18:00:00Z"
    assert response["X-RateLimit-Limit"]


def test_an_immediate_send_reads_scheduled_for_null(identity_client, conversation):
    response = send(identity_client, conversation)

    assert response.json()["message"]["scheduled_for"] is None


@pytest.mark.parametrize("ahead", [timedelta(seconds=30), timedelta(days=36)])
def test_send_at_out_of_range_is_400_naming_the_field(identity_client, conversation, ahead):
    with time_machine.travel(NOW, tick=False):
        response = send(identity_client, conversation, send_at=iso(NOW + ahead))

    assert response.status_code == 400
    assert "send_at" in response.json()["detail"]["fields"]
    assert not Message.objects.exists()


def test_a_scheduled_send_over_the_cap_is_429_at_accept_time(
    identity_client, conversation, settings
):
    settings.SEND_CAP_PER_24H = 1
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        created_at=NOW - timedelta(days=1),
        scheduled_for=NOW + timedelta(hours=5),
    )

    with time_machine.travel(NOW, tick=False):
        response = send(identity_client, conversation, send_at=iso(NOW + timedelta(hours=6)))

    assert response.status_code == 429
    assert response.json()["detail"]["error"] == "send_rate_limited"
    assert response["X-RateLimit-Remaining"] == "0"
    assert int(response["Retry-After"]) >= 1


def test_a_replayed_scheduled_send_returns_the_same_message_after_its_time(
    identity_client, conversation
):
    body = {"conversation_id": str(conversation.id), "text": "x"}
    body["send_at"] = iso(NOW + timedelta(minutes=5))
    with time_machine.travel(NOW, tick=False):
        first = identity_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="s-1")
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        again = identity_client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="s-1")

    assert again.status_code == 201
    assert again.json()["message"]["id"] == first.json()["message"]["id"]


# --- Quiet hours and urgent ----------------------------------------------------------------


def test_a_send_at_night_answers_201_held_until_morning(identity_client, conversation, identity):
    QuietHoursFactory(identity=identity)

    with time_machine.travel(NIGHT, tick=False):
        response = send(identity_client, conversation)

    message = response.json()["message"]
    assert response.status_code == 201
    assert message["status"] == "pending"
    assert message["scheduled_for"] == "2026-01-15T13:00:00Z"


def test_an_urgent_send_at_night_goes_now_and_is_audited(identity_client, conversation, identity):
    QuietHoursFactory(identity=identity)

    with time_machine.travel(NIGHT, tick=False):
        response = send(identity_client, conversation, urgent=True)

    assert response.json()["message"]["status"] == "queued"
    assert AuditEntry.objects.filter(action="message.urgent_send").count() == 1


def test_a_send_scheduled_into_quiet_hours_moves_to_their_end(
    identity_client, conversation, identity
):
    QuietHoursFactory(identity=identity)

    with time_machine.travel(NIGHT - timedelta(hours=12), tick=False):
        response = send(identity_client, conversation, send_at=iso(NIGHT))

    assert response.json()["message"]["scheduled_for"] == "2026-01-15T13:00:00Z"


# --- DELETE ---------------------------------------------------------------------------------


def test_delete_cancels_a_scheduled_message_with_204(identity_client, conversation):
    with time_machine.travel(NOW, tick=False):
        sent = send(identity_client, conversation, send_at=iso(NOW + timedelta(hours=1)))
    message_id = sent.json()["message"]["id"]

    response = identity_client.delete(f"{URL}/{message_id}")

    assert response.status_code == 204
    assert identity_client.get(f"{URL}/{message_id}").status_code == 404


def test_delete_after_sending_started_is_409_already_sending(identity_client, conversation):
    with time_machine.travel(NOW, tick=False):
        sent = send(identity_client, conversation, send_at=iso(NOW + timedelta(hours=1)))
    message_id = sent.json()["message"]["id"]
    Message.objects.filter(pk=message_id).update(send_state=SendState.SENDING, send_attempts=1)

    response = identity_client.delete(f"{URL}/{message_id}")

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "already_sending"


def test_delete_of_another_identitys_message_is_404(identity_client, identity, org):
    other = AgentIdentityFactory(organization=org, handle="other-bot")
    foreign = MessageFactory(
        conversation=ConversationFactory(identity=other),
        direction="outbound",
        scheduled_for=NOW + timedelta(days=1),
        send_state=SendState.QUEUED,
    )

    response = identity_client.delete(f"{URL}/{foreign.id}")

    assert response.status_code == 404
    assert Message.objects.filter(pk=foreign.pk).exists()


def test_delete_of_another_organisations_message_is_404(conversation, other_org):
    key = api_key_create(organization=other_org, label="admin")
    scheduled = MessageFactory(
        conversation=conversation,
        direction="outbound",
        scheduled_for=NOW + timedelta(days=1),
        send_state=SendState.QUEUED,
    )

    response = keyed_client(key).delete(f"{URL}/{scheduled.id}")

    assert response.status_code == 404


# --- The loop guard -----------------------------------------------------------------------


def test_the_send_beyond_the_burst_limit_is_429_conversation_burst_limited(
    identity_client, conversation, settings
):
    settings.CONVERSATION_BURST_LIMIT = 2
    with time_machine.travel(NOW, tick=False):
        statuses = [send(identity_client, conversation).status_code for _ in range(2)]
        refused = send(identity_client, conversation)

    assert statuses == [201, 201]
    assert refused.status_code == 429
    assert refused.json()["detail"]["error"] == "conversation_burst_limited"
    assert refused["Retry-After"] == "60"
