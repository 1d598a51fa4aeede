"""The API's answer to failures no view handled: the contract's JSON error shape, never
Django's HTML or plain-text error page, and 503 with `Retry-After` while the database is
unreachable (a PostgreSQL restart, a failover), so clients and the provider retry.

`ApiServerErrorMiddleware` (console/middleware.py) answers exceptions raised by views under
`/api/`; `server_error` is the project's `handler500` for whatever fails outside a view.
"""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
# Short enough that the inkbox SDK retries the call (it gives up on Retry-After above 5).
DATABASE_RETRY_AFTER_SECONDS = 2
DATABASE_UNAVAILABLE_MESSAGE = "The service is briefly unavailable; try again in a few seconds."
SERVER_ERROR_MESSAGE = "The server failed to handle this request."


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True for errors that mean the database could not be reached or dropped the
    connection (Django wraps psycopg's and sqlite3's in these two classes)."""
    return isinstance(exc, OperationalError | InterfaceError)


def api_error_response(exc: BaseException | None) -> HttpResponse:
    """503 with `Retry-After` when the database is unavailable, else 500; both carry
    `{"detail": {"error": "server_error", "message": ...}}`."""
    if is_database_unavailable(exc):
        response = JsonResponse(
            {"detail": {"error": "server_error", "message": DATABASE_UNAVAILABLE_MESSAGE}},
            status=503,
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    return JsonResponse(
        {"detail": {"error": "server_error", "message": SERVER_ERROR_MESSAGE}}, status=500
    )


def log_api_failure(request: HttpRequest, exc: BaseException) -> None:
    """Log a failure the API answered itself (ids and the path only, never a body)."""
    if is_database_unavailable(exc):
        logger.warning(
            "database unavailable on %s %s (%s)",
            request.method,
            request.path,
            type(exc).__name__,
            exc_info=exc,
        )
    else:
        logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: JSON under `/api/`, Django's page elsewhere.

    Django calls it while handling the exception, so `sys.exc_info()` still names it.
    """
    if is_api_request(request):
        return api_error_response(sys.exc_info()[1])
    return defaults.server_error(request)
