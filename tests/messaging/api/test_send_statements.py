"""How many statements one plain send costs through the API (issue 18).

On PostgreSQL the conversation's last_message_at moves in the insert's own statement; on
SQLite it is one statement more. SAVEPOINT / RELEASE pairs are left out of the count: they
come from the test's own transaction around `message_send`'s atomic block, which in
production is the outermost transaction (no savepoint). The API key is cached after the
first request, so the measured second send reads no key.

By `to` (3): the conversation with its assignment and line, the recipient checks (the
first covering block and allow rules, the opt-out), the identity's send lock and its quiet
hours; after the lock, the conversation's pace (last inbound and recent sends) with the
cap window ending now; the insert with the conversation's last_message_at. By
`conversation_id` (4): the scoped conversation read bringing the checks along, then the
lock with the quiet hours in a statement of its own, and the same two. (It was 9 while the
rules, the opt-out and quiet hours were each read on their own, 6 while the conversation
was touched apart and the pace and the cap were read apart.)
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.messaging.conftest import PERSON

pytestmark = pytest.mark.django_db

URL = "/api/v1/imessage/messages"
# SQLite takes no row locks (its transactions write one at a time); the lock statement
# still runs there by `conversation_id`.
SEND_BY_TO_STATEMENTS = {"postgresql": 3, "sqlite": 4}
SEND_BY_CONVERSATION_STATEMENTS = {"postgresql": 4, "sqlite": 5}


def statements_of_send(client, body) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.post(URL, body, format="json")
    assert response.status_code == 201, response.content
    return [
        q["sql"]
        for q in ctx.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def test_a_send_by_to_costs_a_bounded_number_of_statements(identity_client, conversation):
    statements_of_send(identity_client, {"to": PERSON, "text": "warm-up"})

    statements = statements_of_send(identity_client, {"to": PERSON, "text": "Hello"})

    assert len(statements) <= SEND_BY_TO_STATEMENTS[connection.vendor], "\n".join(statements)
    loads = [s for s in statements if s.startswith('SELECT "messaging_conversation"."id",')]
    assert len(loads) == 1  # the conversation is loaded once


def test_a_send_by_conversation_costs_a_bounded_number_of_statements(identity_client, conversation):
    body = {"conversation_id": str(conversation.id), "text": "Hello"}
    statements_of_send(identity_client, body)

    statements = statements_of_send(identity_client, body)

    assert len(statements) <= SEND_BY_CONVERSATION_STATEMENTS[connection.vendor], "\n".join(
        statements
    )


def test_a_send_reads_no_assignment_when_the_conversation_points_at_it(
    identity_client, conversation
):
    statements_of_send(identity_client, {"to": PERSON, "text": "warm-up"})

    statements = statements_of_send(identity_client, {"to": PERSON, "text": "Hello"})

    assert not [s for s in statements if s.startswith('SELECT "routing_assignment"')]


def test_a_send_by_to_takes_the_identitys_send_lock_with_the_conversations_read(
    identity_client, conversation
):
    statements_of_send(identity_client, {"to": PERSON, "text": "warm-up"})

    statements = statements_of_send(identity_client, {"to": PERSON, "text": "Hello"})

    [read] = [s for s in statements if s.startswith('SELECT "messaging_conversation"."id",')]
    if connection.vendor == "postgresql":
        assert read.endswith('FOR NO KEY UPDATE OF "console_agentidentity"')
    assert not [s for s in statements if s.startswith('SELECT "console_agentidentity"."id"')]


def test_a_keyed_send_reads_no_record_and_stores_it_in_the_messages_statement(
    identity_client, conversation
):
    statements_of_send(identity_client, {"to": PERSON, "text": "warm-up"})

    with CaptureQueriesContext(connection) as ctx:
        response = identity_client.post(
            URL, {"to": PERSON, "text": "Hello"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )

    assert response.status_code == 201, response.content
    statements = [
        q["sql"]
        for q in ctx.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    # SQLite inserts the record in a statement of its own, after the message's.
    extra = 0 if connection.vendor == "postgresql" else 1
    assert len(statements) <= SEND_BY_TO_STATEMENTS[connection.vendor] + extra
    touching = [s for s in statements if "console_idempotencyrecord" in s]
    assert len(touching) == 1 and not touching[0].startswith("SELECT")
    if connection.vendor == "postgresql":
        assert '"messaging_message"' in touching[0]


def test_with_values_in_the_statement_text_the_record_goes_in_after_the_send(
    identity_client, conversation, monkeypatch
):
    monkeypatch.setattr("console.idempotency.binds_on_server", lambda using: False)

    with CaptureQueriesContext(connection) as ctx:
        response = identity_client.post(
            URL, {"to": PERSON, "text": "Hello"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
        )

    assert response.status_code == 201, response.content
    touching = [q["sql"] for q in ctx.captured_queries if "console_idempotencyrecord" in q["sql"]]
    assert len(touching) == 1
    # An insert that stores nothing on a conflict (SQLite spells it INSERT OR IGNORE).
    ignoring = ("ON CONFLICT", "INSERT OR IGNORE")
    assert '"messaging_message"' not in touching[0]
    assert any(spelling in touching[0].upper() for spelling in ignoring)
