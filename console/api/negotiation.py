"""DRF's content negotiation, its answer remembered per `Accept` header.

Every API request negotiates its renderer: parsing the `Accept` header and matching it
against the renderers cost an agent's send more CPU than authenticating its key. The
answer depends on nothing but the header and the view's renderer classes, so it is worked
out once per pair, by DRF, and reused. A `?format=` override or a format suffix takes
DRF's own path every time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# Clients send a handful of distinct headers; the bound keeps odd ones from growing it.
MAX_REMEMBERED = 256
MAX_HEADER_LENGTH = 512

_ANSWERS: dict[tuple[str, tuple[type, ...]], tuple[int, str]] = {}


class RememberedContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if (
            format_suffix
            or len(accept) > MAX_HEADER_LENGTH
            or self.settings.URL_FORMAT_OVERRIDE in request.query_params
        ):
            return super().select_renderer(request, renderers, format_suffix)
        key = (accept, tuple(type(renderer) for renderer in renderers))
        answer = _ANSWERS.get(key)
        if answer is None:
            # An unacceptable header raises here, every time: only answers are kept.
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
            answer = (renderers.index(renderer), media_type)
            if len(_ANSWERS) < MAX_REMEMBERED:
                _ANSWERS[key] = answer
        position, media_type = answer
        return renderers[position], media_type
