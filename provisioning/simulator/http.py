"""The simulator's small HTTP layer: the request it hands to a handler, the error a
handler raises, and the route tables the resource modules fill (`routes/`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from console.http import declared_content_length

if TYPE_CHECKING:
    from provisioning.simulator.app import Simulator

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
# A handler answers (status, JSON payload) or (status, (content type, raw bytes)).
Handler = Callable[..., tuple[int, Any]]


class HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"status": "ERROR", "message": message, **extra}
        self.headers: list[tuple[str, str]] = []


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    content_type: str

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        length = declared_content_length(environ)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        return cls(
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("PATH_INFO", "/") or "/",
            query=query,
            headers=headers,
            body=body,
            content_type=environ.get("CONTENT_TYPE", ""),
        )

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise HttpError(400, "Request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise HttpError(400, "Request body must be a JSON object.")
        return data


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    # Called as handler(sim, request, **path_parameters).
    handler: Handler


@dataclass
class RouteTable:
    """The routes of one resource module, in the order they were declared."""

    routes: list[Route] = field(default_factory=list)

    def __call__(self, method: str, *paths: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            for path in paths:
                self.routes.append(Route(method, re.compile(path), handler))
            return handler

        return decorator


def dispatch(sim: Simulator, routes: list[Route], request: Request) -> tuple[int, Any]:
    """Run the handler whose pattern and method match; 405 when only the method differs."""
    allowed = False
    for route in routes:
        match = route.pattern.fullmatch(request.path.rstrip("/") or "/")
        if match is None:
            continue
        allowed = True
        if route.method == request.method:
            return route.handler(sim, request, **match.groupdict())
    if allowed:
        raise HttpError(405, "Method not allowed.")
    raise HttpError(404, "Not found.")
