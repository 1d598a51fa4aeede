"""Agent webhook deliveries: the outbox rows `events.event_emit` writes, published to the
broker after commit, attempted in batches (a job claims due rows in one statement, POSTs
them concurrently, one signed POST each through `transport`, and records them in one
write), retried with backoff within the retry window, and swept up when their job was lost.
Replays and manual retries re-send a logged delivery.

With a wake-up channel (`OUTBOX_WAKE_REDIS_URL`), commits ask for a drain job
(`deliveries_drain`) instead of publishing one job per delivery: a burst publishes one job,
and every full batch a drain claims asks for another, so idle worker threads join in as
long as a backlog lasts. Without one, each delivery has its own job (`delivery_attempt`),
which claims other due rows with its own.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from console.crypto import decrypt
from console.db.lookups import AnyOf
from console.db.parameters import UUIDList
from console.db.prepared import PreparedQuery
from console.db.updates import update_from_values
from console.drain_slots import DrainSlots, Slot
from console.errors import Conflict, Unprocessable
from console.outbox import (
    COUNTDOWN_MAX_SECONDS,
    SWEEP_BATCH,
    Outbox,
    RetryPolicy,
    publish_one,
    retry_policy,
    task_at,
)
from console.services import Actor, audit_record
from messaging.media_urls import refresh_signed_urls
from messaging.webhooks import safety
from messaging.webhooks.batches import post_batch
from messaging.webhooks.models import DeliveryStatus, SubscriptionStatus, WebhookDelivery
from messaging.webhooks.signing import signature_headers
from messaging.webhooks.subscriptions import subscription_auth_token
from messaging.webhooks.transport import AttemptResult, http_post

logger = logging.getLogger(__name__)

ERR_REPLAY_INACTIVE = "The subscription of this delivery is no longer active."
ERR_REPLAY_NOT_SELECTED = "The subscription no longer selects this event type."
ERR_IDENTITY_DISABLED = "The identity is not iMessage-enabled; its events are not delivered."
ERR_RETRY_STATE = "Only failed or pending deliveries can be retried."


def _lease() -> timedelta:
    """How long a claimed delivery stays claimed before the sweep may assume its worker died:
    past the job's time limit and past a batch whose every POST times out (rounds of
    WEBHOOK_BATCH_CONCURRENCY; a threads pool worker does not enforce time limits)."""
    rounds = -(-settings.WEBHOOK_BATCH_SIZE // settings.WEBHOOK_BATCH_CONCURRENCY)
    longest = max(
        float(settings.CELERY_TASK_TIME_LIMIT), settings.WEBHOOK_TIMEOUT_SECONDS * 2 * rounds
    )
    return timedelta(seconds=longest + 30)


def _unleased(now: datetime) -> Q:
    """Rows no live worker holds: never claimed, finished, or their lease expired."""
    return Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - _lease())


# A claim leaves the row `pending` and takes a lease; an expired lease makes it due again,
# so the sweep needs no hand-back step.
DELIVERIES = Outbox(
    name="webhook delivery",
    model=WebhookDelivery,
    task=task_at("messaging.webhooks.tasks.delivery_attempt_task"),
    drain_task=task_at("messaging.webhooks.tasks.deliveries_drain_task"),
    due=lambda now: Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now) & _unleased(now),
    claim_fields=lambda now: {
        "claimed_at": now,
        "attempt_count": F("attempt_count") + 1,
        "last_attempt_at": now,
        "updated_at": now,
    },
    overdue=lambda now: (
        Q(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now - timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE_SECONDS),
        )
        & _unleased(now)
    ),
)


def retry_window() -> timedelta:
    window = webhook_retry_policy().window
    assert window is not None
    return window


def request_id_for(delivery: WebhookDelivery) -> str:
    """The request id of a delivery row: stable across its automatic retries (so Standard
    Webhooks receivers can de-duplicate them), fresh for a replay, which is a new row."""
    return f"msg_{delivery.id.hex}"


def deliveries_publish(delivery_ids: Sequence[uuid.UUID], *, countdown: float | None = None) -> int:
    """Enqueue jobs for these deliveries (one drain job, or one job each); never raises.
    Returns how many a published job covers (the sweep publishes the rest once the broker
    is back)."""
    return DELIVERIES.publish(delivery_ids, countdown=countdown)


def webhook_retry_policy() -> RetryPolicy:
    return retry_policy("webhook_delivery")


# What recording an attempt writes: the same columns for every outcome, so a batch's
# outcomes go out in one `bulk_update`.
RECORDED_FIELDS = [
    "claimed_at",
    "updated_at",
    "url",
    "status",
    "next_attempt_at",
    "response_status",
    "response_body",
    "error_detail",
    "duration_ms",
]


@dataclass
class _Attempt:
    """One claimed delivery's attempt, from its POST (or the reason there was none) to the
    outcome recorded on its row."""

    delivery: WebhookDelivery
    result: AttemptResult | None = None
    error: str | None = None
    transient: bool = False
    stopped: bool = False  # nothing may be sent any more (a stop reason)
    delay: float | None = None  # until the next attempt, once recorded


def delivery_attempt(*, delivery_id: uuid.UUID | str) -> str | None:
    """Attempt this delivery together with up to WEBHOOK_BATCH_SIZE - 1 other due ones
    (`deliveries_attempt`), so that a job makes progress on the whole due backlog.

    Returns this delivery's resulting status; None when it is not due (already claimed
    by a live worker or another job's batch, finished, or not yet due), which costs one
    read and claims nothing.
    """
    own = uuid.UUID(str(delivery_id))
    # Every due delivery has a job of its own, so a job whose delivery another job's batch
    # already took leaves the rest of the backlog to theirs: one plain read, where a claim
    # (its compilation most of all) made a no-op job several times dearer.
    if not DELIVERIES.is_due(own):
        return None
    return deliveries_attempt(first=own).get(own)


def deliveries_attempt(
    *, first: uuid.UUID | None = None, limit: int | None = None
) -> dict[uuid.UUID, str]:
    """Claim up to `limit` (WEBHOOK_BATCH_SIZE) due deliveries in one statement, `first`
    among them when it is due; load them with what signing needs in one query; sign and
    POST them concurrently; record every outcome in one write that only the claim holder's
    rows take. Returns the resulting status of each delivery attempted.

    Never holds a database transaction across the requests. An unexpected error in one
    attempt leaves that row claimed (the sweep hands it back when its lease expires) and is
    raised once the rest of the batch is recorded.
    """
    claimed_at = timezone.now()
    ids = DELIVERIES.claim_batch(
        limit=limit or settings.WEBHOOK_BATCH_SIZE, now=claimed_at, first=first
    )
    return _attempt_claimed(ids, claimed_at=claimed_at)


def deliveries_drain(*, batches: int | None = None) -> int:
    """A drain job: attempt due deliveries WEBHOOK_BATCH_SIZE at a time (`Outbox.drain`),
    for at most `batches` (WEBHOOK_DRAIN_BATCHES) claims, so that a long backlog never
    keeps a worker thread from other jobs. No more than WEBHOOK_DRAINS_PER_PROCESS drain
    jobs POST to fast receivers at once in one process (`DRAIN_SLOTS`; a job waiting on
    slow ones does not count): a job beyond them returns at once, and a holder asks for a
    new job when a slot frees. Returns how many deliveries it claimed.
    """
    DELIVERIES.woken()
    with DRAIN_SLOTS.slot() as slot:
        if not slot.granted:
            return 0
        return DELIVERIES.drain(
            lambda ids, claimed_at: _attempt_claimed(ids, claimed_at=claimed_at, slot=slot),
            size=settings.WEBHOOK_BATCH_SIZE,
            batches=batches or settings.WEBHOOK_DRAIN_BATCHES,
        )


def _attempt_claimed(
    ids: list[Any], *, claimed_at: datetime, slot: Slot | None = None
) -> dict[uuid.UUID, str]:
    """Attempt and record the deliveries this worker claimed at `claimed_at`."""
    if not ids:
        return {}
    deliveries: list[WebhookDelivery] = _CLAIMED.rows(ids=ids)
    outcomes = post_batch(deliveries, _attempt_or_error, slot=slot)
    attempts = [a for a in outcomes if isinstance(a, _Attempt)]
    errors = [e for e in outcomes if isinstance(e, Exception)]
    _record(attempts, claimed_at=claimed_at)
    for attempt in attempts:
        _log(attempt)
        _schedule(attempt.delivery.id, attempt.delay)
    if errors:
        raise errors[0]
    return {a.delivery.id: a.delivery.status for a in attempts}


def _claimed(ids: Any) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.select_related("subscription", "event__identity__signing_key")
        .defer("event__payload")
        .filter(AnyOf(F("id"), ids))
    )


# Compiled once: building and compiling this four-table join cost more per batch than
# running it.
_CLAIMED = PreparedQuery(WebhookDelivery, _claimed, ids=UUIDList)


def _drain_wanted() -> None:
    """A slot freed after jobs were refused: ask for a drain job, by the wake-up channel or,
    when it does not answer, by publishing one."""
    if not DELIVERIES.wake() and DELIVERIES.drain_task is not None:
        publish_one(DELIVERIES.drain_task())


# At most WEBHOOK_DRAINS_PER_PROCESS drain jobs POST to fast receivers at once per process.
DRAIN_SLOTS = DrainSlots(lambda: settings.WEBHOOK_DRAINS_PER_PROCESS, _drain_wanted)


def _attempt_or_error(delivery: WebhookDelivery) -> _Attempt | Exception:
    try:
        return _attempt(delivery)
    except Exception as exc:
        logger.warning(
            "webhook delivery %s attempt raised %s; it stays claimed for the sweep",
            delivery.id,
            type(exc).__name__,
        )
        return exc


def _attempt(delivery: WebhookDelivery) -> _Attempt:
    """One signed POST of a claimed delivery, or the reason it is not sent."""
    event = delivery.event
    identity = event.identity
    sub = delivery.subscription

    stop_reason: str | None = None
    if sub is None or sub.status != SubscriptionStatus.ACTIVE:
        stop_reason = ERR_REPLAY_INACTIVE
    elif event.event_type not in sub.event_types:
        stop_reason = ERR_REPLAY_NOT_SELECTED
    elif not identity.imessage_enabled:
        stop_reason = ERR_IDENTITY_DISABLED
    elif not hasattr(identity, "signing_key"):
        stop_reason = "The identity has no signing key."
    if stop_reason is not None or sub is None:
        return _Attempt(delivery, error=stop_reason, stopped=True)

    # Follow the subscription's current URL, so fixing a broken endpoint fixes retries too.
    delivery.url = sub.url
    try:
        target = safety.check_url(sub.url)
    except safety.UnsafeUrl as exc:
        return _Attempt(delivery, error=exc.reason, transient=exc.transient)

    body = refresh_signed_urls(delivery.request_payload).encode("utf-8")
    headers = signature_headers(
        secret=decrypt(identity.signing_key.secret_encrypted),
        request_id=request_id_for(delivery),
        timestamp=int(time.time()),
        body=body,
    )
    token = subscription_auth_token(sub)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return _Attempt(delivery, result=http_post(target, body, headers))


def _settle(attempt: _Attempt, now: datetime) -> None:
    """Set the attempt's outcome on its row (in memory) and, when another attempt is
    scheduled, the delay until it."""
    delivery, result = attempt.delivery, attempt.result
    retry_until = delivery.retry_until or (delivery.created_at + retry_window())
    delivery.claimed_at = None
    delivery.updated_at = now
    delivery.response_status = result.status_code if result else None
    delivery.response_body = result.body if result else None
    delivery.error_detail = (result.error if result else None) or attempt.error
    delivery.duration_ms = result.duration_ms if result else None
    if result is not None and result.succeeded:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
    elif (attempt.transient or (result is not None and result.transient)) and (
        next_at := webhook_retry_policy().next_attempt_at(
            attempt=delivery.attempt_count, deadline=retry_until, now=now
        )
    ):
        attempt.delay = (next_at - now).total_seconds()
        delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, next_at
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None


def _record(attempts: list[_Attempt], *, claimed_at: datetime) -> None:
    """Record a batch's outcomes in one statement."""
    now = timezone.now()
    for attempt in attempts:
        _settle(attempt, now)
    # Only the worker holding the claim may record: a row whose lease expired and that
    # another job claimed again keeps that job's outcome.
    update_from_values(
        WebhookDelivery,
        [a.delivery for a in attempts],
        RECORDED_FIELDS,
        where={"claimed_at": claimed_at},
    )


