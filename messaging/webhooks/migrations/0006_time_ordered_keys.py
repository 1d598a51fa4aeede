"""New webhook deliveries take time-ordered keys (`console.ids.uuid7`).

Only the Python default changes, so the database is left alone (on SQLite an AlterField
would copy the whole table into a new one).
"""

from django.db import migrations, models

import console.ids


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0005_no_pattern_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="webhookdelivery",
                    name="id",
                    field=models.UUIDField(
                        default=console.ids.uuid7, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
