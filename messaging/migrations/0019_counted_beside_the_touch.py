"""A message that the statement inserting it also counts, in the same UPDATE that moves its
conversation's last message, is not counted again by the insert trigger.

An inbound message or a send updated its conversation twice: the touch (last message,
line) in the insert's own statement, then the counters' trigger at the statement's end.
The second update costs a new row version, its index entries and four foreign-key checks
again (the row was written by this transaction). Now such a touch adds the message's
counts itself through `messaging_message_counted(message, conversation, updated)`: 1 when
the updated row is the message's conversation, after marking the message as counted
(`bluewire.counted_message`, for the rest of the transaction); 0, and no mark, otherwise.
The insert trigger takes the mark (clears it) and counts every added row but that one.

Only a statement's conversation UPDATE sets the mark, and the trigger of that statement's
own INSERT, which runs at the statement's end, clears it: a later statement counts
everything. PostgreSQL only: on SQLite the statements are separate and the row triggers
count every message as before.

The SQL is written out here rather than imported (see 0013); keep
`messaging.services.conversation_counts` in step.
"""

from django.db import migrations

COUNTERS = (
    ("visible_count", "NOT m.is_blocked"),
    ("visible_unread_count", "NOT m.is_blocked AND m.direction = 'inbound' AND NOT m.is_read"),
    ("blocked_count", "m.is_blocked"),
    ("blocked_unread_count", "m.is_blocked AND m.direction = 'inbound' AND NOT m.is_read"),
)


def _grouped_update(rows_where: str) -> str:
    counts = ", ".join(
        f"count(CASE WHEN {when} THEN 1 END) AS {column}" for column, when in COUNTERS
    )
    sets = ", ".join(
        f"{column} = messaging_conversation.{column} + d.{column}" for column, _ in COUNTERS
    )
    return (
        f"UPDATE messaging_conversation SET {sets} FROM (SELECT m.conversation_id, {counts}"
        f" FROM added_messages AS m {rows_where} GROUP BY m.conversation_id) AS d"
        " WHERE messaging_conversation.id = d.conversation_id"
    )


COUNTED = """
CREATE OR REPLACE FUNCTION messaging_message_counted(
  message_id uuid, conversation_id uuid, updated_id uuid
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF updated_id IS DISTINCT FROM conversation_id THEN
    RETURN 0;
  END IF;
  PERFORM set_config('bluewire.counted_message', message_id::text, true);
  RETURN 1;
END
$$
"""

ADD_SKIPPING_COUNTED = f"""
CREATE OR REPLACE FUNCTION messaging_conversation_counts_add() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  counted uuid := nullif(current_setting('bluewire.counted_message', true), '')::uuid;
BEGIN
  IF counted IS NOT NULL THEN
    PERFORM set_config('bluewire.counted_message', '', true);
    IF NOT EXISTS (SELECT 1 FROM added_messages WHERE id <> counted) THEN
      RETURN NULL;
    END IF;
  END IF;
  {_grouped_update("WHERE m.id IS DISTINCT FROM counted")};
  RETURN NULL;
END
$$
"""

ADD_AS_IN_0013 = f"""
CREATE OR REPLACE FUNCTION messaging_conversation_counts_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  {_grouped_update("")};
  RETURN NULL;
END
$$
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(COUNTED)
        schema_editor.execute(ADD_SKIPPING_COUNTED)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ADD_AS_IN_0013)
        schema_editor.execute("DROP FUNCTION IF EXISTS messaging_message_counted(uuid, uuid, uuid)")


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0018_partial_key_indexes"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
