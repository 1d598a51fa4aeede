"""Foreign keys that another index starts with lose their own index (see
`console.db.schema.foreign_key_indexes_dropped`)."""

import django.db.models.deletion
from django.db import migrations, models

from console.db.schema import foreign_key_indexes_dropped


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0009_fk_indexes_covered"),
        ("messaging", "0016_send_cap_buckets"),
    ]

    operations = [
        foreign_key_indexes_dropped(
            "messaging",
            migrations.AlterField(
                model_name="conversation",
                name="identity",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="conversations",
                    to="console.agentidentity",
                ),
            ),
            migrations.AlterField(
                model_name="conversation",
                name="organization",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    to="console.organization",
                ),
            ),
            migrations.AlterField(
                model_name="message",
                name="conversation",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="messages",
                    to="messaging.conversation",
                ),
            ),
            migrations.AlterField(
                model_name="message",
                name="identity",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    related_name="messages",
                    to="console.agentidentity",
                ),
            ),
            migrations.AlterField(
                model_name="message",
                name="organization",
                field=models.ForeignKey(
                    db_index=False,
                    on_delete=django.db.models.deletion.CASCADE,
                    to="console.organization",
                ),
            ),
        ),
    ]
