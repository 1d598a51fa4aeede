"""CSV exports of console lists: streamed, cut at a row limit, and audited.

Every export view hands `csv_export` the same filtered rows its page shows, so a file
holds what the viewer saw (all pages of it, up to `CONSOLE_EXPORT_ROW_LIMIT`). The export
is itself an audit entry in each organisation the viewer reads: who exported which list,
with which filters, and how many rows.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from console.access import Viewed, access_record_many
from console.models import AccessKind, AuditEntry
from console.ui.access import ConsoleRequest, user_actor, user_viewer

EXPORT_ACTION = "export"
# A spreadsheet evaluates a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def export_row_limit() -> int:
    return int(getattr(settings, "CONSOLE_EXPORT_ROW_LIMIT", 10_000))


def safe_cell(value: Any) -> str:
    """A cell as text that no spreadsheet runs as a formula; numbers (`+14155550199`)
    stay as they are."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)  # BOM: spreadsheets then read UTF-8 correctly
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])


def csv_export(
    request: ConsoleRequest,
    *,
    kind: str,
    header: Sequence[str],
    rows: QuerySet[Any],
    to_row: Callable[[Any], Sequence[Any]],
    filters: Mapping[str, Any],
) -> StreamingHttpResponse:
    """Stream `rows` (already filtered and ordered, in the viewer's scope) as `kind`.csv.

    The rows are cut at the export limit; the count written to the audit log is the count
    the file holds."""
    limit = export_row_limit()
    truncated = rows[: limit + 1].count() > limit
    limited = rows[:limit]
    count = limit if truncated else limited.count()
    _audit_export(request, kind=kind, filters=filters, count=count, truncated=truncated)
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(
        _stream(header, (to_row(row) for row in limited.iterator(chunk_size=1000))),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{kind}-{stamp}.csv"'
    response["Cache-Control"] = "private, no-store"
    response["X-Export-Rows"] = str(count)
    return response


def _audit_export(
    request: ConsoleRequest,
    *,
    kind: str,
    filters: Mapping[str, Any],
    count: int,
    truncated: bool,
) -> None:
    actor = user_actor(request)
    described = {name: str(value) for name, value in filters.items() if value not in ("", None)}
    # The access log too: an export is a view of everything it holds.
    access_record_many(
        viewer=user_viewer(request),
        viewed=[
            Viewed(organization_id=organization.id, kind=AccessKind.EXPORT, object_id=kind)
            for organization in request.console.organizations
        ],
        count=count,
        detail={"filters": described, "truncated": truncated},
    )
    AuditEntry.objects.bulk_create(
        AuditEntry(
            organization=organization,
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label[:255],
            action=EXPORT_ACTION,
            object_type="Export",
            object_id=kind,
            object_repr=f"{kind} export",
            after={"filters": described, "rows": count, "truncated": truncated},
        )
        for organization in request.console.organizations
    )
