"""Changes to API keys, identities and organisations notify `bluewire_credentials` when
they commit, so that every process remembering them hears it (`console.db.change_feed`).

A row trigger per table, after UPDATE and DELETE, and a statement trigger after TRUNCATE
(an insert cannot make a remembered row stale), each enabled ALWAYS: they fire for
sessions that skip ordinary triggers too (`session_replication_role = replica`, as a
restore or `seed_load` runs). The feed checks they are there before it trusts them. A
key's `last_used_at` alone does not notify: it is written once a minute per busy key and
no cache decides anything by it. PostgreSQL folds the notifications of one transaction
into one. PostgreSQL only: other databases have no feed, and their processes read the
rows again after a second.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION bluewire_credentials_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bluewire_credentials', '');
    RETURN NULL;
END
$$;
"""

TABLES = {
    "console_apikey": "(to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM "
    "(to_jsonb(NEW) - 'last_used_at')",
    "console_agentidentity": None,
    "console_organization": None,
}


# One trigger per kind of change, named `{table}_changed_{kind}`.
KINDS = ("update", "delete", "truncate")


def triggers_create(table: str, update_when: str | None) -> list[str]:
    """The three triggers that notify for `table` (`update_when`: the UPDATE trigger's
    condition, None for every update)."""
    when = f" WHEN ({update_when})" if update_when else ""
    return [
        f"CREATE TRIGGER {table}_changed_update AFTER UPDATE ON {table} FOR EACH ROW{when} "
        "EXECUTE FUNCTION bluewire_credentials_changed()",
        f"CREATE TRIGGER {table}_changed_delete AFTER DELETE ON {table} FOR EACH ROW "
        "EXECUTE FUNCTION bluewire_credentials_changed()",
        f"CREATE TRIGGER {table}_changed_truncate AFTER TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION bluewire_credentials_changed()",
    ] + [
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_changed_{kind}" for kind in KINDS
    ]


def triggers_drop(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_changed_{kind} ON {table}" for kind in KINDS
    ]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)
        for table, when in TABLES.items():
            for statement in triggers_create(table, when):
                schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in TABLES:
            for statement in triggers_drop(table):
                schema_editor.execute(statement)
        schema_editor.execute("DROP FUNCTION IF EXISTS bluewire_credentials_changed()")


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0009_fk_indexes_covered"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
