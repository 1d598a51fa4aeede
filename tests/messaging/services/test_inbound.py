"""Inbound storage: routing decides, we store once, and deliver unless blocked/disabled."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx
import pytest
from django.db.models import Value
from django.utils import timezone

from console import ids
from messaging import media
from messaging.models import Conversation, MediaObject, Message
from messaging.services import inbound as inbound_module
from messaging.services.conversations import conversation_attach
from messaging.services.inbound import inbound_message_receive
from messaging.webhooks.models import WebhookDelivery, WebhookEvent
from provisioning.dispatch import ForeignReference
from provisioning.providers.base import InboundMessage
from routing.inbound_selectors import InboundLineReader
from routing.models import AssignmentStatus
from routing.services.router import InboundRoute
from tests.messaging.conftest import OTHER_PERSON, PERSON, POOL_NUMBER, ROUTER_NUMBER
from tests.messaging.factories import MessageFactory
from tests.messaging.webhooks.factories import (
    SubscriptionSetVersionFactory,
    WebhookSubscriptionFactory,
)
from tests.provisioning.factories import PhoneLineFactory, setup_secret
from tests.routing.factories import AssignmentFactory, ContactRuleFactory, PoolLineFactory

pytestmark = pytest.mark.django_db


def inbound(
    *, handle="h-1", sender=PERSON, to=POOL_NUMBER, content="my knee hurts", media_url=None
):
    return InboundMessage(
        provider_handle=handle,
        from_number=sender,
        to_number=to,
        content=content,
        media_url=media_url,
        service="imessage",
        is_group=False,
        sent_at=None,
    )


def test_an_inbound_message_is_stored_on_the_conversation_and_emitted(
    conversation, emitted, platform_setup
):
    message = inbound_message_receive(setup=platform_setup, event=inbound())

    assert message is not None
    assert message.conversation_id == conversation.id
    assert message.direction == "inbound"
    assert message.status == "received"
    assert message.assignment_id == conversation.assignment_id
    assert emitted.types() == ["imessage.received"]
    conversation.refresh_from_db()
    assert conversation.last_message_at == message.created_at


def test_a_redelivered_provider_handle_is_a_no_op(conversation, emitted, platform_setup):
    inbound_message_receive(setup=platform_setup, event=inbound())

    assert inbound_message_receive(setup=platform_setup, event=inbound()) is None
    assert Message.objects.count() == 1
    assert emitted.types() == ["imessage.received"]


def blind_handle_check(monkeypatch):
    """Simulate the race: the early check beside the line sees no stored handle, so only
    the insert's conflict can stop the duplicate."""
    original = inbound_module._inbound_extra

    def blind(**params):
        return {**original(**params), "handle_stored": Value(False)}

    reader = InboundLineReader(blind, provider_handle=str, person=str)
    monkeypatch.setattr(inbound_module, "_inbound_target", reader)


def test_the_handle_constraint_stops_a_duplicate_that_slips_past_the_check(
    conversation, monkeypatch, platform_setup, django_capture_on_commit_callbacks
):
    WebhookSubscriptionFactory(identity=conversation.identity)
    inbound_message_receive(setup=platform_setup, event=inbound())
    blind_handle_check(monkeypatch)

    with django_capture_on_commit_callbacks() as after_commit:
        assert inbound_message_receive(setup=platform_setup, event=inbound()) is None

    assert after_commit == []  # no delivery of an event that was not stored
    assert Message.objects.count() == 1
    # The duplicate's event went in with its message or not at all.
    assert WebhookEvent.objects.filter(event_type="imessage.received").count() == 1
    assert WebhookDelivery.objects.count() == 1


def test_a_duplicate_of_another_setups_handle_that_slips_past_the_check_is_foreign(
    conversation, monkeypatch, platform_setup, identity
):
    dedicated = PhoneLineFactory(identity=identity, number="+14155552222")
    inbound_message_receive(setup=dedicated.setup, event=inbound(to=dedicated.number))
    blind_handle_check(monkeypatch)

    # The insert conflicts; the stored row is on the dedicated line's setup.
    with pytest.raises(ForeignReference):
        inbound_message_receive(setup=platform_setup, event=inbound())


def test_a_redelivered_handle_of_another_setup_is_foreign(conversation, platform_setup, identity):
    dedicated = PhoneLineFactory(identity=identity, number="+14155552222")
    inbound_message_receive(setup=dedicated.setup, event=inbound(to=dedicated.number))

    with pytest.raises(ForeignReference):
        inbound_message_receive(setup=platform_setup, event=inbound())


def test_a_blocked_sender_is_stored_blocked_with_the_rule_and_not_delivered(
    identity, conversation, emitted, platform_setup
):
    rule = ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    message = inbound_message_receive(setup=platform_setup, event=inbound())

    assert message.is_blocked is True
    assert message.blocked_rule_id == rule.id
    assert emitted.types() == []


def test_a_disabled_identity_gets_the_row_but_no_event(
    identity, conversation, emitted, platform_setup
):
    identity.imessage_enabled = False
    identity.save()

    message = inbound_message_receive(setup=platform_setup, event=inbound())

    assert message is not None and not message.is_blocked
    assert emitted.types() == []


