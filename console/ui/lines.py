"""The platform's lines for staff: the router number patients text, the pool lines with
their load, and the lines still waiting for the provider (with "Check with provider now").

Pool lines are shared by every organisation and never shown to agents' API keys; console
staff see them here because they answer for the capacity patients depend on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone

from console.errors import ApplicationError
from console.ui.access import (
    ConsoleRequest,
    console_action,
    console_page,
    refusal_status,
    user_actor,
)
from console.ui.rendering import form_post_response, render_list, render_page
from provisioning.models import LineState
from provisioning.selectors import line_get_for_scope, pending_line_list
from provisioning.services.lines import LineCheck, line_check
from routing.selectors import pool_line_load, triage_info

PROVIDER_STATUS_NOTES = {
    "OPEN": "The provider is still placing this line.",
    "CANCELLED": "The provider cancelled this request; order a new line on the setup.",
}


def overdue_before() -> dt.datetime:
    """Lines requested before this are overdue (`PENDING_LINE_OVERDUE_HOURS`)."""
    return timezone.now() - dt.timedelta(hours=settings.PENDING_LINE_OVERDUE_HOURS)


def _pending_context(request: ConsoleRequest) -> dict[str, Any]:
    access = request.console
    return {
        "now": timezone.now(),
        "overdue_before": overdue_before(),
        "overdue_hours": settings.PENDING_LINE_OVERDUE_HOURS,
        # Organisations whose lines this viewer may ask the provider about.
        "operated_orgs": {org for org in access.roles if access.can_operate_in(org)},
    }


@console_page
def pending_lines(request: ConsoleRequest) -> HttpResponse:
    return render_list(
        request,
        "console/pending_lines.html",
        pending_line_list(scope=request.console.scope),
        partial="pending-rows",
        nav="pending",
        **_pending_context(request),
    )


@console_page
def lines_overview(request: ConsoleRequest) -> HttpResponse:
    return render_page(
        request,
        "console/lines.html",
        {
            "nav": "lines",
            "triage": triage_info(),
            "pool_lines": list(pool_line_load(scope=request.console.scope)),
            "per_hour": settings.POOL_LINE_NEW_CONTACTS_PER_HOUR,
            "per_day": settings.POOL_LINE_NEW_CONTACTS_PER_DAY,
        },
    )


def _check_notice(check: LineCheck) -> str:
    line = check.line
    if line.state == LineState.ASSIGNED:
        return f"The provider placed {line.number}; the line is assigned."
    return PROVIDER_STATUS_NOTES.get(
        check.provider_status, "The provider has not placed this line yet."
    )


@console_action
def line_check_view(request: ConsoleRequest, line_id: str) -> HttpResponse:
    """Ask the provider about one pending line now; answers with its row."""
    access = request.console
    line = line_get_for_scope(scope=access.scope, line_id=line_id)
    access.require_operator(line.setup.organization_id)
    notice, error, status = "", "", 200
    try:
        notice = _check_notice(line_check(line=line, actor=user_actor(request)))
    except ApplicationError as exc:
        error, status = exc.message, refusal_status(exc)
    if not request.htmx:
        return form_post_response(error, status, "console:pending-lines")
    return render_page(
        request,
        "console/pending_lines.html#pending-row",
        {
            "line": line_get_for_scope(scope=access.scope, line_id=line.id),
            "check_notice": notice,
            "check_error": error,
            **_pending_context(request),
        },
        status=status,
    )
