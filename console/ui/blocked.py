"""Blocked messages review: list with filters, detail, and the two review decisions."""

from __future__ import annotations

from django.http import HttpResponse

from console.errors import ApplicationError
from console.selectors import identity_handle_list
from console.ui.access import ConsoleRequest, console_action, console_page, operated, user_actor
from console.ui.forms import BlockedFilterForm
from console.ui.rendering import form_post_response, render_filtered_list, render_page
from console.ui.services import blocked_message_allow, blocked_message_keep
from messaging.selectors import BlockedFilters, blocked_message_get, blocked_message_list


@console_page
def blocked_list(request: ConsoleRequest) -> HttpResponse:
    scope = request.console.scope
    return render_filtered_list(
        request,
        "console/blocked.html",
        BlockedFilterForm(request.GET or None, handles=identity_handle_list(scope=scope)),
        lambda f: blocked_message_list(scope=scope, filters=BlockedFilters(**f)),
        partial="blocked-rows",
        nav="blocked",
    )


@console_page
def blocked_detail(request: ConsoleRequest, message_id: str) -> HttpResponse:
    message = blocked_message_get(
        scope=request.console.scope,
        message_id=message_id,
    )
    return render_page(
        request,
        "console/blocked_detail.html",
        {
            "nav": "blocked",
            "message": message,
            "identity": message.identity,
            "can_edit": request.console.can_operate_in(message.organization_id),
        },
        partial="review",
    )


def _review_response(
    request: ConsoleRequest,
    message_id: str,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    if not request.htmx:
        return form_post_response(error, status, "console:blocked-detail", message_id)
    message = blocked_message_get(
        scope=request.console.scope,
        message_id=message_id,
    )
    return render_page(
        request,
        "console/blocked_detail.html#review",
        {
            "message": message,
            "identity": message.identity,
            "can_edit": True,
            "notice": notice,
            "error": error,
        },
        status=status,
    )


@console_action
def blocked_allow(request: ConsoleRequest, message_id: str) -> HttpResponse:
    message = operated(request, blocked_message_get, message_id=message_id)
    try:
        summary = blocked_message_allow(message=message, actor=user_actor(request))
    except ApplicationError as exc:
        return _review_response(request, message_id, error=exc.message, status=409)
    notice = f"{message.remote_number} can now reach @{message.identity.handle}: {summary}."
    return _review_response(request, message_id, notice=notice)


@console_action
def blocked_keep(request: ConsoleRequest, message_id: str) -> HttpResponse:
    message = operated(request, blocked_message_get, message_id=message_id)
    blocked_message_keep(message=message, actor=user_actor(request))
    return _review_response(
        request, message_id, notice="Kept blocked. The decision is in the audit log."
    )
