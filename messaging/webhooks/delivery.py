"""Agent webhook deliveries: the outbox rows `events.event_emit` writes, published to the
broker after commit, attempted by a worker that claims the row (one signed POST through
`transport`), retried with backoff within the retry window, and swept up when their job was
lost. Replays and manual retries re-send a logged delivery.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from console.crypto import decrypt
from console.errors import Conflict, Unprocessable
from console.outbox import (
    COUNTDOWN_MAX_SECONDS,
    SWEEP_BATCH,
    Outbox,
    RetryPolicy,
    retry_policy,
    task_at,
)
from console.services import Actor, audit_record
from messaging.media_urls import refresh_signed_urls
from messaging.webhooks import safety
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
    """How long a claimed delivery stays claimed before the sweep may assume its worker died."""
    longest = max(float(settings.CELERY_TASK_TIME_LIMIT), settings.WEBHOOK_TIMEOUT_SECONDS * 2)
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
    """Enqueue delivery jobs; never raises. Returns how many were published (the sweep
    publishes the rest once the broker is back)."""
    return DELIVERIES.publish(delivery_ids, countdown=countdown)


def webhook_retry_policy() -> RetryPolicy:
    return retry_policy("webhook_delivery")


def _finish(
    delivery: WebhookDelivery,
    claimed_at: datetime,
    *,
    result: AttemptResult | None = None,
    error: str | None = None,
    transient: bool = False,
) -> float | None:
    """Record the attempt; returns the delay until the next attempt when one is scheduled."""
    now = timezone.now()
    retry_until = delivery.retry_until or (delivery.created_at + retry_window())
    fields: dict[str, Any] = {
        "claimed_at": None,
        "updated_at": now,
        "url": delivery.url,
        "response_status": result.status_code if result else None,
        "response_body": result.body if result else None,
        "error_detail": (result.error if result else None) or error,
        "duration_ms": result.duration_ms if result else None,
    }
    delay: float | None = None
    if result is not None and result.succeeded:
        fields.update(status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
    elif (transient or (result is not None and result.transient)) and (
        next_at := webhook_retry_policy().next_attempt_at(
            attempt=delivery.attempt_count, deadline=retry_until, now=now
        )
    ):
        delay = (next_at - now).total_seconds()
        fields.update(status=DeliveryStatus.PENDING, next_attempt_at=next_at)
    else:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    # Only the worker holding this claim may record its outcome.
    WebhookDelivery.objects.filter(pk=delivery.pk, claimed_at=claimed_at).update(**fields)
    return delay


def delivery_attempt(*, delivery_id: uuid.UUID | str) -> str | None:
    """Claim a due delivery and make one signed attempt. Idempotent: a delivery that is not
    due, already claimed by a live worker or finished is left alone (returns None).

    Returns the resulting status. Never holds a database transaction across the request.
    """
    now = timezone.now()
    if not DELIVERIES.claim(delivery_id, now=now):
        return None
    delivery = (
        WebhookDelivery.objects.select_related(
            "subscription", "event__identity__signing_key", "event__identity__organization"
        )
        .defer("event__payload")
        .get(pk=delivery_id)
    )
    claimed_at = now
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
        _finish(delivery, claimed_at, error=stop_reason)
        logger.info("webhook delivery %s stopped: %s", delivery.id, stop_reason)
        return DeliveryStatus.FAILED

    # Follow the subscription's current URL, so fixing a broken endpoint fixes retries too.
    delivery.url = sub.url
    try:
        target = safety.check_url(sub.url)
    except safety.UnsafeUrl as exc:
        delay = _finish(delivery, claimed_at, error=exc.reason, transient=exc.transient)
        logger.info("webhook delivery %s refused: %s", delivery.id, exc.reason)
        _schedule(delivery.id, delay)
        return DeliveryStatus.PENDING if delay is not None else DeliveryStatus.FAILED

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
    result = http_post(target, body, headers)
    delay = _finish(delivery, claimed_at, result=result)
    logger.info(
        "webhook delivery %s event %s attempt %d: status=%s error=%s in %d ms",
        delivery.id,
        event.id,
        delivery.attempt_count,
        result.status_code,
        result.error,
        result.duration_ms,
    )
    if result.succeeded:
        return DeliveryStatus.SUCCEEDED
    _schedule(delivery.id, delay)
    return DeliveryStatus.PENDING if delay is not None else DeliveryStatus.FAILED


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
