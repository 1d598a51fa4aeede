"""Lines of a setup: ordering more, the provider placing (assigning) or blocking them,
and reconciling the ones still waiting.

A line order first commits a `pending` reservation, then asks the provider with no
transaction open: a slow provider holds no row lock, and a retry carrying the same
Idempotency-Key finds the reservation instead of ordering a second line. Dedicated-number
claims reserve their own rows and order them through `line_order` too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from console.errors import Conflict, InProgress, ProviderFailed, ValidationFailed
from console.idempotency import IDEMPOTENCY_KEY_REUSED
from console.models import AgentIdentity
from console.phone import to_e164
from console.services import Actor, audit_record
from provisioning import dispatch, providers
from provisioning.models import LineRole, LineState, PhoneLine, Setup, SetupStatus
from provisioning.providers.base import LineAssigned, LineBlocked, LineRequest, ProviderError
from provisioning.services.credentials import setup_credentials
from provisioning.services.event_records import EventRecord

logger = logging.getLogger(__name__)


SETUP_NOT_ACTIVE = "This setup is not active: its subaccount failed or is still being set up."
PLATFORM_ROLES_ONLY_ON_PLATFORM = "Router and pool lines belong to platform setups."
LINE_ORDER_FAILED = "The iMessage provider could not place a line"
# An order whose provider call has not come back within this long was interrupted.
LINE_ORDER_TIMEOUT = timedelta(minutes=10)


class SetupNotActive(Conflict):
    code = "setup_not_active"


class LineOrderInProgress(InProgress):
    """An add-line with this Idempotency-Key is still talking to the provider."""


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


def line_order_failed(exc: ProviderError) -> ProviderFailed:
    """The `provider_error` an API caller gets when the provider failed an order."""
    return ProviderFailed(
        f"{LINE_ORDER_FAILED} ({exc.message}).",
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
        raise LineOrderInProgress("An add-line with this Idempotency-Key is still in progress.")
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


def setup_status_refresh(setup: Setup) -> None:
    """A pending setup becomes active once none of its lines waits for carrier placement.

    Never the other way round: a line added later leaves an active subaccount in service
    (claims and sends keep using it while the new line waits).
    """
    if setup.status != SetupStatus.PENDING:
        return
    if setup.lines.filter(state=LineState.PENDING).exists():
        return
    Setup.objects.filter(pk=setup.pk, status=SetupStatus.PENDING).update(
        status=SetupStatus.ACTIVE, updated_at=timezone.now()
    )
    setup.status = SetupStatus.ACTIVE


# --- The provider places and blocks lines ---------------------------------------


def _provider_audit(
    setup: Setup,
    line: PhoneLine,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any],
) -> None:
    """Audit a change the provider made to `line` (the system acts for it)."""
    audit_record(
        organization=setup.organization,
        actor=Actor.system(),
        action=action,
        obj=line,
        before=before,
        after=after,
    )


@transaction.atomic
def line_assign(
    *,
    setup: Setup,
    number: str,
    line_request_id: str | None = None,
    assigned_at: datetime | None = None,
) -> PhoneLine | None:
    """Move a pending line of `setup` to assigned with `number`; safe to repeat.

    Concurrent calls are serialised on the setup row; the number's unique constraint
    and a conditional update back that up. Returns the line holding the number, or None
    when there is no pending line to give it to.
    """
    e164 = to_e164(number)
    if e164 is None:
        logger.warning("setup %s: line_assigned without a valid number", setup.id)
        return None
    Setup.objects.select_for_update().filter(pk=setup.pk).first()
    holder = PhoneLine.objects.filter(number=e164).first()
    if holder is not None:
        if holder.setup_id != setup.id:
            logger.warning("setup %s: number already held by line %s", setup.id, holder.id)
            return None
        return holder
    pending = PhoneLine.objects.select_for_update().filter(setup=setup, state=LineState.PENDING)
    line = None
    if line_request_id:
        line = pending.filter(provider_request_id=line_request_id).first()
    line = line or pending.order_by("requested_at", "id").first()
    if line is None:
        logger.warning("setup %s: line_assigned but no line is pending", setup.id)
        return None
    try:
        with transaction.atomic():
            updated = PhoneLine.objects.filter(pk=line.pk, state=LineState.PENDING).update(
                state=LineState.ASSIGNED,
                number=e164,
                assigned_at=assigned_at or timezone.now(),
                updated_at=timezone.now(),
            )
    except IntegrityError:
        return PhoneLine.objects.filter(number=e164).first()
    if updated != 1:
        return PhoneLine.objects.filter(number=e164).first()
    line.refresh_from_db()
    setup_status_refresh(setup)
    _provider_audit(
        setup,
        line,
        "line.assign",
        before={"state": LineState.PENDING},
        after={"state": LineState.ASSIGNED, "number": e164},
    )
    logger.info("setup %s: line %s assigned", setup.id, line.id)
    return line


@transaction.atomic
def line_block(*, setup: Setup, number: str | None, reason: str | None) -> PhoneLine | None:
    """Mark the setup's line with `number` as blocked by the provider (idempotent)."""
    e164 = to_e164(number)
    if e164 is None:
        return None
    line = PhoneLine.objects.select_for_update().filter(setup=setup, number=e164).first()
    if line is None or line.blocked_at is not None:
        return line
    line.blocked_at = timezone.now()
    line.blocked_reason = (reason or "")[:2000]
    line.save(update_fields=["blocked_at", "blocked_reason", "updated_at"])
    _provider_audit(setup, line, "line.block", after={"blocked_reason": line.blocked_reason})
    logger.warning("setup %s: line %s blocked by the provider", setup.id, line.id)
    return line


