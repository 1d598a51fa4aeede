"""Inserts in as few statements as the database allows, and the `AnyOf` lookup the apps
share (updates in one statement are `console.db_updates`)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.db import IntegrityError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Lookup, Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

M = TypeVar("M", bound=Model)


def uuid_list_param(values: Iterable[Any], connection: BaseDatabaseWrapper) -> Any:
    """A list of UUIDs as the one parameter `AnyOf` compares against: an array on
    PostgreSQL, a JSON array of the stored text (32 hex digits) elsewhere."""
    ids = [v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in values]
    if connection.vendor == "postgresql":
        return ids
    return json.dumps([i.hex for i in ids])


class AnyOf(Lookup):
    """`AnyOf(F("uuid_column"), ids)`: the column equals one of `ids`, a list bound as
    one parameter (`= ANY(%s)` on PostgreSQL, `IN (SELECT value FROM json_each(%s))` on
    SQLite), so the statement is the same whatever the list's length. `IN (%s, %s, ...)`
    has one placeholder per value: a new statement for every length, compiled (and, on
    PostgreSQL, planned) again, and nothing `PreparedQuery` can keep."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]]:
        # `lhs` is the compiled column; the values only ever travel as the parameter.
        lhs, lhs_params = self.process_lhs(compiler, connection)
        params = (*lhs_params, uuid_list_param(self.rhs, connection))
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", params
        if connection.vendor == "sqlite":
            return f"{lhs} IN (SELECT value FROM json_each(%s))", params  # noqa: S608
        raise NotImplementedError(f"AnyOf has no SQL for {connection.vendor}")


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
    return _inserted(model(**fields), router.db_for_write(model))


def _insert(obj: M, using: str, on_conflict: OnConflict | None) -> M | None:
    compiled, params = _own_row_statement(obj, using, on_conflict)
    with connections[using].cursor() as cursor:
        cursor.execute(compiled.sql, params)
        row = cursor.fetchone()
    return _stored(obj, compiled, row, using)


def _own_row_statement(
    obj: Model, using: str, on_conflict: OnConflict | None
) -> tuple[_CompiledInsert, list[Any]]:
    """The INSERT ... RETURNING of `obj` (no primary key column when the database makes it)."""
    meta = obj._meta
    # What save() and bulk_create() check first: no unsaved related object.
    obj._prepare_related_fields_for_save(operation_name="insert")  # type: ignore[attr-defined]
    columns = tuple(
        f
        for f in meta.local_concrete_fields
        if not f.generated and not (f is meta.auto_field and obj.pk is None)
    )
    return _row_statement(obj, columns, using, on_conflict, returning=True)


def _stored(obj: M, compiled: _CompiledInsert, row: Sequence[Any] | None, using: str) -> M | None:
    """`obj` with the columns its INSERT returned (None: it stored nothing)."""
    if row is None:
        return None
    if compiled.converters:
        row = _converted(row, compiled.converters, connections[using])
    for value, field in zip(row, compiled.returning, strict=True):
        setattr(obj, field.attname, value)
    obj._state.adding = False
    obj._state.db = using
    return obj


class LeadingStatement(Protocol):
    """A write to run ahead of `insert_with_dependents`'s insert, whatever that insert
    finds (`console.prepared.BoundUpdate` is one). With `guard` (a `WITH` clause's name)
    its statement writes only when that clause answers a row."""

    @property
    def model(self) -> type[Model]: ...

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

    `leading` writes run whether or not `obj` goes in: on PostgreSQL as `WITH` clauses of
    the same statement, elsewhere each on its own before the insert. They must not depend
    on the insert or on one another: PostgreSQL runs a statement's data-modifying clauses
    in no set order, and none sees what another writes.

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


