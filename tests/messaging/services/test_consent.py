"""STOP, START and HELP texted by people, opt-outs staff record, and the send check."""

from __future__ import annotations

import pytest

from console.errors import Forbidden
from console.models import AuditEntry
from console.services import Actor
from messaging.models import ConsentEvent, Message, OptOut
from messaging.services import consent
from messaging.services.inbound import inbound_message_receive
from routing.models import Assignment, RouterReply
from routing.replies import GENERIC_REPLY
from tests.messaging.conftest import OTHER_PERSON, PERSON, POOL_NUMBER, ROUTER_NUMBER
from tests.messaging.factories import ConsentEventFactory, OptOutFactory
from tests.messaging.sends import send_now
from tests.messaging.services.test_inbound import inbound
from tests.routing.factories import ContactRuleFactory

pytestmark = pytest.mark.django_db


def text(content, *, handle="k-1", sender=PERSON, to=POOL_NUMBER, setup):
    return inbound_message_receive(
        setup=setup, event=inbound(handle=handle, sender=sender, to=to, content=content)
    )


def replies(kind=None):
    rows = RouterReply.objects.order_by("created_at")
    return list(rows.filter(kind=kind) if kind else rows)


@pytest.mark.parametrize(
    "content",
    [
        *("STOP", "stop", "  Stop \n", "STOPALL", "unsubscribe", "CANCEL", "end", "QUIT"),
        *("revoke", "OPTOUT", "opt out", "Opt  Out"),
    ],
)
def test_every_listed_opt_out_keyword_is_recognised_whole_and_in_any_case(content):
    assert consent.keyword_of(content) == consent.Keyword(
        "opt_out", " ".join(content.split()).upper()
    )


@pytest.mark.parametrize("content", ["stop please", "STOP!", "don't stop", "", None, "starts"])
def test_text_that_only_contains_a_keyword_is_an_ordinary_message(content):
    assert consent.keyword_of(content) is None


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        *(("START", "opt_in"), ("unstop", "opt_in"), ("Subscribe", "opt_in")),
        *(("HELP", "help"), ("info", "help")),
    ],
)
def test_opt_in_and_help_keywords_are_recognised(content, kind):
    assert consent.keyword_of(content).kind == kind


def test_stop_opts_the_person_out_of_the_identity_with_the_ledger_entry(
    conversation, identity, emitted, platform_setup
):
    message = text("STOP", setup=platform_setup)

    event = ConsentEvent.objects.get()
    assert (event.kind, event.source, event.keyword) == ("opt_out", "keyword", "STOP")
    assert (event.identity, event.remote_number, event.source_message) == (
        identity,
        PERSON,
        message,
    )
    assert OptOut.objects.get().event == event
    assert consent.is_opted_out(identity=identity, number=PERSON)


def test_stop_is_stored_and_the_agent_gets_opted_out_instead_of_received(
    conversation, emitted, platform_setup
):
    message = text("STOP", setup=platform_setup)

    assert Message.objects.get() == message
    assert emitted.types() == ["imessage.opted_out"]
    assert emitted[0].objects["message"] == message
    assert emitted[0].objects["details"]["conversation_id"] == str(conversation.id)


def test_stop_is_confirmed_once_from_the_same_line(conversation, identity, platform_setup):
    text("STOP", setup=platform_setup)

    [reply] = replies()
    assert reply.kind == "opted_out"
    assert reply.line.number == POOL_NUMBER and reply.to_number == PERSON
    assert reply.text == (
        f"You will not get more messages from {identity.display_name}. Reply START to resume."
    )


def test_start_opts_the_person_back_in_with_a_confirmation(
    conversation, identity, emitted, platform_setup
):
    text("STOP", setup=platform_setup)
    text("start", handle="k-2", setup=platform_setup)

    assert not consent.is_opted_out(identity=identity, number=PERSON)
    assert list(ConsentEvent.objects.order_by("created_at").values_list("kind", flat=True)) == [
        "opt_out",
        "opt_in",
    ]
    assert emitted.types() == ["imessage.opted_out", "imessage.opted_in"]
    assert [r.kind for r in replies()] == ["opted_out", "opted_in"]


def test_help_answers_with_the_default_help_text_and_tells_the_agent_nothing(
    conversation, identity, emitted, platform_setup
):
    text("HELP", setup=platform_setup)

    [reply] = replies()
    assert reply.kind == "consent_help"
    assert reply.text.startswith(f"{identity.display_name}: reply STOP")
    assert emitted.types() == []
    assert not ConsentEvent.objects.exists()


def test_help_answers_with_the_identitys_own_help_text(conversation, identity, platform_setup):
    identity.consent_help_text = "Riverside Clinic: call 555-0100 for appointments."
    identity.save()

    text("info", setup=platform_setup)

    assert replies()[0].text == "Riverside Clinic: call 555-0100 for appointments."


def test_an_agent_send_to_an_opted_out_person_is_refused_before_anything_leaves(
    conversation, identity, fake_provider
):
    OptOutFactory(event__identity=identity, event__remote_number=PERSON)

    with pytest.raises(Forbidden) as caught:
        send_now(conversation)

    assert caught.value.code == "recipient_opted_out"
    assert not Message.objects.filter(direction="outbound").exists()
    assert fake_provider.calls_to("send_message") == []


