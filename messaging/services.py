"""Messaging writes: sending (outbox, rate cap, retries, sweep), delivery status, inbound
storage, read receipts, typing and the conversation hook for routing. Tapbacks live in
`messaging.reactions`.

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from console.errors import ApplicationError, Conflict, NotFound
from console.models import AgentIdentity
from messaging.media import inbound_media_items
from messaging.media_urls import send_items
from messaging.models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    SendState,
)
from messaging.webhooks import services as webhook_services
from messaging.wire import mark_without_reactions
from provisioning.dispatch import ForeignReference
from provisioning.models import LineRole, PhoneLine, Setup
from provisioning.providers.base import (
    AccountCredentials,
    InboundMessage,
    ProviderAdapter,
    ProviderError,
    SendResult,
    StatusUpdate,
)
from routing.models import Assignment, AssignmentStatus

logger = logging.getLogger(__name__)

# --- Errors (module constants so tests can import them) -----------------------
IMESSAGE_NOT_ENABLED = "This identity is not enabled for iMessage."
NO_ACTIVE_ASSIGNMENT = (
    "This person is not connected to the identity. Ask them to text the connect command "
    "to the triage number, then send again."
)
CONVERSATION_INACTIVE = (
    "This conversation is no longer connected. The person can reconnect by texting the "
    "connect command to the triage number."
)
DEDICATED_NOT_STARTED = (
    "This person has not messaged the identity's dedicated line yet; a conversation "
    "starts when they text it."
)
SEND_RATE_LIMITED = "The identity reached its rolling 24-hour send cap."
CONVERSATION_NOT_FOUND = "Conversation not found."
MESSAGE_NOT_FOUND = "Message not found."
RECIPIENT_NOT_E164 = "This conversation is receive-only: its address is not a phone number."
PROVIDER_UNAVAILABLE = "The messaging provider did not accept the request; try again."

# --- Delivery pipeline knobs (the retry policy lives in messaging/send_policy.py) ------
SWEEP_BATCH = 500
# Retries due within this long are scheduled on the broker; later ones by the sweep (a
# long countdown outlives Redis' visibility timeout and is delivered twice).
BROKER_COUNTDOWN_MAX_SECONDS = 300

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
_FAILED_STATUSES = {DeliveryStatus.ERROR, DeliveryStatus.DECLINED}


def _adapter() -> ProviderAdapter:
    from provisioning.providers import get_adapter

    return get_adapter()


def _credentials(line: PhoneLine) -> AccountCredentials:
    from provisioning.services.credentials import setup_credentials

    return setup_credentials(line.setup)


def _enqueue(task: Any, *args: Any, countdown: float | None = None) -> None:
    """Hand work to Celery after commit; a broker outage is logged, the sweep catches up."""

    def send() -> None:
        task.apply_async(args=args, countdown=countdown)

    transaction.on_commit(send, robust=True)


def _emit(event_type: str, *, identity: AgentIdentity, **objects: Any) -> None:
    # Called through the module so the webhook layer can be swapped or observed in tests.
    webhook_services.event_emit(event_type=event_type, identity=identity, **objects)


def _is_phone(address: str) -> bool:
    return address.startswith("+")


# --- Conversations -------------------------------------------------------------


def conversation_get_or_create(
    *, identity: AgentIdentity, remote_number: str, defaults: dict[str, Any] | None = None
) -> Conversation:
    """The one conversation per (identity, person); the unique constraint settles races."""
    conversation, _ = Conversation.objects.get_or_create(
        identity=identity,
        remote_number=remote_number,
        is_group=False,
        defaults={"organization_id": identity.organization_id, **(defaults or {})},
    )
    return conversation


def conversation_attach(assignment: Assignment) -> None:
    """Routing hook: point the (identity, person) conversation at an activated assignment.

    Called inside routing's transaction. A released assignment stays on the conversation
    so that reads report `assignment_status: released` and sends answer 409.
    """
    if assignment.status != AssignmentStatus.ACTIVE:
        Conversation.objects.filter(
            identity_id=assignment.identity_id,
            remote_number=assignment.remote_number,
            assignment_id=assignment.id,
        ).update(updated_at=timezone.now())
        return
    conversation = conversation_get_or_create(
        identity=assignment.identity,
        remote_number=assignment.remote_number,
        defaults={
            "assignment": assignment,
            "line_id": assignment.pool_line_id,
            "last_message_at": timezone.now(),
        },
    )
    if conversation.assignment_id != assignment.id or conversation.line_id != (
        assignment.pool_line_id
    ):
        conversation.assignment = assignment
        conversation.line_id = assignment.pool_line_id
        conversation.save(update_fields=["assignment", "line", "updated_at"])


def _conversation_line(conversation: Conversation) -> PhoneLine | None:
    """The line we may send on now: the active assignment's pool line, or the identity's
    dedicated line. None when the connection was released."""
    line = conversation.line
    if line is None or line.number is None:
        return None
    if line.role == LineRole.DEDICATED:
        return line if line.identity_id == conversation.identity_id else None
    assignment = conversation.assignment
    if assignment is None or assignment.status != AssignmentStatus.ACTIVE:
        return None
    return line


def _touch_conversation(conversation_id: Any, at: datetime) -> None:
    Conversation.objects.filter(pk=conversation_id).filter(
        Q(last_message_at__isnull=True) | Q(last_message_at__lt=at)
    ).update(last_message_at=at, updated_at=timezone.now())


# --- Sending ---------------------------------------------------------------------


@dataclass(frozen=True)
class RateInfo:
    limit: int
    remaining: int
    reset_at: datetime
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at.timestamp())),
        }
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


@dataclass(frozen=True)
class SendOutcome:
    message: Message
    rate: RateInfo


def _rate_window(identity: AgentIdentity, now: datetime) -> tuple[int, datetime | None]:
    window = Message.objects.filter(
        identity=identity, direction=Direction.OUTBOUND, created_at__gt=now - timedelta(hours=24)
    )
    # One scan of the window's index range answers both.
    row = window.aggregate(count=Count("pk"), oldest=Min("created_at"))
    return row["count"], row["oldest"]


def _rate_check(identity: AgentIdentity, now: datetime) -> RateInfo:
    """Raises the 429 `send_rate_limited` when the rolling cap is reached.

    The caller holds the identity's row lock, so the count cannot change underneath.
    """
    cap = settings.SEND_CAP_PER_24H
    count, oldest = _rate_window(identity, now)
    reset_at = (oldest + timedelta(hours=24)) if oldest else now + timedelta(hours=24)
    if count >= cap:
        retry_after = max(1, math.ceil((reset_at - now).total_seconds()))
        info = RateInfo(limit=cap, remaining=0, reset_at=reset_at, retry_after=retry_after)
        raise ApplicationError(
            SEND_RATE_LIMITED,
            code="send_rate_limited",
            status_code=429,
            extra={"limit": cap, "retry_after_seconds": retry_after},
            headers=info.headers(),
        )
    # This send counts against the window from now on.
    return RateInfo(limit=cap, remaining=cap - count - 1, reset_at=reset_at)


def _no_assignment_error(identity: AgentIdentity) -> ApplicationError:
    from routing.selectors import triage_info

    triage = triage_info(handle=identity.handle)
    return ApplicationError(
        NO_ACTIVE_ASSIGNMENT,
        code="no_active_assignment",
        status_code=404,
        extra={
            "connect_command": triage.connect_command if triage else f"connect @{identity.handle}",
            "triage_number": triage.number if triage else None,
        },
    )


def _dedicated_line(identity: AgentIdentity) -> PhoneLine | None:
    return (
        PhoneLine.objects.filter(
            identity=identity, role=LineRole.DEDICATED, number__isnull=False, released_at=None
        )
        .order_by("requested_at")
        .first()
    )


def _resolve_target(
    *, identity: AgentIdentity, conversation: Conversation | None, to: str | None
) -> tuple[Conversation, PhoneLine]:
    """The conversation and line a send goes out on (404/409 in contract order)."""
    if conversation is not None:
        line = _conversation_line(conversation)
        if line is None:
            raise Conflict(CONVERSATION_INACTIVE, code="conversation_inactive")
        return conversation, line
    assert to is not None
    from routing.selectors import active_assignment

    assignment = active_assignment(identity=identity, remote_number=to)
    if assignment is not None:
        conversation = (
            Conversation.objects.select_related("assignment", "line")
            .filter(identity=identity, remote_number=to)
            .first()
        )
        # Usually the conversation already points at this assignment: one read, no attach.
        if (
            conversation is None
            or conversation.assignment_id != assignment.id
            or conversation.line_id != assignment.pool_line_id
        ):
            assignment.identity = identity  # same row; spares conversation_attach a read
            conversation_attach(assignment)
            conversation = Conversation.objects.select_related("assignment", "line").get(
                identity=identity, remote_number=to
            )
        line = _conversation_line(conversation)
        if line is None:  # pragma: no cover - attach just pointed it at the active one
            raise Conflict(CONVERSATION_INACTIVE, code="conversation_inactive")
        return conversation, line
    dedicated = _dedicated_line(identity)
    if dedicated is None:
        raise _no_assignment_error(identity)
    existing = (
        Conversation.objects.select_related("assignment", "line")
        .filter(identity=identity, remote_number=to)
        .first()
    )
    if existing is None or existing.line_id != dedicated.id:
        raise Conflict(DEDICATED_NOT_STARTED, code="conversation_inactive")
    return existing, dedicated


@transaction.atomic
def message_send(
    *,
    identity: AgentIdentity,
    conversation: Conversation | None,
    to: str | None,
    text: str | None,
    media_urls: list[str],
    send_style: str | None,
    reply_to: Message | None = None,
) -> SendOutcome:
    """Store an outbound message `queued` and enqueue its send after commit.

    Checks in contract order: 400 imessage_not_enabled, 403 recipient_blocked,
    404 no_active_assignment / 409 conversation_inactive, 429 send_rate_limited.
    """
    from routing.services.contact_rules import outbound_permission_check

    if not identity.imessage_enabled:
        raise ApplicationError(IMESSAGE_NOT_ENABLED, code="imessage_not_enabled")
    if conversation is not None:
        group_refuse(conversation)
    remote = conversation.remote_number if conversation is not None else to
    assert remote is not None
    if not _is_phone(remote):
        raise ApplicationError(RECIPIENT_NOT_E164, code="recipient_not_e164", status_code=422)
    outbound_permission_check(identity=identity, number=remote)
    conversation, line = _resolve_target(identity=identity, conversation=conversation, to=to)
    # Serialise sends per identity: the count and the insert must not interleave. NO KEY
    # UPDATE still excludes other sends, but not the KEY SHARE lock that the deferred
    # foreign-key check of a concurrent inbound insert takes at commit: with FOR UPDATE the
    # two deadlocked (that intake holds the conversation row this send then updates).
    AgentIdentity.objects.select_for_update(no_key=True).filter(pk=identity.pk).values_list(
        "pk"
    ).get()
    now = timezone.now()
    rate = _rate_check(identity, now)
    message = Message.objects.create(
        organization_id=identity.organization_id,
        identity=identity,
        conversation=conversation,
        assignment_id=conversation.assignment_id,
        line=line,
        direction=Direction.OUTBOUND,
        remote_number=conversation.remote_number,
        content=text or None,
        send_style=send_style,
        media=send_items(organization_id=identity.organization_id, urls=media_urls),
        status=DeliveryStatus.QUEUED,
        is_read=True,
        reply_to=reply_to,
        send_state=SendState.QUEUED,
        next_attempt_at=now,
        created_at=now,
    )
    mark_without_reactions(message)
    _touch_conversation(conversation.pk, now)
    from messaging.tasks import message_send_task

    _enqueue(message_send_task, str(message.id))
    logger.info("message %s queued for identity %s", message.id, identity.id)
    return SendOutcome(message=message, rate=rate)


def rate_status(*, identity: AgentIdentity) -> RateInfo:
    """The identity's current window (for headers on replays or reads)."""
    now = timezone.now()
    cap = settings.SEND_CAP_PER_24H
    count, oldest = _rate_window(identity, now)
    reset_at = (oldest + timedelta(hours=24)) if oldest else now + timedelta(hours=24)
    return RateInfo(limit=cap, remaining=max(0, cap - count), reset_at=reset_at)


