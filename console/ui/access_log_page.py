"""The access log page: who viewed patient text (console views, exports, admin-key API
reads) and the hourly tallies of agents reading their own conversations. Operators and
auditors read it for their organisations; filters by user, person's number and date; the
list exports as CSV. (`console.access_log` is something else: gunicorn's log scrubber.)"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.http import HttpResponse
from django.urls import reverse

from console.models import AccessKind, AccessLog
from console.selectors import AccessFilters, access_log_list, access_tally_list
from console.ui.access import ConsoleRequest, console_page
from console.ui.export import csv_export
from console.ui.forms import DateRangeMixin, NumberSearchField
from console.ui.pagination import paginate
from console.ui.rendering import filters_applied, page_number, query_without_page, render_page

# The page shows the latest tallies only; the log itself pages.
TALLY_LIMIT = 50
ACTOR_NAMES = {"user": "console user", "api_key": "API key"}


@dataclass(frozen=True)
class AccessLine:
    """A row of the page, with its organisation's name."""

    entry: AccessLog
    organization: str

    @property
    def actor_kind(self) -> str:
        return ACTOR_NAMES.get(self.entry.actor_type, self.entry.actor_type)

    @property
    def url(self) -> str:
        """The conversation's console page, for a conversation view."""
        if self.entry.object_kind != AccessKind.CONVERSATION:
            return ""
        try:
            conversation_id = uuid.UUID(self.entry.object_id)
        except ValueError:
            return ""
        return reverse("console:conversation", args=[conversation_id])


class AccessFilterForm(DateRangeMixin):
    user = forms.CharField(required=False, label="User or key", max_length=255)
    number = NumberSearchField(
        required=False,
        label="Person's number",
        max_length=32,
        widget=forms.TextInput(attrs={"placeholder": "0199 or (415) 555-0199", "type": "search"}),
    )

    field_order = ["user", "number", "date_from", "date_to"]


def _filters(request: ConsoleRequest) -> tuple[AccessFilterForm, AccessFilters]:
    form = AccessFilterForm(request.GET or None)
    cleaned = form.cleaned_data if form.is_valid() else {}
    return form, AccessFilters(**cleaned)


@console_page
def access_log_list_page(request: ConsoleRequest) -> HttpResponse:
    form, filters = _filters(request)
    scope = request.console.scope
    page = paginate(access_log_list(scope=scope, filters=filters), page=page_number(request))
    names = {o.id: o.name for o in request.console.organizations}
    page.items = [AccessLine(row, names.get(row.organization_id, "")) for row in page.items]
    return render_page(
        request,
        "console/access_log.html",
        {
            "nav": "access",
            "form": form,
            "page": page,
            "tallies": list(access_tally_list(scope=scope, filters=filters)[:TALLY_LIMIT]),
            "query": query_without_page(request),
            "filters_applied": filters_applied(request),
        },
        partial="access-rows",
    )


EXPORT_HEADER = [
    "time",
    "organisation_id",
    "actor_type",
    "actor",
    "kind",
    "object_id",
    "person",
    "ip",
    "reason",
    "count",
]


def _export_row(row: AccessLog) -> list[Any]:
    return [
        row.created_at,
        row.organization_id,
        ACTOR_NAMES.get(row.actor_type, row.actor_type),
        row.actor_label,
        row.get_object_kind_display(),
        row.object_id,
        row.remote_number,
        row.ip,
        row.reason,
        row.count,
    ]


@console_page
def access_log_export(request: ConsoleRequest) -> HttpResponse:
    form, filters = _filters(request)
    # A streamed answer; `console_page` types its views as returning HttpResponse.
    return cast(
        HttpResponse,
        csv_export(
            request,
            kind="access-log",
            header=EXPORT_HEADER,
            rows=access_log_list(scope=request.console.scope, filters=filters),
            to_row=_export_row,
            filters=form.cleaned_data if form.is_bound and form.is_valid() else {},
        ),
    )
