from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from console.models import AgentIdentity
from console.services import Actor
from provisioning.models import PhoneLine
from provisioning.providers.fake import FakeProvider
from routing import hooks, replies
from routing.models import (
    Assignment,
    AssignmentStatus,
    ExhaustionReason,
    PoolExhaustion,
    ReplyKind,
    RouterReply,
)
from routing.services.assignments import assignment_release
from routing.services.router import InboundRoute, RouteResult, inbound_route
from tests.console.factories import AgentIdentityFactory
from tests.routing.conftest import OTHER_PERSON, PERSON
from tests.routing.factories import AssignmentFactory, ContactRuleFactory, PoolLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def route(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> Callable[..., InboundRoute | None]:
    def _route(line: PhoneLine, text: str, sender: str = PERSON) -> InboundRoute | None:
        with django_capture_on_commit_callbacks(execute=True):
            return inbound_route(line=line, sender=sender, text=text).route

    return _route


def sent(fake: FakeProvider) -> list[dict[str, Any]]:
    return [c.kwargs for c in fake.calls_to("send_message")]


def active(identity: AgentIdentity, number: str = PERSON) -> list[Assignment]:
    return list(
        Assignment.objects.filter(
            identity=identity, remote_number=number, status=AssignmentStatus.ACTIVE
        )
    )


# --- connect --------------------------------------------------------------------------


def test_connect_creates_an_active_assignment_on_a_pool_line(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    assert route(router, "connect @nurse-bot") is None

    [assignment] = active(identity)
    assert assignment.pool_line in pool_lines
    assert assignment.organization_id == identity.organization_id


def test_connect_confirmation_is_sent_from_the_pool_line_with_a_contact_card(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    fake_provider: FakeProvider,
) -> None:
    route(router, "connect @nurse-bot")

    [assignment] = active(identity)
    [call] = sent(fake_provider)
    assert call["from_number"] == assignment.pool_line.number
    assert call["to_number"] == PERSON
    assert call["content"] == replies.connected_text(identity)
    assert call["media_url"].endswith(".vcf")


def test_the_contact_card_is_served_at_its_public_url(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    fake_provider: FakeProvider,
    client: Client,
) -> None:
    route(router, "connect @nurse-bot")

    [assignment] = active(identity)
    [call] = sent(fake_provider)
    assert call["media_url"].startswith(f"{settings.PUBLIC_BASE_URL}/media/")
    response = client.get(call["media_url"].removeprefix(settings.PUBLIC_BASE_URL))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/vcard"
    card = b"".join(response.streaming_content).decode()
    assert "FN:Nurse Bot" in card
    assert f"TEL;TYPE=CELL:{assignment.pool_line.number}" in card


def test_reconnecting_reuses_the_same_stored_card(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    fake_provider: FakeProvider,
) -> None:
    route(router, "connect @nurse-bot")
    route(router, "connect @nurse-bot")

    first, second = sent(fake_provider)
    # Each URL is signed with its own expiry (seconds apart when the clock ticks between
    # them); both name the one stored card.
    assert stored_object_of(first["media_url"]) == stored_object_of(second["media_url"])


def stored_object_of(media_url: str) -> str:
    """The stored object a signed media URL names (/media/s/{id}/{expires}/{signature})."""
    segments = urlsplit(media_url).path.split("/")
    assert segments[1:3] == ["media", "s"], media_url
    return segments[3]


@pytest.mark.parametrize(
    "text",
    ["CONNECT @NURSE-BOT", "   connect nurse-bot  ", "Connect@nurse-bot", "connect @nurse-bot!"],
)
def test_connect_tolerates_case_spacing_and_a_missing_at(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity, text: str
) -> None:
    route(router, text)

    assert len(active(identity)) == 1


def test_connecting_again_to_the_same_agent_is_idempotent(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    route(router, "connect @nurse-bot")
    first = active(identity)
    route(router, "connect @nurse-bot")

    assert active(identity) == first
    assert Assignment.objects.count() == 1


def test_a_person_can_be_connected_to_two_agents_on_different_pool_lines(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    other_identity: AgentIdentity,
) -> None:
    route(router, "connect @nurse-bot")
    route(router, "connect @billing-bot")

    [first] = active(identity)
    [second] = active(other_identity)
    assert first.pool_line_id != second.pool_line_id


def test_the_pool_line_with_fewest_active_connections_is_chosen(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    busy, quiet, busiest = pool_lines
    for n in range(2):
        AssignmentFactory(pool_line=busy, remote_number=f"+1202555100{n}")
    for n in range(3):
        AssignmentFactory(pool_line=busiest, remote_number=f"+1202555200{n}")
    AssignmentFactory(pool_line=quiet, remote_number="+12025553000", status="released")

    route(router, "connect @nurse-bot")

    assert active(identity)[0].pool_line == quiet


def test_blocked_and_paused_pool_lines_take_no_new_connections(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    first, second, third = pool_lines
    PhoneLine.objects.filter(pk=first.pk).update(blocked_at=timezone.now())
    PhoneLine.objects.filter(pk=second.pk).update(is_paused=True)

    route(router, "connect @nurse-bot")

    assert active(identity)[0].pool_line == third


@override_settings(POOL_LINE_NEW_CONTACTS_PER_HOUR=2, POOL_LINE_NEW_CONTACTS_PER_DAY=50)
def test_a_line_at_the_hourly_new_contact_cap_is_skipped(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    capped, other, _ = pool_lines
    for n in range(2):
        AssignmentFactory(pool_line=capped, remote_number=f"+1202555100{n}", status="released")
    for n in range(3):
        AssignmentFactory(pool_line=other, remote_number=f"+1202555200{n}")
        Assignment.objects.filter(remote_number=f"+1202555200{n}").update(
            created_at=timezone.now() - timedelta(hours=2)
        )
    PhoneLine.objects.filter(pk=pool_lines[2].pk).update(is_paused=True)

    route(router, "connect @nurse-bot")

    assert active(identity)[0].pool_line == other


@override_settings(POOL_LINE_NEW_CONTACTS_PER_HOUR=15, POOL_LINE_NEW_CONTACTS_PER_DAY=1)
def test_every_line_at_the_daily_cap_answers_busy_and_records_exhaustion(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    fake_provider: FakeProvider,
) -> None:
    for n, line in enumerate(pool_lines):
        AssignmentFactory(pool_line=line, remote_number=f"+1202555100{n}")
        Assignment.objects.filter(pool_line=line).update(
            created_at=timezone.now() - timedelta(hours=3)
        )

    route(router, "connect @nurse-bot")

    assert active(identity) == []
    [call] = sent(fake_provider)
    assert call["from_number"] == router.number
    assert call["content"] == replies.POOL_BUSY_REPLY
    assert PoolExhaustion.objects.get().reason == ExhaustionReason.CAPACITY


def test_pool_exhausted_for_the_person_replies_and_is_counted(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    org: Any,
    identity: AgentIdentity,
    fake_provider: FakeProvider,
) -> None:
    for line in pool_lines:
        AssignmentFactory(pool_line=line, remote_number=PERSON, identity__organization=org)
    fake_provider.calls.clear()

    route(router, "connect @nurse-bot")

    assert active(identity) == []
    [call] = sent(fake_provider)
    assert call["content"] == replies.POOL_EXHAUSTED_REPLY
    exhaustion = PoolExhaustion.objects.get()
    assert (exhaustion.identity, exhaustion.reason) == (identity, ExhaustionReason.PERSON)


# --- generic and help replies ---------------------------------------------------------


def test_unknown_handle_disabled_identity_and_blocked_person_get_byte_identical_replies(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    org: Any,
    fake_provider: FakeProvider,
) -> None:
    AgentIdentityFactory(organization=org, handle="sleepy-bot", imessage_enabled=False)
    guarded = AgentIdentityFactory(organization=org, handle="guarded-bot")
    ContactRuleFactory(identity=guarded, match_target=PERSON, action="block", direction="inbound")

    for text in ("connect @nobody-here", "connect @sleepy-bot", "connect @guarded-bot"):
        route(router, text)

    calls = sent(fake_provider)
    assert len(calls) == 3
    assert {(c["from_number"], c["content"], c["media_url"]) for c in calls} == {
        (router.number, replies.GENERIC_REPLY, None)
    }
    assert Assignment.objects.count() == 0


def test_a_whitelist_identity_does_not_connect_a_person_without_an_allow_rule(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    identity.inbound_filter_mode = identity.outbound_filter_mode = "whitelist"
    identity.save()

    route(router, "connect @nurse-bot")
    assert active(identity) == []

    ContactRuleFactory(identity=identity, match_target=PERSON, action="allow")
    route(router, "connect @nurse-bot")
    assert len(active(identity)) == 1


def test_an_outbound_block_also_refuses_the_connect(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity, match_target=PERSON, action="block", direction="outbound")

    route(router, "connect @nurse-bot")

    assert active(identity) == []
    assert RouterReply.objects.get().kind == ReplyKind.GENERIC


@pytest.mark.parametrize(
    "text",
    ["hello", "", "🤖🤖🤖 connect", "x" * 50_000, "подключить @бот", "接続 @nurse-bot", "connect"],
)
def test_any_other_text_to_the_router_gets_the_help_reply(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    fake_provider: FakeProvider,
    text: str,
) -> None:
    assert route(router, text) is None

    [call] = sent(fake_provider)
    assert (call["from_number"], call["content"]) == (router.number, replies.HELP_REPLY)


# --- disconnect ----------------------------------------------------------------------------


def test_disconnect_on_the_pool_line_releases_that_assignment(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    fake_provider: FakeProvider,
) -> None:
    route(router, "connect @nurse-bot")
    assignment = active(identity)[0]
    fake_provider.calls.clear()

    assert route(assignment.pool_line, " Disconnect ") is None

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.RELEASED
    assert assignment.released_at is not None
    [call] = sent(fake_provider)
    assert (call["from_number"], call["content"]) == (
        assignment.pool_line.number,
        replies.DISCONNECTED_REPLY,
    )


def test_disconnect_handle_on_the_router_releases_that_assignment(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    other_identity: AgentIdentity,
) -> None:
    route(router, "connect @nurse-bot")
    route(router, "connect @billing-bot")

    route(router, "disconnect @nurse-bot")

    assert active(identity) == []
    assert len(active(other_identity)) == 1


def test_disconnect_reply_is_the_same_whether_or_not_a_connection_existed(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    route(router, "disconnect @nobody-here")
    route(router, "connect @nurse-bot")
    route(router, "disconnect @nurse-bot")

    texts = list(
        RouterReply.objects.filter(kind=ReplyKind.DISCONNECTED).values_list("text", "line")
    )
    assert texts == [(replies.DISCONNECTED_REPLY, router.id)] * 2


def test_a_person_can_reconnect_after_disconnecting(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    route(router, "connect @nurse-bot")
    route(router, "disconnect @nurse-bot")
    route(router, "connect @nurse-bot")

    assert len(active(identity)) == 1
    assert Assignment.objects.filter(identity=identity).count() == 2


def test_router_commands_return_the_connection_they_change_and_tell_no_listener(
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    seen: list[Assignment] = []
    hooks.on_assignment_changed(seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            connected = inbound_route(line=router, sender=PERSON, text="connect @nurse-bot")
            again = inbound_route(line=router, sender=PERSON, text="connect @nurse-bot")
            released = inbound_route(line=router, sender=PERSON, text="disconnect @nurse-bot")
    finally:
        hooks._listeners.remove(seen.append)

    assignment = Assignment.objects.get()
    assert connected == RouteResult(None, assignment)
    assert connected.changed is not None and connected.changed.status == "active"
    assert again == RouteResult(None, None)
    assert released == RouteResult(None, assignment)
    assert released.changed is not None and released.changed.status == "released"
    assert seen == []


def test_a_release_outside_the_inbound_path_is_announced_to_listeners(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    route(router, "connect @nurse-bot")
    assignment = Assignment.objects.get()
    seen: list[tuple[str, str]] = []

    def listener(changed: Assignment) -> None:
        seen.append((str(changed.id), changed.status))

    hooks.on_assignment_changed(listener)
    try:
        assignment_release(assignment=assignment, actor=Actor.system(), reason="agent")
    finally:
        hooks._listeners.remove(listener)

    assert seen == [(str(assignment.id), "released")]


# --- inbound routing ----------------------------------------------------------------------


def test_a_message_on_a_pool_line_routes_to_the_connected_identity(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    route(router, "connect @nurse-bot")
    assignment = active(identity)[0]

    result = route(assignment.pool_line, "my knee hurts")

    assert result == InboundRoute(
        identity=identity,
        assignment=assignment,
        line=assignment.pool_line,
        is_blocked=False,
        matched_rule_id=None,
    )


def test_a_message_from_a_later_blocked_sender_is_marked_blocked_with_the_rule(
    route: Any, router: PhoneLine, pool_lines: list[PhoneLine], identity: AgentIdentity
) -> None:
    route(router, "connect @nurse-bot")
    assignment = active(identity)[0]
    rule = ContactRuleFactory(identity=identity, match_target=PERSON, direction="inbound")

    result = route(assignment.pool_line, "hello")

    assert result is not None
    assert (result.is_blocked, result.matched_rule_id) == (True, rule.id)


def test_a_message_on_a_pool_line_without_a_connection_gets_the_help_reply(
    route: Any, pool_lines: list[PhoneLine], fake_provider: FakeProvider
) -> None:
    assert route(pool_lines[0], "hello?", sender=OTHER_PERSON) is None

    [call] = sent(fake_provider)
    assert (call["from_number"], call["content"]) == (pool_lines[0].number, replies.HELP_REPLY)


def test_a_message_on_a_dedicated_line_routes_to_its_identity(
    route: Any, identity: AgentIdentity
) -> None:
    line = PoolLineFactory(role="dedicated", identity=identity)

    result = route(line, "hi")

    assert result is not None
    assert (result.identity, result.assignment, result.line) == (identity, None, line)


def test_routing_a_pool_message_costs_bounded_queries_whatever_the_volume(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    django_assert_max_num_queries: Any,
) -> None:
    route(router, "connect @nurse-bot")
    assignment = active(identity)[0]
    for n in range(40):
        AssignmentFactory(pool_line=pool_lines[n % 3], remote_number=f"+120255510{n:02d}")
        ContactRuleFactory(identity=identity, match_target=f"+120255520{n:02d}")

    with django_assert_max_num_queries(5):
        inbound_route(line=assignment.pool_line, sender=PERSON, text="hello")


def test_a_connect_costs_bounded_queries_whatever_the_volume(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(60):
        AssignmentFactory(pool_line=pool_lines[n % 3], remote_number=f"+120255510{n:02d}")
        ContactRuleFactory(identity=identity, match_target=f"+120255520{n:02d}")
    # Old connections: below the provider's new-contact caps.
    Assignment.objects.update(created_at=timezone.now() - timedelta(days=3))

    # 16 for routing, 2 for hosting the contact card in the media store (look up, insert).
    with django_assert_max_num_queries(18):
        inbound_route(line=router, sender=PERSON, text="connect @nurse-bot")

    assert len(active(identity)) == 1


def test_an_archived_identity_gets_the_generic_reply_and_no_connection(
    route: Any,
    router: PhoneLine,
    pool_lines: list[PhoneLine],
    identity: AgentIdentity,
    fake_provider: FakeProvider,
) -> None:
    from console.identities import identity_archive

    identity_archive(identity=identity, actor=Actor.system())
    route(router, "connect @nurse-bot")

    [call] = sent(fake_provider)
    assert call["content"] == replies.GENERIC_REPLY
    assert active(identity) == []
