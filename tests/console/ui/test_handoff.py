"""Staff takeover on the console's conversation page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AuditEntry
from messaging.models import Conversation, Message
from messaging.services import handoff
from tests.console.ui.conftest import htmx
from tests.messaging.conftest import assignment, conversation, platform_setup, pool_line

__all__ = ["assignment", "conversation", "platform_setup", "pool_line"]

pytestmark = pytest.mark.django_db


def page(client: Client, conversation: Conversation) -> str:
    response = client.get(reverse("console:conversation", args=[conversation.id]))
    assert response.status_code == 200
    return response.content.decode()


def take_over(client: Client, conversation: Conversation, **headers: str):
    return client.post(reverse("console:conversation-takeover", args=[conversation.id]), **headers)


def test_an_operator_sees_take_over_and_an_auditor_only_the_state(
    operator_client: Client, auditor_client: Client, conversation: Conversation
) -> None:
    assert "Take over" in page(operator_client, conversation)
    body = page(auditor_client, conversation)
    assert "Handled by the agent" in body
    assert "Take over" not in body


def test_an_operator_takes_over_in_place_and_gets_the_hand_back_control(
    operator_client: Client, conversation: Conversation
) -> None:
    response = take_over(operator_client, conversation, **htmx())

    assert response.status_code == 200
    body = response.content.decode()
    assert "Handled by staff" in body and "Hand back to agent" in body
    conversation.refresh_from_db()
    assert (conversation.handled_by, conversation.handed_off_by) == ("staff", "olivia")
    assert AuditEntry.objects.filter(action="conversation.handoff", actor_label="olivia").exists()


def test_without_javascript_taking_over_returns_to_the_conversation(
    operator_client: Client, conversation: Conversation
) -> None:
    response = take_over(operator_client, conversation)

    assert response.status_code == 302
    assert "Send as staff" in page(operator_client, conversation)


def test_an_operator_hands_the_conversation_back(
    operator_client: Client, conversation: Conversation
) -> None:
    take_over(operator_client, conversation)

    operator_client.post(reverse("console:conversation-handback", args=[conversation.id]))

    conversation.refresh_from_db()
    assert conversation.handled_by == "agent"


def test_an_auditors_forged_take_over_is_refused(
    auditor_client: Client, conversation: Conversation
) -> None:
    assert take_over(auditor_client, conversation).status_code == 403
    conversation.refresh_from_db()
    assert conversation.handled_by == "agent"


def test_another_organisations_conversation_is_not_found(
    outsider_operator_client: Client, conversation: Conversation
) -> None:
    assert take_over(outsider_operator_client, conversation).status_code == 404


def test_a_staff_reply_is_sent_recorded_with_the_user_and_shown_as_a_staff_bubble(
    operator_client: Client,
    conversation: Conversation,
    fake_provider,
    django_capture_on_commit_callbacks,
) -> None:
    take_over(operator_client, conversation)

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            reverse("console:conversation-staff-reply", args=[conversation.id]),
            {"text": "This is nurse Olivia."},
        )

    assert response.status_code == 302
    message = Message.objects.get(direction="outbound")
    assert message.sent_by == operator_client.user  # type: ignore[attr-defined]
    assert len(fake_provider.calls_to("send_message")) == 1
    body = page(operator_client, conversation)
    assert re.search(r'class="bubble outbound[^"]* staff"', body)
    assert "staff: olivia" in body
    assert AuditEntry.objects.filter(action="conversation.staff_reply").exists()


def test_a_staff_reply_before_taking_over_is_refused_and_nothing_is_sent(
    operator_client: Client, conversation: Conversation
) -> None:
    response = operator_client.post(
        reverse("console:conversation-staff-reply", args=[conversation.id]), {"text": "Hi"}
    )

    assert response.status_code == 422
    assert not Message.objects.exists()


def test_an_auditor_cannot_reply_as_staff(
    auditor_client: Client, conversation: Conversation
) -> None:
    handoff.conversation_handoff(conversation=conversation, to="staff", actor=handoff.IDLE_ACTOR)

    response = auditor_client.post(
        reverse("console:conversation-staff-reply", args=[conversation.id]), {"text": "Hi"}
    )

    assert response.status_code == 403
    assert not Message.objects.exists()
