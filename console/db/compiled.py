"""One row's INSERT, compiled once per shape and bound with the row's values: what the
inserts of `console.db.inserts` and `console.db.one_statement` are made of."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

from console.db.instances import unsaved_related_refuse

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class CompiledInsert:
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
_COMPILED_INSERTS: dict[tuple[Any, ...], CompiledInsert] = {}


def row_statement(
    obj: Model,
    columns: Sequence[Field[Any, Any]],
    using: str,
    on_conflict: OnConflict | None,
    *,
    returning: bool,
) -> tuple[CompiledInsert, list[Any]]:
    """The INSERT of `obj` and its parameters: the statement compiled once per shape (when
    every value is a plain placeholder), the values prepared on every call (`pre_save`,
    so auto_now_add runs each time)."""
    model = type(obj)
    shape = (model, using, on_conflict, returning, tuple(f.attname for f in columns))
    compiled = _COMPILED_INSERTS.get(shape)
    # Runs `pre_save` (auto_now) whether or not the statement is compiled yet: compiling
    # takes the values as they then stand on `obj`.
    params = bound_values(obj, columns, connections[using])
    if compiled is None or params is None:
        compiled, params, plain = _compile_insert(
            obj, columns, using, on_conflict, returning=returning
        )
        if plain:
            _COMPILED_INSERTS[shape] = compiled
    return compiled, params


def _compile_insert(
    obj: Model,
    columns: Sequence[Field[Any, Any]],
    using: str,
    on_conflict: OnConflict | None,
    *,
    returning: bool,
) -> tuple[CompiledInsert, list[Any], bool]:
    """The statement, this row's parameters, and whether every value went in as a plain
    `%s` (then the statement serves any values of the same columns)."""
    model = type(obj)
    meta = model._meta
    returned = (
        [meta.pk, *(f for f in meta.db_returning_fields if f is not meta.pk)] if returning else []
    )
    query = InsertQuery(model, on_conflict=on_conflict)
    # `raw`: the values `row_statement` just took from `pre_save`, as they stand on `obj`;
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
    return CompiledInsert(sql, returned, converters), list(params), plain


def own_row_statement(
    obj: Model, using: str, on_conflict: OnConflict | None
) -> tuple[CompiledInsert, list[Any]]:
    """The INSERT ... RETURNING of `obj` (no primary key column when the database makes it)."""
    meta = obj._meta
    # What save() and bulk_create() check first: no unsaved related object.
    unsaved_related_refuse(obj, operation="insert")
    columns = tuple(
        f
        for f in meta.local_concrete_fields
        if not f.generated and not (f is meta.auto_field and obj.pk is None)
    )
    return row_statement(obj, columns, using, on_conflict, returning=True)


def with_returned(
    obj: M, compiled: CompiledInsert, row: Sequence[Any] | None, using: str
) -> M | None:
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


# And on PostgreSQL, whose driver binds UUIDs and aware times as they are: Django's
# preparation answers the same UUID (a key's too, when it points at a UUID) or datetime
# (an aware one: a naive one gets its warning and the current zone).
_PASSED_ON_POSTGRESQL: dict[type[Field[Any, Any]], type] = {
    models.UUIDField: uuid.UUID,
    models.ForeignKey: uuid.UUID,
    models.DateTimeField: datetime,
}


@dataclass(frozen=True)
class _Column:
    """How `bound_values` takes one column's value on one kind of database."""

    field: Field[Any, Any]
    attname: str
    # `pre_save` answers the attribute as it stands (no auto_now, no value of its own).
    as_it_stands: bool
    # Types of values `db_value` answers unchanged (None's included where it is).
    passed: frozenset[type]
    # An aware datetime is passed too (PostgreSQL's driver binds it as it is).
    aware_passed: bool
    # A text column that stores any str as its text (a str subclass's too).
    text: bool


def _column(field: Field[Any, Any], vendor: str) -> _Column:
    kind = type(field)
    pre_save = kind.pre_save
    as_it_stands = pre_save is Field.pre_save or (
        pre_save in (models.DateField.pre_save, models.DateTimeField.pre_save)
        and not getattr(field, "auto_now", False)
        and not getattr(field, "auto_now_add", False)
    )
    plain = _PASSED_AS_THEY_ARE.get(kind)
    passed: set[type] = set(plain) | {type(None)} if plain is not None else set()
    aware_passed = False
    if vendor == "postgresql":
        native = _PASSED_ON_POSTGRESQL.get(kind)
        if native is datetime:
            aware_passed = True
        elif native is not None and (
            kind is not models.ForeignKey
            or isinstance(cast("models.ForeignKey[Any, Any]", field).target_field, models.UUIDField)
        ):
            passed.add(native)
    text = plain is not None and str in plain
    return _Column(field, field.attname, as_it_stands, frozenset(passed), aware_passed, text)