def insert_after(obj: M, *, leading: Sequence[LeadingStatement]) -> M:
    """Insert `obj` (a row the caller built, as `insert_row` does) with the `leading`
    writes: on PostgreSQL in one statement, as `insert_with_dependents` runs them. Any
    integrity error raises (and undoes the leading writes with the statement)."""
    stored = _insert_in_one_statement(obj, lambda row: (), leading, None)
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
                statement.run()
        stored = (
            insert_instance_if_absent(obj) if on_conflict is not None else _inserted(obj, using)
        )
        if stored is not None:
            for statement in leading if gate is not None else ():
                statement.run()
            insert_together(*dependents(stored))
        return stored
    compiled, params = _own_row_statement(obj, using, on_conflict)
    batches = [list(batch) for batch in dependents(obj) if batch]
    if any(router.db_for_write(type(batch[0])) != using for batch in batches):
        raise ValueError("one statement writes to one database")
    clauses: list[str] = []
    every_param: list[Any] = []
    answer = "SELECT * FROM w0"
    updates: list[tuple[str, list[Any]]] = []
    if gate is None:
        clauses.append(f"w0 AS ({compiled.sql})")
        updates = [statement.statement(using) for statement in leading]
    else:
        gate_compiled, gate_params = _own_row_statement(gate.row, using, OnConflict.IGNORE)
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
        _stored(gate.row, gate_compiled, row[:split], using)
        row = row[split:] if row[split] is not None else None
    stored = _stored(obj, compiled, row, using)
    if stored is not None:
        for batch in batches:
            for dependent in batch:
                dependent._state.adding = False
                dependent._state.db = using
    return stored


def _inserted(obj: M, using: str) -> M:
    """`obj` inserted as a new row (any integrity error raises)."""
    if not connections[using].features.can_return_columns_from_insert:
        obj.save(force_insert=True, using=using)
        return obj
    inserted = _insert(obj, using, None)
    assert inserted is not None  # without ON CONFLICT, an INSERT stores its row or raises
    return inserted


def insert_instance_if_absent(obj: M) -> M | None:
    """`insert_if_absent` of a row the caller built."""
    using = router.db_for_write(type(obj))
    if not connections[using].features.can_return_columns_from_insert:
        return _saved_unless_duplicate(obj, using)
    return _insert(obj, using, OnConflict.IGNORE)


# `INSERT ... SELECT` statements of `insert_with_dependents` by model, row count and database.
_GUARDED_BATCHES: dict[tuple[Any, ...], str] = {}


def _guarded_batch(objs: Sequence[Model], using: str, *, guard: str) -> tuple[str, list[Any]]:
    model = _new_rows_model(objs, "insert_with_dependents")
    meta = model._meta
    connection = connections[using]
    columns = [f for f in meta.local_concrete_fields if not f.generated]
    values = [f.pre_save(obj, True) for obj in objs for f in columns]
    if any(hasattr(value, "resolve_expression") for value in values):
        # A `db_default` or an expression needs its own SQL: `insert_together` compiles it.
        raise ValueError("insert_with_dependents takes plain values only")
    fields = columns * len(objs)
    params = [db_value(f, v, connection) for f, v in zip(fields, values, strict=True)]
    shape = (model, len(objs), using, guard)
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


def _guarded_row_sql(obj: Model, compiled: _CompiledInsert, using: str, guard: str) -> str:
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


# Field classes (exactly these, not subclasses) whose `get_db_prep_save` answers None for
# None and a value of the listed types unchanged, on every database: an insert of a
# message prepared 36 values through four calls each, most of them None or text.
_PASSED_AS_THEY_ARE: dict[type[Field[Any, Any]], tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.URLField: (str,),
    models.BooleanField: (bool,),
    models.IntegerField: (),  # PostgreSQL binds a number as Int2/Int4/Int8
    models.BigIntegerField: (),  # PostgreSQL binds a number as Int2/Int4/Int8
    models.SmallIntegerField: (),  # PostgreSQL binds a number as Int2/Int4/Int8
    models.PositiveIntegerField: (),  # PostgreSQL binds a number as Int2/Int4/Int8
    models.PositiveSmallIntegerField: (),  # PostgreSQL binds a number as Int2/Int4/Int8
    models.DateTimeField: (),
    models.UUIDField: (),
    models.ForeignKey: (),
}


def db_value(field: Field[Any, Any], value: Any, connection: BaseDatabaseWrapper) -> Any:
    """`field.get_db_prep_save(value, connection)`, without the calls where it would answer
    `value` itself (see `_PASSED_AS_THEY_ARE`)."""
    plain = _PASSED_AS_THEY_ARE.get(type(field))
    if plain is not None and (value is None or type(value) in plain):
        return value
    return field.get_db_prep_save(value, connection)


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


@dataclass(frozen=True)
class _CompiledInsert:
    """What serves every later insert of one shape; it holds no row's values (the first
    row may be a patient's message)."""

    sql: str
    returning: list[Field[Any, Any]]
    converters: dict[int, Any]  # of the returned columns (`SQLCompiler.get_converters`)


