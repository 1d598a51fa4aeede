"""One error shape for the whole API: `{"detail": {"error": CODE, "message": TEXT, ...}}`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from console.api.parsers import InvalidJson
from console.errors import ApplicationError


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
        response = Response({"detail": exc.as_detail()}, status=exc.status_code)
        for name, value in exc.headers.items():
            response[name] = value
        return response
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
