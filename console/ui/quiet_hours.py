"""Quiet hours on the console's identity page: shown to everyone who may see the identity,
edited by operators (audited by the service). htmx swaps the section in place; without
JavaScript the form posts and redirects back to the identity page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from console.errors import ApplicationError
from console.models import AgentIdentity
from console.selectors import identity_get_for_scope
from console.ui.access import ConsoleRequest, console_action, user_actor
from console.ui.rendering import render_page
from messaging.services.quiet_hours import (
    quiet_hours_of,
    quiet_hours_parse,
    quiet_hours_set,
    quiet_hours_wire,
)

TEMPLATE = "console/partials/quiet_hours.html"


class QuietHoursForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Hold routine sends during quiet hours")
    start = forms.TimeField(
        required=False, label="From", widget=forms.TimeInput(attrs={"type": "time"})
    )
    end = forms.TimeField(
        required=False, label="Until", widget=forms.TimeInput(attrs={"type": "time"})
    )
    timezone = forms.CharField(
        required=False,
        max_length=64,
        label="Time zone (when the person's number does not tell)",
        widget=forms.TextInput(attrs={"placeholder": "America/New_York"}),
    )
    auto_reply = forms.CharField(
        required=False,
        max_length=1000,
        label="After-hours auto-reply (optional)",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def value(self) -> dict[str, Any] | None:
        """The cleaned form as the `quiet_hours` value the service parses."""
        data = self.cleaned_data
        if not data.get("enabled"):
            return None
        clock = {k: data[k].strftime("%H:%M") if data.get(k) else None for k in ("start", "end")}
        return {**clock, "timezone": data.get("timezone") or "", "auto_reply": data["auto_reply"]}


def quiet_hours_context(
    identity: AgentIdentity, form: QuietHoursForm | None = None
) -> dict[str, Any]:
    """What the identity page's quiet-hours section needs."""
    quiet = quiet_hours_wire(quiet_hours_of(identity))
    initial = {**(quiet or {}), "enabled": quiet is not None}
    return {"quiet_hours": quiet, "quiet_form": form or QuietHoursForm(initial=initial)}


def _section(
    request: ConsoleRequest, identity: AgentIdentity, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {"identity": identity, "can_edit": True, **extra}
    return render_page(request, TEMPLATE, context, status=status)


@console_action
def quiet_hours_update(request: ConsoleRequest, handle: str) -> HttpResponse:
    identity = identity_get_for_scope(scope=request.console.scope, handle=handle)
    request.console.require_operator(identity.organization_id)
    form = QuietHoursForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            quiet_hours_set(
                identity=identity,
                actor=user_actor(request),
                value=quiet_hours_parse(form.value()),
            )
        except ApplicationError as exc:
            error = exc.message
    else:
        error = "Check the times."
    if error:
        return _section(
            request, identity, status=422, quiet_error=error, **quiet_hours_context(identity, form)
        )
    if not request.htmx:
        return redirect(reverse("console:identity", args=[identity.handle]))
    return _section(
        request, identity, quiet_notice="Quiet hours saved.", **quiet_hours_context(identity)
    )