def _normalise_send_status(result: SendResult) -> str:
    if result.status == DeliveryStatus.DELIVERED:
        return DeliveryStatus.DELIVERED
    # Accepted by the provider: the contract's `imessage.sent` moment.
    return DeliveryStatus.SENT


def message_deliver(*, message_id: Any) -> None:
    """The outbound job: claim the due queued row, call the provider once, record the result.

    The claim and then the "call starting" mark (`provider_call_started_at`) are committed
    before the provider is called: a row claimed but never marked never reached the
    provider and is simply sent by a later job; a marked row may have, so a later job
    recovers its outcome from the provider instead of sending it again
    (messaging/send_recovery.py). Failures follow the send retry policy (`_send_failed`).
    """
    now = timezone.now()
    claimed = Message.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=message_id,
        send_state=SendState.QUEUED,
    ).update(
        send_state=SendState.SENDING,
        claimed_at=now,
        send_attempts=F("send_attempts") + 1,
        updated_at=now,
    )
    if not claimed:
        return
    message = Message.objects.select_related("line__setup", "identity").get(pk=message_id)
    if message.provider_call_started_at is not None:
        from messaging.send_recovery import send_outcome_recover

        send_outcome_recover(message=message)
        return
    line = message.line
    if line is None or line.number is None:
        _send_failed(
            message,
            ProviderError("The conversation has no line to send from.", permanent=True),
        )
        return
    credentials = _credentials(line)
    from provisioning.services.credentials import status_callback_url

    callback = status_callback_url(line.setup, str(message.id))
    # Committed on its own (no transaction here): past this point the provider may have it.
    marked = Message.objects.filter(
        pk=message.pk, send_state=SendState.SENDING, claimed_at=now
    ).update(provider_call_started_at=timezone.now())
    if not marked:
        return  # the sweep took the row back after a long stall; its new job sends it
    try:
        result = _adapter().send_message(
            credentials=credentials,
            from_number=line.number,
            to_number=message.remote_number,
            content=message.content,
            media_url=message.media[0]["url"] if message.media else None,
            send_style=message.send_style,
            status_callback=callback,
        )
    except ProviderError as exc:
        _send_failed(message, exc)
        return
    if result.status in _FAILED_STATUSES:
        _send_failed(
            message,
            ProviderError("The provider refused the message.", permanent=True),
            provider_handle=result.provider_handle,
        )
        return
    _send_succeeded(message, result)