def test_an_opt_out_of_one_identity_leaves_sends_of_another_alone(conversation, other_identity):
    OptOutFactory(event__identity=other_identity, event__remote_number=PERSON)

    assert send_now(conversation).direction == "outbound"


def test_a_blocked_sender_can_still_opt_out_but_no_event_goes_out(
    conversation, identity, emitted, platform_setup
):
    ContactRuleFactory(identity=identity, match_target=PERSON, action="block")

    text("STOP", setup=platform_setup)

    assert consent.is_opted_out(identity=identity, number=PERSON)
    assert emitted.types() == []


def test_stop_to_the_router_opts_out_of_the_router_and_is_confirmed_there(
    router, identity, emitted, platform_setup
):
    assert text("STOP", to=ROUTER_NUMBER, setup=platform_setup) is None

    assert consent.is_opted_out(identity=None, number=PERSON)
    [reply] = replies()
    assert reply.line == router and reply.kind == "opted_out"
    assert "from this number" in reply.text
    assert not Message.objects.exists()


def test_the_router_ignores_commands_from_a_person_opted_out_of_it(
    router, pool_line, identity, platform_setup
):
    text("STOP", to=ROUTER_NUMBER, setup=platform_setup)

    text(f"connect @{identity.handle}", handle="k-2", to=ROUTER_NUMBER, setup=platform_setup)

    assert [r.kind for r in replies()] == ["opted_out"]
    assert not Assignment.objects.exists()


def test_start_to_the_router_lets_the_person_connect_again(
    router, pool_line, identity, platform_setup
):
    text("STOP", to=ROUTER_NUMBER, setup=platform_setup)
    text("START", handle="k-2", to=ROUTER_NUMBER, setup=platform_setup)

    text(f"connect @{identity.handle}", handle="k-3", to=ROUTER_NUMBER, setup=platform_setup)

    assert Assignment.objects.filter(remote_number=PERSON).exists()


def test_the_router_will_not_connect_a_person_to_an_identity_they_opted_out_of(
    router, pool_line, identity, platform_setup
):
    OptOutFactory(event__identity=identity, event__remote_number=OTHER_PERSON)

    text(f"connect @{identity.handle}", sender=OTHER_PERSON, to=ROUTER_NUMBER, setup=platform_setup)

    [reply] = replies()
    assert (reply.kind, reply.text) == ("generic", GENERIC_REPLY)
    assert not Assignment.objects.filter(remote_number=OTHER_PERSON).exists()


def test_an_operator_records_an_opt_out_with_a_reason_and_it_is_audited(identity, org):
    actor = Actor(type="user", id="7", label="nurse@example.com")

    event = consent.operator_opt_out(
        identity=identity, number=PERSON, reason="Asked by phone", user=None, actor=actor
    )

    assert (event.source, event.reason, event.operator_label) == (
        "operator",
        "Asked by phone",
        "nurse@example.com",
    )
    assert consent.is_opted_out(identity=identity, number=PERSON)
    entry = AuditEntry.objects.get(action="consent.opt_out")
    assert (entry.organization, entry.actor_label) == (org, "nurse@example.com")


def test_a_second_stop_adds_to_the_ledger_and_keeps_one_current_opt_out(
    conversation, identity, platform_setup
):
    text("STOP", setup=platform_setup)
    text("QUIT", handle="k-2", setup=platform_setup)

    assert ConsentEvent.objects.count() == 2
    assert OptOut.objects.count() == 1


def test_consent_events_are_append_only():
    event = ConsentEventFactory()

    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()


def test_help_to_the_router_still_answers_while_opted_out_of_it(router, platform_setup):
    text("STOP", to=ROUTER_NUMBER, setup=platform_setup)

    text("HELP", handle="k-2", to=ROUTER_NUMBER, setup=platform_setup)

    assert [r.kind for r in replies()] == ["opted_out", "help"]


def test_a_send_accepted_before_the_person_opted_out_is_failed_not_sent(
    conversation, identity, fake_provider
):
    from messaging.services.delivery import message_deliver
    from tests.messaging.sends import queue_message

    queued = queue_message(conversation)
    OptOutFactory(event__identity=identity, event__remote_number=PERSON)

    message_deliver(message_id=queued.id)

    queued.refresh_from_db()
    assert (queued.send_state, queued.error_code) == ("failed", "recipient_opted_out")
    assert fake_provider.calls_to("send_message") == []


def test_an_agent_send_accepted_before_staff_took_over_is_failed_not_sent(
    conversation, identity, fake_provider
):
    from messaging.services.delivery import message_deliver
    from messaging.services.handoff import conversation_handoff
    from tests.messaging.sends import queue_message

    queued = queue_message(conversation)
    conversation_handoff(conversation=conversation, to="staff", actor=Actor.system())

    message_deliver(message_id=queued.id)

    queued.refresh_from_db()
    assert (queued.send_state, queued.error_code) == ("failed", "conversation_handed_off")
    assert fake_provider.calls_to("send_message") == []
