"""Read-only console pages: dashboard, setups, lines and identities (conversations,
deliveries and the audit log have their own modules)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from console.selectors import identity_get_for_scope
from console.ui.access import ConsoleRequest, console_page
from console.ui.chart import volume_chart
from console.ui.dashboard import dashboard_get
from console.ui.forms import (
    LineAddForm,
    LineRoleForm,
)
from console.ui.quiet_hours import quiet_hours_context
from console.ui.rendering import render_list, render_page
from provisioning.models import Setup
from provisioning.selectors import (
    setup_get_for_scope,
    setup_line_list,
)
from routing.selectors import identity_connection_list, identity_list_for_scope


@console_page
def dashboard(request: ConsoleRequest) -> HttpResponse:
    data = dashboard_get(scope=request.console.scope)
    oldest_wait = timezone.now() - data.oldest_pending_at if data.oldest_pending_at else None
    return render_page(
        request,
        "console/dashboard.html",
        {
            "nav": "dashboard",
            "data": data,
            "oldest_wait": oldest_wait,
            "chart": volume_chart(data.days),
        },
        partial="dashboard-body",
    )


def setup_detail_context(request: ConsoleRequest, setup: Setup) -> dict[str, Any]:
    """The setup page's context: the setup, its lines and the forms an operator gets."""
    return {
        "nav": "setups",
        "setup": setup,
        "lines": list(setup_line_list(setup=setup)),
        "role_form": LineRoleForm(),
        "add_form": LineAddForm(platform=setup.is_platform),
        "can_edit": request.console.can_operate_in(setup.organization_id),
        "now": timezone.now(),
    }


@console_page
def setup_detail(request: ConsoleRequest, setup_id: str) -> HttpResponse:
    setup = setup_get_for_scope(scope=request.console.scope, setup_id=setup_id)
    return render_page(request, "console/setup_detail.html", setup_detail_context(request, setup))


@console_page
def identity_list(request: ConsoleRequest) -> HttpResponse:
    return render_list(
        request,
        "console/identities.html",
        identity_list_for_scope(scope=request.console.scope),
        partial="identity-rows",
        nav="identities",
    )


@console_page
def identity_detail(request: ConsoleRequest, handle: str) -> HttpResponse:
    identity = identity_get_for_scope(scope=request.console.scope, handle=handle)
    return render_list(
        request,
        "console/identity_detail.html",
        identity_connection_list(identity=identity),
        partial="connection-rows",
        nav="identities",
        identity=identity,
        can_edit=request.console.can_operate_in(identity.organization_id),
        **quiet_hours_context(identity),
    )