def _send_succeeded(message: Message, result: SendResult) -> None:
    if _record_sent(
        message,
        update=StatusUpdate(
            provider_handle=result.provider_handle,
            status=_normalise_send_status(result),
            service=result.service,
            was_downgraded=result.was_downgraded,
            error_code=None,
            error_message=None,
        ),
        pending=Q(send_state=SendState.SENDING),
    ):
        logger.info("message %s accepted by the provider", message.pk)
    else:
        logger.warning("message %s was settled elsewhere while sending", message.pk)


@transaction.atomic
def _record_sent(message: Message, *, update: StatusUpdate, pending: Q) -> bool:
    """Record that the provider has the message (`sent`, or `delivered` when it says so)
    and emit `imessage.sent` (and `imessage.delivered`), if the row is still `pending`.
    Returns False when another path settled it first. Raises IntegrityError when the
    handle already belongs to another message."""
    status = (
        DeliveryStatus.DELIVERED
        if update.status == DeliveryStatus.DELIVERED
        else DeliveryStatus.SENT
    )
    fields: dict[str, Any] = {
        "send_state": SendState.SENT,
        "provider_handle": update.provider_handle,
        "status": status,
        "error_code": None,
        "error_message": None,
        "error_reason": None,
        "error_detail": None,
        "next_attempt_at": None,
        "provider_call_started_at": None,
        "updated_at": timezone.now(),
    }
    if update.service:
        fields["service"] = update.service
    if update.was_downgraded is not None:
        fields["was_downgraded"] = update.was_downgraded
    if not Message.objects.filter(pending, pk=message.pk).update(**fields):
        return False
    message.refresh_from_db()
    _emit("imessage.sent", identity=message.identity, message=message)
    if status == DeliveryStatus.DELIVERED:
        _emit("imessage.delivered", identity=message.identity, message=message)
    return True


