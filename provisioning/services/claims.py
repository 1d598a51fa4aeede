"""Dedicated numbers: claims (one line per Idempotency-Key), attach, and identities
created together with a claim. A claim is a phone line plus provider calls.

A claim reserves a `pending` line on the organisation's default setup (or the setup it
names) and commits it before the provider is asked through provisioning's `line_order`:
no row lock is held during the provider call, and a retry with the same key finds the
reservation and never orders a second line.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from console.errors import ApplicationError, Conflict, NotFound, QuotaExceeded, Unavailable
from console.idempotency import IDEMPOTENCY_KEY_REUSED
from console.identities import HandleUnavailable, identity_create
from console.models import AgentIdentity, Organization
from console.services import Actor, audit_record
from provisioning import providers
from provisioning.models import LineRole, LineState, NumberClaim, PhoneLine, Setup, SetupStatus
from provisioning.providers.base import ProviderError
from provisioning.services.credentials import setup_credentials
from provisioning.services.lines import (
    SETUP_NOT_ACTIVE,
    SetupNotActive,
    line_assign,
    line_order,
    line_order_failed,
)

logger = logging.getLogger(__name__)

DEDICATED_RETRY_AFTER_SECONDS = 30
NUMBER_PENDING = "The provider is still placing this number; retry shortly."
NUMBER_PENDING_NOTICE = (
    "The provider is still placing the dedicated number; it is attached to this identity "
    "as soon as it is placed."
)
IDENTITY_CREATE_SCOPE = "identity-create"
SETUP_NOT_FOUND = "Setup not found."
NO_DEFAULT_SETUP = (
    "The organisation has no default setup for dedicated numbers; mark one as default or "
    "name a setup_id."
)


class InventoryPending(Unavailable):
    code = "dedicated_imessage_number_inventory_pending"


class NumberQuotaExceeded(QuotaExceeded):
    code = "dedicated_imessage_number_quota_exceeded"


def _pending(line: PhoneLine) -> InventoryPending:
    return InventoryPending(
        NUMBER_PENDING,
        extra={
            "number_type": "dedicated_outbound",
            "retry_after_seconds": DEDICATED_RETRY_AFTER_SECONDS,
            "line_request_id": line.provider_request_id or None,
        },
        retry_after=DEDICATED_RETRY_AFTER_SECONDS,
    )


def dedicated_lines_for_org(organization: Organization) -> QuerySet[PhoneLine]:
    return PhoneLine.objects.filter(
        setup__organization=organization,
        setup__is_platform=False,
        role=LineRole.DEDICATED,
        released_at__isnull=True,
    )


def _claim_line(
    *,
    organization: Organization,
    scope: str,
    key: str,
    fingerprint: str,
    actor: Actor,
    setup_id: uuid.UUID | None = None,
    identity: AgentIdentity | None = None,
) -> tuple[PhoneLine, bool]:
    """Find or reserve the claim's line in one short transaction; returns (line, ordered).

    `ordered` is True when this call reserved a new pending line and must now ask the
    provider for it. The reservation counts against the quota at once, and the
    organisation row lock serialises claims, so parallel claims cannot overshoot it. With
    `identity` the reservation is attached to it at once, so the number reaches the
    identity whenever the provider places it.
    """
    with transaction.atomic():
        claim, _ = NumberClaim.objects.get_or_create(
            organization=organization,
            scope=scope,
            key=key,
            defaults={"request_fingerprint": fingerprint, "identity": identity},
        )
        claim = (
            NumberClaim.objects.select_for_update(of=("self",))
            .select_related("line")
            .get(pk=claim.pk)
        )
        if claim.request_fingerprint != fingerprint:
            raise Conflict(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused")
        if claim.line is not None:
            return claim.line, False
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        setup = setup_for_claim(organization=organization, setup_id=setup_id)
        limit = settings.DEDICATED_NUMBERS_PER_ORG
        current = dedicated_lines_for_org(organization).count()
        if current >= limit:
            raise NumberQuotaExceeded(
                "The organisation has reached its dedicated number limit.",
                extra={"number_type": "dedicated_outbound", "limit": limit, "current": current},
            )
        line = PhoneLine.objects.create(setup=setup, role=LineRole.DEDICATED, identity=identity)
        claim.line = line
        claim.save(update_fields=["line"])
        audit_record(
            organization=organization,
            actor=actor,
            action="dedicated_number.claim",
            obj=line,
            after={"state": line.state, "setup": str(setup.id)},
        )
        return line, True


def _claim_order(line: PhoneLine) -> PhoneLine:
    """Order the reserved line; a provider error becomes a 502 and drops the reservation
    (the claim's line reference is nulled by its foreign key), so the same key orders
    afresh."""
    try:
        return line_order(line)
    except ProviderError as exc:
        raise line_order_failed(exc) from exc


def _claim_poll(line: PhoneLine) -> PhoneLine:
    """Ask the provider whether it placed a pending line yet (no transaction open); a
    failed poll leaves the line pending."""
    if not line.provider_request_id:
        # The order is still on its way (or died mid-call): the reconcile beat finds it.
        return line
    try:
        request = providers.get_adapter().get_line_request(
            credentials=setup_credentials(line.setup), request_id=line.provider_request_id
        )
    except ProviderError as exc:
        # Still pending as far as we know; the caller retries and beat reconciles.
        logger.warning("polling line %s failed: %s", line.id, exc.error_key)
        return line
    if request.number:
        return (
            line_assign(
                setup=line.setup, number=request.number, line_request_id=line.provider_request_id
            )
            or line
        )
    return line


def _claim_settle(line: PhoneLine, *, ordered: bool) -> PhoneLine:
    if ordered:
        return _claim_order(line)
    if line.state == LineState.PENDING:
        return _claim_poll(line)
    return line


def dedicated_number_claim(
    *,
    organization: Organization,
    actor: Actor,
    key: str,
    scope: str = "org",
    fingerprint: str = "",
    setup_id: uuid.UUID | None = None,
) -> PhoneLine:
    """Claim a dedicated line for the organisation, once per `Idempotency-Key`.

    The line goes on `setup_id` (one of the organisation's own setups) or else on the
    organisation's default setup. Raises `InventoryPending` (503, retry with the same
    key) while the provider has not placed the line, `NumberQuotaExceeded` (402),
    `Conflict` (idempotency_key_reused; no_default_setup), `SetupNotActive` (409),
    `NotFound` for a foreign `setup_id`, and a 502 `provider_error` when the provider
    fails the order.
    """
    line, ordered = _claim_line(
        organization=organization,
        scope=scope,
        key=key,
        fingerprint=fingerprint,
        actor=actor,
        setup_id=setup_id,
    )
    line = _claim_settle(line, ordered=ordered)
    if line.state != LineState.ASSIGNED:
        raise _pending(line)
    return line


# --- Identities created with a number ---------------------------------------------


@dataclass(frozen=True)
class Notice:
    """Advisory response notice (`{code, level, message}`), as the SDK reads them."""

    code: str
    level: str
    message: str

    def wire(self) -> dict[str, str]:
        return {"code": self.code, "level": self.level, "message": self.message}


@dataclass
class IdentityWithClaim:
    identity: AgentIdentity
    notices: list[Notice] = field(default_factory=list)


def _replayed_identity(
    *, organization: Organization, key: str, fingerprint: str
) -> AgentIdentity | None:
    claim = (
        NumberClaim.objects.select_related("identity")
        .filter(organization=organization, scope=IDENTITY_CREATE_SCOPE, key=key)
        .first()
    )
    if claim is None or claim.identity is None:
        return None
    if claim.request_fingerprint != fingerprint:
        raise Conflict(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused")
    return claim.identity


def identity_create_with_number(
    *,
    organization: Organization,
    actor: Actor,
    handle: str,
    identity_fields: dict[str, Any],
    key: str | None,
    fingerprint: str,
) -> IdentityWithClaim:
    """Create an identity and claim a dedicated number for it.

    The identity and the reserved line (attached to it) commit together, so quota and
    setup refusals (402, 409) create nothing. The provider is asked afterwards: a line
    placed at once is attached now; one still pending is attached whenever the provider
    places it, and a provider failure leaves the identity without a number. Either way
    the identity is returned with a notice saying what happened to the claim.

    With `key` (an Idempotency-Key) a retry returns the same identity and continues the
    same claim (polling a pending line, ordering again after a failure); the same key with
    another body raises `Conflict` (idempotency_key_reused). Without a key a retry meets
    `HandleUnavailable` like any second create of the handle.
    """
    claim_key = key or f"create:{uuid.uuid4()}"

    def reserve(identity: AgentIdentity) -> tuple[PhoneLine, bool]:
        return _claim_line(
            organization=organization,
            scope=IDENTITY_CREATE_SCOPE,
            key=claim_key,
            fingerprint=fingerprint,
            actor=actor,
            identity=identity,
        )

    identity = None
    if key is not None:
        identity = _replayed_identity(organization=organization, key=key, fingerprint=fingerprint)
    if identity is not None:
        line, ordered = reserve(identity)
    else:
        try:
            with transaction.atomic():
                identity = identity_create(
                    organization=organization, actor=actor, handle=handle, **identity_fields
                )
                line, ordered = reserve(identity)
        except HandleUnavailable:
            # A concurrent create with the same key may have taken the handle: replay it.
            if key is None:
                raise
            identity = _replayed_identity(
                organization=organization, key=key, fingerprint=fingerprint
            )
            if identity is None:
                raise
            line, ordered = reserve(identity)
    return IdentityWithClaim(identity=identity, notices=_settle_for_identity(line, ordered))


def _settle_for_identity(line: PhoneLine, ordered: bool) -> list[Notice]:
    try:
        line = _claim_settle(line, ordered=ordered)
    except ApplicationError as exc:
        logger.warning("dedicated number for identity %s failed: %s", line.identity_id, exc.code)
        return [Notice(code=exc.code, level="error", message=exc.message)]
    if line.state == LineState.ASSIGNED:
        return []
    return [Notice(code=InventoryPending.code, level="warning", message=NUMBER_PENDING_NOTICE)]


@transaction.atomic
def dedicated_number_attach(
    *, identity: AgentIdentity, line: PhoneLine | None, actor: Actor
) -> AgentIdentity:
    """Attach an owned dedicated line to `identity` (None: back to the shared service)."""
    current = list(PhoneLine.objects.select_for_update().filter(identity=identity))
    if line is not None:
        line = PhoneLine.objects.select_for_update().get(pk=line.pk)
        if line.identity_id not in (None, identity.id):
            raise Conflict("This number is attached to another identity.", code="number_in_use")
    for other in current:
        if line is None or other.pk != line.pk:
            other.identity = None
            other.save(update_fields=["identity", "updated_at"])
    if line is not None and line.identity_id != identity.id:
        line.identity = identity
        line.save(update_fields=["identity", "updated_at"])
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="identity.number_attach",
        obj=identity,
        before={"lines": [str(o.pk) for o in current]},
        after={"line": str(line.pk) if line else None},
    )
    return identity


def dedicated_line_get(*, organization: Organization, line_id: uuid.UUID) -> PhoneLine:
    line = dedicated_lines_for_org(organization).filter(id=line_id).first()
    if line is None or line.state != LineState.ASSIGNED:
        raise NotFound("Number not found.")
    return line


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
