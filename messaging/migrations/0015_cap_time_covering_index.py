"""The send cap's window index becomes a covering one (its count an index-only scan).

On PostgreSQL the new index is built and the old one dropped CONCURRENTLY, so sends and
inbound messages go on writing while a large table is indexed; hence no transaction.
"""

import django.db.models.functions.comparison
from django.db import migrations, models

OLD = models.Index(
    models.F("identity"),
    django.db.models.functions.comparison.Coalesce("scheduled_for", "created_at"),
    condition=models.Q(("direction", "outbound")),
    name="msg_outbound_identity_cap_time",
)
NEW = models.Index(
    models.F("identity"),
    django.db.models.functions.comparison.Coalesce("scheduled_for", "created_at"),
    condition=models.Q(("direction", "outbound")),
    include=["scheduled_for", "created_at"],
    name="msg_outbound_cap_time_covering",
)


def _swap(schema_editor, model, add, remove):
    concurrently = {}
    if schema_editor.connection.vendor == "postgresql":
        concurrently = {"concurrently": True}
        # A build that failed half-way leaves an invalid index of that name behind.
        name = schema_editor.quote_name(add.name)
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    schema_editor.add_index(model, add, **concurrently)
    schema_editor.remove_index(model, remove, **concurrently)


def forwards(apps, schema_editor):
    _swap(schema_editor, apps.get_model("messaging", "Message"), NEW, OLD)


def backwards(apps, schema_editor):
    _swap(schema_editor, apps.get_model("messaging", "Message"), OLD, NEW)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0014_media_by_digest"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="message", name="msg_outbound_identity_cap_time"),
                migrations.AddIndex(model_name="message", index=NEW),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