@transaction.atomic
def _send_failed(
    message: Message, exc: ProviderError, *, provider_handle: str | None = None
) -> None:
    """Apply the send retry policy to a failed provider call.

    Permanent refusals fail at once (`imessage.delivery_failed`). Transient failures are
    retried with backoff while the retry window lasts, the message staying `queued`; a
    call that may have reached the provider (`exc.ambiguous`) keeps its mark, so the
    retry recovers its outcome instead of sending again. Past the window the message
    fails, or ends `outcome_unknown` when the last call may have reached the provider.
    """
    from messaging.send_policy import send_retry_at

    attempts = message.send_attempts
    now = timezone.now()
    retry_at = None if exc.permanent else send_retry_at(message, now=now, exc=exc)
    if retry_at is not None:
        fields: dict[str, Any] = {
            "send_state": SendState.QUEUED,
            "claimed_at": None,
            "next_attempt_at": retry_at,
            "error_detail": f"attempt {attempts} failed: {exc.message}"[:2000],
            "updated_at": now,
        }
        if not exc.ambiguous:
            fields["provider_call_started_at"] = None
        Message.objects.filter(pk=message.pk, send_state=SendState.SENDING).update(**fields)
        delay = (retry_at - now).total_seconds()
        logger.info(
            "message %s send attempt %s failed, retrying in %ss", message.pk, attempts, delay
        )
        if delay <= BROKER_COUNTDOWN_MAX_SECONDS:
            from messaging.tasks import message_send_task

            _enqueue(message_send_task, str(message.pk), countdown=delay)
        return
    if exc.ambiguous:
        from messaging.send_recovery import send_outcome_unknown

        send_outcome_unknown(message)
        return
    window = settings.SEND_RETRY_WINDOW_MINUTES
    reason = (
        "The provider refused the message permanently."
        if exc.permanent
        else f"The provider could not be reached for {window} minutes ({attempts} attempts)."
    )
    _message_fail(
        message,
        code=exc.error_key or (str(exc.status_code) if exc.status_code else "provider_error"),
        error_message=exc.message,
        reason=reason,
        provider_handle=provider_handle,
        from_states=[SendState.SENDING],
    )