def _log(attempt: _Attempt) -> None:
    """One line per attempt, ids only (never a body)."""
    delivery, result = attempt.delivery, attempt.result
    if attempt.stopped:
        logger.info("webhook delivery %s stopped: %s", delivery.id, attempt.error)
    elif result is None:
        logger.info("webhook delivery %s refused: %s", delivery.id, attempt.error)
    else:
        logger.info(
            "webhook delivery %s event %s attempt %d: status=%s error=%s in %d ms",
            delivery.id,
            delivery.event_id,
            delivery.attempt_count,
            result.status_code,
            result.error,
            result.duration_ms,
        )


def _schedule(delivery_id: uuid.UUID, delay: float | None) -> None:
    if delay is not None and delay <= COUNTDOWN_MAX_SECONDS:
        deliveries_publish([delivery_id], countdown=delay)


def delivery_sweep(*, batch_size: int = SWEEP_BATCH) -> int:
    """Re-enqueue due deliveries whose job was lost (broker down at commit, worker died,
    retries beyond the broker countdown). Returns how many were published."""
    return DELIVERIES.sweep(batch=batch_size).requeued


# --- Replay and manual retry --------------------------------------------------
def replay_unavailable_reason(delivery: WebhookDelivery) -> str | None:
    """Why this row cannot be replayed now (None when it can). Needs `subscription` loaded."""
    sub = delivery.subscription
    if sub is None or sub.status != SubscriptionStatus.ACTIVE:
        return ERR_REPLAY_INACTIVE
    if delivery.event.event_type not in sub.event_types:
        return ERR_REPLAY_NOT_SELECTED
    return None


