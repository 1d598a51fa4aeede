"""Delivery: the outbound job. It claims a due `queued` row, calls the provider once and
records the answer (`imessage.sent`), or applies the send retry policy
(`messaging/send_policy.py`) to a failure; the sweep republishes jobs that were lost.
Sends are one kind of `console.outbox` (`SENDS`): claim, lease and sweep are the engine's.

With a wake-up channel (`OUTBOX_WAKE_REDIS_URL`), a commit asks for a drain job
(`message_send_drain`) instead of publishing one job per send: publishing a Celery job
cost a send request more CPU than any of its statements, and a burst of sends needs one
job, which claims them a batch at a time (and asks for a helper while its claims come
back full). Without one, and for retries that wait a countdown, each send has its own
job (`message_deliver`).

A send whose provider call may have happened is never sent again: its outcome is
recovered from the provider (`messaging.services.send_recovery`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from console.outbox import COUNTDOWN_MAX_SECONDS, SWEEP_BATCH, Outbox, task_at
from messaging.models import DeliveryStatus, Direction, Message, SendState
from messaging.services import common
from messaging.services.cap_buckets import cap_buckets_prune
from messaging.services.common import FAILED_STATUSES
from provisioning.providers.base import ProviderError, SendResult, StatusUpdate

logger = logging.getLogger(__name__)


SENDS = Outbox(
    name="message send",
    model=Message,
    task=task_at("messaging.tasks.message_deliver_task"),
    drain_task=task_at("messaging.tasks.message_send_drain_task"),
    due=lambda now: (
        Q(send_state=SendState.QUEUED)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    ),
    claim_fields=lambda now: {
        "send_state": SendState.SENDING,
        "claimed_at": now,
        "send_attempts": F("send_attempts") + 1,
        "updated_at": now,
    },
    # A queued row this overdue lost its job (broker down at commit, worker crash).
    overdue=lambda now: Q(
        send_state=SendState.QUEUED,
        next_attempt_at__lte=now - timedelta(seconds=settings.SEND_SWEEP_GRACE_SECONDS),
    ),
    # Longer than the task hard time limit: a `sending` row this old has no live worker.
    expired=lambda now: Q(
        send_state=SendState.SENDING,
        claimed_at__lt=now - timedelta(seconds=settings.SEND_STUCK_TIMEOUT_SECONDS),
    ),
    release=lambda now: {
        "send_state": SendState.QUEUED,
        "claimed_at": None,
        "next_attempt_at": now,
        "updated_at": now,
    },
)


def sends_publish(message_ids: Sequence[Any]) -> None:
    """Make sure a job sends these committed `queued` rows (a drain job, or one job each);
    never raises: the sweep publishes what a broker outage kept from its job."""
    SENDS.publish(message_ids)


def sends_publish_on_commit(message_id: Any) -> None:
    """`sends_publish` once the caller's transaction commits (at once outside one)."""
    transaction.on_commit(lambda: sends_publish([str(message_id)]), robust=True)


def message_send_drain(*, batches: int | None = None) -> int:
    """A drain job: send due queued rows SEND_DRAIN_BATCH_SIZE at a time (`Outbox.drain`),
    for at most `batches` (SEND_DRAIN_BATCHES) claims or SEND_DRAIN_SECONDS. Each claimed
    row is sent as `message_deliver` sends it; a row whose send raised stays claimed until
    the sweep hands it back, as a failed job's row does, and the first such error is raised
    once the batch is done. Returns how many rows it claimed."""
    SENDS.woken()
    return SENDS.drain(
        _deliver_batch,
        size=settings.SEND_DRAIN_BATCH_SIZE,
        batches=batches or settings.SEND_DRAIN_BATCHES,
        seconds=settings.SEND_DRAIN_SECONDS,
    )


def _deliver_batch(message_ids: list[Any], claimed_at: datetime) -> None:
    """Send each row of one claimed batch; one failed send does not keep the others."""
    errors: list[Exception] = []
    for message_id in message_ids:
        try:
            _deliver_claimed(message_id, now=claimed_at)
        except Exception as exc:
            logger.exception("message %s: send job failed", message_id)
            errors.append(exc)
    if errors:
        raise errors[0]


def message_deliver(*, message_id: Any) -> None:
    """The outbound job: claim the due queued row, call the provider once, record the result.

    The claim and then the "call starting" mark (`provider_call_started_at`) are committed
    before the provider is called: a row claimed but never marked never reached the
    provider and is simply sent by a later job; a marked row may have, so a later job
    recovers its outcome from the provider instead of sending it again
    (`messaging.services.send_recovery`). Failures follow the send retry policy (`_send_failed`).
    """
    now = timezone.now()
    if SENDS.claim(message_id, now=now):
        _deliver_claimed(message_id, now=now)


