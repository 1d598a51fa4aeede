"""Agent webhook writes: signing keys, subscriptions, the event outbox, delivery attempts.

`event_emit` is the one internal event function messaging calls. It writes the event and one
delivery row per matching subscription in the caller's transaction (a transactional outbox)
and publishes delivery jobs only after commit. A broker outage never fails the caller: the
periodic sweep (`delivery_sweep`) re-enqueues every due delivery whose job was lost.

Delivery is at least once with a stable `evt_…` id per event. Ordering is not promised, not
even per subscription: retries, replays and parallel workers can deliver a later event first.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from console.crypto import decrypt, encrypt
from console.errors import ApplicationError, Conflict, ValidationFailed
from console.http import describe_transport_error, http_client
from console.models import AgentIdentity
from console.retry import RetryPolicy
from console.services import Actor, audit_record
from console.timestamps import iso
from messaging.media_urls import refresh_signed_urls
from messaging.models import Direction, Message, Reaction
from messaging.webhooks import safety
from messaging.webhooks.catalog import EVENT_TYPES
from messaging.webhooks.models import (
    DeliveryStatus,
    SigningKey,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from messaging.webhooks.signing import secret_generate, signature_headers
from messaging.wire import message_wire, reaction_wire

logger = logging.getLogger(__name__)


ERR_EVENT_TYPES_EMPTY = "event_types must name at least one event type."
ERR_EVENT_TYPES_DUPLICATE = "event_types must not repeat an event type."
ERR_EVENT_TYPES_UNKNOWN = "Unknown event type: {names}. See GET /api/v1/webhooks/catalog."
ERR_OVERLAP = "This identity already has a subscription to this URL for some of these event types."
ERR_CONTEXT = "context_config: {problem}"
ERR_REPLAY_INACTIVE = "The subscription of this delivery is no longer active."
ERR_REPLAY_NOT_SELECTED = "The subscription no longer selects this event type."
ERR_IDENTITY_DISABLED = "The identity is not iMessage-enabled; its events are not delivered."
ERR_RETRY_STATE = "Only failed or pending deliveries can be retried."

CONTEXT_CLASSES = ("email", "texts", "calls")
CONTEXT_MAX_COUNT = 50
CONTEXT_MAX_HOURS = 168
CONTEXT_WINDOW_MAX_ITEMS = 100
CONTEXT_TEXT_MAX_CHARS = 2000
# Retries due within this many seconds are scheduled on the broker; later ones by the sweep,
# because long broker countdowns get redelivered by Redis' visibility timeout.
COUNTDOWN_MAX_SECONDS = 300
SWEEP_BATCH_SIZE = 500


def _lease() -> timedelta:
    """How long a claimed delivery stays claimed before the sweep may assume its worker died."""
    longest = max(float(settings.CELERY_TASK_TIME_LIMIT), settings.WEBHOOK_TIMEOUT_SECONDS * 2)
    return timedelta(seconds=longest + 30)


def _retry_window() -> timedelta:
    return timedelta(hours=settings.WEBHOOK_RETRY_WINDOW_HOURS)


def dumps(payload: dict[str, Any]) -> str:
    """The one serialisation of a body; its UTF-8 bytes are signed and sent unchanged."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def event_id_new() -> str:
    return f"evt_{uuid.uuid4().hex}"


def request_id_for(delivery: WebhookDelivery) -> str:
    """The request id of a delivery row: stable across its automatic retries (so Standard
    Webhooks receivers can de-duplicate them), fresh for a replay, which is a new row."""
    return f"msg_{delivery.id.hex}"


