"""Read-only console pages: dashboard, setups, lines, identities, conversations,
deliveries and the audit log."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from console.ui import selectors
from console.ui.access import ConsoleRequest, console_view
from console.ui.chart import volume_chart
from console.ui.forms import (
    AuditFilterForm,
    ConversationFilterForm,
    DeliveryFilterForm,
    LineAddForm,
    LineRoleForm,
    SetupFilterForm,
)
from console.ui.rendering import page_number, query_without_page, render_page


def _orgs(request: ConsoleRequest) -> list[object]:
    return request.console.org_ids


@require_GET
@console_view
def dashboard(request: ConsoleRequest) -> HttpResponse:
    data = selectors.dashboard_get(org_ids=_orgs(request))
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


@require_GET
@console_view
def setup_list(request: ConsoleRequest) -> HttpResponse:
    form = SetupFilterForm(request.GET or None)
    status = form.cleaned_data["status"] if form.is_valid() else ""
    page = selectors.paginate(
        selectors.setup_list(org_ids=_orgs(request), status=status), page=page_number(request)
    )
    return render_page(
        request,
        "console/setups.html",
        {"nav": "setups", "form": form, "page": page, "query": query_without_page(request)},
        partial="setup-rows",
    )


@require_GET
@console_view
def setup_detail(request: ConsoleRequest, setup_id: str) -> HttpResponse:
    setup = selectors.setup_get(org_ids=_orgs(request), setup_id=setup_id)
    lines = list(selectors.setup_lines(setup=setup))
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


@require_GET
@console_view
def pending_lines(request: ConsoleRequest) -> HttpResponse:
    page = selectors.paginate(
        selectors.pending_lines(org_ids=_orgs(request)), page=page_number(request)
    )
    return render_page(
        request,
        "console/pending_lines.html",
        {
            "nav": "pending",
            "page": page,
            "query": query_without_page(request),
            "now": timezone.now(),
        },
        partial="pending-rows",
    )


@require_GET
@console_view
def identity_list(request: ConsoleRequest) -> HttpResponse:
    page = selectors.paginate(
        selectors.identity_list(org_ids=_orgs(request)), page=page_number(request)
    )
    return render_page(
        request,
        "console/identities.html",
        {"nav": "identities", "page": page, "query": query_without_page(request)},
        partial="identity-rows",
    )


@require_GET
@console_view
def identity_detail(request: ConsoleRequest, handle: str) -> HttpResponse:
    identity = selectors.identity_get(org_ids=_orgs(request), handle=handle)
    page = selectors.paginate(
        selectors.identity_connections(identity=identity), page=page_number(request)
    )
    return render_page(
        request,
        "console/identity_detail.html",
        {
            "nav": "identities",
            "identity": identity,
            "page": page,
            "query": query_without_page(request),
            "can_edit": request.console.can_operate_in(identity.organization_id),
        },
        partial="connection-rows",
    )


@require_GET
@console_view
def conversation_list(request: ConsoleRequest) -> HttpResponse:
    orgs = _orgs(request)
    form = ConversationFilterForm(
        request.GET or None, handles=selectors.identity_handles(org_ids=orgs)
    )
    valid = form.is_valid()
    handle = form.cleaned_data["identity"] if valid else ""
    kind = form.cleaned_data["kind"] if valid else ""
    page = selectors.paginate(
        selectors.conversation_list(org_ids=orgs, identity=handle, kind=kind),
        page=page_number(request),
    )
    return render_page(
        request,
        "console/conversations.html",
        {"nav": "conversations", "form": form, "page": page, "query": query_without_page(request)},
        partial="conversation-rows",
    )


@require_GET
@console_view
def conversation_detail(request: ConsoleRequest, conversation_id: str) -> HttpResponse:
    conversation = selectors.conversation_get(
        org_ids=_orgs(request), conversation_id=conversation_id
    )
    page = selectors.paginate(
        selectors.conversation_messages(conversation=conversation), page=page_number(request)
    )
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
        },
        partial="thread",
    )


@require_GET
@console_view
def delivery_list(request: ConsoleRequest) -> HttpResponse:
    form = DeliveryFilterForm(request.GET or None)
    status = form.cleaned_data["status"] if form.is_valid() else ""
    page = selectors.paginate(
        selectors.delivery_list(org_ids=_orgs(request), status=status), page=page_number(request)
    )
    return render_page(
        request,
        "console/deliveries.html",
        {"nav": "deliveries", "form": form, "page": page, "query": query_without_page(request)},
        partial="delivery-rows",
    )


@require_GET
@console_view
def audit_list(request: ConsoleRequest) -> HttpResponse:
    orgs = _orgs(request)
    form = AuditFilterForm(request.GET or None, actions=selectors.audit_actions(org_ids=orgs))
    filters = selectors.AuditFilters()
    if form.is_valid():
        filters = selectors.AuditFilters(**form.cleaned_data)
    page = selectors.paginate(
        selectors.audit_list(org_ids=orgs, filters=filters), page=page_number(request)
    )
    return render_page(
        request,
        "console/audit.html",
        {"nav": "audit", "form": form, "page": page, "query": query_without_page(request)},
        partial="audit-rows",
    )