def _deliver_claimed(message_id: Any, *, now: datetime) -> None:
    """Send a row this job claimed at `now` (see `message_deliver`)."""
    message = Message.objects.select_related("line__setup", "identity", "conversation").get(
        pk=message_id
    )
    if message.provider_call_started_at is not None:
        from messaging.services.send_recovery import send_outcome_recover

        send_outcome_recover(message=message)
        return
    line = message.line
    if line is None or line.number is None:
        _send_failed(
            message,
            ProviderError("The conversation has no line to send from.", permanent=True),
        )
        return
    if _stopped_since_accepted(message):
        return
    credentials = common.line_credentials(line)
    from provisioning.services.credentials import status_callback_url

    callback = status_callback_url(line.setup, str(message.id))
    # Committed on its own (no transaction here): past this point the provider may have it.
    marked = Message.objects.filter(
        pk=message.pk, send_state=SendState.SENDING, claimed_at=now
    ).update(provider_call_started_at=timezone.now())
    if not marked:
        return  # the sweep took the row back after a long stall; its new job sends it
    try:
        result = common.provider_adapter().send_message(
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
    if result.status in FAILED_STATUSES:
        _send_failed(
            message,
            ProviderError("The provider refused the message.", permanent=True),
            provider_handle=result.provider_handle,
        )
        return
    _send_succeeded(message, result)


def _stopped_since_accepted(message: Message) -> bool:
    """A send accepted earlier (scheduled, held for quiet hours, retried) that may no longer
    go out: the person opted out, or staff took the conversation over from the agent. It
    fails with the refusal the agent would now get at accept time, before the provider."""
    from messaging.models import HandledBy
    from messaging.services import consent, handoff

    if consent.is_opted_out(identity=message.identity, number=message.remote_number):
        code, text = "recipient_opted_out", consent.RECIPIENT_OPTED_OUT
    elif message.sent_by_id is None and (message.conversation.handled_by == HandledBy.STAFF):
        code, text = "conversation_handed_off", handoff.CONVERSATION_HANDED_OFF
    else:
        return False
    message_fail(
        message,
        code=code,
        error_message=text,
        reason="Refused before sending: it changed after the send was accepted.",
        from_states=[SendState.SENDING],
    )
    return True


def _send_succeeded(message: Message, result: SendResult) -> None:
    if record_sent(
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
def record_sent(message: Message, *, update: StatusUpdate, pending: Q) -> bool:
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
    common.emit("imessage.sent", identity=message.identity, message=message)
    if status == DeliveryStatus.DELIVERED:
        common.emit("imessage.delivered", identity=message.identity, message=message)
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
        if delay <= COUNTDOWN_MAX_SECONDS:
            common.enqueue(SENDS.task(), str(message.pk), countdown=delay)
        return
    if exc.ambiguous:
        from messaging.services.send_recovery import send_outcome_unknown

        send_outcome_unknown(message)
        return
    window = settings.SEND_RETRY_WINDOW_MINUTES
    reason = (
        "The provider refused the message permanently."
        if exc.permanent
        else f"The provider could not be reached for {window} minutes ({attempts} attempts)."
    )
    message_fail(
        message,
        code=exc.error_key or (str(exc.status_code) if exc.status_code else "provider_error"),
        error_message=exc.message,
        reason=reason,
        provider_handle=provider_handle,
        from_states=[SendState.SENDING],
    )


def message_fail(
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
    common.emit("imessage.delivery_failed", identity=message.identity, message=message)
    return True


@dataclass
class SweepResult:
    requeued: int = 0
    recovered: int = 0
    media_requeued: int = 0


def message_send_sweep(*, now: datetime | None = None) -> SweepResult:
    """Recover lost outbound jobs without ever sending twice (`SENDS.sweep`).

    - `queued` rows overdue by SEND_SWEEP_GRACE_SECONDS: their job was lost (broker down
      at commit, worker crash before the claim); publish it again. A duplicate job is
      harmless: the claim is a conditional update.
    - `sending` rows claimed more than SEND_STUCK_TIMEOUT_SECONDS ago lost their worker.
      They go back to `queued` and a new job takes them: one that never reached the
      provider call is sent; one that did (its mark is set) is recovered from the
      provider's record, never sent again (`messaging.services.send_recovery`).

    Inbound media not re-hosted after the grace period is fetched again too, and the send
    cap's hourly buckets no window reaches any more are deleted (`cap_buckets_prune`).
    """
    from messaging.tasks import media_rehost_task

    now = now or timezone.now()
    counts = SENDS.sweep(now=now)
    cap_buckets_prune(now=now)
    result = SweepResult(recovered=counts.recovered, requeued=counts.requeued)
    queued_grace = timedelta(seconds=settings.SEND_SWEEP_GRACE_SECONDS)
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
            media_rehost_task.apply_async(args=(str(message_id),))
            result.media_requeued += 1
        except Exception:
            logger.exception("could not enqueue media fetch for message %s", message_id)
            break
    return result


def _normalise_send_status(result: SendResult) -> str:
    if result.status == DeliveryStatus.DELIVERED:
        return DeliveryStatus.DELIVERED
    # Accepted by the provider: the contract's `imessage.sent` moment.
    return DeliveryStatus.SENT
