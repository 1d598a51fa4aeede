"""More lines on a setup, and the organisation's default setup.

A line order first commits a `pending` reservation, then asks the provider with no
transaction open: a slow provider holds no row lock, and a retry carrying the same
Idempotency-Key finds the reservation instead of ordering a second line. Dedicated-number
claims (routing) reserve their own rows and order them through `line_order` too.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from console.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from console.idempotency import IDEMPOTENCY_KEY_REUSED
from console.models import Organization
from console.services import Actor, audit_record
from provisioning import providers
from provisioning.models import LineRole, LineState, PhoneLine, Setup, SetupStatus
from provisioning.providers.base import ProviderError
from provisioning.services import line_assign, setup_credentials

logger = logging.getLogger(__name__)

SETUP_NOT_FOUND = "Setup not found."
SETUP_NOT_ACTIVE = "This setup is not active: its subaccount failed or is still being set up."
NO_DEFAULT_SETUP = (
    "The organisation has no default setup for dedicated numbers; mark one as default or "
    "name a setup_id."
)
PLATFORM_ROLES_ONLY_ON_PLATFORM = "Router and pool lines belong to platform setups."
PLATFORM_SETUP_NOT_DEFAULT = "A platform setup cannot be an organisation's default."
LINE_ORDER_FAILED = "The iMessage provider could not place a line"
# An order whose provider call has not come back within this long was interrupted.
LINE_ORDER_TIMEOUT = timedelta(minutes=10)


class SetupNotActive(Conflict):
    code = "setup_not_active"


class LineOrderInProgress(ApplicationError):
    """An add-line with this Idempotency-Key is still talking to the provider."""

    status_code = 409
    code = "idempotency_in_progress"


def setup_check_accepts_lines(setup: Setup) -> None:
    """Raises `SetupNotActive` (409) for a failed setup or one whose subaccount is still
    being created; a setup waiting only for a line may take more."""
    if setup.status == SetupStatus.FAILED or not setup.provider_account_id:
        raise SetupNotActive(SETUP_NOT_ACTIVE, extra={"setup_status": setup.status})


def line_order(line: PhoneLine) -> PhoneLine:
    """Ask the provider for the reserved pending `line` (no transaction may be open).

    Records the provider's ticket id; a ticket fulfilled at once assigns the number now,
    otherwise `line_assigned` (or the reconciliation poll) completes it later like any
    first line. Returns the line as it then stands. On a `ProviderError` the reservation
    is deleted (a retry orders afresh) and the error is raised again.
    """
    setup = line.setup
    try:
        ticket = providers.get_adapter().request_line(credentials=setup_credentials(setup))
    except ProviderError as exc:
        line.delete()
        logger.warning(
            "setup %s: line order failed permanent=%s status=%s",
            setup.id,
            exc.permanent,
            exc.status_code,
        )
        raise
    PhoneLine.objects.filter(pk=line.pk, provider_request_id="").update(
        provider_request_id=(ticket.request_id or "")[:64], updated_at=timezone.now()
    )
    line.refresh_from_db()
    if ticket.number and ticket.status == "FULFILLED":
        return (
            line_assign(setup=setup, number=ticket.number, line_request_id=line.provider_request_id)
            or line
        )
    return line


def line_order_failed(exc: ProviderError) -> ApplicationError:
    """The 502 `provider_error` an API caller gets when the provider failed an order."""
    return ApplicationError(
        f"{LINE_ORDER_FAILED} ({exc.message}).",
        code="provider_error",
        status_code=502,
        extra={"provider_status": exc.status_code, "provider_error_key": exc.error_key},
    )


def _reserve(*, setup: Setup, role: str, idempotency_key: str | None) -> tuple[PhoneLine, bool]:
    """Commit the pending line of an add-line; returns (line, created).

    With a key already used on this setup, returns that line after checking the request
    matches. Raises `Conflict` (idempotency_key_reused) or `LineOrderInProgress`.
    """
    try:
        with transaction.atomic():
            line = PhoneLine.objects.create(
                setup=setup, role=role, state=LineState.PENDING, idempotency_key=idempotency_key
            )
            return line, True
    except IntegrityError:
        if idempotency_key is None:
            raise
    existing = PhoneLine.objects.select_related("setup").get(
        setup=setup, idempotency_key=idempotency_key
    )
    if existing.role != role:
        raise Conflict(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused")
    ordering = existing.state == LineState.PENDING and not existing.provider_request_id
    if ordering and existing.requested_at > timezone.now() - LINE_ORDER_TIMEOUT:
        raise LineOrderInProgress(
            "An add-line with this Idempotency-Key is still in progress.",
            headers={"Retry-After": "1"},
        )
    return existing, False


def setup_line_add(
    *, setup: Setup, role: str, actor: Actor, idempotency_key: str | None = None
) -> PhoneLine:
    """Order one more line on an existing setup; returns it `assigned` or `pending`.

    Raises `SetupNotActive` (409), `ValidationFailed` for a router or pool line on an
    organisation's setup, the conflicts of `_reserve`, and a 502 `provider_error` from
    `line_order`. A retry with the same `idempotency_key` returns the same line.
    """
    setup_check_accepts_lines(setup)
    if role in (LineRole.ROUTER, LineRole.POOL) and not setup.is_platform:
        raise ValidationFailed(
            PLATFORM_ROLES_ONLY_ON_PLATFORM, extra={"fields": {"role": ["dedicated only"]}}
        )
    line, created = _reserve(setup=setup, role=role, idempotency_key=idempotency_key)
    if not created:
        return line
    try:
        line = line_order(line)
    except ProviderError as exc:
        raise line_order_failed(exc) from exc
    audit_record(
        organization=setup.organization,
        actor=actor,
        action="line.request",
        obj=line,
        after={"role": role, "state": line.state},
    )
    logger.info("setup %s: line %s ordered, %s", setup.id, line.id, line.state)
    return line


# --- The default setup ---------------------------------------------------------


@transaction.atomic
def setup_default_set(*, setup: Setup, actor: Actor) -> Setup:
    """Make `setup` the one its organisation's dedicated-number claims go to by default.

    The organisation row lock serialises concurrent choices; the partial unique
    constraint backs that up. Raises `ValidationFailed` for a platform setup.
    """
    if setup.is_platform:
        raise ValidationFailed(PLATFORM_SETUP_NOT_DEFAULT)
    Organization.objects.select_for_update().filter(pk=setup.organization_id).first()
    previous = (
        Setup.objects.filter(organization_id=setup.organization_id, is_default=True)
        .exclude(pk=setup.pk)
        .values_list("id", flat=True)
        .first()
    )
    Setup.objects.filter(organization_id=setup.organization_id, is_default=True).exclude(
        pk=setup.pk
    ).update(is_default=False, updated_at=timezone.now())
    if not setup.is_default:
        Setup.objects.filter(pk=setup.pk).update(is_default=True, updated_at=timezone.now())
        setup.is_default = True
        audit_record(
            organization=setup.organization,
            actor=actor,
            action="setup.default_set",
            obj=setup,
            before={"default_setup": str(previous) if previous else None},
            after={"default_setup": str(setup.id)},
        )
    return setup


def setup_default_if_none(setup: Setup) -> bool:
    """Make a new organisation setup the default when its organisation has none yet;
    returns whether it became the default."""
    if setup.is_platform or setup.status == SetupStatus.FAILED:
        return False
    if Setup.objects.filter(organization_id=setup.organization_id, is_default=True).exists():
        return False
    try:
        with transaction.atomic():
            Setup.objects.filter(pk=setup.pk).update(is_default=True)
    except IntegrityError:
        return False  # another setup of the organisation became the default meanwhile
    setup.is_default = True
    return True


def setup_for_claim(*, organization: Organization, setup_id: uuid.UUID | None = None) -> Setup:
    """The setup a dedicated-number claim orders its line on: `setup_id` when given (one
    of the organisation's own setups), else the organisation's default.

    Raises `NotFound` for a foreign, platform or unknown `setup_id`, `Conflict`
    (no_default_setup) without a default, and `SetupNotActive` when the setup is not
    active.
    """
    qs = Setup.objects.filter(organization=organization, is_platform=False)
    setup = qs.filter(pk=setup_id).first() if setup_id else qs.filter(is_default=True).first()
    if setup is None:
        if setup_id:
            raise NotFound(SETUP_NOT_FOUND)
        raise Conflict(NO_DEFAULT_SETUP, code="no_default_setup")
    if setup.status != SetupStatus.ACTIVE:
        raise SetupNotActive(SETUP_NOT_ACTIVE, extra={"setup_status": setup.status})
    return setup
