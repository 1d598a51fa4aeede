"""An identity's scheduled and held (quiet hours) sends, soonest first, with cancel for
operators (confirmed in the browser, audited by the service). htmx swaps the rows in
place; without JavaScript the cancel form posts and redirects back to the list."""

from __future__ import annotations

import uuid

from django.http import HttpResponse

from console.errors import ApplicationError
from console.models import AgentIdentity
from console.selectors import identity_get_for_scope
from console.ui.access import ConsoleRequest, console_action, console_page, user_actor
from console.ui.pagination import paginate
from console.ui.rendering import form_post_response, render_list, render_page
from messaging.console_selectors import scheduled_get_for_scope, scheduled_list_for_identity
from messaging.services.scheduling import scheduled_cancel

TEMPLATE = "console/scheduled.html"


def _identity(request: ConsoleRequest, handle: str) -> AgentIdentity:
    return identity_get_for_scope(scope=request.console.scope, handle=handle)


@console_page
def scheduled_list(request: ConsoleRequest, handle: str) -> HttpResponse:
    identity = _identity(request, handle)
    return render_list(
        request,
        TEMPLATE,
        scheduled_list_for_identity(scope=request.console.scope, identity=identity),
        partial="scheduled-rows",
        nav="identities",
        identity=identity,
        can_edit=request.console.can_operate_in(identity.organization_id),
    )


@console_action
def scheduled_cancel_view(
    request: ConsoleRequest, handle: str, message_id: uuid.UUID
) -> HttpResponse:
    identity = _identity(request, handle)
    request.console.require_operator(identity.organization_id)
    message = scheduled_get_for_scope(
        scope=request.console.scope, identity=identity, message_id=message_id
    )
    error, status = "", 200
    try:
        scheduled_cancel(message=message, actor=user_actor(request))
    except ApplicationError as exc:
        error, status = exc.message, 409
    if not request.htmx:
        return form_post_response(error, status, "console:scheduled", identity.handle)
    rows = scheduled_list_for_identity(scope=request.console.scope, identity=identity)
    context = {
        "identity": identity,
        "page": paginate(rows, page=1),
        "query": "",
        "can_edit": True,
        "error": error,
        "notice": "" if error else "Scheduled message cancelled.",
    }
    return render_page(request, f"{TEMPLATE}#scheduled-rows", context, status=status)
