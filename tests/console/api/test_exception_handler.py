"""Domain errors carry no HTTP: the API handler maps each to the contract's status, body
and headers, and the console maps the same errors to its own statuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.api.exceptions import api_exception_handler, error_status
from console.errors import (
    ApplicationError,
    Conflict,
    Forbidden,
    InProgress,
    NotFound,
    ProviderFailed,
    QuotaExceeded,
    RateLimited,
    TooLarge,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)
from console.ui.access import refusal_status
from provisioning.services.claims import InventoryPending, NumberQuotaExceeded
from provisioning.services.lines import LineOrderInProgress
from provisioning.services.setups import ProviderRefused, SetupCreateInProgress
from routing.services.contact_rules import RecipientBlocked

RESET = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)

CASES = [
    (ApplicationError("No.", code="imessage_not_enabled"), 400, "imessage_not_enabled", {}),
    (ValidationFailed("Bad field."), 400, "validation_error", {}),
    (QuotaExceeded("Used up."), 402, "quota_exceeded", {}),
    (NumberQuotaExceeded("Used up."), 402, "dedicated_imessage_number_quota_exceeded", {}),
    (Forbidden("Admins only."), 403, "forbidden", {}),
    (RecipientBlocked("Blocked."), 403, "recipient_blocked", {}),
    (NotFound("Gone."), 404, "not_found", {}),
    (NotFound("Not connected.", code="no_active_assignment"), 404, "no_active_assignment", {}),
    (Conflict("Taken.", code="idempotency_key_reused"), 409, "idempotency_key_reused", {}),
    (InProgress("Still going."), 409, "idempotency_in_progress", {"Retry-After": "1"}),
    (SetupCreateInProgress("Still going."), 409, "idempotency_in_progress", {"Retry-After": "1"}),
    (LineOrderInProgress("Still going."), 409, "idempotency_in_progress", {"Retry-After": "1"}),
    (TooLarge("Big.", code="media_too_large"), 413, "media_too_large", {}),
    (Unprocessable("Not E.164.", code="recipient_not_e164"), 422, "recipient_not_e164", {}),
    (ProviderFailed("Down."), 502, "provider_error", {}),
    (ProviderRefused("Refused."), 502, "provider_error", {}),
    (Unavailable("Later."), 503, "unavailable", {}),
    (
        InventoryPending("Pending.", retry_after=30),
        503,
        "dedicated_imessage_number_inventory_pending",
        {"Retry-After": "30"},
    ),
    (
        RateLimited(
            "Cap reached.",
            code="send_rate_limited",
            limit=100,
            remaining=0,
            reset_at=RESET,
            retry_after=61,
        ),
        429,
        "send_rate_limited",
        {
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(RESET.timestamp()) + 1),
            "Retry-After": "61",
        },
    ),
]
IDS = [f"{type(exc).__name__}-{code}" for exc, _, code, _ in CASES]
MAPPED_HEADERS = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.mark.parametrize(("exc", "status", "code", "headers"), CASES, ids=IDS)
def test_each_domain_error_maps_to_its_status_body_and_headers(
    exc: ApplicationError, status: int, code: str, headers: dict[str, str]
) -> None:
    response = api_exception_handler(exc, {})

    assert response is not None
    assert response.status_code == status == error_status(exc)
    assert response.data == {"detail": {"error": code, "message": exc.message}}
    assert {name: response[name] for name in MAPPED_HEADERS if name in response} == headers


def test_structured_fields_join_the_detail_next_to_code_and_message() -> None:
    exc = Unavailable(
        "Pending.", code="pending", retry_after=5, extra={"retry_after_seconds": 5, "id": None}
    )

    response = api_exception_handler(exc, {})

    assert response is not None
    assert response.data == {
        "detail": {"error": "pending", "message": "Pending.", "retry_after_seconds": 5, "id": None}
    }


@pytest.mark.parametrize(("exc", "status", "code", "headers"), CASES, ids=IDS)
def test_domain_errors_hold_no_http(
    exc: ApplicationError, status: int, code: str, headers: dict[str, str]
) -> None:
    assert not hasattr(exc, "status_code")
    assert not hasattr(exc, "headers")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ProviderFailed("Down."), 502),
        (ProviderRefused("Refused."), 502),
        (InventoryPending("Pending.", retry_after=30), 503),
        (Unavailable("Later."), 503),
        (LineOrderInProgress("Still going."), 422),
        (Conflict("Not active.", code="setup_not_active"), 422),
        (ValidationFailed("Bad field."), 422),
        (QuotaExceeded("Used up."), 422),
        (ApplicationError("No."), 422),
    ],
)
def test_the_console_maps_the_same_errors_to_its_statuses(
    exc: ApplicationError, status: int
) -> None:
    assert refusal_status(exc) == status
