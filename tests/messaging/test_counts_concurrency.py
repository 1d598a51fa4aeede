"""The conversation counters stay exact when a message's statement waits for its
conversation's row (PostgreSQL): the touch that counts the message must count it however
the row changed while it waited."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from messaging.models import Conversation
from tests.messaging.sends import send_now

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting_for_this_transaction() -> int:
    """How many backends wait for a lock this connection's transaction holds (from
    pg_locks: pg_stat_activity keeps one snapshot for the whole transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT DISTINCT pid FROM pg_locks WHERE NOT granted) AS w"
            " WHERE pg_backend_pid() = ANY(pg_blocking_pids(w.pid))"
        )
        return int(cursor.fetchone()[0])


def test_a_send_whose_conversation_moves_on_while_it_waits_is_still_counted(
    conversation: Conversation,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the touch and the insert are one statement on PostgreSQL only")
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["message"] = send_now(conversation)
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = exc
        finally:
            connections.close_all()

    sender = threading.Thread(target=send)
    with transaction.atomic():
        # An inbound message's touch, later than the send, holding the row.
        later = timezone.now() + timedelta(minutes=5)
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=later)
        sender.start()
        deadline = time.monotonic() + 30
        while _waiting_for_this_transaction() == 0:
            assert time.monotonic() < deadline, ("the send never waited for the row", outcome)
            time.sleep(0.01)
    sender.join(timeout=30)

    assert "error" not in outcome, outcome
    stored = Conversation.objects.get(pk=conversation.pk)
    assert (stored.visible_count, stored.last_message_at) == (1, later)
