"""URL helpers: the SDK sends paths without a trailing slash and never follows redirects."""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path


def api_path(route: str, view: Any, name: str) -> list[URLPattern]:
    """Register `route` both without and with a trailing slash, so nothing ever redirects."""
    route = route.rstrip("/")
    return [path(route, view, name=name), path(f"{route}/", view)]
