"""The consent ledger in the console: the "Opt-outs" page (filters, CSV export) and the
operator form that records an opt-out the person gave another way (a phone call)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from console.selectors import identity_get_for_scope, identity_handle_list
from console.ui.access import ConsoleRequest, console_action, console_page, operated, user_actor
from console.ui.export import csv_export
from console.ui.forms import DateRangeMixin, PhoneNumberField, _set_choices
from console.ui.rendering import render_list
from messaging.consent_selectors import ConsentFilters, consent_event_list
from messaging.models import ConsentEvent, ConsentKind
from messaging.services import consent

EXPORT_HEADER = [
    "created_at",
    "kind",
    "remote_number",
    "identity",
    "source",
    "keyword",
    "operator",
    "reason",
    "source_message_id",
]


class OptOutFilterForm(DateRangeMixin):
    identity = forms.ChoiceField(required=False, label="Identity")
    number = forms.CharField(required=False, label="Number", max_length=32)
    kind = forms.ChoiceField(
        required=False,
        label="Kind",
        choices=[("", "Any"), *ConsentKind.choices],
    )

    def __init__(self, *args: Any, handles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "identity", [(h, f"@{h}") for h in handles])

    def clean_number(self) -> str:
        from console.phone import to_e164

        raw = self.cleaned_data.get("number", "").strip()
        return to_e164(raw) or raw


class OptOutRecordForm(forms.Form):
    identity = forms.ChoiceField(label="Identity")
    number = PhoneNumberField(label="Phone number", max_length=32)
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        widget=forms.TextInput(attrs={"placeholder": "Asked by phone on the front desk line"}),
    )

    def __init__(self, *args: Any, handles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["identity"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(h, f"@{h}") for h in handles]


def _filters(
    request: ConsoleRequest, handles: list[str]
) -> tuple[OptOutFilterForm, ConsentFilters]:
    form = OptOutFilterForm(request.GET or None, handles=handles)
    cleaned = form.cleaned_data if form.is_valid() else {}
    return form, ConsentFilters(**cleaned)


def _page(
    request: ConsoleRequest, *, record_form: OptOutRecordForm | None = None, status: int = 200
) -> HttpResponse:
    scope = request.console.scope
    handles = identity_handle_list(scope=scope)
    form, filters = _filters(request, handles)
    response = render_list(
        request,
        "console/opt_outs.html",
        consent_event_list(scope=scope, filters=filters),
        partial="opt-out-rows",
        nav="opt-outs",
        form=form,
        record_form=(record_form or OptOutRecordForm(handles=handles))
        if request.console.can_operate
        else None,
    )
    response.status_code = status
    return response


@console_page
def opt_out_list(request: ConsoleRequest) -> HttpResponse:
    return _page(request)


def _row(event: ConsentEvent) -> list[Any]:
    return [
        event.created_at,
        event.kind,
        event.remote_number,
        f"@{event.identity.handle}" if event.identity else "",
        event.source,
        event.keyword,
        event.operator_label,
        event.reason,
        event.source_message_id,
    ]


@console_page
def opt_out_export(request: ConsoleRequest) -> StreamingHttpResponse:
    scope = request.console.scope
    form, filters = _filters(request, identity_handle_list(scope=scope))
    return csv_export(
        request,
        kind="opt-outs",
        header=EXPORT_HEADER,
        rows=consent_event_list(scope=scope, filters=filters),
        to_row=_row,
        filters=form.cleaned_data if form.is_valid() else {},
    )


@console_action
def opt_out_record(request: ConsoleRequest) -> HttpResponse:
    """Record an opt-out staff received another way; the identity must be one the viewer
    operates (403 otherwise, 404 outside their organisations)."""
    form = OptOutRecordForm(request.POST, handles=identity_handle_list(scope=request.console.scope))
    if not form.is_valid():
        return _page(request, record_form=form, status=422)
    identity = operated(request, identity_get_for_scope, handle=form.cleaned_data["identity"])
    consent.operator_opt_out(
        identity=identity,
        number=form.cleaned_data["number"],
        reason=form.cleaned_data["reason"],
        user=request.user,
        actor=user_actor(request),
    )
    return redirect(reverse("console:opt-outs"))
