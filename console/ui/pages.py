"""Read-only console pages: dashboard, setups, lines, identities, conversations,
deliveries and the audit log."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone

from console.selectors import (
    AuditFilters,
    audit_action_list,
    audit_entry_list,
    identity_get_for_scope,
    identity_handle_list,
)
from console.ui.access import ConsoleRequest, console_page
from console.ui.chart import volume_chart
from console.ui.dashboard import dashboard_get
from console.ui.forms import (
    AuditFilterForm,
    ConversationFilterForm,
    DeliveryFilterForm,
    LineAddForm,
    LineRoleForm,
    SetupFilterForm,
)
from console.ui.handoff import handoff_context
from console.ui.pagination import paginate
from console.ui.rendering import (
    page_number,
    query_without_page,
    render_filtered_list,
    render_list,
    render_page,
)
from messaging.selectors import (
    conversation_get_for_scope,
    conversation_list_for_scope,
    conversation_message_list,
)
from messaging.webhooks.selectors import delivery_list_for_scope
from provisioning.selectors import (
    pending_line_list,
    setup_get_for_scope,
    setup_line_list,
    setup_list_for_scope,
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


@console_page
def setup_list(request: ConsoleRequest) -> HttpResponse:
    return render_filtered_list(
        request,
        "console/setups.html",
        SetupFilterForm(request.GET or None),
        lambda f: setup_list_for_scope(scope=request.console.scope, status=f.get("status", "")),
        partial="setup-rows",
        nav="setups",
    )


@console_page
def setup_detail(request: ConsoleRequest, setup_id: str) -> HttpResponse:
    setup = setup_get_for_scope(scope=request.console.scope, setup_id=setup_id)
    lines = list(setup_line_list(setup=setup))
    return render_page(
        request,
        "console/setup_detail.html",
        {
            "nav": "setups",
            "setup": setup,
            "lines": lines,
            "role_form": LineRoleForm(),
            "add_form": LineAddForm(platform=setup.is_platform),
            "can_edit": request.console.can_operate_in(setup.organization_id),
            "now": timezone.now(),
        },
    )


@console_page
def pending_lines(request: ConsoleRequest) -> HttpResponse:
    return render_list(
        request,
        "console/pending_lines.html",
        pending_line_list(scope=request.console.scope),
        partial="pending-rows",
        nav="pending",
        now=timezone.now(),
    )


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
    )


@console_page
def conversation_list(request: ConsoleRequest) -> HttpResponse:
    scope = request.console.scope
    return render_filtered_list(
        request,
        "console/conversations.html",
        ConversationFilterForm(request.GET or None, handles=identity_handle_list(scope=scope)),
        lambda f: conversation_list_for_scope(
            scope=scope, identity=f.get("identity", ""), kind=f.get("kind", "")
        ),
        partial="conversation-rows",
        nav="conversations",
    )


@console_page
def conversation_detail(request: ConsoleRequest, conversation_id: str) -> HttpResponse:
    conversation = conversation_get_for_scope(
        scope=request.console.scope, conversation_id=conversation_id
    )
    page = paginate(conversation_message_list(conversation=conversation), page=page_number(request))
    return render_page(
        request,
        "console/conversation_detail.html",
        {
            "nav": "conversations",
            "conversation": conversation,
            "page": page,
            # Pages are fetched newest first; a thread reads oldest first.
            "thread": list(reversed(page.items)),
            "query": query_without_page(request),
            **handoff_context(request, conversation),
        },
        partial="thread",
    )


@console_page
def delivery_list(request: ConsoleRequest) -> HttpResponse:
    return render_filtered_list(
        request,
        "console/deliveries.html",
        DeliveryFilterForm(request.GET or None),
        lambda f: delivery_list_for_scope(scope=request.console.scope, status=f.get("status", "")),
        partial="delivery-rows",
        nav="deliveries",
    )


@console_page
def audit_list(request: ConsoleRequest) -> HttpResponse:
    scope = request.console.scope
    return render_filtered_list(
        request,
        "console/audit.html",
        AuditFilterForm(request.GET or None, actions=audit_action_list(scope=scope)),
        lambda f: audit_entry_list(scope=scope, filters=AuditFilters(**f)),
        partial="audit-rows",
        nav="audit",
    )
