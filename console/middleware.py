from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse

from console.api.server_errors import api_error_response, is_api_request, log_api_failure

# Only our own origin: htmx and styles are vendored under /static/.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


API_NOT_FOUND_BODY = b'{"detail":{"error":"not_found","message":"Not found."}}'


class ApiJsonNotFoundMiddleware:
    """The agent API answers JSON even when no route matches (e.g. a malformed id in a
    `<uuid:...>` path): clients parse every error body as JSON, and Django's own 404 page
    (technical in DEBUG) is HTML."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return HttpResponse(API_NOT_FOUND_BODY, status=404, content_type="application/json")
        return response


class ApiServerErrorMiddleware:
    """Exceptions no API view handled answer the contract's JSON error shape: 503 with
    `Retry-After` while the database is unreachable, 500 otherwise (never an HTML page,
    not even with DEBUG on: clients and the provider parse every error body as JSON)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        log_api_failure(request, exception)
        # What Django's own handler does for an uncaught exception: error reporters
        # (and the test client) listen to this signal.
        got_request_exception.send(sender=None, request=request)
        return api_error_response(exception)


SESSION_SEEN_KEY = "_bw_seen"
# How stale the session's expiry may get before a request pushes it forward again.
SESSION_REFRESH_SECONDS = 60


def session_mark_seen(session: Any) -> None:
    session[SESSION_SEEN_KEY] = int(time.time())


class SessionIdleRefreshMiddleware:
    """Console sessions expire CONSOLE_IDLE_TIMEOUT_MINUTES after the last request.

    The session's expiry is pushed forward by saving it, at most once a minute rather than
    on every request (SESSION_SAVE_EVERY_REQUEST would cost three queries per page). Listed
    after SessionMiddleware, so the session it marks is saved on the way out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return response  # API calls and anonymous visits carry no session
        session = request.session
        if session.is_empty():
            return response
        seen = session.get(SESSION_SEEN_KEY, 0)
        if not isinstance(seen, int) or time.time() - seen >= SESSION_REFRESH_SECONDS:
            session_mark_seen(session)
        return response
