"""Bulk writes for the benchmark dataset: PostgreSQL COPY (psycopg 3 `cursor.copy`) or
`bulk_create` in large batches elsewhere, and the secondary indexes dropped before and
rebuilt after, because building an index once is far cheaper than maintaining it per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


@dataclass
class Loader:
    """Writes rows of one model: COPY on PostgreSQL, bulk_create elsewhere."""

    use_copy: bool
    batch: int = 20000
    counts: dict[str, int] = field(default_factory=dict)

    def load(self, model: type[models.Model], rows: Iterable[dict[str, Any]]) -> int:
        # Serial primary keys come from their sequence.
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin)]
        columns = [f.column for f in fields if f.column]
        defaults: dict[str, Callable[[], Any]] = {}
        for f in fields:
            # Fields this generator does not know (added later) take their model default.
            if f.has_default() or f.null:
                defaults[f.attname] = f.get_default
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                defaults[f.attname] = timezone.now
        n = 0
        if self.use_copy:
            table = connection.ops.quote_name(model._meta.db_table)
            cols = ", ".join(connection.ops.quote_name(c) for c in columns)
            with connection.cursor() as cursor:
                raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
                with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(
                            [
                                _copy_value(
                                    row[f.attname] if f.attname in row else defaults[f.attname]()
                                )
                                for f in fields
                            ]
                        )
                        n += 1
        else:
            buf: list[models.Model] = []
            for row in rows:
                buf.append(model(**row))
                if len(buf) >= self.batch:
                    model.objects.bulk_create(buf, batch_size=1000)  # type: ignore[attr-defined]
                    n += len(buf)
                    buf = []
            if buf:
                model.objects.bulk_create(buf, batch_size=1000)  # type: ignore[attr-defined]
                n += len(buf)
        self.counts[model._meta.label] = self.counts.get(model._meta.label, 0) + n
        return n


def secondary_indexes(tables: list[str]) -> list[tuple[str, str]]:
    """(name, definition) of indexes that back no constraint: safe to drop and rebuild."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            """,
            [tables],
        )
        return [(name, definition) for name, definition in cursor.fetchall()]