@transaction.atomic
def delivery_replay(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Re-send a logged event to the subscription's current URL as a new row
    (`is_replay`), keeping the event id; the request id and timestamp are fresh.

    Raises Conflict (409) when the subscription is inactive or no longer selects the event
    type, and 422 `not_replayable` when the identity's events are not delivered.
    """
    reason = replay_unavailable_reason(delivery)
    if reason == ERR_REPLAY_INACTIVE:
        raise Conflict(reason, code="subscription_inactive")
    if reason is not None:
        raise Conflict(reason, code="event_type_not_selected")
    sub = delivery.subscription
    assert sub is not None
    identity = delivery.event.identity
    if not identity.imessage_enabled:
        raise Unprocessable(ERR_IDENTITY_DISABLED, code="not_replayable")
    now = timezone.now()
    replay = WebhookDelivery.objects.create(
        organization_id=delivery.organization_id,
        event_id=delivery.event_id,
        subscription=sub,
        url=sub.url,
        request_payload=delivery.request_payload,
        is_replay=True,
        next_attempt_at=now,
        retry_until=now + retry_window(),
    )
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="webhook_delivery.replay",
        obj=replay,
        after={"event_id": delivery.event_id, "replay_of": str(delivery.id)},
    )
    transaction.on_commit(lambda: deliveries_publish([replay.id]))
    return replay


@transaction.atomic
def delivery_retry(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Attempt a failed (or waiting) delivery again now, with a fresh retry window.

    The same row is reused, so the request id stays the same. Raises Conflict (409
    `not_retryable`) for delivered rows and rows a worker is sending right now.
    """
    now = timezone.now()
    updated = (
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status__in=[DeliveryStatus.FAILED, DeliveryStatus.PENDING]
        )
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - _lease()))
        .update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            retry_until=now + retry_window(),
            claimed_at=None,
            updated_at=now,
        )
    )
    if updated != 1:
        raise Conflict(ERR_RETRY_STATE, code="not_retryable")
    before_status = delivery.status
    delivery.refresh_from_db()
    audit_record(
        organization=delivery.event.identity.organization,
        actor=actor,
        action="webhook_delivery.retry",
        obj=delivery,
        before={"status": before_status},
        after={"status": delivery.status},
    )
    transaction.on_commit(lambda: deliveries_publish([delivery.id]))
    return delivery
