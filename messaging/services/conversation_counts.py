"""Recounting a conversation's message counters from its messages: a repair.

Triggers on messaging_message keep `Conversation.visible_count`, `visible_unread_count`,
`blocked_count` and `blocked_unread_count` exact on every write (migration 0013). This
recount is for whatever went around them: rows loaded with the triggers off (`seed_load`),
a restore of one table, a hand edit. `manage.py conversation_counts_refresh` runs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection, transaction

from messaging.models import Conversation

# (counter column, when a message row `m` counts towards it): what the triggers of
# migration 0013 count, which holds its own copy (keep the two in step).
COUNTERS = (
    ("visible_count", "NOT m.is_blocked"),
    ("visible_unread_count", "NOT m.is_blocked AND m.direction = 'inbound' AND NOT m.is_read"),
    ("blocked_count", "m.is_blocked"),
    ("blocked_unread_count", "m.is_blocked AND m.direction = 'inbound' AND NOT m.is_read"),
)


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
