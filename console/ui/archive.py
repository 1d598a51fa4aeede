"""Archived identities: freeing the handle an archived identity still holds."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from console.errors import ApplicationError
from console.identities import identity_handle_free
from console.selectors import identity_get_for_scope
from console.ui.access import (
    ConsoleRequest,
    console_action,
    operated,
    refusal_status,
    user_actor,
)
from console.ui.rendering import render_page


@console_action
def identity_handle_free_view(request: ConsoleRequest, handle: str) -> HttpResponse:
    identity = operated(request, identity_get_for_scope, handle=handle)
    try:
        freed = identity_handle_free(identity=identity, actor=user_actor(request))
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=refusal_status(exc), content_type="text/plain")
    if not request.htmx:
        return redirect(reverse("console:identity", args=[freed.handle]))
    # The page's URL named the old handle; send the browser to the archived row's new one.
    response = render_page(
        request,
        "console/partials/identity_archived.html",
        {"identity": freed, "can_edit": True, "notice": f"@{handle} is free for reuse."},
    )
    response["HX-Replace-Url"] = reverse("console:identity", args=[freed.handle])
    return response
