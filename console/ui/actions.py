"""Operator actions outside the rules editor: setup lines and default, line roles,
connection release.

Each action finds the object in the viewer's scope (404 otherwise), checks the viewer
operates that organisation (403 otherwise), calls the owning app's service, and answers
with the fragment htmx swaps in, or a redirect for a plain form post.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from console.errors import ApplicationError
from console.ui.access import (
    ConsoleRequest,
    console_action,
    operated,
    refusal_status,
    user_actor,
)
from console.ui.forms import LineAddForm, LineRoleForm
from console.ui.pages import setup_detail_context
from console.ui.pagination import paginate
from console.ui.rendering import form_post_response, render_page
from provisioning.models import LineRole, PhoneLine
from provisioning.selectors import line_get_for_scope, setup_get_for_scope, setup_line_list
from provisioning.services.lines import setup_line_add
from provisioning.services.setups import setup_default_set
from routing.models import ReleaseReason
from routing.selectors import assignment_get_for_scope, identity_connection_list
from routing.services.assignments import assignment_release
from routing.services.line_roles import line_role_check, line_role_set


def _setup_lines_section(
    request: ConsoleRequest,
    setup_id: uuid.UUID | str,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    access = request.console
    setup = setup_get_for_scope(scope=access.scope, setup_id=setup_id)
    return render_page(
        request,
        "console/setup_detail.html#lines-section",
        {
            "setup": setup,
            "lines": list(setup_line_list(setup=setup)),
            "role_form": LineRoleForm(),
            "add_form": LineAddForm(platform=setup.is_platform),
            "can_edit": True,
            "add_notice": notice,
            "add_error": error,
            "now": timezone.now(),
        },
        status=status,
    )


@console_action
def setup_line_add_view(request: ConsoleRequest, setup_id: str) -> HttpResponse:
    setup = operated(request, setup_get_for_scope, setup_id=setup_id)
    form = LineAddForm(request.POST, platform=setup.is_platform)
    notice, error, status = "", "", 200
    if form.is_valid():
        try:
            line = setup_line_add(
                setup=setup,
                role=form.cleaned_data["role"],
                actor=user_actor(request),
                idempotency_key=form.idempotency_key(),
            )
            notice = (
                f"Line {line.number} added."
                if line.number
                else "Line requested; the provider is placing it."
            )
        except ApplicationError as exc:
            error, status = exc.message, refusal_status(exc)
    else:
        error, status = "Choose a role for the new line.", 422
    if not request.htmx:
        return form_post_response(error, status, "console:setup", setup.id)
    return _setup_lines_section(request, setup.id, notice=notice, error=error, status=status)


@console_action
def setup_default_view(request: ConsoleRequest, setup_id: str) -> HttpResponse:
    setup = operated(request, setup_get_for_scope, setup_id=setup_id)
    try:
        setup_default_set(setup=setup, actor=user_actor(request))
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=422, content_type="text/plain")
    return redirect(reverse("console:setup", args=[setup.id]))


# What a role change does, said before the operator confirms it.
ROLE_EFFECTS = {
    LineRole.ROUTER: "People who text this number will reach the router (connect @handle).",
    LineRole.POOL: "New connections may be placed on this line; agents never see its number.",
    LineRole.DEDICATED: "It stops serving everyone and can be attached to one identity.",
}
ROUTER_LEAVING = "It stops answering connect commands: make sure another line is the router."


def _role_effect(line: PhoneLine, role: str) -> str:
    effect = ROLE_EFFECTS[LineRole(role)]
    if line.role == LineRole.ROUTER:
        effect = f"{ROUTER_LEAVING} {effect}"
    return effect


def _line_row(
    request: ConsoleRequest, line: PhoneLine, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The line's row (htmx), or the whole setup page around it (a plain form post)."""
    access = request.console
    fresh = line_get_for_scope(scope=access.scope, line_id=line.id)
    context: dict[str, Any] = {
        "line": fresh,
        "role_form": LineRoleForm(),
        "can_edit": True,
        "now": timezone.now(),
        "row_line_id": fresh.id,
        **extra,
    }
    if request.htmx:
        return render_page(request, "console/setup_detail.html#line-row", context, status=status)
    context.update(setup_detail_context(request, fresh.setup))
    return render_page(request, "console/setup_detail.html", context, status=status)


@console_action
def line_role(request: ConsoleRequest, line_id: str) -> HttpResponse:
    """Change a line's role in two steps: the first post says what the change does (or
    why it is refused), the second (`confirm=1`) makes it and confirms it in the row."""
    access = request.console
    line = line_get_for_scope(scope=access.scope, line_id=line_id)
    access.require_operator(line.setup.organization_id)
    form = LineRoleForm(request.POST)
    if not form.is_valid():
        return _line_row(request, line, status=422, role_error="Choose router, pool or dedicated.")
    role = form.cleaned_data["role"]
    if role == line.role:
        already = f"The line is already {line.get_role_display().lower()}."
        return _line_row(request, line, role_notice=already)
    try:
        if request.POST.get("confirm") != "1":
            line_role_check(line=line, role=role)
            return _line_row(
                request,
                line,
                role_confirm=role,
                role_confirm_label=LineRole(role).label.lower(),
                role_effect=_role_effect(line, role),
            )
        line = line_role_set(line=line, role=role, actor=user_actor(request))
    except ApplicationError as exc:
        return _line_row(request, line, status=422, role_error=exc.message)
    return _line_row(request, line, role_notice=f"Role set to {line.get_role_display().lower()}.")


@console_action
def assignment_release_view(request: ConsoleRequest, assignment_id: str) -> HttpResponse:
    assignment = operated(request, assignment_get_for_scope, assignment_id=assignment_id)
    assignment_release(
        assignment=assignment, actor=user_actor(request), reason=ReleaseReason.OPERATOR
    )
    identity = assignment.identity
    if not request.htmx:
        return redirect(reverse("console:identity", args=[identity.handle]))
    page = paginate(identity_connection_list(identity=identity), page=1)
    return render_page(
        request,
        "console/identity_detail.html#connection-rows",
        {"identity": identity, "page": page, "query": "", "can_edit": True},
    )
