"""Querysets compiled once per process, run again with new values (`PreparedQuery`).

Django builds and compiles a queryset again on every evaluation. For the statements
every inbound message or send runs (a line with its connection, rules and identity in one
joined query) that is milliseconds of CPU per request, several times what the database
spends executing them. A `PreparedQuery` builds its queryset once per database
connection alias from placeholder values, keeps the compiled SQL and the compiler (which
knows how to turn rows into model instances with their `select_related` objects and
annotations), and afterwards only swaps the placeholders' positions in the parameter list
for the call's values.

What may vary between calls is exactly the named parameters: everything else the builder
reads (settings, the clock) is frozen into the SQL at first use, so builders must not read
it. Each parameter is a `str`, a `uuid.UUID` or an aware `datetime`, used as a value as
it is (`exact`, comparisons, `Value(...)`), or a `UUIDList` compared through
`console.db.lookups.AnyOf`: a placeholder that a lookup rewrote
(`contains`), that the builder computed with (`now - window`) or that it dropped is
refused when the query is compiled, so a misuse fails on its first run rather than
matching the wrong rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from django.core.exceptions import FullResultSet
from django.db import connections, router, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators
from django.db.models.sql import UpdateQuery
from django.db.models.sql.compiler import SQLCompiler

from console.db.instances import loaded
from console.db.parameters import (
    PARAMETER_KINDS,
    Slot,
    adapt,
    constants_inlined,
    placeholder,
    slots_of,
)
from console.db.updates import (
    can_update_returning,
    returning_every_column,
    update_returning,
)

M = TypeVar("M", bound=Model)
K = TypeVar("K", bound=Hashable)
C = TypeVar("C")
V = TypeVar("V")


@dataclass(frozen=True)
class _Instances:
    """How a model query's rows become instances, worked out once (as `ModelIterable`
    does on every evaluation)."""

    model: type[Model]
    start: int
    end: int
    init_names: tuple[str, ...]
    populators: tuple[Any, ...]  # RelatedPopulator: stateless between rows
    annotations: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class _Statement:
    """A compiled statement: its SQL, its parameters with the placeholders' slots, and the
    compiler with the converters of the columns it answers."""

    alias: str
    sql: str
    params: tuple[Any, ...]
    slots: tuple[Slot, ...]
    compiler: SQLCompiler
    converters: dict[int, Any]  # the compiler's column converters (`get_converters`)


@dataclass(frozen=True)
class _Compiled(_Statement):
    values: tuple[str, ...] | None  # column names of a values() query, else None
    instances: _Instances | None  # how rows become instances, for a model query


class _PerDatabase(Generic[C]):
    """A statement compiled once per database alias, on first use, under a lock."""

    def __init__(self, params: dict[str, type]) -> None:
        for name, kind in params.items():
            if kind not in PARAMETER_KINDS:
                raise TypeError(
                    f"parameter {name}: {kind!r} is not str, uuid.UUID, datetime or UUIDList"
                )
        self.params = params
        self._compiled: dict[str, C] = {}
        self._lock = threading.Lock()

    def _compile(self, alias: str) -> C:
        compiled = self._compiled.get(alias)
        if compiled is not None:
            return compiled
        with self._lock:
            compiled = self._compiled.get(alias)
            if compiled is None:
                compiled = self._compiled[alias] = self._compile_now(alias)
            return compiled

    def _compile_now(self, alias: str) -> C:
        raise NotImplementedError

    def _check_names(self, values: dict[str, Any]) -> None:
        if values.keys() != self.params.keys():
            raise TypeError(f"expected parameters {sorted(self.params)}, got {sorted(values)}")

    def _placeholders(self, alias: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Fresh placeholders by name, and each as the database driver gets it."""
        connection = connections[alias]
        placeholders = {name: placeholder(kind) for name, kind in self.params.items()}
        adapted = {
            name: adapt(self.params[name], value, connection)
            for name, value in placeholders.items()
        }
        return placeholders, adapted

    def _params(
        self,
        compiled_params: tuple[Any, ...],
        slots: tuple[Slot, ...],
        alias: str,
        values: dict[str, Any],
    ) -> list[Any]:
        """The compiled parameter list with the call's values in the placeholders' slots."""
        connection = connections[alias]
        adapted = {
            name: adapt(kind, values[name], connection) for name, kind in self.params.items()
        }
        params = list(compiled_params)
        for slot in slots:
            params[slot.position] = adapted[slot.name]
        return params