# The columns of each INSERT shape, per kind of database: `bound_values` runs for every
# row of every insert (an ingest binds some 75 values). Keyed by the fields' identities
# (a field hashes through Python code): the plan holds the fields, so no id is reused.
_COLUMNS: dict[tuple[str, tuple[int, ...]], tuple[_Column, ...]] = {}
_ABSENT = object()


def bound_values(
    obj: Model, columns: Sequence[Field[Any, Any]], connection: BaseDatabaseWrapper
) -> list[Any] | None:
    """`[db_value(f, f.pre_save(obj, True), connection) for f in columns]`, the values
    an INSERT of `obj` binds, taken without the calls where they would answer the value as
    it stands; None when a value is an expression (its INSERT needs SQL of its own)."""
    key = (connection.vendor, tuple(map(id, columns)))
    plan = _COLUMNS.get(key)
    if plan is None:
        plan = _COLUMNS[key] = tuple(_column(f, connection.vendor) for f in columns)
    stored = obj.__dict__
    values: list[Any] = []
    expression = False
    for column in plan:
        value = stored.get(column.attname, _ABSENT) if column.as_it_stands else _ABSENT
        if value is _ABSENT:
            value = column.field.pre_save(obj, True)  # every column's: auto_now sets `obj`
        if type(value) in column.passed or (
            column.aware_passed and type(value) is datetime and value.tzinfo is not None
        ):
            values.append(value)
        elif column.text and isinstance(value, str):
            # A text choice (`DeliveryStatus.RECEIVED`): the text it stands for, as a
            # plain str. Django would pass the member on, and psycopg find its dumper
            # by walking the enum's classes, every statement (8 us a member).
            values.append(str.__str__(value))
        elif expression or hasattr(value, "resolve_expression"):
            expression = True
        else:
            values.append(db_value(column.field, value, connection))
    return None if expression else values


class EncodedJson(dict[str, Any]):
    """A JSON object that knows its own text (`text`, as `json.dumps` wrote it): a JSON
    column without an encoder of its own stores that text on PostgreSQL instead of
    encoding the object again. Build it once the object is final: the text is not
    written again when the object changes."""

    def __init__(self, value: dict[str, Any], text: str) -> None:
        super().__init__(value)
        self.text = text


def _verbatim(text: str) -> str:
    return text


def db_value(field: Field[Any, Any], value: Any, connection: BaseDatabaseWrapper) -> Any:
    """`field.get_db_prep_save(value, connection)`, without the calls where it would answer
    `value` itself (see `_PASSED_AS_THEY_ARE`, `_PASSED_ON_POSTGRESQL`)."""
    kind = type(field)
    plain = _PASSED_AS_THEY_ARE.get(kind)
    if plain is not None and (value is None or type(value) in plain):
        return value
    if connection.vendor == "postgresql":
        native = _PASSED_ON_POSTGRESQL.get(kind)
        if native is not None and type(value) is native:
            if isinstance(value, datetime):
                if value.tzinfo is not None:
                    return value
            elif kind is not models.ForeignKey or isinstance(
                cast("models.ForeignKey[Any, Any]", field).target_field, models.UUIDField
            ):
                return value
        elif (
            type(value) is EncodedJson
            and kind is models.JSONField
            and cast("models.JSONField[Any]", field).encoder is None
        ):
            from psycopg.types.json import Jsonb

            return Jsonb(value.text, dumps=_verbatim)
    return field.get_db_prep_save(value, connection)


def new_rows_model(objs: Sequence[Model], operation: str) -> type[Model]:
    """The one model of `objs`, new rows with their keys set (or all left to the database,
    when the key is an auto field); raises ValueError otherwise."""
    model = type(objs[0])
    auto_field = model._meta.auto_field
    made_by_database = auto_field is not None and objs[0].pk is None
    for obj in objs:
        if type(obj) is not model or (obj.pk is None) != made_by_database:
            raise ValueError(f"{operation} needs rows of one model with their keys set")
        # What save() and bulk_create() check first: no unsaved related object.
        unsaved_related_refuse(obj, operation=operation)
    return model


def inserted_columns(objs: Sequence[Model]) -> list[Field[Any, Any]]:
    """The columns an INSERT of `objs` (rows of one model, see `new_rows_model`) names:
    all but generated ones, and but the key when the database makes it."""
    meta = objs[0]._meta
    keyless = objs[0].pk is None
    return [
        f
        for f in meta.local_concrete_fields
        if not f.generated and not (keyless and f is meta.auto_field)
    ]
