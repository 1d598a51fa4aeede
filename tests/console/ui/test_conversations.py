"""Conversation pages: the list's filters and sort, the thread's layout, the CSV exports,
scoping and bounded queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.models import AgentIdentity, AuditEntry
from console.ui.export import EXPORT_ACTION
from console.ui.pagination import PAGE_SIZE
from messaging.models import Conversation
from tests.messaging.factories import ConversationFactory, MessageFactory, ReactionFactory
from tests.provisioning.factories import PhoneLineFactory
from tests.routing.factories import AssignmentFactory

pytestmark = pytest.mark.django_db

PERSON = "+14155550199"


def _list(client: Client, **params: str) -> str:
    response = client.get(reverse("console:conversations"), params)
    assert response.status_code == 200
    return response.content.decode()


def _detail(client: Client, conversation: Conversation, **params: str) -> str:
    response = client.get(reverse("console:conversation", args=[conversation.id]), params)
    assert response.status_code == 200
    return response.content.decode()


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def _link(conversation: Conversation) -> str:
    return f'href="/console/conversations/{conversation.id}/"'


# --- List --------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["0199", "(415) 555-0199", "+1 415-555"])
def test_the_list_is_filtered_by_part_of_a_number_as_people_write_it(
    operator_client: Client, identity: AgentIdentity, number: str
) -> None:
    match = ConversationFactory(identity=identity, remote_number=PERSON)
    other = ConversationFactory(identity=identity, remote_number="+12025550100")
    body = _list(operator_client, number=number)
    assert _link(match) in body
    assert _link(other) not in body


def test_a_number_filter_finds_the_group_threads_the_person_is_in(
    operator_client: Client, identity: AgentIdentity
) -> None:
    group = ConversationFactory(
        identity=identity, is_group=True, group_id="G1", remote_number="", participants=[PERSON]
    )
    assert _link(group) in _list(operator_client, number="555-0199")


def test_a_number_filter_without_digits_says_what_to_type(operator_client: Client) -> None:
    assert "at least 3 digits" in _list(operator_client, number="nurse")


def test_the_list_is_filtered_by_identity(
    operator_client: Client, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    nurse = ConversationFactory(identity=identity)
    billing = ConversationFactory(identity=other_identity)
    body = _list(operator_client, identity=other_identity.handle)
    assert _link(billing) in body
    assert _link(nurse) not in body


def test_the_list_shows_newest_activity_first_unless_asked_for_oldest(
    operator_client: Client, identity: AgentIdentity
) -> None:
    now = timezone.now()
    old = ConversationFactory(identity=identity, last_message_at=now - dt.timedelta(days=3))
    new = ConversationFactory(identity=identity, last_message_at=now)
    newest_first = _list(operator_client)
    oldest_first = _list(operator_client, sort="oldest")
    assert newest_first.index(_link(new)) < newest_first.index(_link(old))
    assert oldest_first.index(_link(old)) < oldest_first.index(_link(new))


def test_a_filtered_list_costs_a_bounded_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    for n in range(PAGE_SIZE + 5):
        ConversationFactory(
            identity=identity,
            remote_number=f"+1415555{n:04d}",
            assignment=AssignmentFactory(identity=identity),
        )
    # Session, user, memberships, handles, conversations, two permission lookups.
    with django_assert_max_num_queries(7):
        body = _list(operator_client, number="415555", identity=identity.handle, sort="oldest")
    assert body.count('<td><a href="/console/conversations/') == PAGE_SIZE


# --- Thread ------------------------------------------------------------------------------


def test_another_organisations_conversation_is_not_found(
    outsider_operator_client: Client, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity)
    for name in ("console:conversation", "console:conversation-export"):
        response = outsider_operator_client.get(reverse(name, args=[conversation.id]))
        assert response.status_code == 404, name


def test_the_thread_has_a_separator_per_day(
    operator_client: Client, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity)
    now = timezone.now()
    MessageFactory(conversation=conversation, created_at=now - dt.timedelta(days=1))
    MessageFactory(conversation=conversation, created_at=now)
    body = _detail(operator_client, conversation)
    assert body.count('class="day-separator"') == 2
    assert body.index(">Yesterday<") < body.index(">Today<")


def test_the_time_is_shown_once_per_group_of_bubbles(
    operator_client: Client, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity)
    start = timezone.now() - dt.timedelta(hours=1)
    for minutes in (0, 1, 2):
        MessageFactory(conversation=conversation, created_at=start + dt.timedelta(minutes=minutes))
    MessageFactory(
        conversation=conversation, direction="outbound", created_at=start + dt.timedelta(minutes=3)
    )
    body = _detail(operator_client, conversation)
    assert body.count('class="bubble ') == 4
    assert body.count('class="group-time"') == 2


def test_a_long_message_is_folded_behind_show_more(
    operator_client: Client, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity)
    MessageFactory(conversation=conversation, content="start " + "lorem ipsum " * 100 + "THE END")
    body = _detail(operator_client, conversation)
    assert "<summary>Show more</summary>" in body
    assert body.index("<summary>Show more</summary>") < body.index("THE END")


def test_a_file_that_is_not_an_image_is_a_chip_with_its_name_and_type(
    operator_client: Client, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity)
    MessageFactory(
        conversation=conversation,
        media=[{"url": "/media/lab-results.pdf", "content_type": "application/pdf", "size": 2048}],
    )
    body = _detail(operator_client, conversation)
    assert '<span class="file-name">lab-results.pdf</span>' in body
    assert '<span class="file-type">application/pdf</span>' in body
    assert "<img" not in body.split('id="thread"')[1]


def test_a_message_link_opens_the_page_that_holds_it(
    operator_client: Client, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity)
    start = timezone.now() - dt.timedelta(days=1)
    messages = [
        MessageFactory(conversation=conversation, created_at=start + dt.timedelta(minutes=n))
        for n in range(PAGE_SIZE + 10)
    ]
    oldest = messages[0]
    assert f'id="message-{oldest.id}"' not in _detail(operator_client, conversation)
    body = _detail(operator_client, conversation, message=str(oldest.id))
    assert f'id="message-{oldest.id}"' in body


def test_the_thread_offers_its_csv_export(auditor_client: Client, identity: AgentIdentity) -> None:
    conversation = ConversationFactory(identity=identity)
    href = reverse("console:conversation-export", args=[conversation.id])
    assert f'href="{href}"' in _detail(auditor_client, conversation)


# --- Exports -----------------------------------------------------------------------------


def test_a_conversation_exports_one_row_per_message_oldest_first(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    line = PhoneLineFactory(setup__organization=identity.organization, number="+14155552999")
    conversation = ConversationFactory(identity=identity, remote_number=PERSON, line=line)
    start = timezone.now() - dt.timedelta(hours=1)
    inbound = MessageFactory(
        conversation=conversation,
        content="my knee hurts",
        media=[{"url": "/media/x.jpg", "content_type": "image/jpeg"}],
        created_at=start,
    )
    ReactionFactory(message=inbound, reaction="love")
    reply_at = start + dt.timedelta(minutes=1)
    MessageFactory(
        conversation=conversation, direction="outbound", content="=rest it", created_at=reply_at
    )

    header, *rows = _csv(
        auditor_client.get(reverse("console:conversation-export", args=[conversation.id]))
    )

    read = [dict(zip(header, row, strict=True)) for row in rows]
    assert [row["time"] for row in read] == [start.isoformat(), reply_at.isoformat()]
    assert [(row["direction"], row["from"], row["to"]) for row in read] == [
        ("inbound", PERSON, "+14155552999"),
        ("outbound", "+14155552999", PERSON),
    ]
    assert [(row["service"], row["status"]) for row in read] == [
        ("imessage", "received"),
        ("imessage", "sent"),
    ]
    # Content that a spreadsheet would run as a formula is written as text.
    assert [row["content"] for row in read] == ["my knee hurts", "'=rest it"]
    assert [(row["media_count"], row["reactions"]) for row in read] == [
        ("1", "love (agent)"),
        ("0", ""),
    ]


def test_a_conversation_export_is_audited(auditor_client: Client, identity: AgentIdentity) -> None:
    conversation = ConversationFactory(identity=identity)
    MessageFactory.create_batch(2, conversation=conversation)
    _csv(auditor_client.get(reverse("console:conversation-export", args=[conversation.id])))
    entry = AuditEntry.objects.get(action=EXPORT_ACTION)
    assert entry.object_id == "conversation"
    assert entry.after["rows"] == 2
    assert entry.after["filters"] == {"conversation": str(conversation.id)}


def test_the_list_export_has_one_row_per_conversation_the_filters_keep(
    auditor_client: Client, identity: AgentIdentity, other_identity: AgentIdentity
) -> None:
    match = ConversationFactory(identity=identity, remote_number=PERSON)
    MessageFactory.create_batch(3, conversation=match)
    ConversationFactory(identity=identity, remote_number="+12025550100")
    ConversationFactory(identity=other_identity, remote_number=PERSON)

    rows = _csv(
        auditor_client.get(
            reverse("console:conversations-export"),
            {"number": "555-0199", "identity": identity.handle},
        )
    )

    assert len(rows) == 2
    assert rows[1][:6] == [str(match.id), PERSON, "nurse-bot", "person", "", "3"]
    entry = AuditEntry.objects.get(action=EXPORT_ACTION)
    assert entry.after["filters"] == {"number": "5550199", "identity": "nurse-bot"}


def test_the_list_links_its_export_with_the_current_filters(
    operator_client: Client, identity: AgentIdentity
) -> None:
    ConversationFactory(identity=identity, remote_number=PERSON)
    body = _list(operator_client, number="0199")
    assert 'href="/console/conversations/export.csv?number=0199"' in body


def test_the_list_export_never_holds_another_organisations_conversations(
    outsider_operator_client: Client, identity: AgentIdentity
) -> None:
    ConversationFactory(identity=identity, remote_number=PERSON)
    rows = _csv(outsider_operator_client.get(reverse("console:conversations-export")))
    assert rows[1:] == []