class PreparedQuery(_PerDatabase[_Compiled], Generic[M]):
    """`build(**placeholders)`, a queryset of `model`, compiled once per database;
    `rows(**values)` runs it.

    `params` names each parameter's kind (`str`, `uuid.UUID`, `datetime` or `UUIDList`). Model
    querysets answer model instances as iterating the queryset would (`select_related`
    objects and annotations included); `values()` querysets answer dicts. A `paged` query
    (built without a slice) takes `limit` and `offset` on every call, as parameters.
    """

    def __init__(
        self,
        model: type[M],
        build: Callable[..., QuerySet[M, Any]],
        *,
        paged: bool = False,
        **params: type,
    ) -> None:
        super().__init__(params)
        self.model = model
        self.build = build
        self.paged = paged

    def rows(self, *, limit: int | None = None, offset: int = 0, **values: Any) -> list[Any]:
        self._check_names(values)
        if self.paged != (limit is not None) or (offset and not self.paged):
            raise TypeError("limit and offset are given exactly when the query is paged")
        compiled = self._compile(router.db_for_read(self.model))
        connection = connections[compiled.alias]
        params = self._params(compiled.params, compiled.slots, compiled.alias, values)
        if self.paged:
            params += [int(limit or 0), int(offset)]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        return _materialise(compiled, fetched)

    def first(self, **values: Any) -> Any:
        found = self.rows(**values)
        return found[0] if found else None

    def _compile_now(self, alias: str) -> _Compiled:
        placeholders, adapted = self._placeholders(alias)
        queryset = self.build(**placeholders).using(alias)
        if queryset.model is not self.model:
            raise TypeError(f"the builder answers {queryset.model.__name__} rows")
        iterable = queryset._iterable_class
        if iterable not in (ModelIterable, ValuesIterable):
            raise TypeError("only model and values() querysets can be prepared")
        if self.paged and queryset.query.is_sliced:
            raise TypeError("a paged query is built without a slice")
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = slots_of(params, adapted)
        sql, params, slots = constants_inlined(sql, tuple(params), slots, alias)
        if self.paged:
            sql = f"{sql} LIMIT %s OFFSET %s"
        query = queryset.query
        values = None
        if iterable is ValuesIterable:
            # The names `ValuesIterable` gives the columns, in its order.
            values = (
                tuple(query.selected)
                if query.selected
                else (*query.extra_select, *query.values_select, *query.annotation_select)
            )
        columns = [column[0] for column in compiler.select[0 : compiler.col_count]]
        return _Compiled(
            alias,
            sql,
            tuple(params),
            slots,
            compiler,
            compiler.get_converters(columns),
            values,
            None if values is not None else _instances(compiler, alias),
        )


@dataclass(frozen=True)
class _CompiledUpdate(_Statement):
    names: tuple[str, ...]  # the returned columns' attribute names
    where_at: int  # where the WHERE condition starts in `sql` (its length: none)
    where_end: int  # where it ends (RETURNING follows)


class PreparedUpdate(_PerDatabase[_CompiledUpdate], Generic[M]):
    """`queryset.update(**values)` for the `(queryset, values)` that `build(**placeholders)`
    answers, compiled once per database; `rows(**values)` runs it and answers the rows as
    stored after the update (`UPDATE ... RETURNING` every concrete field, in the same
    statement).

    Parameters follow `PreparedQuery`'s rules. Like `update()` it skips `save()`, its
    signals and `auto_now`: pass such fields as parameters. A database that cannot return
    rows from an UPDATE runs `console.db.updates.update_returning` built from the call's values.
    """

    def __init__(
        self,
        model: type[M],
        build: Callable[..., tuple[QuerySet[M, Any], dict[str, Any]]],
        **params: type,
    ) -> None:
        super().__init__(params)
        self.model = model
        self.build = build

    def rows(self, **values: Any) -> list[M]:
        self._check_names(values)
        alias = router.db_for_write(self.model)
        connection = connections[alias]
        if not can_update_returning(connection):
            queryset, update = self.build(**values)
            return update_returning(queryset.using(alias), **update)
        compiled = self._compile(alias)
        params = self._params(compiled.params, compiled.slots, alias, values)
        with transaction.mark_for_rollback_on_error(using=alias), connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched: Any = cursor.fetchall()
        if compiled.converters:
            fetched = compiled.compiler.apply_converters(fetched, compiled.converters)
        return [loaded(self.model, alias, compiled.names, row) for row in fetched]

    def statement(
        self, alias: str, *, guard: str | None = None, **values: Any
    ) -> tuple[str, list[Any]]:
        """The compiled `UPDATE ... RETURNING` for database `alias` (one that can return
        rows from an UPDATE) and the call's parameters, to run as part of another
        statement. With `guard` (the name of a `WITH` clause of that statement) it updates
        only when the clause answers a row."""
        self._check_names(values)
        compiled = self._compile(alias)
        params = self._params(compiled.params, compiled.slots, alias, values)
        if guard is None:
            return compiled.sql, params
        if not guard.isidentifier():
            raise ValueError("a guard names a WITH clause")
        sql, at, end = compiled.sql, compiled.where_at, compiled.where_end
        exists = f"EXISTS (SELECT 1 FROM {guard})"  # noqa: S608 - a clause's name, checked above
        if at == end:
            return f"{sql[:at]} WHERE {exists}{sql[end:]}", params
        return f"{sql[:at]}({sql[at:end]}) AND {exists}{sql[end:]}", params

    def bound(self, *, with_row: bool = False, **values: Any) -> BoundUpdate:
        """This update with the call's values, to run later: by itself (`run`) or as a
        clause of another statement (the `leading` of
        `console.db.one_statement.insert_with_dependents`; see `BoundUpdate.with_row`)."""
        self._check_names(values)
        return BoundUpdate(self, values, with_row)

    def _compile_now(self, alias: str) -> _CompiledUpdate:
        connection = connections[alias]
        placeholders, adapted = self._placeholders(alias)
        queryset, update = self.build(**placeholders)
        if queryset.model is not self.model:
            raise TypeError(f"the builder answers {queryset.model.__name__} rows")
        query = cast(UpdateQuery, queryset.using(alias).query.chain(UpdateQuery))
        query.add_update_values(update)
        compiler = query.get_compiler(alias)
        sql, params = compiler.as_sql()
        if not sql:
            raise ValueError("the builder names nothing to update")
        # The compiler ends the UPDATE with its WHERE condition: where a guard goes.
        try:
            where, _ = compiler.compile(query.where)
        except FullResultSet:  # every row: the compiler wrote no WHERE
            where = ""
        where_at = len(sql) - len(where)
        if where and not sql.endswith(f" WHERE {where}"):
            raise ValueError("the UPDATE does not end with its WHERE condition")
        meta = self.model._meta
        returning, fields = returning_every_column(self.model, connection)
        return _CompiledUpdate(
            alias=alias,
            where_at=where_at,
            where_end=len(sql),
            sql=f"{sql} {returning}",
            params=tuple(params),
            slots=slots_of(params, adapted),
            compiler=compiler,
            converters=compiler.get_converters([f.get_col(meta.db_table) for f in fields]),
            names=tuple(f.attname for f in fields),
        )