# --- Validation ---------------------------------------------------------------
def event_types_validate(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise ValidationFailed(
            ERR_EVENT_TYPES_EMPTY, extra={"fields": {"event_types": [ERR_EVENT_TYPES_EMPTY]}}
        )
    if len(set(event_types)) != len(event_types):
        raise ValidationFailed(
            ERR_EVENT_TYPES_DUPLICATE,
            extra={"fields": {"event_types": [ERR_EVENT_TYPES_DUPLICATE]}},
        )
    unknown = [name for name in event_types if name not in EVENT_TYPES]
    if unknown:
        message = ERR_EVENT_TYPES_UNKNOWN.format(names=", ".join(sorted(unknown)))
        raise ValidationFailed(message, extra={"fields": {"event_types": [message]}})
    return list(event_types)


def url_validate(url: str) -> str:
    """Refuse non-https and private-address URLs with a reason (400 `invalid_url`)."""
    url = url.strip()
    try:
        safety.check_url(url)
    except safety.UnsafeUrl as exc:
        raise ValidationFailed(
            f"url: {exc.reason}",
            code="invalid_url",
            extra={"reason": exc.reason, "fields": {"url": [exc.reason]}},
        ) from None
    if len(url) > 2000:
        raise ValidationFailed("url: too long", extra={"fields": {"url": ["Too long."]}})
    return url


def _context_problem(message: str) -> ValidationFailed:
    text = ERR_CONTEXT.format(problem=message)
    return ValidationFailed(text, extra={"fields": {"context_config": [message]}})


def context_config_validate(config: Any) -> dict[str, Any] | None:
    """Per class (`email`, `texts`, `calls`): `{"mode": "count", "count": 1-50}` or
    `{"mode": "window", "hours": 1-168}` or null. All-null is stored as null."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise _context_problem("must be an object or null.")
    unknown = set(config) - set(CONTEXT_CLASSES)
    if unknown:
        raise _context_problem(f"unknown class {sorted(unknown)[0]!r}.")
    cleaned: dict[str, Any] = {}
    for name in CONTEXT_CLASSES:
        value = config.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise _context_problem(f"{name} must be an object or null.")
        mode = value.get("mode")
        if mode == "count":
            count = value.get("count")
            if type(count) is not int or not 1 <= count <= CONTEXT_MAX_COUNT:
                raise _context_problem(f"{name}.count must be 1-{CONTEXT_MAX_COUNT}.")
            cleaned[name] = {"mode": "count", "count": count}
        elif mode == "window":
            hours = value.get("hours")
            if type(hours) is not int or not 1 <= hours <= CONTEXT_MAX_HOURS:
                raise _context_problem(f"{name}.hours must be 1-{CONTEXT_MAX_HOURS}.")
            cleaned[name] = {"mode": "window", "hours": hours}
        else:
            raise _context_problem(f"{name}.mode must be count or window.")
    return cleaned or None


# --- Signing keys -------------------------------------------------------------
@dataclass(frozen=True)
class IssuedSigningKey:
    record: SigningKey
    secret: str
    created: bool


def _lock_identity(identity: AgentIdentity) -> AgentIdentity:
    # Serialises signing-key minting and the overlap check per identity.
    return AgentIdentity.objects.select_for_update().get(pk=identity.pk)


def _signing_key_store(identity: AgentIdentity) -> IssuedSigningKey:
    secret = secret_generate()
    now = timezone.now()
    record = SigningKey.objects.filter(identity=identity).first()
    created = record is None
    if record is None:
        record = SigningKey.objects.create(
            identity=identity, secret_encrypted=encrypt(secret), created_at=now
        )
    else:
        record.secret_encrypted = encrypt(secret)
        record.created_at = now
        record.save(update_fields=["secret_encrypted", "created_at"])
    identity.signing_key = record
    return IssuedSigningKey(record=record, secret=secret, created=created)


@transaction.atomic
def signing_key_create_or_rotate(*, identity: AgentIdentity, actor: Actor) -> IssuedSigningKey:
    """Mint the identity's signing key, or replace it; the plaintext is returned once.

    Deliveries attempted after the commit are signed with the new key.
    """
    _lock_identity(identity)
    issued = _signing_key_store(identity)
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="signing_key.create" if issued.created else "signing_key.rotate",
        obj=identity,
        after={"created_at": iso(issued.record.created_at)},
    )
    return issued


def signing_key_secret(identity: AgentIdentity) -> str | None:
    record = SigningKey.objects.filter(identity=identity).first()
    return decrypt(record.secret_encrypted) if record else None


# --- Subscriptions ------------------------------------------------------------
@dataclass(frozen=True)
class CreatedSubscription:
    subscription: WebhookSubscription
    # Plaintext of the identity's first signing key when this create minted it, else None.
    signing_key: str | None


def _overlap_check(
    *,
    identity: AgentIdentity,
    url: str,
    event_types: Iterable[str],
    exclude_id: uuid.UUID | None = None,
) -> None:
    wanted = set(event_types)
    others = WebhookSubscription.objects.filter(
        identity=identity, url=url, status=SubscriptionStatus.ACTIVE
    )
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    for other in others:
        overlap = wanted & set(other.event_types)
        if overlap:
            raise Conflict(
                ERR_OVERLAP,
                code="subscription_overlap",
                extra={
                    "existing_subscription_id": str(other.id),
                    "event_types": sorted(overlap),
                },
            )


def _subscription_audit_view(sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "url": sub.url,
        "event_types": list(sub.event_types),
        "context_config": sub.context_config,
        "has_auth_token": bool(sub.auth_token_encrypted),
    }


@transaction.atomic
def subscription_create(
    *,
    identity: AgentIdentity,
    url: str,
    event_types: Sequence[str],
    actor: Actor,
    context_config: Any = None,
    auth_token: str | None = None,
) -> CreatedSubscription:
    """Create a subscription; mints the identity's first signing key when it has none.

    Raises ValidationFailed (400) for bad URLs, event types and context config, and
    Conflict (409 `subscription_overlap`) when the identity already subscribes this URL
    to one of these event types.
    """
    event_types = event_types_validate(event_types)
    url = url_validate(url)
    config = context_config_validate(context_config)
    _lock_identity(identity)
    _overlap_check(identity=identity, url=url, event_types=event_types)
    minted: str | None = None
    if not SigningKey.objects.filter(identity=identity).exists():
        minted = _signing_key_store(identity).secret
    sub = WebhookSubscription.objects.create(
        organization_id=identity.organization_id,
        identity=identity,
        url=url,
        event_types=event_types,
        context_config=config,
        auth_token_encrypted=encrypt(auth_token) if auth_token else "",
    )
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="webhook_subscription.create",
        obj=sub,
        after=_subscription_audit_view(sub),
    )
    return CreatedSubscription(subscription=sub, signing_key=minted)


_UNSET: Any = object()


@transaction.atomic
def subscription_update(
    *,
    subscription: WebhookSubscription,
    actor: Actor,
    url: Any = _UNSET,
    event_types: Any = _UNSET,
    context_config: Any = _UNSET,
    auth_token: Any = _UNSET,
) -> WebhookSubscription:
    """Change any of url, event_types (replaces the list), context_config, auth_token.

    An omitted argument leaves the value; `None` clears context_config and auth_token.
    """
    before = _subscription_audit_view(subscription)
    fields: list[str] = []
    if url is not _UNSET:
        subscription.url = url_validate(url)
        fields.append("url")
    if event_types is not _UNSET:
        subscription.event_types = event_types_validate(event_types)
        fields.append("event_types")
    if context_config is not _UNSET:
        subscription.context_config = context_config_validate(context_config)
        fields.append("context_config")
    if auth_token is not _UNSET:
        subscription.auth_token_encrypted = encrypt(auth_token) if auth_token else ""
        fields.append("auth_token_encrypted")
    if not fields:
        return subscription
    _lock_identity(subscription.identity)
    _overlap_check(
        identity=subscription.identity,
        url=subscription.url,
        event_types=subscription.event_types,
        exclude_id=subscription.id,
    )
    subscription.save(update_fields=[*fields, "updated_at"])
    audit_record(
        organization=subscription.identity.organization,
        actor=actor,
        action="webhook_subscription.update",
        obj=subscription,
        before=before,
        after=_subscription_audit_view(subscription),
    )
    return subscription


@transaction.atomic
def subscription_delete(*, subscription: WebhookSubscription, actor: Actor) -> None:
    """Soft-delete: the delivery log keeps pointing at it; pending deliveries stop."""
    updated = WebhookSubscription.objects.filter(
        pk=subscription.pk, status=SubscriptionStatus.ACTIVE
    ).update(status=SubscriptionStatus.DELETED, updated_at=timezone.now())
    subscription.status = SubscriptionStatus.DELETED
    if updated:
        audit_record(
            organization=subscription.identity.organization,
            actor=actor,
            action="webhook_subscription.delete",
            obj=subscription,
            before=_subscription_audit_view(subscription),
        )


def subscription_auth_token(subscription: WebhookSubscription) -> str | None:
    token = subscription.auth_token_encrypted
    return decrypt(token) if token else None


# --- Events (the outbox) ------------------------------------------------------
def _agent_identity_wire(identity: AgentIdentity) -> dict[str, Any]:
    return {
        "id": str(identity.id),
        "agent_handle": identity.handle,
        "display_name": identity.display_name,
    }


def _context_item(message: Message, identity: AgentIdentity) -> dict[str, Any]:
    text = message.content
    truncated = text is not None and len(text) > CONTEXT_TEXT_MAX_CHARS
    return {
        "id": str(message.id),
        "channel": "imessage",
        "direction": message.direction,
        "text": text[:CONTEXT_TEXT_MAX_CHARS] if truncated and text else text,
        "text_truncated": truncated,
        "created_at": iso(message.created_at),
        "sender": (
            message.remote_number
            if message.direction == Direction.INBOUND
            else f"@{identity.handle}"
        ),
        "status": message.status,
        "media": {"count": len(message.media)} if message.media else None,
    }


def _texts_context(message: Message, config: dict[str, Any]) -> dict[str, Any]:
    """Earlier messages of the conversation (oldest first, the trigger excluded)."""
    earlier = (
        Message.objects.filter(conversation_id=message.conversation_id, is_blocked=False)
        .exclude(pk=message.pk)
        .filter(created_at__lte=message.created_at)
        .order_by("-created_at", "-id")
    )
    block: dict[str, Any] = {"scope": "conversation", "mode": config["mode"]}
    if config["mode"] == "count":
        limit = config["count"]
        block["requested"] = limit
    else:
        limit = CONTEXT_WINDOW_MAX_ITEMS
        block["hours"] = config["hours"]
        earlier = earlier.filter(
            created_at__gte=message.created_at - timedelta(hours=config["hours"])
        )
    rows = list(earlier[: limit + 1])
    block["truncated"] = len(rows) > limit
    block["items"] = [_context_item(m, message.identity) for m in reversed(rows[:limit])]
    return {"texts": block}


# No caller catches its errors and carries on in the same transaction, so a SAVEPOINT
# would only add two round trips per call (ingest ran ten of them).
@transaction.atomic(savepoint=False)
def event_emit(
    *,
    event_type: str,
    identity: AgentIdentity,
    message: Message | None = None,
    reaction: Reaction | None = None,
    details: dict[str, Any] | None = None,
) -> WebhookEvent | None:
    """Write the event and one delivery per matching subscription in the caller's
    transaction (the outbox); deliveries are enqueued after commit.

    `data` carries `message` and `reaction` (null when not given) and, for events that
    are about neither (typing, connections), the keys of `details` beside them. Returns
    None when nothing is to be delivered (identity disabled, blocked message, no active
    subscription selecting `event_type`). Raises ValueError for an unknown type or an
    event with nothing to say.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if message is None and reaction is None and not details:
        raise ValueError("event_emit needs a message, a reaction or details")
    if not identity.imessage_enabled:
        return None
    if message is not None and (message.is_blocked or message.is_group):
        return None  # blocked rows and group messages are kept for audit only
    if reaction is not None and reaction.message.is_blocked:
        return None
    subscriptions = [
        sub
        for sub in WebhookSubscription.objects.filter(
            identity=identity, status=SubscriptionStatus.ACTIVE
        ).order_by("created_at")
        if event_type in sub.event_types
    ]
    if not subscriptions:
        return None

    now = timezone.now()
    envelope: dict[str, Any] = {
        "id": event_id_new(),
        "event_type": event_type,
        "timestamp": iso(now),
        "data": {
            **(details or {}),
            "message": message_wire(message, include_blocked=False) if message else None,
            "reaction": reaction_wire(reaction) if reaction else None,
            "contacts": [],
            "agent_identities": [_agent_identity_wire(identity)],
        },
    }
    event = WebhookEvent.objects.create(
        id=envelope["id"],
        organization_id=identity.organization_id,
        identity=identity,
        event_type=event_type,
        payload=envelope,
        created_at=now,
    )
    plain_body = dumps(envelope)
    contexts: dict[str, str] = {}
    deliveries = []
    for sub in subscriptions:
        body = plain_body
        texts = (sub.context_config or {}).get("texts")
        if texts and message is not None and event_type == "imessage.received":
            key = json.dumps(texts, sort_keys=True)
            if key not in contexts:
                data = {**envelope["data"], "context": _texts_context(message, texts)}
                contexts[key] = dumps({**envelope, "data": data})
            body = contexts[key]
        deliveries.append(
            WebhookDelivery(
                organization_id=identity.organization_id,
                event=event,
                subscription=sub,
                url=sub.url,
                request_payload=body,
                next_attempt_at=now,
                retry_until=now + _retry_window(),
            )
        )
    WebhookDelivery.objects.bulk_create(deliveries)
    delivery_ids = [d.id for d in deliveries]
    transaction.on_commit(lambda: deliveries_fan_out(delivery_ids))
    logger.info(
        "webhook event %s (%s) for identity %s: %d deliveries",
        event.id,
        event_type,
        identity.id,
        len(deliveries),
    )
    return event


def deliveries_fan_out(delivery_ids: Sequence[uuid.UUID]) -> None:
    """After commit: one broker message per event, whatever the number of subscriptions.

    Each publish is a broker round trip; the caller (often the provider webhook intake) pays
    for one, and a worker publishes the per-delivery jobs. Never raises.
    """
    if len(delivery_ids) <= 1:
        deliveries_publish(delivery_ids)
        return
    from messaging.webhooks.tasks import deliveries_enqueue

    try:
        deliveries_enqueue.apply_async(args=([str(i) for i in delivery_ids],))
    except Exception as exc:
        logger.warning(
            "webhook fan-out of %d deliveries not enqueued (%s); the sweep will pick them up",
            len(delivery_ids),
            type(exc).__name__,
            exc_info=True,
        )


def deliveries_publish(delivery_ids: Sequence[uuid.UUID], *, countdown: float | None = None) -> int:
    """Enqueue delivery jobs; never raises. Returns how many were published.

    When the broker is unreachable the remaining ids are left to the sweep (the rows are
    already committed), so a request that caused an event never fails for it.
    """
    from messaging.webhooks.tasks import delivery_send

    published = 0
    for delivery_id in delivery_ids:
        try:
            if countdown is None:
                delivery_send.apply_async(args=(str(delivery_id),))
            else:
                delivery_send.apply_async(args=(str(delivery_id),), countdown=countdown)
        except Exception as exc:
            logger.warning(
                "webhook delivery %s not enqueued (%s); the sweep will pick up %d row(s)",
                delivery_id,
                type(exc).__name__,
                len(delivery_ids) - published,
                exc_info=True,
            )
            break
        published += 1
    return published


# --- Delivery attempts --------------------------------------------------------
@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    body: str | None
    error: str | None
    duration_ms: int
    transient: bool

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_retry_policy() -> RetryPolicy:
    return RetryPolicy(
        base_seconds=settings.WEBHOOK_RETRY_BASE_SECONDS,
        max_delay_seconds=settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS,
        window=_retry_window(),
    )


def _classify_status(status_code: int) -> tuple[bool, str | None]:
    """(transient, error) for a non-2xx answer: 429 and 5xx retry, everything else stops."""
    if status_code == 429 or status_code >= 500:
        return True, None
    if 300 <= status_code < 400:
        return False, "Redirects are not followed."
    return False, None


def http_post(target: safety.Target, body: bytes, headers: dict[str, str]) -> AttemptResult:
    """POST to a checked target, reading at most WEBHOOK_MAX_RESPONSE_BYTES of the answer."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    cap = settings.WEBHOOK_MAX_RESPONSE_BYTES
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    request_headers = {
        **headers,
        "Host": target.host_header,
        "Content-Type": "application/json",
        # Raw bytes are capped below; a compressed answer could expand past the cap.
        "Accept-Encoding": "identity",
    }
    started = time.monotonic()
    deadline = started + timeout
    try:
        with (
            # A fresh client per attempt: connections are pinned to a checked address and
            # must never be reused for another host name that shares it.
            http_client(timeout=timeout) as client,
            client.stream(
                "POST",
                target.request_url,
                content=body,
                headers=request_headers,
                extensions=extensions,
            ) as response,
        ):
            received = bytearray()
            for chunk in response.iter_raw():
                received += chunk[: cap - len(received)]
                if len(received) >= cap or time.monotonic() > deadline:
                    break
            status_code = response.status_code
    except httpx.HTTPError as exc:
        detail = describe_transport_error(exc)
        if isinstance(exc, httpx.TimeoutException):
            detail = f"timed out after {timeout:g}s"
        return AttemptResult(
            status_code=None,
            body=None,
            error=detail,
            duration_ms=int((time.monotonic() - started) * 1000),
            transient=True,
        )
    duration_ms = int((time.monotonic() - started) * 1000)
    text = bytes(received).decode("utf-8", errors="replace")
    if 200 <= status_code < 300:
        return AttemptResult(status_code, text, None, duration_ms, transient=False)
    transient, error = _classify_status(status_code)
    return AttemptResult(status_code, text, error, duration_ms, transient=transient)


def _claim(delivery_id: uuid.UUID | str, now: datetime) -> bool:
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - _lease()))
        .update(
            claimed_at=now,
            attempt_count=F("attempt_count") + 1,
            last_attempt_at=now,
            updated_at=now,
        )
    )
    return claimed == 1


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
    retry_until = delivery.retry_until or (delivery.created_at + _retry_window())
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
    if not _claim(delivery_id, now):
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


def delivery_sweep(*, batch_size: int = SWEEP_BATCH_SIZE) -> int:
    """Re-enqueue due deliveries whose job was lost (broker down at commit, worker died,
    retries beyond the broker countdown). Returns how many were published."""
    now = timezone.now()
    overdue = now - timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE_SECONDS)
    ids = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=overdue)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - _lease()))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:batch_size]
    )
    if not ids:
        return 0
    published = deliveries_publish(ids)
    logger.info("webhook sweep: %d due deliveries, %d enqueued", len(ids), published)
    return published


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
        raise ApplicationError(ERR_IDENTITY_DISABLED, code="not_replayable", status_code=422)
    now = timezone.now()
    replay = WebhookDelivery.objects.create(
        organization_id=delivery.organization_id,
        event_id=delivery.event_id,
        subscription=sub,
        url=sub.url,
        request_payload=delivery.request_payload,
        is_replay=True,
        next_attempt_at=now,
        retry_until=now + _retry_window(),
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
            retry_until=now + _retry_window(),
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