def _message_fail(
    message: Message,
    *,
    code: str,
    error_message: str,
    reason: str,
    provider_handle: str | None = None,
    from_states: list[str],
) -> bool:
    fields: dict[str, Any] = {
        "send_state": SendState.FAILED,
        "status": DeliveryStatus.ERROR,
        "error_code": code[:64],
        "error_message": error_message[:2000],
        "error_reason": reason,
        "next_attempt_at": None,
        "provider_call_started_at": None,
        "updated_at": timezone.now(),
    }
    if provider_handle:
        fields["provider_handle"] = provider_handle
    updated = Message.objects.filter(pk=message.pk, send_state__in=from_states).update(**fields)
    if not updated:
        return False
    message.refresh_from_db()
    logger.warning("message %s failed: %s", message.pk, code)
    _emit("imessage.delivery_failed", identity=message.identity, message=message)
    return True


@dataclass
class SweepResult:
    requeued: int = 0
    recovered: int = 0
    media_requeued: int = 0


def _publish_sends(message_ids: list[Any]) -> int:
    """Publish send jobs; stops at the first broker failure (the next sweep tries again)."""
    from messaging.tasks import message_send_task

    published = 0
    for message_id in message_ids:
        try:
            message_send_task.apply_async(args=(str(message_id),))
        except Exception:  # broker still down; the next sweep tries again
            logger.exception("could not enqueue message %s", message_id)
            break
        published += 1
    return published