@dataclass(frozen=True)
class BoundUpdate:
    """A `PreparedUpdate` and the values of one call (see `PreparedUpdate.bound`).
    `with_row`: as a leading write of `console.db.one_statement`, it runs only when the
    statement's row went in (it counts that row, say)."""

    update: PreparedUpdate[Any]
    values: dict[str, Any]
    with_row: bool = False

    @property
    def model(self) -> type[Model]:
        return self.update.model

    def run(self) -> list[Any]:
        return self.update.rows(**self.values)

    def statement(self, alias: str, *, guard: str | None = None) -> tuple[str, list[Any]]:
        """The compiled `UPDATE ... RETURNING` for database `alias` and its parameters (on
        a database that can return rows from an UPDATE), guarded as
        `PreparedUpdate.statement` says."""
        return self.update.statement(alias, guard=guard, **self.values)


class PreparedShapes(Generic[K, V]):
    """One `PreparedQuery` (or `PreparedUpdate`) per shape (a hashable value naming what
    changes the statement beside its parameters: which filters apply), made by
    `make(shape)` on first use. Shapes must come from a small, fixed set: each is
    compiled and kept for the process."""

    def __init__(self, make: Callable[[K], V]) -> None:
        self.make = make
        self._queries: dict[K, V] = {}

    def __getitem__(self, shape: K) -> V:
        query = self._queries.get(shape)
        if query is None:
            # Two threads may both make it; either copy compiles the same statement.
            query = self._queries[shape] = self.make(shape)
        return query


def _instances(compiler: SQLCompiler, using: str) -> _Instances:
    klass_info = compiler.klass_info
    assert klass_info is not None
    select = compiler.select
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    return _Instances(
        model=klass_info["model"],
        start=start,
        end=end,
        init_names=tuple(column[0].target.attname for column in select[start:end]),
        # The stubs follow Django 6, which adds a fetch mode.
        populators=tuple(get_related_populators(klass_info, select, using)),  # type: ignore[call-arg]
        annotations=tuple((compiler.annotation_col_map or {}).items()),
    )


def _populate(populator: Any, row: Sequence[Any], owner: Model) -> None:
    """`RelatedPopulator.populate(row, owner)`, its instances built by `loaded`."""
    if populator.reorder_for_init:
        values = populator.reorder_for_init(row)
    else:
        values = row[populator.cols_start : populator.cols_end]
    related = None
    if values[populator.pk_idx] is not None:
        related = loaded(populator.model_cls, populator.db, populator.init_list, values)
        for nested in populator.related_populators:
            _populate(nested, row, related)
    populator.local_setter(owner, related)
    if related is not None:
        populator.remote_setter(related, owner)


def _materialise(compiled: _Compiled, fetched: list[Any]) -> list[Any]:
    """The rows as the queryset's own iterable would have answered them."""
    rows: Any = fetched
    if compiled.converters:
        rows = compiled.compiler.apply_converters(fetched, compiled.converters)
    if compiled.values is not None:
        return [dict(zip(compiled.values, row, strict=True)) for row in rows]
    shape = compiled.instances
    assert shape is not None
    model, using, start, end = shape.model, compiled.alias, shape.start, shape.end
    instances = []
    for row in rows:
        instance = loaded(model, using, shape.init_names, row[start:end])
        for populator in shape.populators:
            _populate(populator, row, instance)
        for name, position in shape.annotations:
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances
