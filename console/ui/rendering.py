"""One template per page; htmx requests get the named partial of the same template."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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


def render_list(
    request: HttpRequest, template: str, rows: QuerySet[Any], *, partial: str, **context: Any
) -> HttpResponse:
    """A paginated list page: `context` (nav, filter form, ...) plus the requested `page`
    of `rows` and the filters as a query string for its links; htmx gets `partial`."""
    context["page"] = paginate(rows, page=page_number(request))
    context["query"] = query_without_page(request)
    return render_page(request, template, context, partial=partial)
