"""Identity-key reads counted per key, conversation and hour, and the upsert that adds
those counts to `AccessTally`.

An identity-scoped key reading its own conversations is the agent doing its job, so those
reads are tallied rather than logged. Written by the request, every read would carry an
upsert and its commit, and concurrent reads of one busy conversation would queue on that
tally row's lock, so a read's counts go to a per-process buffer
(`console.access_tally_buffer`), which hands them every few seconds to the Redis queue
that beat drains (`console.access_tally_queue`), or without one writes them here itself.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from console.models import AccessTally, ApiKey

if TYPE_CHECKING:
    from console.access import Viewed


def _hour(now: dt.datetime) -> dt.datetime:
    return now.replace(minute=0, second=0, microsecond=0)


class TallyKey(NamedTuple):
    """One tally row's identity: the unique constraint of `AccessTally`. A named tuple,
    not a dataclass: every agent read builds one per conversation it shows."""

    api_key_id: Any
    conversation_id: Any
    hour: dt.datetime


@dataclass(slots=True)
class TallyCount:
    """What a tally row adds: `count` reads, plus the names the row is shown with."""

    organization_id: Any
    key_label: str
    remote_number: str
    count: int = 0


def tally_counts(
    *, key: ApiKey, viewed: Sequence[Viewed], now: dt.datetime
) -> dict[TallyKey, TallyCount]:
    """One read of each conversation `viewed` touches, however many of its messages."""
    hour = _hour(now)
    label = key.label[:255]
    counts: dict[TallyKey, TallyCount] = {}
    for item in viewed:
        if not item.conversation_id:
            continue
        tally_key = TallyKey(key.id, item.conversation_id, hour)
        if tally_key not in counts:
            counts[tally_key] = TallyCount(item.organization_id, label, item.number, 1)
    return counts


_TALLY_COLUMNS = (
    "organization",
    "api_key_id",
    "key_label",
    "conversation_id",
    "remote_number",
    "hour",
    "count",
)


def tally_upsert(counts: Mapping[TallyKey, TallyCount]) -> None:
    """Add `counts` to their tally rows in one INSERT … ON CONFLICT DO UPDATE.

    Rows go in a fixed order, so two processes flushing overlapping rows never deadlock.
    On PostgreSQL the rows travel as one JSON parameter (`jsonb_to_recordset`): encoding
    it is one C call, where psycopg's array parameters quote every value in Python (that
    quoting was most of a flush of a few thousand rows)."""
    if not counts:
        return
    # Ids as text once: the sort key, the JSON and (converted back) SQLite's parameters.
    # Sorted by the conflict key (key, conversation, hour): the same lock order everywhere.
    rows = sorted(
        (
            (
                str(count.organization_id),
                str(key.api_key_id),
                count.key_label,
                str(key.conversation_id),
                count.remote_number,
                key.hour,
                count.count,
            )
            for key, count in counts.items()
        ),
        key=lambda row: (row[1], row[3], row[5]),
    )
    fields: list[Field[Any, Any]] = [
        cast("Field[Any, Any]", AccessTally._meta.get_field(name)) for name in _TALLY_COLUMNS
    ]
    quote = connection.ops.quote_name
    table = quote(AccessTally._meta.db_table)
    columns = [quote(str(field.column)) for field in fields]
    if connection.vendor == "postgresql":
        record = ", ".join(
            f"{column} {field.db_type(connection)}"
            for column, field in zip(columns, fields, strict=True)
        )
        selected = ", ".join(columns)
        source = f"SELECT {selected} FROM jsonb_to_recordset(%s::jsonb) AS t({record})"  # noqa: S608
        by_column = [str(field.column) for field in fields]
        # Datetimes go as their text, which PostgreSQL reads back exactly.
        params: list[Any] = [
            json.dumps([dict(zip(by_column, row, strict=True)) for row in rows], default=str)
        ]
    else:
        placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        source = "VALUES " + ", ".join([placeholders] * len(rows))
        params = [
            field.get_db_prep_value(value, connection, prepared=False)
            for row in rows
            for field, value in zip(fields, row, strict=True)
        ]
    # Only quoted model identifiers, column types and placeholders are interpolated; values
    # are parameters.
    count_column = quote("count")
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) {source}"
        + f" ON CONFLICT ({quote('api_key_id')}, {quote('conversation_id')}, {quote('hour')})"
        + f" DO UPDATE SET {count_column} = {table}.{count_column} + excluded.{count_column}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def access_tally(*, key: ApiKey, viewed: Sequence[Viewed], now: dt.datetime | None = None) -> None:
    """Count one read of each conversation `viewed` touches by an identity-scoped key in
    the current hour, written now (`console.access_tally_buffer` buffers them instead)."""
    tally_upsert(tally_counts(key=key, viewed=viewed, now=now or timezone.now()))
