"""One template per page; htmx requests get the named partial of the same template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from console.ui.pagination import paginate


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    status: int = 200,
) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    if partial and htmx and not htmx.boosted:
        template = f"{template}#{partial}"
    context.setdefault("access", getattr(request, "console", None))
    return render(request, template, context, status=status)


def page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def query_without_page(request: HttpRequest) -> str:
    """The current filters as a query string, for pagination links."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def filters_applied(request: HttpRequest) -> bool:
    """Whether any filter (a query parameter other than the page) narrows the list."""
    return any(value for key, values in request.GET.lists() if key != "page" for value in values)


def render_list(
    request: HttpRequest, template: str, rows: QuerySet[Any], *, partial: str, **context: Any
) -> HttpResponse:
    """A paginated list page: `context` (nav, filter form, ...) plus the requested `page`
    of `rows`, the filters as a query string for its links and whether any filter is set
    (`filters_applied`, for an empty state that tells "no matches" from "nothing yet");
    htmx gets `partial`."""
    context["page"] = paginate(rows, page=page_number(request))
    context["query"] = query_without_page(request)
    context["filters_applied"] = filters_applied(request)
    return render_page(request, template, context, partial=partial)


def render_filtered_list(
    request: HttpRequest,
    template: str,
    form: forms.Form,
    select: Callable[[dict[str, Any]], QuerySet[Any]],
    *,
    partial: str,
    nav: str,
) -> HttpResponse:
    """A list page filtered by `form`: `select` gets its cleaned data, or {} (no filter)
    when the form is unbound or not valid."""
    cleaned = form.cleaned_data if form.is_valid() else {}
    return render_list(request, template, select(cleaned), partial=partial, nav=nav, form=form)


def form_post_response(error: str, status: int, viewname: str, *args: Any) -> HttpResponse:
    """A plain (non-htmx) form post's answer: the refusal as text, else back to the page."""
    if error:
        return HttpResponse(error, status=status, content_type="text/plain")
    return redirect(reverse(viewname, args=list(args)))
