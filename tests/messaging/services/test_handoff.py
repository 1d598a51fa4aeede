"""Staff takeover: the agent stays quiet while staff handle a conversation."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from console.celery import app as celery_app
from console.errors import Conflict
from console.models import AuditEntry
from console.services import Actor
from messaging.models import Conversation, Message
from messaging.services import handoff
from messaging.services.inbound import inbound_message_receive
from messaging.webhooks.models import WebhookDelivery
from tests.console.factories import UserFactory
from tests.messaging.factories import ConversationFactory
from tests.messaging.sends import send_now
from tests.messaging.services.test_inbound import inbound
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db

NURSE = Actor(type="user", id="1", label="nurse@example.com")


def take_over(conversation, actor=NURSE):
    return handoff.conversation_handoff(conversation=conversation, to="staff", actor=actor)


def test_taking_over_records_who_and_when(conversation):
    changed = take_over(conversation)

    changed.refresh_from_db()
    assert changed.handled_by == "staff"
    assert changed.handed_off_by == "nurse@example.com"
    assert changed.handed_off_at is not None


def test_every_change_is_audited(conversation, org):
    take_over(conversation)
    handoff.conversation_handoff(conversation=conversation, to="agent", actor=NURSE)

    entries = AuditEntry.objects.filter(action="conversation.handoff").order_by("id")
    assert [e.after["handled_by"] for e in entries] == ["staff", "agent"]
    assert entries[0].organization == org


def test_every_change_is_announced_to_the_agent(conversation, emitted):
    take_over(conversation)
    handoff.conversation_handoff(conversation=conversation, to="agent", actor=NURSE)

    assert emitted.types() == ["imessage.handoff", "imessage.handoff"]
    details = emitted[0].objects["details"]
    assert details["conversation_id"] == str(conversation.id)
    assert (details["handled_by"], details["handed_off_by"]) == ("staff", "nurse@example.com")


def test_handing_over_to_whoever_already_handles_it_changes_nothing(conversation, emitted):
    handoff.conversation_handoff(conversation=conversation, to="agent", actor=NURSE)

    assert emitted.types() == []
    assert not AuditEntry.objects.filter(action="conversation.handoff").exists()


def test_an_agent_send_into_a_conversation_staff_handle_answers_409(conversation, fake_provider):
    take_over(conversation)
    conversation.refresh_from_db()

    with pytest.raises(Conflict) as caught:
        send_now(conversation)

    assert caught.value.code == "conversation_handed_off"
    assert not Message.objects.filter(direction="outbound").exists()
    assert fake_provider.calls_to("send_message") == []


def test_the_agent_sends_again_once_the_conversation_is_handed_back(conversation):
    take_over(conversation)
    handback = handoff.conversation_handoff(conversation=conversation, to="agent", actor=NURSE)

    assert send_now(handback).direction == "outbound"


def test_a_staff_reply_goes_out_through_the_send_path_with_the_staff_user(
    conversation, fake_provider, django_capture_on_commit_callbacks
):
    user = UserFactory()
    taken = take_over(conversation)

    with django_capture_on_commit_callbacks(execute=True):
        message = handoff.staff_reply(conversation=taken, text="Nurse here", user=user, actor=NURSE)

    message.refresh_from_db()
    assert message.sent_by == user
    assert message.send_state == "sent"
    [call] = fake_provider.calls_to("send_message")
    assert call.kwargs["content"] == "Nurse here"
    assert AuditEntry.objects.filter(action="conversation.staff_reply").exists()


def test_a_staff_reply_counts_against_the_identitys_cap(conversation, settings):
    settings.SEND_CAP_PER_24H = 0
    taken = take_over(conversation)

    with pytest.raises(Exception) as caught:
        handoff.staff_reply(conversation=taken, text="Hi", user=UserFactory(), actor=NURSE)

    assert caught.value.code == "send_rate_limited"


def test_staff_reply_only_once_they_took_the_conversation_over(conversation):
    with pytest.raises(Conflict) as caught:
        handoff.staff_reply(conversation=conversation, text="Hi", user=UserFactory(), actor=NURSE)

    assert caught.value.code == "conversation_not_handed_off"


def test_inbound_messages_still_reach_the_agent_marked_handled_by_staff(
    conversation, identity, platform_setup
):
    WebhookSubscriptionFactory(identity=identity, event_types=["imessage.received"])
    take_over(conversation)

    inbound_message_receive(setup=platform_setup, event=inbound())

    delivery = WebhookDelivery.objects.get(event__event_type="imessage.received")
    assert '"context":{"handled_by":"staff"}' in delivery.request_payload


def test_inbound_events_carry_no_context_while_the_agent_handles_it(
    conversation, identity, platform_setup
):
    WebhookSubscriptionFactory(identity=identity, event_types=["imessage.received"])

    inbound_message_receive(setup=platform_setup, event=inbound())

    assert '"context"' not in WebhookDelivery.objects.get().request_payload


def test_an_idle_takeover_is_handed_back_after_the_organisations_minutes(conversation, org):
    org.handoff_idle_minutes = 30
    org.save()
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=timezone.now())
    take_over(conversation)

    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert handoff.idle_handback_sweep() == 1

    conversation.refresh_from_db()
    assert (conversation.handled_by, conversation.handed_off_by) == ("agent", "idle hand-back")


def test_a_takeover_with_recent_messages_is_not_handed_back(conversation, org):
    org.handoff_idle_minutes = 30
    org.save()
    take_over(conversation)
    later = timezone.now() + timedelta(minutes=20)
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=later)

    with time_machine.travel(later + timedelta(minutes=20)):
        assert handoff.idle_handback_sweep() == 0


def test_organisations_without_idle_minutes_keep_their_takeovers(conversation):
    take_over(conversation)

    with time_machine.travel(timezone.now() + timedelta(days=3)):
        assert handoff.idle_handback_sweep() == 0


def test_a_group_conversation_cannot_be_handed_over(identity):
    group = ConversationFactory(identity=identity, is_group=True, group_id="g-1")

    with pytest.raises(Conflict) as caught:
        take_over(group)

    assert caught.value.code == "group_not_supported"


def test_the_idle_hand_back_is_scheduled_on_celery_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["messaging-handoff-idle-sweep"]
    assert entry["task"] == "messaging.handoff_idle_sweep"
    assert entry["task"] in celery_app.tasks
