"""Schema changes the migration framework would make the slow way."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def foreign_key_indexes_dropped(
    app_label: str, *altered: migrations.AlterField
) -> migrations.SeparateDatabaseAndState:
    """`altered` (AlterField operations that only turn `db_index` off on foreign keys) as
    a `DROP INDEX` of each key's own index. Django would rebuild the whole table on
    SQLite for such an AlterField, and the rebuilt table would lose its triggers."""
    fields = [(operation.model_name, operation.name) for operation in altered]

    def index_of(apps: Any, model_name: str, field_name: str) -> Any:
        model = apps.get_model(app_label, model_name)
        return model, model._meta.get_field(field_name)

    def drop(apps: Any, schema_editor: Any) -> None:
        for model_name, field_name in fields:
            model, field = index_of(apps, model_name, field_name)
            name = schema_editor._create_index_name(model._meta.db_table, [field.column])
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    def create(apps: Any, schema_editor: Any) -> None:
        for model_name, field_name in fields:
            model, field = index_of(apps, model_name, field_name)
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))

    return migrations.SeparateDatabaseAndState(
        state_operations=list(altered),
        database_operations=[migrations.RunPython(drop, create)],
    )
