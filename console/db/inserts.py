"""Inserts in one statement: a row unless one like it is there (`insert_if_absent`), a
row that must go in (`insert_row`), and batches of rows of several models together
(`insert_together`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

from console.db.compiled import (
    inserted_columns,
    new_rows_model,
    own_row_statement,
    row_statement,
    with_returned,
)

M = TypeVar("M", bound=Model)


def insert_unique(model: type[M], **fields: Any) -> M | None:
    """Insert a `model` row in its own savepoint; None when a unique constraint says a
    row like it is already there (a retry or a concurrent request stored it first), the
    enclosing transaction left usable."""
    return _saved_unless_duplicate(model(**fields), router.db_for_write(model))


def _saved_unless_duplicate(obj: M, using: str) -> M | None:
    """`obj` saved as a new row in its own savepoint; None on an integrity error."""
    try:
        with transaction.atomic(using=using):
            obj.save(force_insert=True, using=using)
    except IntegrityError:
        return None
    return obj


def insert_if_absent(model: type[M], **fields: Any) -> M | None:
    """Insert a `model` row in one statement; None when a unique constraint says a row
    like it is already there (a retry or a concurrent request stored it first).

    `insert_unique` without its savepoint: `INSERT ... ON CONFLICT DO NOTHING RETURNING`
    on PostgreSQL, `INSERT OR IGNORE ... RETURNING` on SQLite (3.35+), one round trip
    instead of three, and the enclosing transaction stays usable because the conflict
    never raises. The constraint decides, so a concurrent insert of the same key waits
    for the other transaction and then stores nothing (never check-then-write).

    Like `bulk_create` it skips `save()` and its signals: use it for rows that have
    neither. On PostgreSQL any other integrity error (NOT NULL, CHECK, foreign key) still
    raises; SQLite's `OR IGNORE` also skips NOT NULL and CHECK violations and answers None,
    as `insert_unique` does for every integrity error. A database without RETURNING on
    INSERT saves the row in a savepoint instead, as `insert_unique` does.
    """
    return insert_instance_if_absent(model(**fields))


def insert_row(model: type[M], **fields: Any) -> M:
    """`model.objects.create(**fields)` in one compiled statement (see `insert_if_absent`):
    for rows whose model has no `save()` of its own and no signal receivers. Any
    integrity error raises, as from `create()`."""
    return insert_instance(model(**fields), router.db_for_write(model))


def _insert(obj: M, using: str, on_conflict: OnConflict | None) -> M | None:
    compiled, params = own_row_statement(obj, using, on_conflict)
    with connections[using].cursor() as cursor:
        cursor.execute(compiled.sql, params)
        row = cursor.fetchone()
    return with_returned(obj, compiled, row, using)


def insert_instance_if_absent(obj: M) -> M | None:
    """`insert_if_absent` of a row the caller built."""
    using = router.db_for_write(type(obj))
    if not connections[using].features.can_return_columns_from_insert:
        return _saved_unless_duplicate(obj, using)
    return _insert(obj, using, OnConflict.IGNORE)


def insert_instance(obj: M, using: str) -> M:
    """`obj` inserted as a new row (any integrity error raises)."""
    if not connections[using].features.can_return_columns_from_insert:
        obj.save(force_insert=True, using=using)
        return obj
    inserted = _insert(obj, using, None)
    assert inserted is not None  # without ON CONFLICT, an INSERT stores its row or raises
    return inserted


def insert_together(*batches: Sequence[Model]) -> None:
    """Insert each batch of new rows (one model per batch, primary keys set by the caller
    or, for an auto field, all left to the database)
    in as few round trips as the database allows: on PostgreSQL one statement, the
    batches before the last chained as data-modifying `WITH` clauses; elsewhere one
    statement per batch. A multi-row batch is one `INSERT` (UNNEST on PostgreSQL).

    Rows whose key the database made keep `pk` None (nothing is returned): reread them
    to use them. A batch may point at rows of an earlier one: PostgreSQL checks foreign
    keys once the statement has run (Django declares them deferrable, initially
    deferred). Like
    `bulk_create` it skips `save()` and its signals: use it for rows that have neither.
    """
    statements: list[tuple[str, Sequence[Any]]] = []
    saved: list[Model] = []
    using: str | None = None
    for objs in batches:
        if not objs:
            continue
        model = new_rows_model(objs, "insert_together")
        alias = router.db_for_write(model)
        if using not in (None, alias):
            raise ValueError("insert_together writes to one database")
        using = alias
        columns = inserted_columns(objs)
        if len(objs) == 1:
            compiled, row_params = row_statement(objs[0], columns, alias, None, returning=False)
            statements.append((compiled.sql, row_params))
        else:
            query = InsertQuery(model)
            query.insert_values(columns, list(objs))
            statements.extend(query.get_compiler(using=alias).as_sql())
        saved.extend(objs)
    if using is None:
        return
    connection = connections[using]
    if connection.vendor == "postgresql" and len(statements) > 1:
        clauses = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(statements[:-1]))
        every_param = [p for _, batch_params in statements for p in batch_params]
        statements = [(f"WITH {clauses} {statements[-1][0]}", every_param)]
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
    for obj in saved:
        obj._state.adding = False
        obj._state.db = using
