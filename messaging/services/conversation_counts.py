"""Recounting a conversation's message counters from its messages: a repair.

Triggers on messaging_message keep `Conversation.visible_count`, `visible_unread_count`,
`blocked_count` and `blocked_unread_count` exact on every write (migration 0013). This
recount is for whatever went around them: rows loaded with the triggers off (`seed_load`),
a restore of one table, a hand edit. `manage.py conversation_counts_refresh` runs it.

`counted_beside` is the other way in: a conversation UPDATE in the statement that inserts
a message (the touch of a send or an inbound message) adds that message's counts itself,
and the insert trigger leaves it out (migration 0019), so that the conversation is
updated once per message rather than twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Func, IntegerField, UUIDField, Value

from console.db.one_statement import writes_in_one_statement
from messaging.models import Conversation, Direction, Message

# (counter column, when a message row `m` counts towards it): what the triggers of
# migration 0013 count, which holds its own copy (keep the two in step).
COUNTERS = (
    ("visible_count", "NOT m.is_blocked"),
    ("visible_unread_count", "NOT m.is_blocked AND m.direction = 'inbound' AND NOT m.is_read"),
    ("blocked_count", "m.is_blocked"),
    ("blocked_unread_count", "m.is_blocked AND m.direction = 'inbound' AND NOT m.is_read"),
)


def counters_beside(message: Message) -> tuple[str, ...]:
    """The counters `message` counts towards (as `COUNTERS` says), when the statement that
    inserts it can count it in its conversation's UPDATE (`counted_beside`): on
    PostgreSQL, where that is one statement; () elsewhere, where the triggers count it."""
    if not writes_in_one_statement(Message):
        return ()
    unread = message.direction == Direction.INBOUND and not message.is_read
    if message.is_blocked:
        return ("blocked_count", "blocked_unread_count") if unread else ("blocked_count",)
    return ("visible_count", "visible_unread_count") if unread else ("visible_count",)


def counted_beside(
    counters: tuple[str, ...], *, message_id: Any, conversation_id: Any
) -> dict[str, Any]:
    """The values that make a conversation UPDATE count message `message_id` (of
    conversation `conversation_id`) towards `counters` (`counters_beside`): each adds 1
    when the updated row is the message's conversation, and then marks the message so
    that its insert trigger does not count it again.

    Only for an UPDATE that runs in the statement inserting that message (a `leading`
    write of `console.db.one_statement.insert_with_dependents` or `insert_after`): the
    mark lasts until that statement's insert trigger takes it. The UPDATE must choose its
    row by conditions no concurrent write changes (its key, or identity and person):
    PostgreSQL computes the SET, and so marks the message, before it locks the row, and a
    row that a concurrent write made fail the condition is skipped, marked and uncounted.
    One such UPDATE per statement: a second would replace the first's mark."""
    counted = Func(
        Value(message_id, output_field=UUIDField()),
        Value(conversation_id, output_field=UUIDField()),
        F("id"),
        function="messaging_message_counted",
        output_field=IntegerField(),
    )
    return {column: F(column) + counted for column in counters}


@transaction.atomic
def conversation_counts_refresh(*, conversation_ids: Iterable[uuid.UUID] | None = None) -> int:
    """Set the counters of the conversations `conversation_ids` (None: all of them) from
    their messages, in one grouped UPDATE that rewrites only the wrong ones; returns how
    many conversations were wrong."""
    where, params = "", []
    if conversation_ids is not None:
        pk = Conversation._meta.pk
        assert pk is not None
        params = [pk.get_db_prep_value(i, connection) for i in conversation_ids]
        if not params:
            return 0
        where = f"WHERE c.id IN ({', '.join(['%s'] * len(params))})"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Lock the rows first: a writer whose trigger already moved a counter then has
            # committed, and the count below (a new snapshot) sees its message; a writer
            # still to move one waits and moves it after this recount.
            cursor.execute(_LOCK.format(where=where), params)
        cursor.execute(_RECOUNT.format(where=where), params)
        return cursor.rowcount


# Only constants and placeholders go into the SQL.
_LOCK = (
    "SELECT count(*) FROM (SELECT 1 FROM messaging_conversation AS c {where}"
    " ORDER BY c.id FOR UPDATE) AS locked"
)
_SET = ", ".join(f"{column} = d.{column}" for column, _ in COUNTERS)
_COUNT = ", ".join(f"count(CASE WHEN {when} THEN 1 END) AS {column}" for column, when in COUNTERS)
_WRONG = " OR ".join(f"messaging_conversation.{column} <> d.{column}" for column, _ in COUNTERS)
_RECOUNT = (
    f"UPDATE messaging_conversation SET {_SET}"  # noqa: S608
    f" FROM (SELECT c.id, {_COUNT} FROM messaging_conversation AS c"
    " LEFT JOIN messaging_message AS m ON m.conversation_id = c.id {where}"
    f" GROUP BY c.id) AS d WHERE messaging_conversation.id = d.id AND ({_WRONG})"
)
