"""Domain errors raised by services: a stable code, a message and structured fields.

No HTTP lives here. The API's exception handler (`console.api.exceptions`) maps each
class to the contract's status, `{"detail": {"error": code, "message": message, ...}}`
body and headers; the console maps the same errors to its flash messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ApplicationError(Exception):
    """A business-rule refusal of the request as it stands, with a stable code.

    `extra` holds the structured fields the caller gets next to the code and message.
    `retry_after` (seconds), when set, says the same request may succeed that much later.
    """

    code = "bad_request"
    retry_after: int | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra or {}

    def as_detail(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


class ValidationFailed(ApplicationError):
    """The request's fields are malformed or contradictory."""

    code = "validation_error"


class Unprocessable(ApplicationError):
    """Well-formed, but the request cannot be carried out as asked (e.g. not an E.164 number)."""

    code = "unprocessable"


class NotFound(ApplicationError):
    code = "not_found"


class Forbidden(ApplicationError):
    code = "forbidden"


class Conflict(ApplicationError):
    """The request contradicts the current state of what it addresses."""

    code = "conflict"


class InProgress(Conflict):
    """An earlier request with the same Idempotency-Key is still running: retry shortly."""

    code = "idempotency_in_progress"

    def __init__(self, message: str, *, retry_after: int = 1, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class TooLarge(ApplicationError):
    """The content is over a size limit."""

    code = "payload_too_large"


class QuotaExceeded(ApplicationError):
    """The organisation's allowance for this resource is used up."""

    code = "quota_exceeded"


class RateLimited(ApplicationError):
    """A rolling cap is reached: `limit` per window, `remaining` left, the window resets at
    `reset_at`, and the next attempt may succeed after `retry_after` seconds."""

    code = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        limit: int,
        remaining: int,
        reset_at: datetime,
        retry_after: int,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, extra=extra)
        self.limit = limit
        self.remaining = remaining
        self.reset_at = reset_at
        self.retry_after = retry_after


class ProviderFailed(ApplicationError):
    """The messaging provider refused or failed a call made on the caller's behalf."""

    code = "provider_error"


class Unavailable(ApplicationError):
    """Not possible yet: something outside the request (provider inventory) must catch up."""

    code = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code, extra=extra)
        self.retry_after = retry_after