def _ticket_apply(setup: Setup, line: PhoneLine, ticket: LineRequest) -> PhoneLine | None:
    """Give `line` the number its fulfilled ticket names, as `line_assigned` would."""
    if not ticket.number:
        return None
    return line_assign(setup=setup, number=ticket.number, line_request_id=line.provider_request_id)


@dataclass(frozen=True)
class LineCheck:
    """What asking the provider about one line found: the line as it now stands and the
    provider's ticket status (OPEN, FULFILLED, CANCELLED; "" when no ticket was asked)."""

    line: PhoneLine
    provider_status: str


LINE_CHECK_FAILED = "The iMessage provider could not be asked about this line"


def line_check(*, line: PhoneLine, actor: Actor) -> LineCheck:
    """Ask the provider now where a pending line stands and apply the answer the way the
    `line_assigned` webhook would (`line_assign`); audited as `line.check`.

    A line with a ticket is looked up by it; one without (its order was interrupted) goes
    through the setup's reconciliation, which also matches numbers by the account's lines.
    Raises `ProviderFailed` (502) when the provider cannot be reached or refuses.
    """
    setup = line.setup
    status = ""
    if line.state == LineState.PENDING:
        setup_check_accepts_lines(setup)
        try:
            if line.provider_request_id:
                ticket = providers.get_adapter().get_line_request(
                    credentials=setup_credentials(setup), request_id=line.provider_request_id
                )
                status = ticket.status
                _ticket_apply(setup, line, ticket)
            else:
                setup_reconcile(setup=setup)
        except ProviderError as exc:
            raise ProviderFailed(
                f"{LINE_CHECK_FAILED} ({exc.message}).",
                extra={"provider_status": exc.status_code},
            ) from exc
    line.refresh_from_db()
    audit_record(
        organization=setup.organization,
        actor=actor,
        action="line.check",
        obj=line,
        after={"state": line.state, "provider_status": status},
    )
    return LineCheck(line=line, provider_status=status)


def setup_reconcile(*, setup: Setup) -> int:
    """Poll the provider for lines of a setup still waiting; returns how many got assigned.

    Covers a `line_assigned` delivery we missed: ticket status first (it names the line
    it fulfilled), then the account's lines/state for numbers we do not know yet.
    """
    if not setup.credentials_encrypted:
        return 0
    credentials = setup_credentials(setup)
    adapter = providers.get_adapter()
    assigned = 0
    for line in setup.lines.filter(state=LineState.PENDING).exclude(provider_request_id=""):
        if _ticket_apply(
            setup,
            line,
            adapter.get_line_request(credentials=credentials, request_id=line.provider_request_id),
        ):
            assigned += 1
    if setup.lines.filter(state=LineState.PENDING).exists():
        known = set(setup.lines.exclude(number=None).values_list("number", flat=True))
        for entry in adapter.lines_state(credentials=credentials):
            if (
                entry.number
                and entry.number not in known
                and line_assign(setup=setup, number=entry.number)
            ):
                known.add(entry.number)
                assigned += 1
    return assigned


# --- dispatch handlers for our own event types -------------------------------


def _refuse_foreign_number(*, setup: Setup, number: str | None) -> None:
    from provisioning.selectors import line_number_held_elsewhere

    e164 = to_e164(number)
    if e164 is not None and line_number_held_elsewhere(setup=setup, number=e164):
        raise dispatch.ForeignReference


def handle_line_assigned(*, setup: Setup, event: LineAssigned, record: EventRecord) -> None:
    """Raises `ForeignReference` when another setup's line holds the number."""
    if event.number:
        _refuse_foreign_number(setup=setup, number=event.number)
        line_assign(setup=setup, number=event.number, line_request_id=event.line_request_id)
        return
    # No number in the body: ask the provider which line it placed, after commit.
    from provisioning.tasks import setup_reconcile_task

    setup_id = str(setup.id)
    transaction.on_commit(lambda: setup_reconcile_task.delay(setup_id))


def handle_line_blocked(*, setup: Setup, event: LineBlocked, record: EventRecord) -> None:
    """Raises `ForeignReference` when the number is another setup's line."""
    if line_block(setup=setup, number=event.number, reason=event.reason) is None:
        _refuse_foreign_number(setup=setup, number=event.number)


def identity_lines_detach(identity: AgentIdentity, actor: Actor) -> None:
    """An identity is being archived (`console.hooks`): its lines go back to no identity."""
    PhoneLine.objects.filter(identity=identity).update(identity=None, updated_at=timezone.now())
