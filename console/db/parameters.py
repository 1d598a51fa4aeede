"""The parameters of a prepared statement (`console.db.prepared`): their kinds, the
placeholders a statement is compiled from, where each lands in the compiled parameter
list, and the builder's constants written into the SQL as literals (PostgreSQL)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from console.db.lookups import uuid_list_param


class UUIDList:
    """A parameter kind: a list of UUIDs of any length, bound as one parameter. The
    builder compares a UUID column with it through `console.db.lookups.AnyOf`."""


PARAMETER_KINDS = (str, uuid.UUID, datetime, UUIDList)


_TEXT_MARK = "\x1fprepared-"


# Placeholder datetimes lie in this year, where no real value does: any other datetime of
# that year in the compiled parameters was computed from a placeholder.
_PLACEHOLDER_YEAR = 2999


def adapt(kind: type, value: Any, connection: BaseDatabaseWrapper) -> Any:
    """`value` as Django passes a parameter of this kind to the database driver."""
    if value is None:
        # The ORM would have written `IS NULL`; a prepared `= %s` would match nothing.
        raise ValueError("a prepared query's parameters are never None")
    if kind is uuid.UUID:
        if not isinstance(value, uuid.UUID):
            value = uuid.UUID(str(value))
        return value if connection.features.has_native_uuid_field else value.hex
    if kind is UUIDList:
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise ValueError(f"{value!r} is not a list of UUIDs")
        return uuid_list_param(value, connection)
    if kind is datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"{value!r} is not an aware datetime")
        return connection.ops.adapt_datetimefield_value(value)
    return str(value)


def _derived(value: Any) -> bool:
    """Whether a compiled parameter was computed from a placeholder (a datetime placeholder
    cut to its date is a `date` of the placeholder year)."""
    if isinstance(value, str):
        return _TEXT_MARK in value or value.startswith(f"{_PLACEHOLDER_YEAR}-")
    return isinstance(value, date) and value.year == _PLACEHOLDER_YEAR


@dataclass(frozen=True)
class Slot:
    """Where a parameter's value goes in the compiled parameter list."""

    position: int
    name: str


def slots_of(params: Any, adapted: dict[str, Any]) -> tuple[Slot, ...]:
    """Where each placeholder sits in a compiled parameter list. Refuses a placeholder a
    lookup rewrote or the builder computed with, and one that is not there at all."""
    slots = []
    found = set()
    for position, value in enumerate(params):
        name = next((n for n, a in adapted.items() if a == value), None)
        if name is not None:
            slots.append(Slot(position, name))
            found.add(name)
        elif _derived(value):
            raise ValueError(f"a parameter was rewritten by a lookup or computed with: {value!r}")
    missing = set(adapted) - found
    if missing:
        raise ValueError(f"parameters {sorted(missing)} are not in the compiled query")
    return tuple(slots)


def placeholder(kind: type) -> Any:
    # Random, so no placeholder can equal a constant the query also carries (or another).
    token = uuid.uuid4()
    if kind is uuid.UUID:
        return token
    if kind is UUIDList:
        return [token]
    if kind is datetime:
        offset = timedelta(seconds=token.int % (300 * 86400), microseconds=token.int % 10**6)
        return datetime(_PLACEHOLDER_YEAR, 1, 1, tzinfo=UTC) + offset
    return f"{_TEXT_MARK}{token.hex}"


# A `%s` placeholder or a `%%` (a literal percent sign) of a statement's SQL.
_PLACEHOLDER_OR_PERCENT = re.compile(r"%[s%]")


def constants_inlined(
    sql: str, params: tuple[Any, ...], slots: tuple[Slot, ...], alias: str
) -> tuple[str, tuple[Any, ...], tuple[Slot, ...]]:
    """On PostgreSQL, the statement with the constants the builder wrote (text, numbers,
    booleans: `direction = 'outbound'`, `NOT is_group`) as literals in its SQL rather than
    as parameters; the call's values stay parameters.

    psycopg prepares a statement run often, and PostgreSQL then plans it once for any
    parameter values (a generic plan). A partial index whose condition names a constant
    (`msg_outbound_cap_time_covering`: `WHERE direction = 'outbound'`) only serves a plan
    that knows the constant: with it a parameter, the generic plan of a send's cap read
    scanned every message of the identity (35 ms), so PostgreSQL planned that statement
    anew on every send instead, a quarter of the database's CPU per send."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return sql, params, slots
    from psycopg import sql as psycopg_sql

    connection.ensure_connection()
    raw = connection.connection
    called = {slot.position for slot in slots}
    kept: list[Any] = []
    moved: dict[int, int] = {}
    position = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal position
        if match.group() == "%%":
            return "%%"
        value = params[position]
        here, position = position, position + 1
        constant = _plain_constant(value) if here not in called else None
        if constant is not None:
            # psycopg quotes it as a literal; a `%` inside it must not read as a placeholder.
            return psycopg_sql.Literal(constant).as_string(raw).replace("%", "%%")
        moved[here] = len(kept)
        kept.append(value)
        return "%s"

    inlined = _PLACEHOLDER_OR_PERCENT.sub(replace, sql)
    if position != len(params):
        raise ValueError("the compiled SQL's placeholders and its parameters disagree")
    return (
        inlined,
        tuple(kept),
        tuple(Slot(moved[slot.position], slot.name) for slot in slots),
    )


def _plain_constant(value: Any) -> str | int | bool | None:
    """`value` as a plain str, int or bool (a `TextChoices` member as its text), or None
    when it is none of them."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str.__str__(value)
    return None
