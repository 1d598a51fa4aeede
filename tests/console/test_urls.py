"""The URL table: no two API routes match one path, so the order of the API's includes
(busiest first, `console/urls.py`) decides nothing but speed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

SAMPLES = {"uuid": str(uuid.UUID(int=7)), "str": "sample", "slug": "sample-slug", "int": "7"}


def _routes(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _sample_path(route: str) -> str:
    return "/" + re.sub(r"<(\w+):\w+>", lambda m: SAMPLES[m.group(1)], route)


def test_every_api_path_is_matched_by_exactly_one_route() -> None:
    api = [(route, entry) for route, entry in _routes(get_resolver()) if route.startswith("api/")]
    assert len(api) > 50

    # Any converter taken as broadly as `str`: a path two routes could share is refused.
    patterns = {route: re.sub(r"<\w+:\w+>", "[^/]+", re.escape(route)) for route, _ in api}
    for route, _ in api:
        path = _sample_path(route)[1:]
        matching = [other for other, regex in patterns.items() if re.fullmatch(regex, path)]
        assert matching == [route], (path, matching)


def test_an_api_path_resolves_to_its_own_view() -> None:
    resolver = get_resolver()
    for route, entry in _routes(resolver):
        if route.startswith("api/v1/imessage/messages"):
            assert resolver.resolve(_sample_path(route)).func == entry.callback
