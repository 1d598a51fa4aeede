"""The conversation counters: kept by the database triggers on every write path, and
recounted from the messages by `conversation_counts_refresh` (a repair)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from console.db.one_statement import writes_in_one_statement
from messaging.models import Conversation, Message
from messaging.services.conversation_counts import conversation_counts_refresh
from messaging.services.delivery import message_deliver
from messaging.services.held import held_message_release
from messaging.services.inbound import inbound_message_receive
from messaging.services.receipts import conversation_mark_read
from messaging.services.status import message_status_update
from tests.messaging.factories import ConversationFactory, MessageFactory
from tests.messaging.sends import queue_message, send_now, status
from tests.messaging.services.test_inbound import blind_handle_check, inbound

pytestmark = pytest.mark.django_db


def counts(conversation: Conversation) -> tuple[int, int, int, int]:
    """(visible, visible unread, blocked, blocked unread) as the database holds them."""
    return Conversation.objects.values_list(
        "visible_count", "visible_unread_count", "blocked_count", "blocked_unread_count"
    ).get(pk=conversation.pk)


def corrupt(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(visible_count=99, blocked_count=-3)


# --- Kept by the triggers -------------------------------------------------------------


def test_saving_a_stale_conversation_keeps_what_the_triggers_counted(
    conversation: Conversation,
) -> None:
    stale = Conversation.objects.get(pk=conversation.pk)
    MessageFactory(conversation=conversation)

    stale.handed_off_by = "nurse@example.org"
    stale.save()

    assert counts(conversation) == (1, 1, 0, 0)
    assert Conversation.objects.get(pk=conversation.pk).handed_off_by == "nurse@example.org"


def test_an_inbound_message_counts_as_visible_and_unread(conversation: Conversation) -> None:
    MessageFactory(conversation=conversation)

    assert counts(conversation) == (1, 1, 0, 0)


def test_an_outbound_message_counts_as_visible_and_never_unread(
    conversation: Conversation,
) -> None:
    MessageFactory(conversation=conversation, direction="outbound")

    assert counts(conversation) == (1, 0, 0, 0)


def test_a_blocked_message_counts_as_blocked_only(conversation: Conversation) -> None:
    MessageFactory(conversation=conversation, is_blocked=True)

    assert counts(conversation) == (0, 0, 1, 1)


def test_bulk_create_counts_every_message_into_its_own_conversation(identity: Any) -> None:
    first, second = ConversationFactory.create_batch(2, identity=identity)
    Message.objects.bulk_create(
        [
            MessageFactory.build(conversation=first),
            MessageFactory.build(conversation=first),
            MessageFactory.build(conversation=first, direction="outbound"),
            MessageFactory.build(conversation=second, is_read=True),
            MessageFactory.build(conversation=second, is_blocked=True),
        ]
    )

    assert (counts(first), counts(second)) == ((3, 2, 0, 0), (1, 0, 1, 1))


def test_marking_the_conversation_read_clears_only_its_visible_unread_count(
    conversation: Conversation,
) -> None:
    MessageFactory.create_batch(2, conversation=conversation)
    MessageFactory(conversation=conversation, is_blocked=True)

    conversation_mark_read(conversation=conversation)

    assert counts(conversation) == (2, 0, 1, 1)


def test_releasing_a_held_message_moves_it_from_blocked_to_visible(
    conversation: Conversation,
) -> None:
    held = MessageFactory(conversation=conversation, is_blocked=True)

    held_message_release(message=held)

    assert counts(conversation) == (1, 1, 0, 0)


def test_deleting_messages_takes_them_off_the_counters(conversation: Conversation) -> None:
    kept = MessageFactory(conversation=conversation)
    MessageFactory(conversation=conversation, direction="outbound")
    MessageFactory(conversation=conversation, is_blocked=True)

    Message.objects.filter(conversation=conversation).exclude(pk=kept.pk).delete()

    assert counts(conversation) == (1, 1, 0, 0)


def test_a_message_moved_to_another_conversation_moves_its_counts(
    conversation: Conversation, identity: Any
) -> None:
    other = ConversationFactory(identity=identity)
    message = MessageFactory(conversation=conversation)

    Message.objects.filter(pk=message.pk).update(conversation=other)

    assert (counts(conversation), counts(other)) == ((0, 0, 0, 0), (1, 1, 0, 0))


def test_a_status_update_leaves_the_counters_alone(
    conversation: Conversation, platform_setup: Any
) -> None:
    message = queue_message(conversation)
    message_deliver(message_id=message.id)
    message.refresh_from_db()
    corrupt(conversation)

    message_status_update(setup=platform_setup, update=status(message.provider_handle, "delivered"))

    assert counts(conversation) == (99, 0, -3, 0)


# --- Counted beside the touch (PostgreSQL: the message's own statement) -----------------

needs_one_statement = pytest.mark.skipif(
    not writes_in_one_statement(Message),
    reason="elsewhere the touch and the insert are separate statements, counted by the triggers",
)


def conversation_row_updates() -> int:
    """Row versions of conversations this transaction has written so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd FROM pg_stat_xact_user_tables"
            " WHERE relname = 'messaging_conversation'"
        )
        return int(cursor.fetchone()[0])


