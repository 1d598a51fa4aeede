"""Agent webhook events: `event_emit` is the one internal event function messaging calls.

It writes the event and one delivery row per matching subscription in the caller's
transaction (a transactional outbox) and publishes delivery jobs only after commit. A broker
outage never fails the caller: the periodic sweep (`delivery.delivery_sweep`) re-enqueues
every due delivery whose job was lost.

Delivery is at least once with a stable `evt_…` id per event. Ordering is not promised, not
even per subscription: retries, replays and parallel workers can deliver a later event first.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from console.db.compiled import EncodedJson
from console.db.inserts import insert_together
from console.db.instances import unsaved
from console.db.prepared import PreparedQuery
from console.ids import uuid7
from console.models import AgentIdentity
from console.timestamps import iso
from messaging.models import Direction, Message, Reaction
from messaging.webhooks import delivery
from messaging.webhooks.catalog import EVENT_TYPES
from messaging.webhooks.models import (
    SubscriptionStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from messaging.wire import message_wire, reaction_wire

logger = logging.getLogger(__name__)

CONTEXT_WINDOW_MAX_ITEMS = 100
CONTEXT_TEXT_MAX_CHARS = 2000


def dumps(payload: dict[str, Any]) -> str:
    """The one serialisation of a body; its UTF-8 bytes are signed and sent unchanged."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


# Every event reads them: compiled once per process.
_ACTIVE_SUBSCRIPTIONS = PreparedQuery(
    WebhookSubscription,
    lambda *, identity_id: WebhookSubscription.objects.filter(
        identity_id=identity_id, status=SubscriptionStatus.ACTIVE
    ).order_by("created_at"),
    identity_id=uuid.UUID,
)


# The version of subscriptions that have no `SubscriptionSetVersion` row.
NEVER_CHANGED = uuid.UUID(int=0)

# How long a process keeps a set it read, whatever its version: writes that bypass the
# version (a bulk load, a process still running code from before it) count after this.
SUBSCRIPTIONS_MAX_AGE_SECONDS = 60.0


class _SubscriptionsByVersion:
    """Each identity's active subscriptions as last read, with the version they were read
    at (`SubscriptionSetVersion`), per process, for at most SUBSCRIPTIONS_MAX_AGE_SECONDS.
    Every change of a subscription writes a new version in its own transaction, and a
    caller reads the version before the set, so it gets the set that version stands for
    or a newer one, never an older one. The cached rows are only read, never changed, and
    may be shared by threads."""

    max_identities = 10_000

    def __init__(self) -> None:
        self._sets: dict[uuid.UUID, tuple[uuid.UUID, float, list[WebhookSubscription]]] = {}
        self._lock = threading.Lock()

    def get(self, identity_id: uuid.UUID, version: uuid.UUID) -> list[WebhookSubscription]:
        now = _clock()
        cached = self._sets.get(identity_id)
        if (
            cached is not None
            and cached[0] == version
            and now - cached[1] < SUBSCRIPTIONS_MAX_AGE_SECONDS
        ):
            return cached[2]
        rows = _ACTIVE_SUBSCRIPTIONS.rows(identity_id=identity_id)
        with self._lock:
            if len(self._sets) >= self.max_identities:
                self._sets.clear()
            self._sets[identity_id] = (version, now, rows)
        return rows

    def clear(self) -> None:
        with self._lock:
            self._sets.clear()


# The cache's clock (tests move it).
_clock = time.monotonic

SUBSCRIPTIONS_BY_VERSION = _SubscriptionsByVersion()


def active_subscriptions(
    identity_id: uuid.UUID, *, version: uuid.UUID | None = None
) -> list[WebhookSubscription]:
    """The identity's active subscriptions, oldest first. `version`: the identity's
    `SubscriptionSetVersion` as the caller read it in this transaction (NEVER_CHANGED
    without a row); with it, a set this process read at that version is reused instead of
    read again."""
    if version is None:
        return _ACTIVE_SUBSCRIPTIONS.rows(identity_id=identity_id)
    return SUBSCRIPTIONS_BY_VERSION.get(identity_id, version)


def event_id_new() -> str:
    """A new event's `evt_…` id: in time order, like the rows written with it (`console.ids`)."""
    return f"evt_{uuid7().hex}"


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
    context: dict[str, Any] | None = None,
    subscriptions_version: uuid.UUID | None = None,
) -> WebhookEvent | None:
    """Write the event and one delivery per matching subscription in the caller's
    transaction (the outbox); deliveries are enqueued after commit.

    `data` carries `message` and `reaction` (null when not given) and, for events that
    are about neither (typing, connections), the keys of `details` beside them;
    `context` (e.g. `handled_by` during a staff takeover) becomes `data.context`, merged
    with a subscription's conversation texts. Returns
    None when nothing is to be delivered (identity disabled, blocked message, no active
    subscription selecting `event_type`). `subscriptions_version`: the identity's
    subscriptions version as the caller read it (`active_subscriptions`). Raises ValueError
    for an unknown type or an event with nothing to say.
    """
    pending = event_build(
        event_type=event_type,
        identity=identity,
        message=message,
        reaction=reaction,
        details=details,
        context=context,
        subscriptions_version=subscriptions_version,
    )
    if pending is None:
        return None
    # The event and its deliveries in one statement (on PostgreSQL).
    insert_together(*pending.rows)
    pending.recorded()
    return pending.event


