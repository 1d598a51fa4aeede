"""Blocked messages review: the queue with filters, detail, the decisions (allow, keep,
change with a reason, release to the agent), bulk decisions and the CSV export."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse

from console.access import Viewed, access_record
from console.errors import ApplicationError, Conflict
from console.models import AccessKind
from console.selectors import identity_handle_list
from console.ui.access import (
    ConsoleRequest,
    console_action,
    console_page,
    operated,
    refusal_status,
    user_actor,
    user_viewer,
)
from console.ui.export import csv_export
from console.ui.forms import AllowForm, BlockedFilterForm, BulkDecisionForm, DecisionChangeForm
from console.ui.rendering import form_post_response, render_list, render_page
from console.ui.services import (
    REVIEW_ALLOWED,
    ReviewOutcome,
    blocked_message_change,
    blocked_message_decide,
    blocked_message_release,
    blocked_messages_decide,
)
from messaging.models import Message
from messaging.review import (
    BlockedFilters,
    blocked_message_get,
    blocked_message_list,
    blocked_messages_by_ids,
)

PREVIEW_CHARS = 120


def _filter_form(request: ConsoleRequest) -> tuple[BlockedFilterForm, BlockedFilters]:
    form = BlockedFilterForm(
        request.GET or None, handles=identity_handle_list(scope=request.console.scope)
    )
    cleaned = form.cleaned_data if form.is_valid() else {}
    return form, BlockedFilters(**cleaned)


def _operable(request: ConsoleRequest) -> list[Any]:
    access = request.console
    return [org_id for org_id in access.roles if access.can_operate_in(org_id)]


@console_page
def blocked_list(request: ConsoleRequest) -> HttpResponse:
    form, filters = _filter_form(request)
    return render_list(
        request,
        "console/blocked.html",
        blocked_message_list(scope=request.console.scope, filters=filters),
        partial="blocked-rows",
        nav="blocked",
        form=form,
        review=filters.review,
        operable=_operable(request),
        preview_chars=PREVIEW_CHARS,
    )


def _preview(message: Message) -> str:
    text = message.content or ""
    return text[:PREVIEW_CHARS]


@console_page
def blocked_export(request: ConsoleRequest) -> StreamingHttpResponse:
    _, filters = _filter_form(request)
    return csv_export(
        request,
        kind="blocked-messages",
        header=[
            "received_at",
            "sender",
            "identity",
            "text_preview",
            "rule_id",
            "review",
            "reviewed_by",
            "reviewed_at",
            "released_at",
            "message_id",
        ],
        rows=blocked_message_list(scope=request.console.scope, filters=filters),
        to_row=lambda m: [
            m.created_at,
            m.remote_number,
            m.identity.handle,
            _preview(m),
            m.blocked_rule_id,
            m.review_state or "waiting",
            m.reviewed_by.get_username() if m.reviewed_by else "",
            m.reviewed_at,
            m.released_at,
            m.id,
        ],
        filters=dataclasses.asdict(filters),
    )


def _review_context(request: ConsoleRequest, message: Message, **extra: Any) -> dict[str, Any]:
    opposite = "kept" if message.review_state == REVIEW_ALLOWED else "allowed"
    return {
        "nav": "blocked",
        "message": message,
        "identity": message.identity,
        "can_edit": request.console.can_operate_in(message.organization_id),
        "allow_form": AllowForm(),
        "change_form": DecisionChangeForm(initial={"decision": opposite}),
        "opposite": opposite,
        **extra,
    }


@console_page
def blocked_detail(request: ConsoleRequest, message_id: str) -> HttpResponse:
    message = blocked_message_get(scope=request.console.scope, message_id=message_id)
    access_record(
        viewer=user_viewer(request),
        viewed=Viewed(
            organization_id=message.organization_id,
            kind=AccessKind.BLOCKED_MESSAGE,
            object_id=message.id,
            number=message.remote_number,
        ),
    )
    return render_page(
        request,
        "console/blocked_detail.html",
        _review_context(request, message),
        partial="review",
    )


def _review_response(
    request: ConsoleRequest,
    message_id: str,
    *,
    notice: str = "",
    error: str = "",
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    if not request.htmx:
        return form_post_response(error, status, "console:blocked-detail", message_id)
    message = blocked_message_get(scope=request.console.scope, message_id=message_id)
    context = _review_context(request, message, notice=notice, error=error, **extra)
    return render_page(request, "console/blocked_detail.html#review", context, status=status)


def _refused(request: ConsoleRequest, message_id: str, exc: ApplicationError) -> HttpResponse:
    status = 409 if isinstance(exc, Conflict) else refusal_status(exc)
    return _review_response(request, message_id, error=exc.message, status=status)


def _notice(message: Message, outcome: ReviewOutcome) -> str:
    handle = message.identity.handle
    if outcome.decision == REVIEW_ALLOWED:
        text = f"{message.remote_number} can now reach @{handle}: {outcome.changes}."
    else:
        text = f"Kept blocked: {message.remote_number} cannot reach @{handle} ({outcome.changes})."
    if outcome.released is True:
        text += " The held message was delivered to the agent."
    elif outcome.released is False:
        text += " The held message had already been delivered."
    return f"{text} The decision is in the audit log."


@console_action
def blocked_allow(request: ConsoleRequest, message_id: str) -> HttpResponse:
    message = operated(request, blocked_message_get, message_id=message_id)
    form = AllowForm(request.POST)
    release = form.is_valid() and bool(form.cleaned_data["release"])
    try:
        outcome = blocked_message_decide(
            message=message,
            decision=REVIEW_ALLOWED,
            actor=user_actor(request),
            reviewer=request.user,
            release=release,
        )
    except ApplicationError as exc:
        return _refused(request, message_id, exc)
    return _review_response(request, message_id, notice=_notice(message, outcome))


@console_action
def blocked_keep(request: ConsoleRequest, message_id: str) -> HttpResponse:
    message = operated(request, blocked_message_get, message_id=message_id)
    try:
        outcome = blocked_message_decide(
            message=message, decision="kept", actor=user_actor(request), reviewer=request.user
        )
    except ApplicationError as exc:
        return _refused(request, message_id, exc)
    return _review_response(request, message_id, notice=_notice(message, outcome))


@console_action
def blocked_change(request: ConsoleRequest, message_id: str) -> HttpResponse:
    message = operated(request, blocked_message_get, message_id=message_id)
    form = DecisionChangeForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        return _review_response(request, message_id, error=errors, status=422)
    try:
        outcome = blocked_message_change(
            message=message,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
            actor=user_actor(request),
            reviewer=request.user,
            release=bool(form.cleaned_data["release"]),
        )
    except ApplicationError as exc:
        return _refused(request, message_id, exc)
    return _review_response(request, message_id, notice=_notice(message, outcome))


@console_action
def blocked_release(request: ConsoleRequest, message_id: str) -> HttpResponse:
    message = operated(request, blocked_message_get, message_id=message_id)
    try:
        released = blocked_message_release(message=message, actor=user_actor(request))
    except ApplicationError as exc:
        return _refused(request, message_id, exc)
    notice = (
        "The held message was delivered to the agent. The release is in the audit log."
        if released
        else "The held message had already been delivered to the agent."
    )
    return _review_response(request, message_id, notice=notice)


@console_action
def blocked_bulk(request: ConsoleRequest) -> HttpResponse:
    """Selected rows, one decision: a confirmation page first, then each message decided
    and audited on its own. Rows outside the viewer's scope, or in an organisation they
    only audit, are skipped and counted."""
    form = BulkDecisionForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        return render_page(
            request, "console/blocked_bulk.html", {"nav": "blocked", "error": errors}, status=422
        )
    ids = form.cleaned_data["ids"]
    found = blocked_messages_by_ids(scope=request.console.scope, ids=ids)
    messages = [m for m in found if request.console.can_operate_in(m.organization_id)]
    skipped = len(ids) - len(messages)
    decision = form.cleaned_data["decision"]
    context: dict[str, Any] = {
        "nav": "blocked",
        "messages_selected": messages,
        "skipped": skipped,
        "decision": decision,
    }
    if form.cleaned_data["confirm"]:
        context["outcome"] = blocked_messages_decide(
            messages=messages,
            decision=decision,
            actor=user_actor(request),
            reviewer=request.user,
            missing=skipped,
        )
    return render_page(request, "console/blocked_bulk.html", context)
