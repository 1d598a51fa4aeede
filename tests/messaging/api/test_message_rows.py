"""GET /messages renders from `.values()` rows: byte for byte what `message_wire` renders
from model instances (the shape the contract and the SDK pin), timestamps as DRF's
DateTimeField writes them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db.models import Prefetch
from django.utils import timezone
from rest_framework.fields import DateTimeField
from rest_framework.renderers import JSONRenderer

from messaging.models import Conversation, Message, Reaction
from messaging.wire import conversation_wire, message_wire
from tests.messaging.factories import (
    ConversationFactory,
    MediaObjectFactory,
    MessageFactory,
    ReactionFactory,
)

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/imessage/messages"
CONVERSATIONS = "/api/v1/imessage/conversations"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _varied_messages(conversation, org) -> None:
    """One message of every kind the wire shape treats differently."""
    plain = MessageFactory(conversation=conversation, created_at=at(2026, 1, 1, 9))
    hosted = MediaObjectFactory(organization=org)
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        send_style="confetti",
        media=[
            {"media_object_id": str(hosted.id), "content_type": "image/jpeg", "size": 14},
            {"url": "https://files.example.org/a.png", "content_type": "image/png", "size": 9},
            {"url": "https://files.example.org/b.bin"},
        ],
        created_at=at(2026, 1, 1, 9, 1, 0, 120000),
    )
    reacted = MessageFactory(conversation=conversation, created_at=at(2026, 1, 1, 9, 2, 0, 5))
    ReactionFactory(message=reacted, reaction="like")
    ReactionFactory(message=reacted, reaction="custom", custom_emoji="🦷", part_index=1)
    ReactionFactory(message=reacted, reaction="laugh", is_live=False, removed_at=timezone.now())
    MessageFactory(conversation=conversation, reply_to=plain, created_at=at(2026, 1, 1, 9, 3))
    MessageFactory(
        conversation=conversation,
        content=None,
        media=[],
        redacted_at=at(2026, 2, 1, 3, 0, 0, 999999),
        created_at=at(2026, 1, 1, 9, 4),
    )
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="error",
        service="sms",
        was_downgraded=True,
        error_code="30008",
        error_message="Unknown error",
        error_reason="carrier",
        error_detail="The carrier refused the message.",
        created_at=at(2026, 1, 1, 9, 5),
    )
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="queued",
        send_state="queued",
        scheduled_for=at(2026, 1, 2, 8),
        created_at=at(2026, 1, 1, 9, 6),
    )
    MessageFactory(
        conversation=conversation,
        is_read=True,
        read_at=at(2026, 1, 1, 10, 0, 0, 123456),
        created_at=at(2026, 1, 1, 9, 7),
    )
    MessageFactory(conversation=conversation, is_blocked=True, created_at=at(2026, 1, 1, 9, 8))
    group = ConversationFactory(
        identity=conversation.identity,
        is_group=True,
        group_id="group-1",
        participants=["+12025550101", "+12025550102"],
    )
    MessageFactory(
        conversation=group,
        is_group=True,
        sender_number="+12025550101",
        participants=["+12025550101", "+12025550102"],
        created_at=at(2026, 1, 1, 9, 9),
    )


def _as_models_rendered_them(org) -> bytes:
    """The list as it was rendered before: prefetched model instances through message_wire."""
    messages = (
        Message.objects.filter(organization=org)
        .prefetch_related(
            Prefetch(
                "reactions",
                queryset=Reaction.objects.filter(is_live=True).order_by("created_at"),
            )
        )
        .order_by("-created_at", "-id")
    )
    return JSONRenderer().render([message_wire(m) for m in messages])


def test_the_message_list_renders_every_kind_of_message_as_models_did(
    admin_client, conversation, org, time_machine
):
    time_machine.move_to(at(2026, 3, 1, 12), tick=False)  # signed media URLs hold still
    _varied_messages(conversation, org)

    response = admin_client.get(f"{MESSAGES}?include_groups=true&limit=200")

    assert response.status_code == 200
    assert len(response.json()) == 10
    assert response.content == _as_models_rendered_them(org)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_list_timestamps_read_exactly_as_drf_rendered_them(identity_client, conversation, zone):
    for micro in (0, 5, 120000, 999999):
        MessageFactory(
            conversation=conversation,
            created_at=at(2026, 3, 1, 12, 0, 0, micro),
            read_at=at(2026, 3, 1, 13, 0, 0, micro),
        )
    stored = {str(m.id): m for m in Message.objects.filter(conversation=conversation)}

    with timezone.override(zone):
        rows = identity_client.get(f"{MESSAGES}?conversation_id={conversation.id}").json()
        drf = DateTimeField()
        expected = [
            tuple(
                drf.to_representation(getattr(stored[row["id"]], name))
                for name in ("created_at", "read_at", "updated_at")
            )
            for row in rows
        ]

    assert [(r["created_at"], r["read_at"], r["updated_at"]) for r in rows] == expected
    assert rows[-1]["created_at"].endswith("Z" if zone == "UTC" else "-05:00")


def test_an_empty_page_reads_no_reactions(identity_client, django_assert_num_queries):
    identity_client.get(MESSAGES)

    with django_assert_num_queries(1):  # the page; nothing read, nothing tallied
        assert identity_client.get(MESSAGES).json() == []


def test_a_listed_message_keeps_the_contract_shape_field_for_field(admin_client, conversation):
    group = ConversationFactory(
        identity=conversation.identity, is_group=True, group_id="g", participants=["+12025550101"]
    )
    replied = MessageFactory(conversation=group, is_group=True, created_at=at(2026, 1, 1, 8))
    message = MessageFactory(
        conversation=group,
        direction="outbound",
        remote_number="+12025550101",
        content="See you at 9",
        send_style="confetti",
        media=[{"url": "https://files.example.org/a.png", "content_type": "image/png", "size": 9}],
        was_downgraded=True,
        status="error",
        service="sms",
        error_code="30008",
        error_message="Unknown error",
        error_reason="carrier",
        error_detail="Refused.",
        is_read=True,
        read_at=at(2026, 1, 1, 10, 0, 0, 120000),
        is_group=True,
        sender_number="+12025550101",
        participants=["+12025550101", "+12025550102"],
        reply_to=replied,
        redacted_at=None,
        scheduled_for=at(2026, 1, 1, 9, 30),
        created_at=at(2026, 1, 1, 9),
    )
    reaction = ReactionFactory(message=message, reaction="custom", custom_emoji="🦷", part_index=2)
    Message.objects.filter(pk=message.pk).update(updated_at=at(2026, 1, 1, 9, 0, 1, 5))
    Reaction.objects.filter(pk=reaction.pk).update(created_at=at(2026, 1, 1, 9, 0, 2))

    rows = admin_client.get(f"{MESSAGES}?conversation_id={group.id}").json()

    assert list(rows[0].items()) == [
        ("id", str(message.id)),
        ("conversation_id", str(group.id)),
        ("assignment_id", None),
        ("direction", "outbound"),
        ("remote_number", "+12025550101"),
        ("content", "See you at 9"),
        ("message_type", "message"),
        ("service", "sms"),
        ("send_style", "confetti"),
        (
            "media",
            [{"url": "https://files.example.org/a.png", "content_type": "image/png", "size": 9}],
        ),
        ("was_downgraded", True),
        ("status", "error"),
        ("error_code", "30008"),
        ("error_message", "Unknown error"),
        ("error_reason", "carrier"),
        ("error_detail", "Refused."),
        ("is_read", True),
        ("read_at", "2026-01-01T10:00:00.120000Z"),
        ("is_group", True),
        ("reply_to_message_id", str(replied.id)),
        ("thread_id", None),
        ("thread_root_message_id", None),
        ("recipients", []),
        (
            "reactions",
            [
                {
                    "id": str(reaction.id),
                    "direction": "outbound",
                    "reaction": "custom",
                    "custom_emoji": "🦷",
                    "remote_number": "+12025550101",
                    "part_index": 2,
                    "created_at": "2026-01-01T09:00:02Z",
                }
            ],
        ),
        ("created_at", "2026-01-01T09:00:00Z"),
        ("updated_at", "2026-01-01T09:00:01.000005Z"),
        ("redacted_at", None),
        ("scheduled_for", "2026-01-01T09:30:00Z"),
        ("sender_number", "+12025550101"),
        ("participants", ["+12025550101", "+12025550102"]),
        ("is_blocked", False),
    ]


# --- Conversation summaries, from rows as well ----------------------------------------------


def test_each_listed_conversation_renders_as_the_conversation_object_does(
    admin_client, conversation, identity
):
    MessageFactory(conversation=conversation)
    handed = ConversationFactory(
        identity=identity,
        handled_by="staff",
        handed_off_at=at(2026, 1, 1, 9, 0, 0, 5),
        handed_off_by="nurse@example.org",
    )
    group = ConversationFactory(
        identity=identity, is_group=True, group_id="g", participants=["+12025550101"]
    )
    for made in (handed, group):
        MessageFactory(conversation=made, is_group=made.is_group)

    rows = admin_client.get(f"{CONVERSATIONS}?include_groups=true").json()

    assert len(rows) == 3
    for row in rows:
        stored = Conversation.objects.select_related("assignment").get(pk=row["id"])
        summary = list(row.items())
        assert summary[: len(conversation_wire(stored))] == list(conversation_wire(stored).items())
        assert [name for name, _ in summary[len(conversation_wire(stored)) :]] == [
            "latest_text",
            "latest_message_at",
            "latest_direction",
            "latest_has_media",
            "unread_count",
            "total_count",
        ]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "2026-01-01T09:00:00.120000Z"),
        ("America/New_York", "2026-01-01T04:00:00.120000-05:00"),
    ],
)
def test_the_conversation_preview_time_reads_as_drf_rendered_it(
    identity_client, conversation, zone, expected
):
    MessageFactory(conversation=conversation, media=[], created_at=at(2026, 1, 1, 9, 0, 0, 120000))

    with timezone.override(zone):
        [row] = identity_client.get(CONVERSATIONS).json()

    assert row["latest_message_at"] == expected
    assert row["latest_has_media"] is False
    assert (row["total_count"], row["unread_count"]) == (1, 1)
