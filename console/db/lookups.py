"""`AnyOf`: a UUID column compared with a list bound as one parameter, so that the
statement is the same whatever the list's length."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Lookup


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
