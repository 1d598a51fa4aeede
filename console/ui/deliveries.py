"""Agent webhook deliveries in the console: the list (filtered by identity, event type and
status), its CSV export, one delivery in full (the request body as sent, the answer, how
long it took, attempts and the next one) and the operator's retry."""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.http import HttpResponse

from console.errors import ApplicationError
from console.selectors import identity_handle_list
from console.ui.access import ConsoleRequest, console_action, console_page, operated, user_actor
from console.ui.export import csv_export
from console.ui.forms import _set_choices
from console.ui.rendering import form_post_response, render_list, render_page
from messaging.webhooks.delivery import delivery_retry
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery
from messaging.webhooks.selectors import (
    delivery_detail_for_scope,
    delivery_event_type_list,
    delivery_get_for_scope,
    delivery_list_for_scope,
)

RETRY_QUEUED = "Retry queued."
# The console shows this much of an answer; the rest stays in the database.
BODY_SHOWN_CHARS = 4096
RETRYABLE = (DeliveryStatus.FAILED, DeliveryStatus.PENDING)


class DeliveryFilterForm(forms.Form):
    identity = forms.ChoiceField(required=False, label="Identity")
    event_type = forms.ChoiceField(required=False, label="Event type")
    status = forms.ChoiceField(
        required=False, label="Status", choices=[("", "Any"), *DeliveryStatus.choices]
    )

    def __init__(self, *args: Any, handles: list[str], event_types: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        _set_choices(self, "identity", [(h, f"@{h}") for h in handles])
        _set_choices(self, "event_type", [(t, t) for t in event_types])


def _filtered(request: ConsoleRequest) -> tuple[DeliveryFilterForm, QuerySet[WebhookDelivery]]:
    scope = request.console.scope
    form = DeliveryFilterForm(
        request.GET or None,
        handles=identity_handle_list(scope=scope),
        event_types=delivery_event_type_list(scope=scope),
    )
    cleaned = form.cleaned_data if form.is_valid() else {}
    return form, delivery_list_for_scope(scope=scope, **cleaned)


@console_page
def delivery_list(request: ConsoleRequest) -> HttpResponse:
    form, rows = _filtered(request)
    return render_list(
        request,
        "console/deliveries.html",
        rows,
        partial="delivery-rows",
        nav="deliveries",
        form=form,
    )


EXPORT_HEADER = [
    "created",
    "delivery id",
    "event id",
    "event type",
    "identity",
    "url",
    "status",
    "attempts",
    "response status",
    "latency ms",
    "last attempt",
    "next attempt",
    "error",
    "replay",
]


def _export_row(delivery: WebhookDelivery) -> list[Any]:
    return [
        delivery.created_at,
        delivery.id,
        delivery.event_id,
        delivery.event.event_type,
        delivery.event.identity.handle,  # without "@": a spreadsheet reads that as a formula
        delivery.url,
        delivery.status,
        delivery.attempt_count,
        delivery.response_status,
        delivery.duration_ms,
        delivery.last_attempt_at,
        delivery.next_attempt_at,
        delivery.error_detail,
        "yes" if delivery.is_replay else "no",
    ]


@console_page
def delivery_export(request: ConsoleRequest) -> HttpResponse:
    form, rows = _filtered(request)
    # A streamed answer; `console_page` types its views as returning HttpResponse.
    return cast(
        HttpResponse,
        csv_export(
            request,
            kind="deliveries",
            header=EXPORT_HEADER,
            rows=rows,
            to_row=_export_row,
            filters=form.cleaned_data if form.is_bound and form.is_valid() else {},
        ),
    )


def pretty_body(text: str | None) -> str:
    """A body as a person reads it: JSON indented, anything else as it came, cut at
    BODY_SHOWN_CHARS."""
    if not text:
        return ""
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        shown = text
    if len(shown) > BODY_SHOWN_CHARS:
        return shown[:BODY_SHOWN_CHARS] + f"\n… ({len(shown) - BODY_SHOWN_CHARS} more characters)"
    return shown


def _detail_context(request: ConsoleRequest, delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "nav": "deliveries",
        "delivery": delivery,
        "request_body": pretty_body(delivery.request_payload),
        "response_body": pretty_body(delivery.response_body),
        "can_retry": delivery.status in RETRYABLE
        and request.console.can_operate_in(delivery.organization_id),
    }


@console_page
def delivery_detail(request: ConsoleRequest, delivery_id: str) -> HttpResponse:
    delivery = delivery_detail_for_scope(scope=request.console.scope, delivery_id=delivery_id)
    return render_page(request, "console/delivery_detail.html", _detail_context(request, delivery))


@console_action
def delivery_retry_view(request: ConsoleRequest, delivery_id: str) -> HttpResponse:
    """Retry from the list (the row is swapped) or from the detail page (its summary is)."""
    delivery = operated(request, delivery_get_for_scope, delivery_id=delivery_id)
    from_detail = request.POST.get("from") == "detail"
    error, status = "", 200
    try:
        delivery_retry(delivery=delivery, actor=user_actor(request))
    except ApplicationError as exc:
        error, status = exc.message, 409
    scope = request.console.scope
    if not request.htmx:
        if from_detail and not error:
            return form_post_response("", 200, "console:delivery", delivery.id)
        return form_post_response(error, status, "console:deliveries")
    if from_detail:
        fresh = delivery_detail_for_scope(scope=scope, delivery_id=delivery.pk)
        context = _detail_context(request, fresh)
        context["notice"] = error or RETRY_QUEUED
        return render_page(
            request, "console/delivery_detail.html#delivery-summary", context, status=status
        )
    return render_page(
        request,
        "console/deliveries.html#delivery-row",
        {
            "delivery": delivery_list_for_scope(scope=scope).get(pk=delivery.pk),
            "notice": error or RETRY_QUEUED,
        },
        status=status,
    )
