"""Updates in one statement: rows answered as stored (`update_returning`) and many rows
each with its own values (`update_from_values`). Inserts are `console.db.inserts`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model, QuerySet
from django.db.models.sql import UpdateQuery

from console.db.instances import loaded

M = TypeVar("M", bound=Model)


def can_update_returning(connection: BaseDatabaseWrapper) -> bool:
    """Whether the database answers rows from an UPDATE in the same statement. SQLite has
    UPDATE ... RETURNING exactly when it has INSERT ... RETURNING (3.35); MariaDB has only
    the latter."""
    return connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and connection.features.can_return_columns_from_insert
    )


def update_returning(queryset: QuerySet[M], **values: Any) -> list[M]:
    """`queryset.update(**values)` that also answers the updated rows, as stored after the
    update, in the same statement (`UPDATE ... RETURNING`, PostgreSQL and SQLite 3.35+).

    Like `update()` it skips `save()`, its signals and `auto_now`: pass such fields in
    `values`. Another database (or SQLite before 3.35) reads the matching rows first,
    then updates those (three statements, the rows as re-read).
    """
    model = queryset.model
    using = queryset.db
    connection = connections[using]
    if not can_update_returning(connection):
        pks = list(queryset.values_list("pk", flat=True))
        model._default_manager.using(using).filter(pk__in=pks).update(**values)
        return list(model._default_manager.using(using).filter(pk__in=pks))
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
    query.add_update_values(values)
    compiler = query.get_compiler(using)
    sql, params = compiler.as_sql()
    if not sql:
        return []
    returning, fields = returning_every_column(model, connection)
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        cursor.execute(f"{sql} {returning}", params)
        rows: Any = cursor.fetchall()
    converters = compiler.get_converters([f.get_col(model._meta.db_table) for f in fields])
    if converters:
        rows = compiler.apply_converters(rows, converters)
    names = [f.attname for f in fields]
    return [loaded(model, using, names, row) for row in rows]


def returning_every_column(
    model: type[Model], connection: BaseDatabaseWrapper
) -> tuple[str, list[Field[Any, Any]]]:
    """The `RETURNING` clause naming every concrete column of `model`, and those fields in
    its order: an UPDATE that answers its rows as `from_db` builds them."""
    fields = list(model._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    return f"RETURNING {columns}", fields


def update_from_values(
    model: type[M],
    objs: Sequence[M],
    fields: Sequence[str],
    *,
    where: Mapping[str, Any] | None = None,
) -> int:
    """Write `fields` of each of `objs` to its row in one statement, only where the row's
    columns also equal `where` (field name to value); returns how many rows it wrote.

    `bulk_update` builds one `CASE WHEN pk = ... THEN ...` per field and row, whose
    compilation costs milliseconds per row. On PostgreSQL this is one
    `UPDATE ... FROM (VALUES ...)` joined on the primary key, every value a parameter cast
    to its column's type; elsewhere it is `bulk_update` on the filtered rows.
    """
    if not objs:
        return 0
    using = router.db_for_write(model)
    connection = connections[using]
    manager = model._default_manager.db_manager(using)
    if connection.vendor != "postgresql":
        return manager.filter(**(where or {})).bulk_update(objs, list(fields))
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [_concrete_field(model, meta.pk.name), *(_concrete_field(model, n) for n in fields)]
    cast_row = "({})".format(", ".join(f"%s::{f.db_type(connection)}" for f in columns))
    params: list[Any] = [
        f.get_db_prep_value(getattr(obj, f.attname), connection) for obj in objs for f in columns
    ]
    pk_column = quote(str(columns[0].column))
    conditions = [f"t.{pk_column} = v.{pk_column}"]
    for name, value in (where or {}).items():
        field = _concrete_field(model, name)
        conditions.append(f"t.{quote(str(field.column))} = %s")
        params.append(field.get_db_prep_value(value, connection))
    assignments = ", ".join(
        f"{quote(str(f.column))} = v.{quote(str(f.column))}" for f in columns[1:]
    )
    names = ", ".join(quote(str(f.column)) for f in columns)
    # Identifiers come from the model's own metadata; every value is a parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM (VALUES {', '.join([cast_row] * len(objs))}) AS v({names}) "
        f"WHERE {' AND '.join(conditions)}"
    )
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _concrete_field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column")
    return field
