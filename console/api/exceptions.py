"""One error shape for the whole API: `{"detail": {"error": CODE, "message": TEXT, ...}}`."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from console.api.parsers import InvalidJson
from console.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    NotFound,
    ProviderFailed,
    QuotaExceeded,
    RateLimited,
    TooLarge,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)

# The contract's status for each domain error, most specific first; any other
# `ApplicationError` is a 400.
ERROR_STATUS: tuple[tuple[type[ApplicationError], int], ...] = (
    (ValidationFailed, status.HTTP_400_BAD_REQUEST),
    (QuotaExceeded, status.HTTP_402_PAYMENT_REQUIRED),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Conflict, status.HTTP_409_CONFLICT),
    (TooLarge, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    (Unprocessable, status.HTTP_422_UNPROCESSABLE_ENTITY),
    (RateLimited, status.HTTP_429_TOO_MANY_REQUESTS),
    (ProviderFailed, status.HTTP_502_BAD_GATEWAY),
    (Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def error_status(exc: ApplicationError) -> int:
    """The HTTP status the contract gives `exc`."""
    for kind, code in ERROR_STATUS:
        if isinstance(exc, kind):
            return code
    return status.HTTP_400_BAD_REQUEST


def rate_limit_headers(
    *, limit: int, remaining: int, reset_at: datetime, retry_after: int | None = None
) -> dict[str, str]:
    """`X-RateLimit-*` (and `Retry-After` when given) for a rolling send cap."""
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(math.ceil(reset_at.timestamp())),
    }
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return headers


def error_headers(exc: ApplicationError) -> dict[str, str]:
    """`Retry-After` when the error names one; the rate-limit headers for `RateLimited`."""
    if isinstance(exc, RateLimited):
        return rate_limit_headers(
            limit=exc.limit,
            remaining=exc.remaining,
            reset_at=exc.reset_at,
            retry_after=exc.retry_after,
        )
    if exc.retry_after is not None:
        return {"Retry-After": str(exc.retry_after)}
    return {}


def error_response(exc: ApplicationError) -> Response:
    """`{"detail": {"error": code, "message": text, ...}}`, the contract's status and headers."""
    return Response(
        {"detail": exc.as_detail()}, status=error_status(exc), headers=error_headers(exc)
    )


def _flatten_message(fields: Any) -> str:
    if isinstance(fields, dict):
        for name, errors in fields.items():
            inner = _flatten_message(errors)
            return f"{name}: {inner}" if name != "non_field_errors" else inner
        return "Invalid input."
    if isinstance(fields, list) and fields:
        return _flatten_message(fields[0])
    return str(fields)


def validation_error_response(fields: Any, status_code: int = 400) -> Response:
    if not isinstance(fields, dict):
        fields = {"non_field_errors": fields if isinstance(fields, list) else [fields]}
    detail = {"error": "validation_error", "message": _flatten_message(fields), "fields": fields}
    return Response({"detail": detail}, status=status_code)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return error_response(exc)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": {"error": "payload_too_large", "message": "Request body is too large."}},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return validation_error_response(fields)
    if isinstance(exc, exceptions.ValidationError):
        return validation_error_response(exc.detail)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    handled = exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    if isinstance(exc, InvalidJson):
        response.data = {"detail": {"error": "invalid_json", "message": str(exc.detail)}}
    elif isinstance(exc, exceptions.ParseError):
        response.data = {"detail": {"error": "malformed_json", "message": str(exc.detail)}}
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        response.data = {"detail": {"error": "unsupported_media_type", "message": str(exc.detail)}}
    elif isinstance(exc, exceptions.Throttled):
        response.data = {"detail": {"error": "throttled", "message": str(exc.detail)}}
    return response
