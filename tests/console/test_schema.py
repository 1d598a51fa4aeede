"""`console.db.schema`: foreign keys another index starts with have no index of their own,
and dropping theirs left each table as it was (SQLite would have rebuilt it)."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# (table, foreign key column): each is the first column of another index of its table.
COVERED = [
    ("messaging_message", "organization_id"),
    ("messaging_message", "identity_id"),
    ("messaging_message", "conversation_id"),
    ("messaging_conversation", "organization_id"),
    ("messaging_conversation", "identity_id"),
    ("provisioning_providerevent", "setup_id"),
    ("webhooks_webhookdelivery", "organization_id"),
    ("webhooks_webhookdelivery", "subscription_id"),
    ("console_idempotencyrecord", "organization_id"),
]


def indexes_of(table: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name: c["columns"] for name, c in constraints.items() if c["index"] or c["unique"]}


@pytest.mark.parametrize(("table", "column"), COVERED, ids=[f"{t}.{c}" for t, c in COVERED])
def test_a_covered_foreign_key_has_no_index_of_its_own(table: str, column: str) -> None:
    # The name Django gives a foreign key's own index (naming needs no open editor).
    own = connection.SchemaEditorClass(connection)._create_index_name(table, [column])
    indexes = indexes_of(table)

    assert own not in indexes
    assert any(columns[:1] == [column] and len(columns) > 1 for columns in indexes.values())


def test_the_message_table_keeps_its_triggers() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'messaging_message'::regclass"
                " AND NOT tgisinternal"
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
                " AND tbl_name = 'messaging_message'"
            )
        triggers = {row[0] for row in cursor.fetchall()}

    assert {"messaging_message_counts_insert", "messaging_message_send_cap_insert"} <= triggers


@pytest.mark.parametrize("key", ["reply_to_id", "reviewed_by_id", "sent_by_id"])
def test_a_key_most_messages_leave_empty_is_indexed_where_it_is_set(key: str) -> None:
    own = connection.SchemaEditorClass(connection)._create_index_name("messaging_message", [key])
    indexes = indexes_of("messaging_message")

    assert own not in indexes
    [partial] = [name for name, columns in indexes.items() if columns == [key]]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [partial])
            [(definition,)] = cursor.fetchall()
        assert definition.endswith(f"WHERE ({key} IS NOT NULL)")


def test_no_message_index_is_left_that_no_query_reads() -> None:
    assert "msg_outbound_identity_created" not in indexes_of("messaging_message")


@pytest.mark.parametrize(
    ("table", "column"), [("webhooks_webhookevent", "id"), ("webhooks_webhookdelivery", "event_id")]
)
def test_webhook_ids_have_no_pattern_index(table: str, column: str) -> None:
    like = connection.SchemaEditorClass(connection)._create_index_name(
        table, [column], suffix="_like"
    )

    assert like not in indexes_of(table)