@dataclass(frozen=True)
class PendingEvent:
    """An event and its deliveries built but not stored: the caller inserts the rows in
    its own statement (`console.db.one_statement.insert_with_dependents`), then calls `recorded`."""

    event: WebhookEvent
    deliveries: list[WebhookDelivery]

    @property
    def rows(self) -> list[list[Any]]:
        """The batches to insert, the event before its deliveries."""
        return [[self.event], list(self.deliveries)]

    def recorded(self) -> None:
        """The rows are in the caller's transaction: publish the deliveries after commit."""
        delivery_ids = [d.id for d in self.deliveries]
        transaction.on_commit(lambda: deliveries_fan_out(delivery_ids))
        logger.info(
            "webhook event %s (%s) for identity %s: %d deliveries",
            self.event.id,
            self.event.event_type,
            self.event.identity_id,
            len(delivery_ids),
        )


def event_build(
    *,
    event_type: str,
    identity: AgentIdentity,
    message: Message | None = None,
    reaction: Reaction | None = None,
    details: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    subscriptions_version: uuid.UUID | None = None,
) -> PendingEvent | None:
    """`event_emit`'s event and deliveries, built and not stored (None: nothing to
    deliver). A `message` may be unsaved: its payload is what its fields say now."""
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
        for sub in active_subscriptions(identity.pk, version=subscriptions_version)
        if event_type in sub.event_types
    ]
    if not subscriptions:
        return None

    now = timezone.now()
    envelope = envelope_new(
        event_type,
        at=now,
        identity=identity,
        message=message_wire(message, include_blocked=False) if message else None,
        reaction=reaction_wire(reaction) if reaction else None,
        details=details,
    )
    if context:
        envelope["data"]["context"] = context
    plain_body = dumps(envelope)
    event = unsaved(
        WebhookEvent,
        id=envelope["id"],
        organization_id=identity.organization_id,
        identity=identity,
        event_type=event_type,
        # The deliveries' body is the event's: its column takes that text as it is.
        payload=EncodedJson(envelope, plain_body),
        created_at=now,
    )
    contexts: dict[str, str] = {}
    deliveries = []
    for sub in subscriptions:
        body = plain_body
        texts = (sub.context_config or {}).get("texts")
        if texts and message is not None and event_type == "imessage.received":
            key = json.dumps(texts, sort_keys=True)
            if key not in contexts:
                data = {
                    **envelope["data"],
                    "context": {**(context or {}), **_texts_context(message, texts)},
                }
                contexts[key] = dumps({**envelope, "data": data})
            body = contexts[key]
        deliveries.append(
            unsaved(
                WebhookDelivery,
                organization_id=identity.organization_id,
                event=event,
                subscription=sub,
                url=sub.url,
                request_payload=body,
                next_attempt_at=now,
                retry_until=now + delivery.retry_window(),
            )
        )
    return PendingEvent(event=event, deliveries=deliveries)


def deliveries_fan_out(delivery_ids: Sequence[uuid.UUID]) -> None:
    """After commit: one round trip per event, whatever the number of subscriptions.

    The caller (often the provider webhook intake) pays for one: a wake-up that one drain
    job answers for all of them, or without a wake-up channel one broker message, after
    which a worker publishes the per-delivery jobs. Never raises.
    """
    if len(delivery_ids) == 1:
        delivery.deliveries_publish(delivery_ids)
        return
    if not delivery_ids or delivery.DELIVERIES.wake_soon():
        return
    from messaging.webhooks.tasks import deliveries_publish_task

    try:
        deliveries_publish_task.apply_async(args=([str(i) for i in delivery_ids],))
    except Exception as exc:
        logger.warning(
            "webhook fan-out of %d deliveries not enqueued (%s); the sweep will pick them up",
            len(delivery_ids),
            type(exc).__name__,
            exc_info=True,
        )


def envelope_new(
    event_type: str,
    *,
    at: datetime,
    identity: AgentIdentity,
    message: dict[str, Any] | None = None,
    reaction: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new event's body at `at`: its `evt_…` id, and the wire objects it carries."""
    return {
        "id": event_id_new(),
        "event_type": event_type,
        "timestamp": iso(at),
        "data": {
            **(details or {}),
            "message": message,
            "reaction": reaction,
            "contacts": [],
            "agent_identities": [_agent_identity_wire(identity)],
        },
    }


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
