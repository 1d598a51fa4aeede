"""Foreign keys that another index starts with lose their own index (see
`console.db.schema.foreign_key_indexes_dropped`)."""

import django.db.models.deletion
from django.db import migrations, models

from console.db.schema import foreign_key_indexes_dropped


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0009_fk_indexes_covered"),
        ("webhooks", "0003_subscription_set_version"),
    ]

    operations = [
        foreign_key_indexes_dropped(
            "webhooks",
            migrations.AlterField(
                model_name="webhookdelivery",
                name="organization",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    to="console.organization",
                ),
            ),
            migrations.AlterField(
                model_name="webhookdelivery",
                name="subscription",
                field=models.ForeignKey(
                    db_index=False,
                    null=True,
                    on_delete=django.db.models.deletion.SET_NULL,
                    related_name="deliveries",
                    to="webhooks.webhooksubscription",
                ),
            ),
        ),
    ]
