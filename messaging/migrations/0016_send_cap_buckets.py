"""Per-identity hourly counts of outbound cap times, kept exact by triggers on
messaging_message.

The send cap counted a day of an identity's sends one index entry at a time, on every
send (with a heap visit for each entry written since the last vacuum). It now sums at
most 25 of these counts and reads the messages of one hour exactly (see
`messaging.services.scheduling`). Triggers rather than application code, so that every
write path keeps them right: the services, `bulk_create`, COPY and deletes.

- PostgreSQL: INSERT and UPDATE are row triggers limited to outbound rows (inbound
  messages, most of the traffic, pay nothing), DELETE is a statement trigger over its
  transition table (one grouped UPDATE however many rows a purge deletes). An hour is
  cut with `date_bin` from a fixed UTC origin, whatever the session's time zone.
- SQLite: row triggers for the three; Django keeps a time there as UTC text.

The SQL is written out here rather than imported, so that the migration stays what it
was when later code changes; `messaging.services.cap_buckets` recounts the same buckets
(keep the two in step).
"""

import django.db.models.deletion
from django.db import migrations, models

# When a message row `{r}` counts: an identity's outbound message.
COUNTS = "{r}.direction = 'outbound' AND {r}.identity_id IS NOT NULL"
# The columns whose change moves a message between buckets.
COUNTED_COLUMNS = ("direction", "identity_id", "scheduled_for", "created_at")

PG_HOUR = (
    "date_bin('1 hour', COALESCE({r}.scheduled_for, {r}.created_at),"
    " TIMESTAMPTZ '2000-01-01 00:00:00+00')"
)
SQLITE_HOUR = "strftime('%Y-%m-%d %H:00:00', COALESCE({r}.scheduled_for, {r}.created_at))"


def _add(hour: str, r: str) -> str:
    return (
        "INSERT INTO messaging_sendcapbucket (identity_id, starts_at, sends)"
        f" VALUES ({r}.identity_id, {hour.format(r=r)}, 1)"
        " ON CONFLICT (identity_id, starts_at)"
        " DO UPDATE SET sends = messaging_sendcapbucket.sends + 1"
    )


def _take(hour: str, r: str) -> str:
    return (
        "UPDATE messaging_sendcapbucket SET sends = sends - 1"
        f" WHERE identity_id = {r}.identity_id AND starts_at = {hour.format(r=r)}"
    )


def _changed(distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in COUNTED_COLUMNS)


PG_MOVE = f"""
  IF {COUNTS.format(r="OLD")} THEN
    {_take(PG_HOUR, "OLD")};
  END IF;
  IF {COUNTS.format(r="NEW")} THEN
    {_add(PG_HOUR, "NEW")};
  END IF"""

PG_REMOVE = (
    "UPDATE messaging_sendcapbucket SET sends = messaging_sendcapbucket.sends - d.n"
    f" FROM (SELECT m.identity_id, {PG_HOUR.format(r='m')} AS starts_at, count(*) AS n"
    f" FROM removed_messages AS m WHERE {COUNTS.format(r='m')} GROUP BY 1, 2) AS d"
    " WHERE messaging_sendcapbucket.identity_id = d.identity_id"
    " AND messaging_sendcapbucket.starts_at = d.starts_at"
)


def _pg_function(name: str, body: str) -> str:
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n  {body};\n  RETURN NULL;\nEND\n$$"
    )


POSTGRESQL = [
    _pg_function("messaging_send_cap_add", _add(PG_HOUR, "NEW")),
    _pg_function("messaging_send_cap_move", PG_MOVE),
    _pg_function("messaging_send_cap_remove", PG_REMOVE),
    "CREATE TRIGGER messaging_message_send_cap_insert AFTER INSERT ON messaging_message"
    f" FOR EACH ROW WHEN ({COUNTS.format(r='NEW')})"
    " EXECUTE FUNCTION messaging_send_cap_add()",
    f"CREATE TRIGGER messaging_message_send_cap_update"
    f" AFTER UPDATE OF {', '.join(COUNTED_COLUMNS)} ON messaging_message"
    f" FOR EACH ROW WHEN ({_changed('IS DISTINCT FROM')})"
    " EXECUTE FUNCTION messaging_send_cap_move()",
    "CREATE TRIGGER messaging_message_send_cap_delete AFTER DELETE ON messaging_message"
    " REFERENCING OLD TABLE AS removed_messages FOR EACH STATEMENT"
    " EXECUTE FUNCTION messaging_send_cap_remove()",
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS messaging_message_send_cap_insert ON messaging_message",
    "DROP TRIGGER IF EXISTS messaging_message_send_cap_update ON messaging_message",
    "DROP TRIGGER IF EXISTS messaging_message_send_cap_delete ON messaging_message",
    "DROP FUNCTION IF EXISTS messaging_send_cap_add()",
    "DROP FUNCTION IF EXISTS messaging_send_cap_move()",
    "DROP FUNCTION IF EXISTS messaging_send_cap_remove()",
]

