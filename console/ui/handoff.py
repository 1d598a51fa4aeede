"""Staff takeover on the console's conversation page: "Take over", "Hand back to agent"
and the staff reply box (operators only; auditors see who handles the conversation).

The controls live in `console/partials/handoff.html`, included by the conversation page;
a reply goes through the agent's send path (`messaging.services.handoff.staff_reply`).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from console.errors import ApplicationError
from console.ui.access import (
    ConsoleRequest,
    console_action,
    operated,
    refusal_status,
    user_actor,
)
from console.ui.rendering import form_post_response, render_page
from messaging.console_selectors import conversation_get_for_scope
from messaging.models import Conversation, HandledBy
from messaging.services import handoff

PARTIAL = "console/partials/handoff.html"


class StaffReplyForm(forms.Form):
    text = forms.CharField(
        label="Reply as staff",
        max_length=settings.MESSAGE_TEXT_MAX_CHARS,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def handoff_context(request: ConsoleRequest, conversation: Conversation) -> dict[str, Any]:
    """What the handoff partial needs on the conversation page."""
    can_operate = not conversation.is_group and request.console.can_operate_in(
        conversation.organization_id
    )
    return {
        "conversation": conversation,
        "handoff_can_operate": can_operate,
        "handled_by_staff": conversation.handled_by == HandledBy.STAFF,
        "reply_form": StaffReplyForm() if can_operate else None,
    }


def _answer(
    request: ConsoleRequest, conversation: Conversation, *, error: str = "", status: int = 200
) -> HttpResponse:
    if not request.htmx:
        return form_post_response(error, status, "console:conversation", conversation.id)
    context = handoff_context(request, conversation)
    return render_page(request, PARTIAL, {**context, "handoff_error": error}, status=status)


def _handoff(request: ConsoleRequest, conversation_id: str, to: str) -> HttpResponse:
    conversation = operated(request, conversation_get_for_scope, conversation_id=conversation_id)
    try:
        changed = handoff.conversation_handoff(
            conversation=conversation, to=to, actor=user_actor(request)
        )
    except ApplicationError as exc:
        return _answer(request, conversation, error=exc.message, status=refusal_status(exc))
    conversation.handled_by = changed.handled_by
    conversation.handed_off_at = changed.handed_off_at
    conversation.handed_off_by = changed.handed_off_by
    return _answer(request, conversation)


@console_action
def handoff_take(request: ConsoleRequest, conversation_id: str) -> HttpResponse:
    return _handoff(request, conversation_id, HandledBy.STAFF)


@console_action
def handoff_release(request: ConsoleRequest, conversation_id: str) -> HttpResponse:
    return _handoff(request, conversation_id, HandledBy.AGENT)


@console_action
def staff_reply(request: ConsoleRequest, conversation_id: str) -> HttpResponse:
    """Send the staff reply, then back to the conversation (its thread shows the bubble)."""
    conversation = operated(request, conversation_get_for_scope, conversation_id=conversation_id)
    form = StaffReplyForm(request.POST)
    if not form.is_valid() or not form.cleaned_data["text"].strip():
        return _answer(request, conversation, error="Write a reply first.", status=422)
    try:
        handoff.staff_reply(
            conversation=conversation,
            text=form.cleaned_data["text"],
            user=request.user,
            actor=user_actor(request),
        )
    except ApplicationError as exc:
        return _answer(request, conversation, error=exc.message, status=refusal_status(exc))
    url = reverse("console:conversation", args=[conversation.id])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
