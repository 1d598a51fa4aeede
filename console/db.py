"""Database idioms the apps share."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

M = TypeVar("M", bound=Model)


def insert_unique(model: type[M], **fields: Any) -> M | None:
    """Insert a `model` row in its own savepoint; None when a unique constraint says a
    row like it is already there (a retry or a concurrent request stored it first), the
    enclosing transaction left usable."""
    try:
        with transaction.atomic():
            return model._default_manager.create(**fields)
    except IntegrityError:
        return None


def insert_if_absent(model: type[M], **fields: Any) -> M | None:
    """Insert a `model` row in one statement (`INSERT ... ON CONFLICT DO NOTHING
    RETURNING`); None when a unique constraint says a row like it is already there.

    `insert_unique` without its savepoint: one round trip instead of three, and the
    enclosing transaction stays usable because the conflict never raises. Like
    `bulk_create`, it skips `save()` and its signals: use it for rows that have neither.
    The constraint decides, so a concurrent insert of the same key waits for the other
    transaction and then stores nothing (never check-then-write). On PostgreSQL any other
    integrity error still raises; SQLite's `INSERT OR IGNORE` also skips NOT NULL and CHECK
    violations (None, as `insert_unique` answers for every integrity error).
    """
    using = router.db_for_write(model)
    connection = connections[using]
    if not connection.features.can_return_columns_from_insert:
        return insert_unique(model, **fields)
    meta = model._meta
    obj = model(**fields)
    # What save() and bulk_create() check first: no unsaved related object.
    obj._prepare_related_fields_for_save(operation_name="insert_if_absent")  # type: ignore[attr-defined]
    columns = [
        f
        for f in meta.local_concrete_fields
        if not f.generated and not (f is meta.auto_field and obj.pk is None)
    ]
    returning = [meta.pk, *(f for f in meta.db_returning_fields if f is not meta.pk)]
    query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
    query.insert_values(columns, [obj])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = returning
    with connection.cursor() as cursor:
        for sql, params in compiler.as_sql():
            cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    converters = compiler.get_converters([f.get_col(meta.db_table) for f in returning])
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    for value, field in zip(row, returning, strict=True):
        setattr(obj, field.attname, value)
    obj._state.adding = False
    obj._state.db = using
    return obj