def message_send_sweep(*, now: datetime | None = None) -> SweepResult:
    """Recover lost outbound jobs without ever sending twice.

    - `queued` rows overdue by SEND_SWEEP_GRACE_SECONDS: their job was lost (broker down
      at commit, worker crash before the claim); publish it again. A duplicate job is
      harmless: the claim is a conditional update.
    - `sending` rows claimed more than SEND_STUCK_TIMEOUT_SECONDS ago lost their worker.
      They go back to `queued` and a new job takes them: one that never reached the
      provider call is sent; one that did (its mark is set) is recovered from the
      provider's record, never sent again (messaging/send_recovery.py).
    """
    from messaging.tasks import inbound_media_fetch_task

    now = now or timezone.now()
    # A queued row this overdue lost its job (broker down at commit, worker crash).
    queued_grace = timedelta(seconds=settings.SEND_SWEEP_GRACE_SECONDS)
    # Longer than the task hard time limit: a `sending` row this old has no live worker.
    sending_timeout = timedelta(seconds=settings.SEND_STUCK_TIMEOUT_SECONDS)
    result = SweepResult()
    stuck = list(
        Message.objects.filter(send_state=SendState.SENDING, claimed_at__lt=now - sending_timeout)
        .order_by("claimed_at")
        .values_list("id", "claimed_at")[:SWEEP_BATCH]
    )
    handed_back = [
        message_id
        for message_id, claimed_at in stuck
        # Conditional on the same claim: a worker that is merely slow keeps its row.
        if Message.objects.filter(
            pk=message_id, send_state=SendState.SENDING, claimed_at=claimed_at
        ).update(send_state=SendState.QUEUED, claimed_at=None, next_attempt_at=now, updated_at=now)
    ]
    result.recovered = _publish_sends(handed_back)
    overdue = list(
        Message.objects.filter(send_state=SendState.QUEUED, next_attempt_at__lte=now - queued_grace)
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    result.requeued = _publish_sends(overdue)
    pending_media = list(
        Message.objects.filter(
            direction=Direction.INBOUND,
            media__0__rehosted=False,
            created_at__lt=now - queued_grace,
            created_at__gt=now - timedelta(days=7),
        ).values_list("id", flat=True)[:SWEEP_BATCH]
    )
    for message_id in pending_media:
        try:
            inbound_media_fetch_task.apply_async(args=(str(message_id),))
            result.media_requeued += 1
        except Exception:
            logger.exception("could not enqueue media fetch for message %s", message_id)
            break
    return result


# --- Status callbacks ------------------------------------------------------------


def _status_apply(message: Message, update: StatusUpdate) -> bool:
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
    is_failure = new in _FAILED_STATUSES
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
            base.exclude(status__in=list(_FAILED_STATUSES)).update(**fields)
        return False
    message.refresh_from_db()
    if new == DeliveryStatus.DELIVERED:
        _emit("imessage.delivered", identity=message.identity, message=message)
    elif is_failure:
        _emit("imessage.delivery_failed", identity=message.identity, message=message)
    return True


def _refuse_foreign_handle(*, setup: Setup, provider_handle: str) -> None:
    """Raise `ForeignReference` when a message of another setup carries this handle (the
    caller's own, setup-scoped lookup found nothing)."""
    if Message.objects.filter(provider_handle=provider_handle).exclude(line__setup=setup).exists():
        raise ForeignReference


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
        _refuse_foreign_handle(setup=setup, provider_handle=update.provider_handle)
        logger.info("status callback for unknown handle ignored")
        return None
    _status_apply(message, update)
    if update.read:
        from messaging.presence import message_read_record

        message_read_record(message=message)
    return message


# --- Inbound ---------------------------------------------------------------------


# No caller catches its errors and carries on in the same transaction, so a SAVEPOINT
# would only add two round trips per call (ingest ran ten of them).
@transaction.atomic(savepoint=False)
def inbound_message_receive(*, setup: Setup, event: InboundMessage) -> Message | None:
    """Store an inbound message on a line of `setup` once and hand it to the agent webhook
    layer.

    Routing decides the identity (None: consumed as a router command or unroutable).
    Group messages go to `messaging.groups` (audit only, never a 1:1 conversation).
    Blocked senders are stored `is_blocked` for audit with no event; a disabled identity
    gets the row but no event. A re-delivered provider handle is a no-op. Raises
    `ForeignReference` when the line or the handle belongs to another setup.
    """
    from provisioning.selectors import line_by_number, line_number_held_elsewhere
    from routing.services.router import inbound_route

    line = line_by_number(setup=setup, number=event.to_number)
    if line is None:
        if line_number_held_elsewhere(setup=setup, number=event.to_number):
            raise ForeignReference
        logger.warning("inbound message for an unknown line ignored")
        return None
    stored = (
        Message.objects.filter(provider_handle=event.provider_handle)
        .values_list("pk", "line__setup_id")
        .first()
    )
    if stored is not None:
        if stored[1] != setup.id:
            raise ForeignReference
        return None
    if event.is_group:
        from messaging.groups import group_message_receive

        # Kept for audit only: no 1:1 conversation, no agent event, no router reply.
        return group_message_receive(line=line, event=event)
    route = inbound_route(line=line, sender=event.from_number, text=event.content)
    if route is None:
        return None
    identity = route.identity
    now = timezone.now()
    conversation = conversation_get_or_create(
        identity=identity,
        remote_number=event.from_number,
        defaults={
            "assignment": route.assignment,
            "line": route.line,
            "last_message_at": None if route.is_blocked else now,
        },
    )
    media = inbound_media_items(event.media_url)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                organization_id=identity.organization_id,
                identity=identity,
                conversation=conversation,
                assignment=route.assignment,
                line=route.line,
                direction=Direction.INBOUND,
                remote_number=event.from_number,
                content=event.content or None,
                service=event.service or "imessage",
                media=media,
                status=DeliveryStatus.RECEIVED,
                is_blocked=route.is_blocked,
                blocked_rule_id=route.matched_rule_id if route.is_blocked else None,
                provider_handle=event.provider_handle,
                created_at=now,
            )
    except IntegrityError:
        # The same handle raced in through another delivery: stored once already.
        return None
    mark_without_reactions(message)
    if route.is_blocked:
        logger.info("inbound message %s stored blocked", message.id)
        return message
    # Keep the conversation on the line the person is using now.
    if conversation.line_id != route.line.id or (
        route.assignment is not None and conversation.assignment_id != route.assignment.id
    ):
        conversation.line = route.line
        if route.assignment is not None:
            conversation.assignment = route.assignment
        conversation.save(update_fields=["line", "assignment", "updated_at"])
    _touch_conversation(conversation.pk, now)
    if media:
        from messaging.tasks import inbound_media_fetch_task

        _enqueue(inbound_media_fetch_task, str(message.id))
    if identity.imessage_enabled:
        _emit("imessage.received", identity=identity, message=message)
    logger.info("inbound message %s stored for identity %s", message.id, identity.id)
    return message


