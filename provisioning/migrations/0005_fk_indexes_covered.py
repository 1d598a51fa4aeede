"""Foreign keys that another index starts with lose their own index (see
`console.db.schema.foreign_key_indexes_dropped`)."""

import django.db.models.deletion
from django.db import migrations, models

from console.db.schema import foreign_key_indexes_dropped


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0004_numberclaim_from_routing"),
    ]

    operations = [
        foreign_key_indexes_dropped(
            "provisioning",
            migrations.AlterField(
                model_name="providerevent",
                name="setup",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="provider_events",
                    to="provisioning.setup",
                ),
            ),
        ),
    ]
