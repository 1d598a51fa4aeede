"""New messages take time-ordered keys (`console.ids.uuid7`).

Only the Python default changes, so the database is left alone: on SQLite an AlterField
would rebuild the table, which loses its triggers
(`console.db.schema.foreign_key_indexes_dropped`).
"""

from django.db import migrations, models

import console.ids


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0019_counted_beside_the_touch"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="id",
                    field=models.UUIDField(
                        default=console.ids.uuid7, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