# --- Provider calls on an open conversation ---------------------------------------


def group_refuse(conversation: Conversation) -> None:
    """Group threads are kept for audit only: raises 409 `group_not_supported`."""
    if conversation.is_group:
        from messaging.groups import GROUP_NOT_SUPPORTED

        raise Conflict(GROUP_NOT_SUPPORTED, code="group_not_supported")


def _provider_call_failed(exc: ProviderError) -> ApplicationError:
    return ApplicationError(
        PROVIDER_UNAVAILABLE,
        code="provider_error",
        status_code=502,
        extra={"provider_message": exc.message},
    )


def _active_line_or_409(conversation: Conversation) -> PhoneLine:
    line = _conversation_line(conversation)
    if line is None or line.number is None:
        raise Conflict(CONVERSATION_INACTIVE, code="conversation_inactive")
    return line


# --- Read receipts and typing -------------------------------------------------------


@dataclass(frozen=True)
class MarkReadResult:
    conversation_id: Any
    updated_count: int


def conversation_mark_read(*, conversation: Conversation) -> MarkReadResult:
    """Send a read receipt (best effort, as the provider documents it) and mark the
    conversation's visible inbound rows read."""
    group_refuse(conversation)
    if not _is_phone(conversation.remote_number):
        raise ApplicationError(RECIPIENT_NOT_E164, code="recipient_not_e164", status_code=422)
    line = _conversation_line(conversation)
    if line is not None and line.number is not None:
        try:
            _adapter().mark_read(
                credentials=_credentials(line),
                from_number=line.number,
                to_number=conversation.remote_number,
            )
        except ProviderError:
            logger.warning("read receipt for conversation %s failed", conversation.pk)
    updated = Message.objects.filter(
        conversation=conversation,
        direction=Direction.INBOUND,
        is_read=False,
        is_blocked=False,
    ).update(is_read=True, updated_at=timezone.now())
    return MarkReadResult(conversation_id=conversation.pk, updated_count=updated)


def typing_send(*, conversation: Conversation) -> None:
    group_refuse(conversation)
    if not _is_phone(conversation.remote_number):
        raise ApplicationError(RECIPIENT_NOT_E164, code="recipient_not_e164", status_code=422)
    line = _active_line_or_409(conversation)
    try:
        _adapter().send_typing(
            credentials=_credentials(line),
            from_number=line.number or "",
            to_number=conversation.remote_number,
        )
    except ProviderError as exc:
        raise _provider_call_failed(exc) from exc


__all__ = [
    "MarkReadResult",
    "NotFound",
    "RateInfo",
    "SendOutcome",
    "SweepResult",
    "conversation_attach",
    "conversation_get_or_create",
    "conversation_mark_read",
    "inbound_message_receive",
    "message_deliver",
    "message_send",
    "message_send_sweep",
    "message_status_update",
    "rate_status",
    "typing_send",
]
