"""Sends whose outcome was lost: the worker died around the provider call, the call timed
out after the request left, or the database went away before the answer was stored.

Such a send (its `provider_call_started_at` mark is set) may be on the person's phone, so
it is never sent again. Its outcome is recovered from what the provider reports:

1. the message's own status callback: every send carries a callback URL that names the
   message, so a late callback ties the provider's handle back to it
   (`message_callback_receive`);
2. the provider's record: its status lookup when we hold the handle, otherwise its message
   list (the line's messages to that person since the call started, matched on content),
   asked by the next job of the message (`send_outcome_recover`).

Only when neither settles it does the message end `status: "error"` with
`error_reason: "outcome_unknown"` and the opt-in event `imessage.delivery_unknown`, never
`imessage.delivery_failed`: the person may have it, so the agent must not resend blindly. A
callback that arrives later still settles it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from console.outbox import COUNTDOWN_MAX_SECONDS
from messaging.models import DeliveryStatus, Direction, Message, SendState
from messaging.services import common, delivery
from messaging.services.common import FAILED_STATUSES
from messaging.services.status import status_apply
from provisioning.dispatch import ForeignReference
from provisioning.models import Setup
from provisioning.providers.base import OutboundRecord, ProviderError, StatusUpdate

logger = logging.getLogger(__name__)

OUTCOME_UNKNOWN = "outcome_unknown"
OUTCOME_UNKNOWN_MESSAGE = (
    "The provider may have delivered this message, but its outcome could not be confirmed. "
    "Do not send it again without asking the person whether they received it."
)
# The provider's clock may differ from ours: list its messages from a little earlier.
LOOKUP_CLOCK_SKEW = timedelta(minutes=2)
# Rows whose provider call may have happened and whose outcome was never recorded.
OUTCOME_PENDING = Q(send_state__in=[SendState.SENDING, SendState.UNKNOWN]) | Q(
    send_state=SendState.QUEUED, provider_call_started_at__isnull=False
)


def send_outcome_recover(*, message: Message) -> None:
    """Settle a claimed (`sending`) message whose earlier provider call may have reached
    the provider, without calling send again.

    The provider's record settles it (sent, delivered or failed as reported); no record
    ends it `outcome_unknown`. While the provider cannot be asked, the message waits
    (`queued`, mark kept) and the job retries under the send retry policy; past its
    window it ends `outcome_unknown`.
    """
    try:
        update = _provider_copy(message)
    except ProviderError as exc:
        if not exc.permanent and _retry_later(message, exc):
            return
        logger.warning("message %s: the provider could not be asked about it", message.pk)
        update = None
    if update is None:
        send_outcome_unknown(message)
        return
    _settle(message, update, pending=Q(send_state=SendState.SENDING))


@transaction.atomic
def send_outcome_unknown(message: Message) -> bool:
    """End a `sending` message whose outcome nobody can confirm; emits
    `imessage.delivery_unknown`. Returns False when another path settled it first."""
    now = timezone.now()
    updated = Message.objects.filter(pk=message.pk, send_state=SendState.SENDING).update(
        send_state=SendState.UNKNOWN,
        status=DeliveryStatus.ERROR,
        error_code=OUTCOME_UNKNOWN,
        error_reason=OUTCOME_UNKNOWN,
        error_message=OUTCOME_UNKNOWN_MESSAGE,
        next_attempt_at=None,
        claimed_at=None,
        updated_at=now,
    )
    if not updated:
        return False
    message.refresh_from_db()
    logger.warning("message %s: outcome unknown, not sent again", message.pk)
    common.emit("imessage.delivery_unknown", identity=message.identity, message=message)
    return True


@transaction.atomic
def message_callback_receive(*, setup: Setup, update: StatusUpdate) -> Message | None:
    """A status callback posted to one message's own URL (`update.message_ref`).

    Only an outbound message on a line of `setup`, the setup whose secret authenticated
    the callback, is touched; another setup's message raises `ForeignReference`. Its first
    handle is recorded even when the send's answer was lost (or the message already ended
    `outcome_unknown`); after that the callback moves the status like any other. Returns
    the message, or None when the callback was ignored.
    """
    try:
        message_id = uuid.UUID(str(update.message_ref))
    except ValueError:
        message_id = None
    message = (
        Message.objects.select_related("identity")
        .filter(pk=message_id, direction=Direction.OUTBOUND, line__setup=setup)
        .first()
        if message_id
        else None
    )
    if message is None:
        if message_id and Message.objects.filter(pk=message_id).exists():
            raise ForeignReference
        logger.warning("setup %s: status callback for no message of its own ignored", setup.id)
        return None
    if message.provider_handle == update.provider_handle and (
        message.send_state != SendState.UNKNOWN
    ):
        status_apply(message, update)
        return message
    if message.provider_handle not in {None, update.provider_handle}:
        logger.warning("message %s: status callback with another handle ignored", message.pk)
        return None
    try:
        _settle(message, update, pending=OUTCOME_PENDING)
    except IntegrityError:
        # The handle already belongs to another message: not this one's callback.
        logger.warning("message %s: status callback with a taken handle ignored", message.pk)
        return None
    return message


def _retry_later(message: Message, exc: ProviderError) -> bool:
    """Put the message back in the queue (mark kept) for another recovery attempt within
    the retry window; False once the window is over."""
    from messaging.send_policy import send_retry_at

    now = timezone.now()
    retry_at = send_retry_at(message, now=now, exc=exc)
    if retry_at is None:
        return False
    Message.objects.filter(pk=message.pk, send_state=SendState.SENDING).update(
        send_state=SendState.QUEUED,
        claimed_at=None,
        next_attempt_at=retry_at,
        error_detail=f"attempt {message.send_attempts}: outcome lookup failed: {exc.message}"[
            :2000
        ],
        updated_at=now,
    )
    delay = (retry_at - now).total_seconds()
    if delay <= COUNTDOWN_MAX_SECONDS:
        common.enqueue(delivery.SENDS.task(), str(message.pk), countdown=delay)
    return True


def _provider_copy(message: Message) -> StatusUpdate | None:
    """What the provider reports for this send, or None when it has no matching record.
    Raises `ProviderError` when it cannot be asked."""
    line = message.line
    if line is None or line.number is None:
        return None
    credentials = common.line_credentials(line)
    adapter = common.provider_adapter()
    if message.provider_handle:
        return adapter.message_status(
            credentials=credentials, provider_handle=message.provider_handle
        )
    since = message.provider_call_started_at or message.created_at
    records = adapter.outbound_messages(
        credentials=credentials,
        from_number=line.number,
        to_number=message.remote_number,
        created_after=since - LOOKUP_CLOCK_SKEW,
    )
    record = _match(message, records)
    return record.update if record is not None else None


def _match(message: Message, records: list[OutboundRecord]) -> OutboundRecord | None:
    """The oldest record with this message's content that no other message of ours owns
    (the same words sent twice: each send takes its own record)."""
    handles = [r.update.provider_handle for r in records]
    taken = set(
        Message.objects.filter(provider_handle__in=handles).values_list(
            "provider_handle", flat=True
        )
    )
    content = (message.content or "").strip()
    candidates = [
        r
        for r in records
        if r.update.provider_handle not in taken
        and r.content.strip() == content
        and bool(r.media_url) == bool(message.media)
    ]
    candidates.sort(key=lambda r: (r.created_at is None, r.created_at))
    return candidates[0] if candidates else None


@transaction.atomic
def _settle(message: Message, update: StatusUpdate, *, pending: Q) -> bool:
    """Record the provider's copy of a send whose answer was lost, and emit what the agent
    has not been told yet. Raises IntegrityError when the handle belongs to another message.
    """
    if update.status in FAILED_STATUSES:
        return delivery.message_fail(
            message,
            code=update.error_code or "provider_error",
            error_message=update.error_message or "The provider reported a failure.",
            reason=update.error_reason or "reported by the provider",
            provider_handle=update.provider_handle,
            from_states=[SendState.QUEUED, SendState.SENDING, SendState.UNKNOWN],
        )
    if not delivery.record_sent(message, update=update, pending=pending):
        return False
    logger.info("message %s: outcome recovered from the provider", message.pk)
    return True