SQLITE = [
    "CREATE TRIGGER messaging_message_send_cap_insert AFTER INSERT ON messaging_message"
    f" WHEN {COUNTS.format(r='NEW')} BEGIN {_add(SQLITE_HOUR, 'NEW')}; END",
    # Two triggers for an update, each with its own condition: SQLite has no IF.
    "CREATE TRIGGER messaging_message_send_cap_update_from"
    f" AFTER UPDATE OF {', '.join(COUNTED_COLUMNS)} ON messaging_message"
    f" WHEN ({_changed('IS NOT')}) AND {COUNTS.format(r='OLD')}"
    f" BEGIN {_take(SQLITE_HOUR, 'OLD')}; END",
    "CREATE TRIGGER messaging_message_send_cap_update_to"
    f" AFTER UPDATE OF {', '.join(COUNTED_COLUMNS)} ON messaging_message"
    f" WHEN ({_changed('IS NOT')}) AND {COUNTS.format(r='NEW')}"
    f" BEGIN {_add(SQLITE_HOUR, 'NEW')}; END",
    "CREATE TRIGGER messaging_message_send_cap_delete AFTER DELETE ON messaging_message"
    f" WHEN {COUNTS.format(r='OLD')} BEGIN {_take(SQLITE_HOUR, 'OLD')}; END",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS messaging_message_send_cap_insert",
    "DROP TRIGGER IF EXISTS messaging_message_send_cap_update_from",
    "DROP TRIGGER IF EXISTS messaging_message_send_cap_update_to",
    "DROP TRIGGER IF EXISTS messaging_message_send_cap_delete",
]


def _backfill(hour: str, since: str) -> str:
    """The bucket of every counted message a window can still reach (a cap time after
    `since`, 25 hours ago): the buckets start empty, so this sets them. Older ones would
    only be pruned, and the table's writers wait while this runs."""
    return (
        "INSERT INTO messaging_sendcapbucket (identity_id, starts_at, sends)"
        f" SELECT m.identity_id, {hour.format(r='m')}, count(*) FROM messaging_message AS m"
        f" WHERE {COUNTS.format(r='m')}"
        f" AND COALESCE(m.scheduled_for, m.created_at) >= {since} GROUP BY 1, 2"
    )


PG_SINCE = "now() - interval '25 hours'"
SQLITE_SINCE = "datetime('now', '-25 hours')"


def _statements(vendor: str, *, forward: bool) -> list[str]:
    if vendor == "postgresql":
        return [*POSTGRESQL, _backfill(PG_HOUR, PG_SINCE)] if forward else POSTGRESQL_REVERSE
    if vendor == "sqlite":
        return [*SQLITE, _backfill(SQLITE_HOUR, SQLITE_SINCE)] if forward else SQLITE_REVERSE
    raise NotImplementedError(f"send cap buckets need triggers written for {vendor}")


def create_triggers(apps, schema_editor):
    # Triggers first, then the backfill, in this migration's transaction: no message
    # written in between is missed or counted twice.
    for sql in _statements(schema_editor.connection.vendor, forward=True):
        schema_editor.execute(sql)


def drop_triggers(apps, schema_editor):
    for sql in _statements(schema_editor.connection.vendor, forward=False):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0008_access_tally_batch"),
        ("messaging", "0015_cap_time_covering_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="SendCapBucket",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("starts_at", models.DateTimeField()),
                ("sends", models.IntegerField()),
                (
                    "identity",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="console.agentidentity",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("identity", "starts_at"), name="send_cap_bucket_unique"
                    )
                ],
                "indexes": [models.Index(fields=["starts_at"], name="send_cap_bucket_age")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
