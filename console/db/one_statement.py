"""A row, the rows that depend on it and the updates that go with it, written in one
statement on PostgreSQL (`insert_with_dependents`, `insert_after`): atomic without a
transaction of its own, one round trip."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.db import connections, router, transaction
from django.db.models import Model
from django.db.models.constants import OnConflict

from console.db.compiled import (
    CompiledInsert,
    bound_values,
    inserted_columns,
    new_rows_model,
    own_row_statement,
    with_returned,
)
from console.db.inserts import insert_instance, insert_instance_if_absent, insert_together

M = TypeVar("M", bound=Model)


class LeadingStatement(Protocol):
    """A write to run ahead of `insert_with_dependents`'s insert, whatever that insert
    finds (`console.db.prepared.BoundUpdate` is one), or, `with_row`, only when the row
    went in. With `guard` (a `WITH` clause's name) its statement writes only when that
    clause answers a row."""

    @property
    def model(self) -> type[Model]: ...

    @property
    def with_row(self) -> bool: ...

    def run(self) -> Any: ...

    def statement(self, alias: str, *, guard: str | None = None) -> tuple[str, list[Any]]: ...


@dataclass
class Gate:
    """A new row whose insert decides whether `insert_with_dependents` writes anything
    else: it goes in first unless a unique constraint says a row like it is there already
    (as `insert_if_absent`), and only if it went in do the row and its dependents go in,
    and the leading writes run when the row went in too. After the call `stored` says
    whether it went in; `row` then holds the columns its insert returned (its key). A
    re-delivered event recorded once by its key is the use: nothing the first delivery
    stored is written again."""

    row: Model
    stored: bool | None = None


def insert_with_dependents(
    obj: M,
    dependents: Callable[[M], Sequence[Sequence[Model]]],
    *,
    leading: Sequence[LeadingStatement] = (),
    gate: Gate | None = None,
) -> M | None:
    """Insert `obj` unless a unique constraint says a row like it is there already (as
    `insert_if_absent`), and only if it went in, the batches `dependents(obj)` answers (as
    `insert_together`: one model per batch, keys set by the caller): on PostgreSQL in one
    statement, elsewhere one per batch. Returns `obj` as stored, or None when nothing was.

    `dependents` is called once `obj`'s values are final (defaults and `auto_now` applied),
    before anything is stored, so that rows built from them say what is stored. On
    PostgreSQL each batch is an `INSERT ... SELECT` guarded by `EXISTS` over the first
    insert's `RETURNING`, its values cast to the columns' types without a length (an
    over-long value must fail the insert, not be cut). Dependents may point at `obj`
    (foreign keys are checked at commit). Like `bulk_create` it skips `save()` and its
    signals.

    `leading` writes run whether or not `obj` goes in (those `with_row` only when it
    did): on PostgreSQL as `WITH` clauses of the same statement, elsewhere each on its own
    before the insert (after it, `with_row`). They must not depend on the insert's effects
    or on one another: PostgreSQL runs a statement's data-modifying clauses in no set
    order, and none sees what another writes.

    With a `gate` (see `Gate`) nothing else is written unless the gate's row went in: on
    PostgreSQL its insert is the statement's first clause and guards the others, elsewhere
    it runs first, on its own. The leading writes then run only when `obj` went in too.
    On PostgreSQL the whole is one statement, atomic without a transaction of its own
    (`writes_in_one_statement`).
    """
    return _insert_in_one_statement(obj, dependents, leading, OnConflict.IGNORE, gate)


def writes_in_one_statement(model: type[Model]) -> bool:
    """Whether `insert_with_dependents` of a `model` row writes in one statement, which is
    atomic on its own (PostgreSQL), rather than in several (elsewhere)."""
    return connections[router.db_for_write(model)].vendor == "postgresql"


def insert_after(
    obj: M,
    *,
    leading: Sequence[LeadingStatement],
    dependents: Callable[[M], Sequence[Sequence[Model]]] = lambda row: (),
) -> M:
    """Insert `obj` (a row the caller built, as `insert_row` does) with the `leading`
    writes and the rows `dependents(obj)` answers (as `insert_with_dependents` builds
    them): on PostgreSQL in one statement, as `insert_with_dependents` runs them. Any
    integrity error raises, a dependent's too (and undoes the statement's every write)."""
    stored = _insert_in_one_statement(obj, dependents, leading, None)
    assert stored is not None  # without ON CONFLICT, an INSERT stores its row or raises
    return stored


def _insert_in_one_statement(
    obj: M,
    dependents: Callable[[M], Sequence[Sequence[Model]]],
    leading: Sequence[LeadingStatement],
    on_conflict: OnConflict | None,
    gate: Gate | None = None,
) -> M | None:
    using = router.db_for_write(type(obj))
    connection = connections[using]
    models = [statement.model for statement in leading]
    if gate is not None:
        models.append(type(gate.row))
    if any(router.db_for_write(model) != using for model in models):
        raise ValueError("one statement writes to one database")
    if connection.vendor != "postgresql":
        if gate is not None:
            gate.stored = insert_instance_if_absent(gate.row) is not None
            if not gate.stored:
                return None
        else:
            for statement in leading:
                if not statement.with_row:
                    statement.run()
        stored = (
            insert_instance_if_absent(obj)
            if on_conflict is not None
            else insert_instance(obj, using)
        )
        if stored is not None:
            for statement in leading:
                if gate is not None or statement.with_row:
                    statement.run()
            insert_together(*dependents(stored))
        return stored
    compiled, params = own_row_statement(obj, using, on_conflict)
    batches = [list(batch) for batch in dependents(obj) if batch]
    if any(router.db_for_write(type(batch[0])) != using for batch in batches):
        raise ValueError("one statement writes to one database")
    clauses: list[str] = []
    every_param: list[Any] = []
    answer = "SELECT * FROM w0"
    updates: list[tuple[str, list[Any]]] = []
    if gate is None:
        clauses.append(f"w0 AS ({compiled.sql})")
        updates = [
            statement.statement(using, guard="w0" if statement.with_row else None)
            for statement in leading
        ]
    else:
        gate_compiled, gate_params = own_row_statement(gate.row, using, OnConflict.IGNORE)
        clauses.append(f"g AS ({gate_compiled.sql})")
        every_param.extend(gate_params)
        clauses.append(f"w0 AS ({_guarded_row_sql(obj, compiled, using, 'g')})")
        # Behind the row: a row that conflicts (another setup's, say) moves nothing.
        updates = [statement.statement(using, guard="w0") for statement in leading]
        # One row when the gate went in (the row's columns empty when it did not), none
        # when it did not.
        answer = "SELECT * FROM g LEFT JOIN w0 ON true"
    every_param.extend(params)
    for position, (sql, statement_params) in enumerate(updates):
        clauses.append(f"u{position} AS ({sql})")
        every_param.extend(statement_params)
    for position, batch in enumerate(batches, start=1):
        sql, batch_params = _guarded_batch(batch, using, guard="w0")
        clauses.append(f"w{position} AS ({sql})")
        every_param.extend(batch_params)
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        # Identifiers come from the models' metadata; every value is a parameter.
        cursor.execute(f"WITH {', '.join(clauses)} {answer}", every_param)
        row = cursor.fetchone()
    if gate is not None:
        gate.stored = row is not None
        if row is None:
            return None
        split = len(gate_compiled.returning)
        with_returned(gate.row, gate_compiled, row[:split], using)
        row = row[split:] if row[split] is not None else None
    stored = with_returned(obj, compiled, row, using)
    if stored is not None:
        for batch in batches:
            for dependent in batch:
                dependent._state.adding = False
                dependent._state.db = using
    return stored


# `INSERT ... SELECT` statements of `insert_with_dependents` by model, row count and database.
_GUARDED_BATCHES: dict[tuple[Any, ...], str] = {}


def _guarded_batch(objs: Sequence[Model], using: str, *, guard: str) -> tuple[str, list[Any]]:
    model = new_rows_model(objs, "insert_with_dependents")
    meta = model._meta
    connection = connections[using]
    columns = inserted_columns(objs)
    params: list[Any] = []
    for obj in objs:
        values = bound_values(obj, columns, connection)
        if values is None:
            # A `db_default` or an expression needs its own SQL: `insert_together` compiles it.
            raise ValueError("insert_with_dependents takes plain values only")
        params.extend(values)
    shape = (model, len(objs), using, guard, tuple(f.attname for f in columns))
    sql = _GUARDED_BATCHES.get(shape)
    if sql is None:
        quote = connection.ops.quote_name
        casts = ", ".join(f"%s::{_unsized(f.db_type(connection))}" for f in columns)
        rows = ", ".join([f"({casts})"] * len(objs))
        names = ", ".join(quote(str(f.column)) for f in columns)
        sql = _GUARDED_BATCHES[shape] = (
            f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608
            f"SELECT * FROM (VALUES {rows}) AS v WHERE EXISTS (SELECT 1 FROM {guard})"
        )
    return sql, params


# `_guarded_row_sql`'s statements by the one-row insert they guard and the guard's name.
_GUARDED_ROWS: dict[tuple[str, str], str] = {}


def _guarded_row_sql(obj: Model, compiled: CompiledInsert, using: str, guard: str) -> str:
    """`compiled` (a one-row `INSERT ... VALUES (%s, ...) ... RETURNING`) as an `INSERT ...
    SELECT` that stores the row only when WITH clause `guard` answers one, with the same
    parameters, conflict handling and RETURNING. Its values are cast to the columns' types
    without a length, as `_guarded_batch` casts them."""
    sql = _GUARDED_ROWS.get((compiled.sql, guard))
    if sql is not None:
        return sql
    meta = obj._meta
    connection = connections[using]
    columns = [
        f
        for f in meta.local_concrete_fields
        if not f.generated and not (f is meta.auto_field and obj.pk is None)
    ]
    values = f"VALUES ({', '.join(['%s'] * len(columns))})"
    if compiled.sql.count(values) != 1:
        # A `db_default` or an expression compiles to SQL of its own, which no cast fits.
        raise ValueError("a guarded insert takes plain values only")
    casts = ", ".join(f"%s::{_unsized(f.db_type(connection))}" for f in columns)
    # Identifiers and types come from the model's metadata, `guard` names our own clause.
    guarded = f"SELECT * FROM (VALUES ({casts})) AS v WHERE EXISTS (SELECT 1 FROM {guard})"  # noqa: S608
    sql = compiled.sql.replace(values, guarded)
    _GUARDED_ROWS[(compiled.sql, guard)] = sql
    return sql


def _unsized(db_type: str | None) -> str:
    """A column type without its length (`varchar(64)` -> `varchar`, `varchar(64)[]` ->
    `varchar[]`, `char(2)` -> `bpchar`): an explicit cast to a sized type would cut an
    over-long value where the insert must refuse it."""
    if db_type is None:
        raise ValueError("a column without a database type")
    db_type = _SIZED_VARCHAR.sub("varchar", db_type)
    # A bare `char` is char(1); `bpchar` is the unbounded blank-padded type.
    return _SIZED_CHAR.sub("bpchar", db_type)


_SIZED_VARCHAR = re.compile(r"^varchar\(\d+\)")


_SIZED_CHAR = re.compile(r"^char\(\d+\)")