def test_a_router_command_is_consumed_and_not_stored(router, identity, emitted, platform_setup):
    assert (
        inbound_message_receive(setup=platform_setup, event=inbound(to=ROUTER_NUMBER, content="hi"))
        is None
    )
    assert not Message.objects.exists()


def test_a_message_for_an_unknown_line_is_ignored(db, emitted, platform_setup):
    assert inbound_message_receive(setup=platform_setup, event=inbound(to="+14155559999")) is None


def test_a_dedicated_line_message_creates_the_conversation_on_that_line(identity, emitted):
    line = PhoneLineFactory(identity=identity, number="+14155552222")

    message = inbound_message_receive(setup=line.setup, event=inbound(to=line.number))

    conversation = Conversation.objects.get(identity=identity, remote_number=PERSON)
    assert message.conversation_id == conversation.id
    assert conversation.line_id == line.id
    assert conversation.assignment_id is None
    assert emitted.types() == ["imessage.received"]


def test_inbound_through_the_provider_webhook_intake_end_to_end(
    client, conversation, platform_setup, emitted
):
    body = {
        "accountEmail": "ops@acme.test",
        "content": "Hello from the phone",
        "is_outbound": False,
        "status": "RECEIVED",
        "message_handle": "5B0E0C1A-7E43-4D7B-9A55-2F0C1D7B3E10",
        "date_sent": "2026-01-05T10:01:00.000Z",
        "from_number": PERSON,
        "number": PERSON,
        "to_number": POOL_NUMBER,
        "sendblue_number": POOL_NUMBER,
        "media_url": "",
        "message_type": "message",
        "group_id": "",
        "service": "iMessage",
    }
    url = f"/api/v1/provider-webhooks/{platform_setup.id}"
    headers = {"HTTP_SB_SIGNING_SECRET": setup_secret(platform_setup)}

    first = client.post(url, json.dumps(body), content_type="application/json", **headers)
    again = client.post(url, json.dumps(body), content_type="application/json", **headers)

    assert first.status_code == 200 and again.status_code == 200
    message = Message.objects.get()
    assert message.conversation_id == conversation.id
    assert message.content == "Hello from the phone"
    assert emitted.types() == ["imessage.received"]


# --- conversation_attach --------------------------------------------------------------


def test_attach_creates_the_conversation_for_a_new_assignment(identity, pool_line):
    made = AssignmentFactory(identity=identity, pool_line=pool_line, remote_number=OTHER_PERSON)

    conversation_attach(made)

    conversation = Conversation.objects.get(identity=identity, remote_number=OTHER_PERSON)
    assert (conversation.assignment_id, conversation.line_id) == (made.id, pool_line.id)


def test_a_reconnect_reactivates_the_same_conversation(conversation, assignment, pool_line):
    assignment.status = AssignmentStatus.RELEASED
    assignment.save()
    conversation_attach(assignment)
    again = AssignmentFactory(
        identity=assignment.identity, pool_line=pool_line, remote_number=PERSON
    )

    conversation_attach(again)

    conversation.refresh_from_db()
    assert conversation.assignment_id == again.id
    assert Conversation.objects.filter(remote_number=PERSON).count() == 1


def test_a_release_keeps_the_released_assignment_on_the_conversation(conversation, assignment):
    assignment.status = AssignmentStatus.RELEASED
    assignment.save()

    conversation_attach(assignment)

    conversation.refresh_from_db()
    assert conversation.assignment_id == assignment.id


# --- Inbound media -------------------------------------------------------------------------


def test_inbound_media_is_fetched_stored_and_the_message_points_at_our_copy(
    conversation, cdn, settings, django_capture_on_commit_callbacks, platform_setup
):
    url = "https://media.sendblue.test/abc/photo.jpg"
    cdn[url] = httpx.Response(
        200, content=b"\xff\xd8\xff\xe0jpegbytes", headers={"content-type": "image/jpeg"}
    )

    with django_capture_on_commit_callbacks(execute=True):
        message = inbound_message_receive(setup=platform_setup, event=inbound(media_url=url))

    message.refresh_from_db()
    item = message.media[0]
    assert item["url"].startswith(settings.PUBLIC_BASE_URL + "/media/")
    assert item["content_type"] == "image/jpeg"
    assert item["size"] == 13
    stored = MediaObject.objects.get()
    assert stored.source_url == url
    assert stored.file.read() == b"\xff\xd8\xff\xe0jpegbytes"


def test_inbound_media_over_the_cap_is_not_stored(
    conversation, cdn, settings, django_capture_on_commit_callbacks, platform_setup
):
    settings.INBOUND_MEDIA_MAX_BYTES = 10
    url = "https://media.sendblue.test/big.jpg"
    cdn[url] = httpx.Response(200, content=b"x" * 11)

    with django_capture_on_commit_callbacks(execute=True):
        message = inbound_message_receive(setup=platform_setup, event=inbound(media_url=url))

    message.refresh_from_db()
    assert message.media[0]["url"] == url
    assert "cap" in message.media[0]["rehost_error"]
    assert not MediaObject.objects.exists()


