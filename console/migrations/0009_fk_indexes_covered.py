"""Foreign keys that another index starts with lose their own index (see
`console.db.schema.foreign_key_indexes_dropped`)."""

import django.db.models.deletion
from django.db import migrations, models

from console.db.schema import foreign_key_indexes_dropped


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0008_access_tally_batch"),
    ]

    operations = [
        foreign_key_indexes_dropped(
            "console",
            migrations.AlterField(
                model_name="idempotencyrecord",
                name="organization",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    to="console.organization",
                ),
            ),
        ),
    ]
