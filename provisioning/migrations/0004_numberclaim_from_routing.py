# NumberClaim moves from routing to provisioning with its table (routing_numberclaim) and
# rows: this migration only adds it to provisioning's state; routing 0005 drops it from
# routing's state. No SQL runs either way.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0003_console_role_groups"),
        ("provisioning", "0003_setup_default_and_line_idempotency"),
        ("routing", "0004_assignment_release_reason"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="NumberClaim",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        ("scope", models.CharField(max_length=64)),
                        ("key", models.CharField(max_length=255)),
                        ("request_fingerprint", models.CharField(max_length=64)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "line",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="provisioning.phoneline",
                            ),
                        ),
                        (
                            "organization",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="console.organization",
                            ),
                        ),
                        (
                            "identity",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="console.agentidentity",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "routing_numberclaim",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("organization", "scope", "key"),
                                name="number_claim_key_unique",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
