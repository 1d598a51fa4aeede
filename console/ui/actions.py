"""Operator actions outside the rules editor: setup lines and default, line roles,
connection release.

Each action finds the object in the viewer's scope (404 otherwise), checks the viewer
operates that organisation (403 otherwise), calls the owning app's service, and answers
with the fragment htmx swaps in, or a redirect for a plain form post.
"""

from __future__ import annotations

import uuid

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
from console.ui.pagination import paginate
from console.ui.rendering import form_post_response, render_page
from provisioning.selectors import line_get_for_scope, setup_get_for_scope, setup_line_list
from provisioning.services.lines import setup_line_add
from provisioning.services.setups import setup_default_set
from routing.models import ReleaseReason
from routing.selectors import assignment_get_for_scope, identity_connection_list
from routing.services.assignments import assignment_release
from routing.services.line_roles import line_role_set


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
                idempotency_key=f"console:{form.cleaned_data['request_token']}",
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


@console_action
def line_role(request: ConsoleRequest, line_id: str) -> HttpResponse:
    access = request.console
    line = line_get_for_scope(scope=access.scope, line_id=line_id)
    access.require_operator(line.setup.organization_id)
    form = LineRoleForm(request.POST)
    error = ""
    status = 200
    if form.is_valid():
        try:
            line = line_role_set(
                line=line, role=form.cleaned_data["role"], actor=user_actor(request)
            )
        except ApplicationError as exc:
            error, status = exc.message, 422
    else:
        error, status = "Choose router, pool or dedicated.", 422
    if not request.htmx:
        return form_post_response(error, status, "console:setup", line.setup_id)
    return render_page(
        request,
        "console/setup_detail.html#line-row",
        {
            "line": line_get_for_scope(scope=access.scope, line_id=line.id),
            "role_form": LineRoleForm(),
            "can_edit": True,
            "role_error": error,
            "now": timezone.now(),
        },
        status=status,
    )


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