@needs_one_statement
def test_an_inbound_message_moves_and_counts_its_conversation_in_one_row_update(
    conversation: Conversation, platform_setup: Any
) -> None:
    before = conversation_row_updates()

    inbound_message_receive(setup=platform_setup, event=inbound())

    assert conversation_row_updates() - before == 1
    assert counts(conversation) == (1, 1, 0, 0)


@needs_one_statement
def test_a_send_moves_and_counts_its_conversation_in_one_row_update(
    conversation: Conversation,
) -> None:
    before = conversation_row_updates()

    send_now(conversation)

    assert conversation_row_updates() - before == 1
    assert counts(conversation) == (1, 0, 0, 0)


def test_a_message_stored_after_a_counted_one_in_the_same_transaction_is_counted(
    conversation: Conversation,
) -> None:
    with transaction.atomic():
        send_now(conversation)
        MessageFactory(conversation=conversation)

    assert counts(conversation) == (2, 1, 0, 0)


def test_a_send_older_than_the_conversations_last_message_is_counted_all_the_same(
    conversation: Conversation,
) -> None:
    later = timezone.now() + timedelta(hours=1)
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=later)

    send_now(conversation)

    assert counts(conversation) == (1, 0, 0, 0)
    assert Conversation.objects.get(pk=conversation.pk).last_message_at == later


def test_a_duplicate_that_the_insert_refuses_counts_nothing(
    conversation: Conversation, platform_setup: Any, monkeypatch: Any
) -> None:
    inbound_message_receive(setup=platform_setup, event=inbound())
    blind_handle_check(monkeypatch)

    assert inbound_message_receive(setup=platform_setup, event=inbound()) is None

    assert counts(conversation) == (1, 1, 0, 0)


def test_counted_messages_leave_nothing_for_the_recount_to_repair(
    conversation: Conversation, platform_setup: Any
) -> None:
    for number in range(3):
        inbound_message_receive(setup=platform_setup, event=inbound(handle=f"h-{number}"))
        send_now(conversation)

    assert conversation_counts_refresh() == 0
    assert counts(conversation) == (6, 3, 0, 0)


# --- Recounted ------------------------------------------------------------------------


def test_the_refresh_command_repairs_a_corrupted_counter(conversation: Conversation) -> None:
    MessageFactory(conversation=conversation)
    MessageFactory(conversation=conversation, is_blocked=True)
    corrupt(conversation)
    out = io.StringIO()

    call_command("conversation_counts_refresh", stdout=out)

    assert counts(conversation) == (1, 1, 1, 1)
    assert "1 conversations had wrong counters" in out.getvalue()


def test_refresh_recounts_a_conversation_without_messages_to_zero(
    conversation: Conversation,
) -> None:
    corrupt(conversation)

    assert conversation_counts_refresh() == 1
    assert counts(conversation) == (0, 0, 0, 0)


def test_refresh_rewrites_nothing_when_the_counters_are_right(conversation: Conversation) -> None:
    MessageFactory.create_batch(3, conversation=conversation)

    assert conversation_counts_refresh() == 0


def test_refresh_of_named_conversations_leaves_the_others_alone(
    conversation: Conversation, identity: Any
) -> None:
    other = ConversationFactory(identity=identity)
    corrupt(conversation)
    corrupt(other)

    conversation_counts_refresh(conversation_ids=[other.pk])

    assert (counts(conversation), counts(other)) == ((99, 0, -3, 0), (0, 0, 0, 0))
