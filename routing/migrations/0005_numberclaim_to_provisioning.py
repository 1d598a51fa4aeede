# NumberClaim now lives in provisioning (provisioning 0004), table and rows unchanged:
# this only removes it from routing's state. No SQL runs either way.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0004_numberclaim_from_routing"),
        ("routing", "0004_assignment_release_reason"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="NumberClaim")],
            database_operations=[],
        ),
    ]
