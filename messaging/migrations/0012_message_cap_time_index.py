import django.db.models.functions.comparison
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0011_conversation_handoff_and_consent"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                models.F("identity"),
                django.db.models.functions.comparison.Coalesce("scheduled_for", "created_at"),
                condition=models.Q(("direction", "outbound")),
                name="msg_outbound_identity_cap_time",
            ),
        ),
    ]
