"""Per-conversation message counters, kept exact by triggers on messaging_message.

The conversation list read them instead of counting each listed conversation's messages.
Triggers rather than application code, so that every write path keeps them right: the
services, `bulk_create`, COPY, `.update()` calls (receipts marking rows read, a held
message's release flipping `is_blocked`) and deletes.

- PostgreSQL: INSERT and DELETE are statement triggers over their transition tables (one
  grouped UPDATE of the conversations however many rows the statement wrote); UPDATE is a
  row trigger limited to the counted columns and to rows where one of them changed
  (PostgreSQL allows no transition table on an UPDATE trigger with a column list), so
  status and delivery updates of messages pay nothing.
- SQLite: row triggers for the three.

The SQL is written out here rather than imported, so that the migration stays what it
was when later code changes; `messaging.services.conversation_counts` recounts the same
four counters (keep the two in step).
"""

from django.db import migrations, models

# (counter column, when a message row `{r}` counts towards it)
COUNTERS = (
    ("visible_count", "NOT {r}.is_blocked"),
    (
        "visible_unread_count",
        "NOT {r}.is_blocked AND {r}.direction = 'inbound' AND NOT {r}.is_read",
    ),
    ("blocked_count", "{r}.is_blocked"),
    (
        "blocked_unread_count",
        "{r}.is_blocked AND {r}.direction = 'inbound' AND NOT {r}.is_read",
    ),
)
# The columns whose change moves a message between counters (or conversations).
COUNTED_COLUMNS = ("is_blocked", "is_read", "direction", "conversation_id")


def _row_update(*, added: str = "", removed: str = "") -> str:
    """One UPDATE counting the row `added` (NEW) in and the row `removed` (OLD) out."""
    sets = []
    for column, when in COUNTERS:
        expr = column
        if added:
            expr += f" + CASE WHEN id = {added}.conversation_id AND {when.format(r=added)}"
            expr += " THEN 1 ELSE 0 END"
        if removed:
            expr += f" - CASE WHEN id = {removed}.conversation_id AND {when.format(r=removed)}"
            expr += " THEN 1 ELSE 0 END"
        sets.append(f"{column} = {expr}")
    ids = ", ".join(f"{r}.conversation_id" for r in (added, removed) if r)
    return f"UPDATE messaging_conversation SET {', '.join(sets)} WHERE id IN ({ids})"


def _grouped(rows: str) -> str:
    """Per conversation, how many of `rows` (messages) count towards each counter."""
    counts = ", ".join(
        f"count(CASE WHEN {when.format(r='m')} THEN 1 END) AS {column}"
        for column, when in COUNTERS
    )
    return f"SELECT m.conversation_id, {counts} FROM {rows} AS m GROUP BY m.conversation_id"


def _grouped_update(rows: str, op: str) -> str:
    """One UPDATE adding (`op` "+") or taking away ("-") `rows`' counts (UPDATE ... FROM:
    PostgreSQL, and SQLite from 3.33)."""
    sets = ", ".join(
        f"{column} = messaging_conversation.{column} {op} d.{column}" for column, _ in COUNTERS
    )
    return (
        f"UPDATE messaging_conversation SET {sets} FROM ({_grouped(rows)}) AS d"
        " WHERE messaging_conversation.id = d.conversation_id"
    )


def _changed() -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COUNTED_COLUMNS)


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n  {body};\n  RETURN NULL;\nEND\n$$"
    )


POSTGRESQL = [
    _pg_function("messaging_conversation_counts_add", _grouped_update("added_messages", "+")),
    _pg_function(
        "messaging_conversation_counts_remove", _grouped_update("removed_messages", "-")
    ),
    _pg_function(
        "messaging_conversation_counts_move", _row_update(added="NEW", removed="OLD")
    ),
    "CREATE TRIGGER messaging_message_counts_insert AFTER INSERT ON messaging_message"
    " REFERENCING NEW TABLE AS added_messages FOR EACH STATEMENT"
    " EXECUTE FUNCTION messaging_conversation_counts_add()",
    "CREATE TRIGGER messaging_message_counts_delete AFTER DELETE ON messaging_message"
    " REFERENCING OLD TABLE AS removed_messages FOR EACH STATEMENT"
    " EXECUTE FUNCTION messaging_conversation_counts_remove()",
    f"CREATE TRIGGER messaging_message_counts_update"
    f" AFTER UPDATE OF {', '.join(COUNTED_COLUMNS)} ON messaging_message"
    f" FOR EACH ROW WHEN ({_changed()})"
    f" EXECUTE FUNCTION messaging_conversation_counts_move()",
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS messaging_message_counts_insert ON messaging_message",
    "DROP TRIGGER IF EXISTS messaging_message_counts_delete ON messaging_message",
    "DROP TRIGGER IF EXISTS messaging_message_counts_update ON messaging_message",
    "DROP FUNCTION IF EXISTS messaging_conversation_counts_add()",
    "DROP FUNCTION IF EXISTS messaging_conversation_counts_remove()",
    "DROP FUNCTION IF EXISTS messaging_conversation_counts_move()",
]

SQLITE = [
    "CREATE TRIGGER messaging_message_counts_insert AFTER INSERT ON messaging_message"
    f" BEGIN {_row_update(added='NEW')}; END",
    "CREATE TRIGGER messaging_message_counts_delete AFTER DELETE ON messaging_message"
    f" BEGIN {_row_update(removed='OLD')}; END",
    f"CREATE TRIGGER messaging_message_counts_update"
    f" AFTER UPDATE OF {', '.join(COUNTED_COLUMNS)} ON messaging_message"
    f" WHEN {_changed().replace('IS DISTINCT FROM', 'IS NOT')}"
    f" BEGIN {_row_update(added='NEW', removed='OLD')}; END",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS messaging_message_counts_insert",
    "DROP TRIGGER IF EXISTS messaging_message_counts_delete",
    "DROP TRIGGER IF EXISTS messaging_message_counts_update",
]

# Backfill: the counters start at 0, so adding every message's counts sets them.
BACKFILL = _grouped_update("messaging_message", "+")


def _statements(vendor: str, *, forward: bool) -> list[str]:
    if vendor == "postgresql":
        return POSTGRESQL if forward else POSTGRESQL_REVERSE
    if vendor == "sqlite":
        return SQLITE if forward else SQLITE_REVERSE
    raise NotImplementedError(f"conversation counters need triggers written for {vendor}")


def create_triggers(apps, schema_editor):
    # Triggers first, then the backfill, in this migration's transaction: no message
    # written in between is missed or counted twice.
    for sql in _statements(schema_editor.connection.vendor, forward=True):
        schema_editor.execute(sql)
    schema_editor.execute(BACKFILL)


def drop_triggers(apps, schema_editor):
    for sql in _statements(schema_editor.connection.vendor, forward=False):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0012_message_cap_time_index"),
    ]

    operations = [
        *(
            migrations.AddField(
                model_name="conversation",
                name=column,
                field=models.IntegerField(db_default=0, default=0),
            )
            for column, _ in COUNTERS
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
