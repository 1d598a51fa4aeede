"""Read pages: what they show, their scoping, and bounded queries per page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AgentIdentity, Organization
from tests.console.ui.conftest import htmx
from tests.messaging.factories import ConversationFactory, MessageFactory, ReactionFactory
from tests.messaging.webhooks.factories import WebhookDeliveryFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory
from tests.routing.factories import AssignmentFactory, ContactRuleFactory, PoolLineFactory

pytestmark = pytest.mark.django_db


# --- Dashboard -------------------------------------------------------------------------


def test_dashboard_counts_what_matters_now(
    operator_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    setup = SetupFactory(organization=identity.organization)
    PhoneLineFactory(setup=setup, pending=True)
    PhoneLineFactory(setup=SetupFactory(organization=outsider_identity.organization), pending=True)
    MessageFactory(conversation__identity=identity, is_blocked=True)
    MessageFactory(conversation__identity=outsider_identity, is_blocked=True)
    MessageFactory(conversation__identity=identity, direction="outbound")
    AssignmentFactory(identity=identity)
    WebhookDeliveryFactory(subscription__identity=identity, status="failed")
    body = operator_client.get(reverse("console:dashboard")).content.decode()
    assert 'data-testid="pending-count">1<' in body
    assert 'data-testid="blocked-count">1<' in body
    assert 'data-testid="send-count">1<' in body
    assert 'data-testid="connection-count">1<' in body
    assert 'data-testid="failed-count">1<' in body
    assert "oldest waiting" in body


def test_dashboard_draws_fourteen_days_of_three_series(
    operator_client: Client, identity: AgentIdentity
) -> None:
    MessageFactory(conversation__identity=identity)
    MessageFactory(
        conversation__identity=identity, created_at=timezone.now() - dt.timedelta(days=20)
    )
    body = operator_client.get(reverse("console:dashboard")).content.decode()
    assert 'id="volume-chart"' in body
    assert body.count('<rect class="bar ') == 14 * 3
    assert "1 messages in 14 days" in body


def test_dashboard_pool_capacity_counts_todays_new_contacts(
    operator_client: Client, identity: AgentIdentity, settings: Any
) -> None:
    settings.POOL_LINE_NEW_CONTACTS_PER_DAY = 5
    line = PoolLineFactory()
    AssignmentFactory(identity=identity, pool_line=line)
    body = operator_client.get(reverse("console:dashboard")).content.decode()
    assert "pool room today: 4 new contacts on 1 line" in body


def test_dashboard_costs_a_fixed_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    for _ in range(20):
        MessageFactory(conversation__identity=identity)
    with django_assert_max_num_queries(13):  # 12 + the router line
        operator_client.get(reverse("console:dashboard"))


# --- Setups and lines ------------------------------------------------------------------


def test_setups_list_counts_lines_and_filters_by_status(
    operator_client: Client, org: Organization
) -> None:
    active = SetupFactory(organization=org, label="Main clinic")
    PhoneLineFactory(setup=active)
    PhoneLineFactory(setup=active, pending=True)
    SetupFactory(organization=org, label="Broken one", status="failed")
    SetupFactory(label="Someone else's")
    body = operator_client.get(reverse("console:setups")).content.decode()
    assert "Main clinic" in body and "Broken one" in body
    assert "Someone else" not in body
    filtered = operator_client.get(reverse("console:setups"), {"status": "failed"}).content
    assert b"Broken one" in filtered and b"Main clinic" not in filtered


def test_setups_list_costs_a_bounded_number_of_queries(
    operator_client: Client, org: Organization, django_assert_max_num_queries: Any
) -> None:
    for _ in range(55):
        PhoneLineFactory(setup=SetupFactory(organization=org))
    with django_assert_max_num_queries(6):
        response = operator_client.get(reverse("console:setups"))
    assert response.content.decode().count('<td><a href="/console/setups/') == 50


def test_setup_detail_shows_every_line_with_state_role_and_wait(
    operator_client: Client, org: Organization
) -> None:
    setup = SetupFactory(organization=org)
    PhoneLineFactory(setup=setup, number="+14155550123", role="pool")
    PhoneLineFactory(setup=setup, pending=True, provider_request_id="ticket-77")
    body = operator_client.get(reverse("console:setup", args=[setup.id])).content.decode()
    assert "+14155550123" in body
    assert "ticket-77" in body
    assert "waiting" in body
    assert "Set role" in body


def test_setting_a_line_role_swaps_the_row_and_is_audited(
    operator_client: Client, org: Organization
) -> None:
    from console.models import AuditEntry

    platform = SetupFactory(organization=org, is_platform=True)
    line = PhoneLineFactory(setup=platform, role="dedicated")
    response = operator_client.post(
        reverse("console:line-role", args=[line.id]), {"role": "pool", "confirm": "1"}, **htmx()
    )
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith(f'<tr id="line-{line.id}"')
    line.refresh_from_db()
    assert line.role == "pool"
    assert AuditEntry.objects.filter(action="line.role_set").exists()


def test_a_refused_role_change_is_shown_in_the_row(
    operator_client: Client, identity: AgentIdentity
) -> None:
    line = PoolLineFactory(setup=SetupFactory(organization=identity.organization))
    AssignmentFactory(identity=identity, pool_line=line)
    response = operator_client.post(
        reverse("console:line-role", args=[line.id]), {"role": "dedicated"}, **htmx()
    )
    assert response.status_code == 422
    assert "release them first" in response.content.decode()


def test_pending_lines_are_listed_oldest_first_with_their_request(
    operator_client: Client, org: Organization
) -> None:
    setup = SetupFactory(organization=org)
    newer = PhoneLineFactory(setup=setup, pending=True, provider_request_id="ticket-new")
    older = PhoneLineFactory(setup=setup, pending=True, provider_request_id="ticket-old")
    type(older).objects.filter(pk=older.pk).update(
        requested_at=newer.requested_at - dt.timedelta(hours=3)
    )
    PhoneLineFactory(setup=SetupFactory(), pending=True, provider_request_id="ticket-foreign")
    body = operator_client.get(reverse("console:pending-lines")).content.decode()
    assert body.index("ticket-old") < body.index("ticket-new")
    assert "ticket-foreign" not in body


# --- Identities and connections --------------------------------------------------------


def test_identities_list_shows_state_counts_and_only_own_identities(
    operator_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    ContactRuleFactory(identity=identity)
    AssignmentFactory(identity=identity)
    body = operator_client.get(reverse("console:identities")).content.decode()
    assert f"@{identity.handle}" in body
    assert outsider_identity.handle not in body
    assert "enabled" in body


def test_identities_list_costs_a_bounded_number_of_queries(
    operator_client: Client, org: Organization, django_assert_max_num_queries: Any
) -> None:
    from tests.console.factories import AgentIdentityFactory

    for _ in range(30):
        ContactRuleFactory(identity=AgentIdentityFactory(organization=org))
    with django_assert_max_num_queries(6):
        operator_client.get(reverse("console:identities"))


def test_releasing_a_connection_removes_it_from_the_list(
    operator_client: Client, identity: AgentIdentity
) -> None:
    assignment = AssignmentFactory(identity=identity, remote_number="+12025550160")
    response = operator_client.post(
        reverse("console:assignment-release", args=[assignment.id]), **htmx()
    )
    assert response.status_code == 200
    assert "+12025550160" not in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == "released"


# --- Conversations ---------------------------------------------------------------------


def test_the_thread_shows_tapbacks_media_status_and_sms_fallback(
    operator_client: Client, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity)
    inbound = MessageFactory(
        conversation=conversation,
        content="photo attached",
        media=[{"url": "/media/x.jpg", "content_type": "image/jpeg", "size": 10}],
    )
    ReactionFactory(message=inbound, reaction="love")
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="delivered",
        service="sms",
        was_downgraded=True,
    )
    body = operator_client.get(reverse("console:conversation", args=[conversation.id])).content
    text = body.decode()
    assert '<img class="thumb" src="/media/x.jpg"' in text
    assert "love from the agent" in text
    assert 'data-testid="delivery-status">delivered<' in text
    assert "SMS fallback" in text
    # The thread itself is read-only (the takeover controls sit above it).
    assert "<form" not in text.split('id="thread"')[1]


def test_external_media_is_linked_not_embedded(
    operator_client: Client, identity: AgentIdentity
) -> None:
    message = MessageFactory(
        conversation__identity=identity,
        media=[{"url": "https://files.example.com/a.jpg", "content_type": "image/jpeg"}],
    )
    body = operator_client.get(
        reverse("console:conversation", args=[message.conversation_id])
    ).content.decode()
    assert 'src="https://files.example.com' not in body
    assert 'href="https://files.example.com/a.jpg"' in body


def test_a_long_thread_is_paged_in_a_bounded_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    conversation = ConversationFactory(identity=identity)
    for _ in range(70):
        ReactionFactory(message=MessageFactory(conversation=conversation))
    # Session, user, memberships, conversation, messages, reactions, two permission lookups,
    # the access log row.
    with django_assert_max_num_queries(9):
        response = operator_client.get(reverse("console:conversation", args=[conversation.id]))
    assert response.content.decode().count('class="bubble ') == 50
    assert b"Older messages" in response.content


def test_conversations_list_costs_a_bounded_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    for _ in range(55):
        ConversationFactory(identity=identity, assignment=AssignmentFactory(identity=identity))
    with django_assert_max_num_queries(7):
        response = operator_client.get(reverse("console:conversations"))
    assert response.content.decode().count('<td><a href="/console/conversations/') == 50


def test_dashboard_counts_group_messages_ignored_in_the_last_day(
    operator_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    group = ConversationFactory(identity=identity, is_group=True, group_id="G1", remote_number="")
    MessageFactory.create_batch(2, conversation=group, is_group=True)
    MessageFactory(
        conversation=group, is_group=True, created_at=timezone.now() - dt.timedelta(days=2)
    )
    foreign = ConversationFactory(
        identity=outsider_identity, is_group=True, group_id="G2", remote_number=""
    )
    MessageFactory(conversation=foreign, is_group=True)
    MessageFactory(conversation__identity=identity)

    body = operator_client.get(reverse("console:dashboard")).content.decode()

    assert "Group messages ignored" in body
    assert 'data-testid="group-count">2<' in body


def test_the_conversation_viewer_lists_and_shows_group_threads_for_audit(
    operator_client: Client, identity: AgentIdentity
) -> None:
    group = ConversationFactory(
        identity=identity,
        is_group=True,
        group_id="G1",
        remote_number="",
        participants=["+12025550101", "+12025550102"],
    )
    MessageFactory(
        conversation=group, is_group=True, sender_number="+12025550101", content="hi all"
    )
    ConversationFactory(identity=identity, remote_number="+12025550150")

    listed = operator_client.get(reverse("console:conversations") + "?kind=group")
    shown = operator_client.get(reverse("console:conversation", args=[group.id]))

    rows = listed.content.decode()
    assert "Group: +12025550101, +12025550102" in rows
    assert "+12025550150" not in rows
    assert "group, ignored" in shown.content.decode()
    assert "hi all" in shown.content.decode()
