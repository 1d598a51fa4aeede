"""The event id's and the delivery's event key's `_like` indexes go (PostgreSQL only).

Django gives every indexed text column on PostgreSQL a second index for `LIKE 'x%'`
(`varchar_pattern_ops`); nothing looks an event up by a prefix of its id, and every
message's event and deliveries paid an entry in each. Equality (the key's own check, a
delivery's event) is the primary key's and the key's own index's. Built and dropped
CONCURRENTLY, outside a transaction, so deliveries go on being written meanwhile.

Django's state still counts the two: an AlterField of either column would build its index
again (tests/console/test_schema.py would say so).
"""

from django.db import migrations

PATTERN_INDEXED = (("WebhookEvent", "id"), ("WebhookDelivery", "event"))


def _like_indexes(apps, schema_editor):
    for model_name, field_name in PATTERN_INDEXED:
        model = apps.get_model("webhooks", model_name)
        field = model._meta.get_field(field_name)
        name = schema_editor._create_index_name(model._meta.db_table, [field.column], suffix="_like")
        yield model, field, name


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _model, _field, name in _like_indexes(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, field, name in _like_indexes(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
        sql = schema_editor._create_like_index_sql(model, field)
        schema_editor.execute(str(sql).replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("webhooks", "0004_fk_indexes_covered"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
