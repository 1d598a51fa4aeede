"""Creating a setup from the console: the same service and idempotency as
`POST /api/v1/imessage/setups`, for an organisation the viewer operates."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from console.errors import ApplicationError
from console.ui.access import (
    ConsoleAccess,
    ConsoleRequest,
    console_view,
    refusal_status,
    user_actor,
)
from console.ui.forms import SetupCreateForm, SetupFilterForm
from console.ui.rendering import form_post_response, render_list, render_page
from provisioning.models import Setup, SetupStatus
from provisioning.selectors import setup_list_for_scope
from provisioning.services.setups import setup_create

INVALID_SETUP = "Give the setup a business name and a label."


def operated_organizations(access: ConsoleAccess) -> list[tuple[str, str]]:
    """(id, name) of the organisations the viewer may create setups in."""
    return [(str(o.id), o.name) for o in access.organizations if access.can_operate_in(o.id)]


def setup_create_form(access: ConsoleAccess, data: Any = None) -> SetupCreateForm | None:
    """The "New setup" form, or None for a viewer who operates no organisation."""
    organizations = operated_organizations(access)
    if not organizations:
        return None
    return SetupCreateForm(data, organizations=organizations)


def _created_notice(setup: Setup) -> str:
    if setup.status == SetupStatus.FAILED:
        return f"Setup “{setup.label}” was recorded but failed: {setup.failure_reason}"
    if setup.status == SetupStatus.PENDING:
        return f"Setup “{setup.label}” created; the provider is placing its line."
    return f"Setup “{setup.label}” created and active."


def _section(
    request: ConsoleRequest,
    form: SetupCreateForm | None,
    *,
    created: Setup | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return render_page(
        request,
        "console/setups.html#setup-create",
        {
            "create_form": form,
            "created": created,
            "create_notice": _created_notice(created) if created else "",
            "create_error": error,
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@console_view
def setups_view(request: ConsoleRequest) -> HttpResponse:
    """The setups list; a post to the same address creates one ("New setup")."""
    if request.method == "POST":
        return _setup_create(request)
    return _setup_list(request)


def _setup_list(request: ConsoleRequest) -> HttpResponse:
    form = SetupFilterForm(request.GET or None)
    status = form.cleaned_data.get("status", "") if form.is_valid() else ""
    return render_list(
        request,
        "console/setups.html",
        setup_list_for_scope(scope=request.console.scope, status=status),
        partial="setup-rows",
        nav="setups",
        form=form,
        create_form=setup_create_form(request.console),
    )


def _setup_create(request: ConsoleRequest) -> HttpResponse:
    access = request.console
    form = setup_create_form(access, request.POST)
    if form is None:
        raise PermissionDenied("Your role cannot create setups.")
    if not form.is_valid():
        if not request.htmx:
            return form_post_response(INVALID_SETUP, 422, "console:setups")
        return _section(request, form, status=422)
    organization = next(
        o for o in access.organizations if str(o.id) == form.cleaned_data["organization"]
    )
    try:
        setup = setup_create(
            organization=organization,
            business_name=form.cleaned_data["business_name"],
            label=form.cleaned_data["label"],
            actor=user_actor(request),
            idempotency_key=form.idempotency_key(),
        )
    except ApplicationError as exc:
        if not request.htmx:
            return form_post_response(exc.message, refusal_status(exc), "console:setups")
        return _section(request, form, error=exc.message, status=refusal_status(exc))
    if not request.htmx:
        return redirect(reverse("console:setup", args=[setup.id]))
    return _section(request, setup_create_form(access), created=setup)