def test_a_transient_cdn_failure_is_retried(conversation, cdn):
    url = "https://media.sendblue.test/flaky.jpg"
    cdn[url] = httpx.Response(503)
    message = MessageFactory(
        conversation=conversation,
        media=[{"url": url, "content_type": None, "size": None, "rehosted": False}],
    )

    with pytest.raises(media.MediaFetchError):
        media.media_rehost(message_id=message.id)
    cdn[url] = httpx.Response(200, content=b"\x89PNG\r\n\x1a\n")
    media.media_rehost(message_id=message.id)

    message.refresh_from_db()
    assert message.media[0]["rehosted"] is True


# --- The conversation on receive ---------------------------------------------------------


def test_a_message_over_a_new_connection_moves_the_conversation_onto_it(
    conversation, assignment, identity, platform_setup, emitted
):
    other_line = PoolLineFactory(setup=platform_setup, number="+14155556002")
    assignment.status = AssignmentStatus.RELEASED
    assignment.save()
    again = AssignmentFactory(identity=identity, pool_line=other_line, remote_number=PERSON)

    message = inbound_message_receive(setup=platform_setup, event=inbound(to=other_line.number))

    conversation.refresh_from_db()
    assert message.conversation_id == conversation.id
    assert (conversation.line_id, conversation.assignment_id) == (other_line.id, again.id)
    assert conversation.last_message_at == message.created_at


def test_a_known_conversation_is_moved_and_counted_once_by_the_messages_statement(
    conversation, platform_setup, emitted
):
    before = Conversation.objects.get(pk=conversation.pk)

    message = inbound_message_receive(setup=platform_setup, event=inbound())

    after = Conversation.objects.get(pk=conversation.pk)
    assert after.last_message_at == message.created_at
    assert (after.visible_count, after.visible_unread_count) == (
        before.visible_count + 1,
        before.visible_unread_count + 1,
    )


def test_the_conversation_handed_on_reads_its_other_columns_as_stored(
    conversation, platform_setup, emitted
):
    message = inbound_message_receive(setup=platform_setup, event=inbound())

    assert message.conversation.last_message_at == message.created_at
    assert message.conversation.created_at == conversation.created_at


def test_last_message_at_never_moves_back(conversation, platform_setup, emitted):
    later = timezone.now() + timedelta(hours=1)
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=later)

    inbound_message_receive(setup=platform_setup, event=inbound())

    conversation.refresh_from_db()
    assert conversation.last_message_at == later


def test_a_blocked_message_leaves_the_conversation_as_it_was(
    identity, conversation, platform_setup, emitted
):
    before = Conversation.objects.get(pk=conversation.pk)
    ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    message = inbound_message_receive(setup=platform_setup, event=inbound())

    after = Conversation.objects.get(pk=conversation.pk)
    assert message.is_blocked and message.conversation_id == conversation.id
    assert (after.last_message_at, after.updated_at) == (before.last_message_at, before.updated_at)


def test_the_routed_identitys_subscriptions_version_rides_with_its_event(
    conversation, emitted, platform_setup
):
    version = SubscriptionSetVersionFactory(identity=conversation.identity)

    inbound_message_receive(setup=platform_setup, event=inbound())

    assert emitted[0].objects["subscriptions_version"] == version.version


def test_a_message_routed_to_another_identity_reads_that_identitys_subscriptions_afresh(
    conversation, emitted, platform_setup, monkeypatch, other_identity
):
    """The version read beside the line is the line's routed identity's: a route that
    sends the message elsewhere must not lend it to the other identity's event."""
    SubscriptionSetVersionFactory(identity=conversation.identity)
    line = conversation.line

    def elsewhere(**_: object) -> InboundRoute:
        return InboundRoute(
            identity=other_identity,
            assignment=None,
            line=line,
            is_blocked=False,
            matched_rule_id=None,
        )

    monkeypatch.setattr(inbound_module, "message_route", elsewhere)

    message = inbound_message_receive(setup=platform_setup, event=inbound())

    assert message is not None and message.identity_id == other_identity.id
    assert [(e.identity, e.objects["subscriptions_version"]) for e in emitted] == [
        (other_identity, None)
    ]


def test_the_rows_written_for_a_message_take_keys_of_the_time_they_were_made(
    conversation, platform_setup, monkeypatch
):
    """Time-ordered keys (`console.ids`): their indexes grow at their end."""
    WebhookSubscriptionFactory(identity=conversation.identity)
    monkeypatch.setattr(ids, "time_ns", lambda: 1_796_466_749_659 * 1_000_000)

    message = inbound_message_receive(setup=platform_setup, event=inbound())

    assert message is not None
    event = WebhookEvent.objects.get()
    delivery = WebhookDelivery.objects.get()
    keys = [message.id, uuid.UUID(event.id.removeprefix("evt_")), delivery.id]
    assert [(key.version, key.int >> 80) for key in keys] == [(7, 1_796_466_749_659)] * 3
    assert delivery.event_id == event.id