def _converted(row: Sequence[Any], converters: dict[int, Any], connection: Any) -> list[Any]:
    """`row` through its columns' converters, as `SQLCompiler.apply_converters` does."""
    values = list(row)
    for position, (functions, expression) in converters.items():
        value = values[position]
        for function in functions:
            value = function(value, expression, connection)
        values[position] = value
    return values


# One-row INSERTs by model, database, conflict handling, RETURNING and columns: compiling
# the INSERT cost more per call than running it (ingest inserts four rows per message).
_COMPILED_INSERTS: dict[tuple[Any, ...], _CompiledInsert] = {}


def _row_statement(
    obj: Model,
    columns: Sequence[Field[Any, Any]],
    using: str,
    on_conflict: OnConflict | None,
    *,
    returning: bool,
) -> tuple[_CompiledInsert, list[Any]]:
    """The INSERT of `obj` and its parameters: the statement compiled once per shape (when
    every value is a plain placeholder), the values prepared on every call (`pre_save`,
    so auto_now_add runs each time)."""
    model = type(obj)
    values = [f.pre_save(obj, True) for f in columns]
    shape = (model, using, on_conflict, returning, tuple(f.attname for f in columns))
    compiled = _COMPILED_INSERTS.get(shape)
    if compiled is None or any(hasattr(v, "resolve_expression") for v in values):
        compiled, params, plain = _compile_insert(
            obj, columns, using, on_conflict, returning=returning
        )
        if plain:
            _COMPILED_INSERTS[shape] = compiled
        return compiled, params
    connection = connections[using]
    return compiled, [db_value(f, v, connection) for f, v in zip(columns, values, strict=True)]


def _compile_insert(
    obj: Model,
    columns: Sequence[Field[Any, Any]],
    using: str,
    on_conflict: OnConflict | None,
    *,
    returning: bool,
) -> tuple[_CompiledInsert, list[Any], bool]:
    """The statement, this row's parameters, and whether every value went in as a plain
    `%s` (then the statement serves any values of the same columns)."""
    model = type(obj)
    meta = model._meta
    returned = (
        [meta.pk, *(f for f in meta.db_returning_fields if f is not meta.pk)] if returning else []
    )
    query = InsertQuery(model, on_conflict=on_conflict)
    # `raw`: the values `_row_statement` just took from `pre_save`, as they stand on `obj`;
    # running `pre_save` again would store an auto_now time other than the one `obj` holds.
    query.insert_values(columns, [obj], raw=True)
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = returned or None
    [(sql, params)] = compiler.as_sql()
    converters = compiler.get_converters([f.get_col(meta.db_table) for f in returned])
    placeholders = compiler.assemble_as_sql(
        columns, [[compiler.prepare_value(f, getattr(obj, f.attname)) for f in columns]]
    )[0][0]
    plain = all(p == "%s" for p in placeholders) and len(params) == len(columns)
    return _CompiledInsert(sql, returned, converters), list(params), plain


def insert_together(*batches: Sequence[Model]) -> None:
    """Insert each batch of new rows (one model per batch, primary keys set by the caller)
    in as few round trips as the database allows: on PostgreSQL one statement, the
    batches before the last chained as data-modifying `WITH` clauses; elsewhere one
    statement per batch. A multi-row batch is one `INSERT` (UNNEST on PostgreSQL).

    A batch may point at rows of an earlier one: PostgreSQL checks foreign keys once the
    statement has run (Django declares them deferrable, initially deferred). Like
    `bulk_create` it skips `save()` and its signals: use it for rows that have neither.
    """
    statements: list[tuple[str, Sequence[Any]]] = []
    saved: list[Model] = []
    using: str | None = None
    for objs in batches:
        if not objs:
            continue
        model = _new_rows_model(objs, "insert_together")
        alias = router.db_for_write(model)
        if using not in (None, alias):
            raise ValueError("insert_together writes to one database")
        using = alias
        meta = model._meta
        columns = [f for f in meta.local_concrete_fields if not f.generated]
        if len(objs) == 1:
            compiled, row_params = _row_statement(objs[0], columns, alias, None, returning=False)
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


def _new_rows_model(objs: Sequence[Model], operation: str) -> type[Model]:
    """The one model of `objs`, new rows with their keys set; raises ValueError otherwise."""
    model = type(objs[0])
    for obj in objs:
        if type(obj) is not model or obj.pk is None:
            raise ValueError(f"{operation} needs rows of one model with their keys set")
        # What save() and bulk_create() check first: no unsaved related object.
        obj._prepare_related_fields_for_save(operation_name=operation)  # type: ignore[attr-defined]
    return model
