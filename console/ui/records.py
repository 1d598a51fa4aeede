"""Records: each organisation's retention window, its legal holds and the last retention
runs. Operators change them (audited); auditors read them."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from console.errors import ApplicationError, NotFound
from console.models import Organization
from console.phone import INVALID_NUMBER, to_e164
from console.selectors import identity_get_for_scope, normalize_handle
from console.ui.access import (
    ConsoleRequest,
    console_action,
    console_page,
    operated,
    refusal_status,
    user_actor,
)
from console.ui.forms import HoldLiftForm, LegalHoldForm, PersonExportForm, RetentionForm
from console.ui.record_exports import person_exports_context
from console.ui.rendering import render_page
from messaging.console_selectors import conversation_get_for_scope
from messaging.records_selectors import legal_hold_get, legal_hold_list, retention_run_list
from messaging.services.retention import legal_hold_lift, legal_hold_place, retention_days_set


def _page(request: ConsoleRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    scope = request.console.scope
    context: dict[str, Any] = {
        "nav": "records",
        "organizations": [
            {
                "organization": org,
                "can_edit": request.console.can_operate_in(org.id),
                # One page holds a form of each kind per organisation: ids stay unique.
                "retention_form": RetentionForm(
                    initial={"organization": org.id, "days": org.message_retention_days},
                    auto_id=f"retention-{org.id}-%s",
                ),
                "hold_form": LegalHoldForm(
                    initial={"organization": org.id}, auto_id=f"hold-{org.id}-%s"
                ),
                "export_form": PersonExportForm(
                    initial={"organization": org.id}, auto_id=f"export-{org.id}-%s"
                ),
            }
            for org in request.console.organizations
        ],
        "holds": list(legal_hold_list(scope=scope)[:200]),
        **person_exports_context(request),
        "runs": retention_run_list(scope=scope),
        "operated_ids": {
            org.id
            for org in request.console.organizations
            if request.console.can_operate_in(org.id)
        },
        **extra,
    }
    return render_page(
        request, "console/records.html", context, partial="records-body", status=status
    )


def _answer(
    request: ConsoleRequest, *, notice: str = "", error: str = "", status: int = 200
) -> HttpResponse:
    if request.htmx:
        return _page(request, notice=notice, error=error, status=status)
    if error:
        return HttpResponse(error, status=status, content_type="text/plain")
    return redirect(reverse("console:records"))


@console_page
def records_page(request: ConsoleRequest) -> HttpResponse:
    return _page(request)


@console_action
def retention_set_view(request: ConsoleRequest) -> HttpResponse:
    form = RetentionForm(request.POST)
    if not form.is_valid():
        return _answer(request, error=_first_error(form), status=422)
    org = request.console.operated_organization(form.cleaned_data["organization"])
    days = form.cleaned_data["days"]
    retention_days_set(organization=org, days=days, actor=user_actor(request))
    kept = "forever" if days == 0 else f"for {days} days"
    return _answer(request, notice=f"{org.name} now keeps message text {kept}.")


@console_action
def legal_hold_place_view(request: ConsoleRequest) -> HttpResponse:
    form = LegalHoldForm(request.POST)
    if not form.is_valid():
        return _answer(request, error=_first_error(form), status=422)
    org = request.console.operated_organization(form.cleaned_data["organization"])
    try:
        target = _hold_target(request, org, form.cleaned_data["kind"], form.cleaned_data["target"])
        hold = legal_hold_place(
            organization=org,
            actor=user_actor(request),
            reason=form.cleaned_data["reason"],
            **target,
        )
    except ApplicationError as exc:
        return _answer(request, error=exc.message, status=refusal_status(exc))
    return _answer(request, notice=f"Retention is suspended for {hold.target_label}.")


@console_action
def legal_hold_lift_view(request: ConsoleRequest, hold_id: str) -> HttpResponse:
    hold = operated(request, legal_hold_get, hold_id=hold_id)
    form = HoldLiftForm(request.POST)
    if not form.is_valid():
        return _answer(request, error="Say why the hold is lifted.", status=422)
    legal_hold_lift(hold=hold, actor=user_actor(request), reason=form.cleaned_data["reason"])
    return _answer(request, notice=f"The hold on {hold.target_label} is lifted.")


def _hold_target(request: ConsoleRequest, org: Organization, kind: str, raw: str) -> dict[str, Any]:
    scope = request.console.scope
    not_here = NotFound(f"Nothing in {org.name} matches {raw.strip()!r}.")
    if kind == "number":
        number = to_e164(raw, region="US")
        if number is None:
            raise NotFound(INVALID_NUMBER)
        return {"remote_number": number}
    try:
        if kind == "identity":
            identity = identity_get_for_scope(scope=scope, handle=normalize_handle(raw))
            target: Any = identity
            found: dict[str, Any] = {"identity": identity}
        else:
            conversation = conversation_get_for_scope(scope=scope, conversation_id=raw.strip())
            target = conversation
            found = {"conversation": conversation}
    except NotFound:
        raise not_here from None
    if target.organization_id != org.id:
        raise not_here
    return found


def _first_error(form: Any) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return "Check the form."
