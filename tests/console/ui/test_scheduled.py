"""The console's "Scheduled" list per identity, with cancel for operators."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AgentIdentity, AuditEntry
from messaging.models import Message, SendState
from tests.console.ui.conftest import htmx
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def scheduled(identity: AgentIdentity, *, hours: int = 2, **fields: Any) -> Message:
    conversation = ConversationFactory(identity=identity)
    message: Message = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="pending",
        send_state=SendState.QUEUED,
        scheduled_for=timezone.now() + timedelta(hours=hours),
        content="Your appointment is at 9",
        **fields,
    )
    return message


def list_url(identity: AgentIdentity) -> str:
    return reverse("console:scheduled", args=[identity.handle])


def cancel_url(message: Message) -> str:
    return reverse("console:scheduled-cancel", args=[message.identity.handle, message.id])


def test_the_list_shows_pending_scheduled_messages_soonest_first(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    later = scheduled(identity, hours=5)
    sooner = scheduled(identity, hours=1)
    MessageFactory(conversation=later.conversation, direction="outbound")  # not scheduled

    body = auditor_client.get(list_url(identity)).content.decode()

    assert body.index(f"scheduled-{sooner.id}") < body.index(f"scheduled-{later.id}")
    assert body.count('id="scheduled-') == 3  # the section and two rows
    assert "Cancel" not in body  # auditors see no controls


def test_the_list_reads_in_bounded_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    for hours in range(1, 8):
        scheduled(identity, hours=hours)

    with django_assert_max_num_queries(12):
        response = operator_client.get(list_url(identity))

    assert response.status_code == 200


def test_an_operator_cancels_in_place_and_it_is_audited(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = scheduled(identity)

    response = operator_client.post(cancel_url(message), **htmx())

    assert response.status_code == 200
    assert "Scheduled message cancelled." in response.content.decode()
    assert not Message.objects.filter(pk=message.pk).exists()
    entry = AuditEntry.objects.get(action="message.scheduled_cancel")
    assert entry.actor_label == "olivia"


def test_a_message_already_sending_is_not_cancelled(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = scheduled(identity, send_attempts=1)
    Message.objects.filter(pk=message.pk).update(send_state=SendState.SENDING)

    response = operator_client.post(cancel_url(message))

    assert response.status_code == 409
    assert Message.objects.filter(pk=message.pk).exists()


def test_an_auditor_cannot_cancel(auditor_client: Client, identity: AgentIdentity) -> None:
    message = scheduled(identity)

    response = auditor_client.post(cancel_url(message))

    assert response.status_code == 403
    assert Message.objects.filter(pk=message.pk).exists()


def test_another_organisations_operator_gets_404(
    outsider_operator_client: Client, identity: AgentIdentity
) -> None:
    message = scheduled(identity)

    assert outsider_operator_client.get(list_url(identity)).status_code == 404
    assert outsider_operator_client.post(cancel_url(message)).status_code == 404
    assert Message.objects.filter(pk=message.pk).exists()
