"""Domain errors raised by services; the API handler turns them into one JSON shape."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A business-rule refusal with a stable code and an HTTP status.

    Rendered as `{"detail": {"error": code, "message": message, **extra}}`.
    """

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}
        self.headers = headers or {}

    def as_detail(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Forbidden(ApplicationError):
    status_code = 403
    code = "forbidden"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class ValidationFailed(ApplicationError):
    status_code = 400
    code = "validation_error"
