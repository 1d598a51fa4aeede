"""Every message wrote an entry into three indexes of keys it almost never has (the message
it replies to, its reviewer, the staff user who sent it) and one no query reads any more
(`msg_outbound_identity_created`, the cap's before its covering index). The three keys get
partial indexes of the rows that have one; the unread index goes.

On PostgreSQL the indexes are built and dropped CONCURRENTLY, so sends and inbound
messages go on writing while a large table is indexed; hence no transaction. On SQLite a
key's own index is dropped by name: an AlterField would rebuild the table, which loses
its triggers (`console.db.schema.foreign_key_indexes_dropped`).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

KEYS = ("reply_to", "reviewed_by", "sent_by")
PARTIAL = [
    models.Index(condition=models.Q(("reply_to__isnull", False)), fields=["reply_to"], name="msg_reply_to"),
    models.Index(
        condition=models.Q(("reviewed_by__isnull", False)), fields=["reviewed_by"], name="msg_reviewed_by"
    ),
    models.Index(condition=models.Q(("sent_by__isnull", False)), fields=["sent_by"], name="msg_sent_by"),
]
UNREAD = models.Index(
    condition=models.Q(("direction", "outbound")),
    fields=["identity", "created_at"],
    name="msg_outbound_identity_created",
)


def _concurrently(schema_editor):
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def _drop(schema_editor, name):
    how = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(f"DROP INDEX {how}IF EXISTS {schema_editor.quote_name(name)}")


def _own_index_name(schema_editor, model, key):
    return schema_editor._create_index_name(model._meta.db_table, [model._meta.get_field(key).column])


def forwards(apps, schema_editor):
    model = apps.get_model("messaging", "Message")
    for index in PARTIAL:
        _drop(schema_editor, index.name)  # a build that failed half-way leaves it invalid
        schema_editor.add_index(model, index, **_concurrently(schema_editor))
    for key in KEYS:
        _drop(schema_editor, _own_index_name(schema_editor, model, key))
    _drop(schema_editor, UNREAD.name)


def backwards(apps, schema_editor):
    model = apps.get_model("messaging", "Message")
    _drop(schema_editor, UNREAD.name)  # a build that failed half-way leaves it invalid
    schema_editor.add_index(model, UNREAD, **_concurrently(schema_editor))
    for key in KEYS:
        name = _own_index_name(schema_editor, model, key)
        _drop(schema_editor, name)
        schema_editor.execute(
            schema_editor._create_index_sql(
                model, fields=[model._meta.get_field(key)], name=name, **_concurrently(schema_editor)
            )
        )
    for index in PARTIAL:
        _drop(schema_editor, index.name)


def _key(to, **extra):
    return models.ForeignKey(
        blank=True,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.SET_NULL,
        related_name="+",
        to=to,
        **extra,
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0017_fk_indexes_covered"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="message", name="msg_outbound_identity_created"),
                migrations.AlterField(model_name="message", name="reply_to", field=_key("messaging.message")),
                migrations.AlterField(
                    model_name="message", name="reviewed_by", field=_key(settings.AUTH_USER_MODEL)
                ),
                migrations.AlterField(model_name="message", name="sent_by", field=_key(settings.AUTH_USER_MODEL)),
                *(migrations.AddIndex(model_name="message", index=index) for index in PARTIAL),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
