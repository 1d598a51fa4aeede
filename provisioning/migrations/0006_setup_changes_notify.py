"""Changes to setups notify `bluewire_credentials` when they commit (see console 0010):
every process remembering a setup that authenticated a provider delivery hears it."""

from importlib import import_module

from django.db import migrations

# The module's name starts with a digit: imported, not named in an import statement.
_console = import_module("console.migrations.0010_credential_changes_notify")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in _console.triggers_create("provisioning_setup", None):
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in _console.triggers_drop("provisioning_setup"):
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0005_fk_indexes_covered"),
        ("console", "0010_credential_changes_notify"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
