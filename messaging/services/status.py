"""Delivery status from the provider: callbacks move a sent message's status forward only,
record the service (and an SMS downgrade), and emit `imessage.delivered` or
`imessage.delivery_failed`. A callback naming another setup's message is refused.

A callback posted to one message's own URL is
`messaging.services.send_recovery.message_callback_receive`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from messaging.models import DeliveryStatus, Direction, Message, SendState
from messaging.services import common
from messaging.services.common import FAILED_STATUSES
from provisioning.dispatch import ForeignReference
from provisioning.models import Setup
from provisioning.providers.base import StatusUpdate

logger = logging.getLogger(__name__)

# Statuses only move forward; terminal ones never change again.
_STATUS_RANK: dict[str, int] = {
    DeliveryStatus.REGISTERED: 0,
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.ACCEPTED: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.DECLINED: 3,
    DeliveryStatus.ERROR: 3,
}


@transaction.atomic
def message_status_update(*, setup: Setup, update: StatusUpdate) -> Message | None:
    """Apply a provider status callback to the outbound message of `setup` with that handle.

    Raises `ForeignReference` when the handle is another setup's message.
    """
    message = (
        Message.objects.select_related("identity")
        .filter(
            provider_handle=update.provider_handle,
            direction=Direction.OUTBOUND,
            line__setup=setup,
        )
        .first()
    )
    if message is None:
        foreign_handle_refuse(setup=setup, provider_handle=update.provider_handle)
        logger.info("status callback for unknown handle ignored")
        return None
    status_apply(message, update)
    if update.read:
        from messaging.presence import message_read_record

        message_read_record(message=message)
    return message


def status_apply(message: Message, update: StatusUpdate) -> bool:
    """Move the status forward only; record service and SMS fallback. Emits events."""
    new = update.status
    if new not in _STATUS_RANK:
        logger.info("ignoring status %r for message %s", new, message.pk)
        return False
    rank = _STATUS_RANK[new]
    lower = [s for s, r in _STATUS_RANK.items() if r < rank]
    fields: dict[str, Any] = {"updated_at": timezone.now()}
    if update.service:
        fields["service"] = update.service
    if update.was_downgraded is not None:
        fields["was_downgraded"] = update.was_downgraded
    is_failure = new in FAILED_STATUSES
    if is_failure:
        fields.update(
            error_code=(update.error_code or "provider_error")[:64],
            error_message=update.error_message,
            error_reason=update.error_reason,
            error_detail=update.error_detail,
            send_state=SendState.FAILED,
        )
    base = Message.objects.filter(pk=message.pk)
    moved = base.filter(Q(status__isnull=True) | Q(status__in=lower)).update(status=new, **fields)
    if not moved:
        # Same status again (or a late, lower one): keep the status, still record service
        # and downgrade facts that only the later callback carried.
        if len(fields) > 1 and not is_failure:
            base.exclude(status__in=list(FAILED_STATUSES)).update(**fields)
        return False
    message.refresh_from_db()
    if new == DeliveryStatus.DELIVERED:
        common.emit("imessage.delivered", identity=message.identity, message=message)
    elif is_failure:
        common.emit("imessage.delivery_failed", identity=message.identity, message=message)
    return True


def foreign_handle_refuse(*, setup: Setup, provider_handle: str) -> None:
    """Raise `ForeignReference` when a message of another setup carries this handle (the
    caller's own, setup-scoped lookup found nothing)."""
    if Message.objects.filter(provider_handle=provider_handle).exclude(line__setup=setup).exists():
        raise ForeignReference
