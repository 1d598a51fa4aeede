"""Agent webhook reads, scoped to the caller's organisation (and identity for scoped keys)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, Q, QuerySet

from console.models import AgentIdentity, ApiKey
from console.scope import Scope, filter_given, scoped_get
from messaging.webhooks.models import (
    DeliveryStatus,
    SigningKey,
    SubscriptionStatus,
    WebhookDelivery,
    WebhookSubscription,
)

SUBSCRIPTION_NOT_FOUND = "Subscription not found."
DELIVERY_NOT_FOUND = "Delivery not found."


@dataclass(frozen=True)
class SigningKeyStatus:
    configured: bool
    created_at: datetime | None


def subscriptions_for_key(key: ApiKey) -> QuerySet[WebhookSubscription]:
    return Scope.for_api_key(key).filter(
        WebhookSubscription.objects.filter(status=SubscriptionStatus.ACTIVE),
        identity="identity_id",
    )


def subscription_list(
    *,
    key: ApiKey,
    agent_identity_id: uuid.UUID | None = None,
    url: str | None = None,
    event_type: str | None = None,
    other_owner_filter: bool = False,
) -> list[WebhookSubscription]:
    """Active subscriptions, newest first. `other_owner_filter` (a mailbox or phone-number
    owner, which this platform does not have) matches nothing."""
    if other_owner_filter:
        return []
    qs = subscriptions_for_key(key).select_related("organization")
    if agent_identity_id is not None:
        qs = qs.filter(identity_id=agent_identity_id)
    qs = filter_given(qs, url=url)
    rows = list(qs.order_by("-created_at", "-id"))
    if event_type:
        # JSON containment is not portable to SQLite; the lists are short.
        rows = [sub for sub in rows if event_type in sub.event_types]
    return rows


def subscription_get(*, key: ApiKey, subscription_id: str) -> WebhookSubscription:
    """One visible subscription; deleted, foreign and malformed ids are all 404."""
    return scoped_get(
        subscriptions_for_key(key).select_related("identity__organization", "organization"),
        not_found=SUBSCRIPTION_NOT_FOUND,
        pk=subscription_id,
    )


def deliveries_in(scope: Scope) -> QuerySet[WebhookDelivery]:
    return scope.filter(WebhookDelivery.objects.all(), identity="event__identity_id")


def deliveries_for_key(key: ApiKey) -> QuerySet[WebhookDelivery]:
    return deliveries_in(Scope.for_api_key(key))


def delivery_list(
    *,
    key: ApiKey,
    limit: int,
    offset: int,
    subscription_id: uuid.UUID | None = None,
    event_type: str | None = None,
    success: bool | None = None,
    agent_identity_id: uuid.UUID | None = None,
    status: str | None = None,
    other_owner_filter: bool = False,
) -> list[WebhookDelivery]:
    """Delivery rows, newest first; `success=True` means a 2xx answer was received."""
    if other_owner_filter:
        return []
    qs = deliveries_for_key(key).select_related("event", "subscription").defer("event__payload")
    qs = filter_given(
        qs,
        subscription_id=subscription_id,
        event__event_type=event_type,
        event__identity_id=agent_identity_id,
        status=status,
    )
    ok = Q(response_status__gte=200, response_status__lt=300)
    if success is True:
        qs = qs.filter(ok)
    elif success is False:
        qs = qs.exclude(ok)
    return list(qs.order_by("-created_at", "-id")[offset : offset + limit])


def delivery_get(*, key: ApiKey, delivery_id: str) -> WebhookDelivery:
    return scoped_get(
        deliveries_for_key(key)
        .select_related("event__identity__organization", "subscription")
        .defer("event__payload"),
        not_found=DELIVERY_NOT_FOUND,
        pk=delivery_id,
    )


def signing_key_status(identity: AgentIdentity) -> SigningKeyStatus:
    record = SigningKey.objects.filter(identity=identity).only("created_at").first()
    return SigningKeyStatus(
        configured=record is not None, created_at=record.created_at if record else None
    )


def signing_key_status_for_organization(key: ApiKey) -> SigningKeyStatus:
    """The deprecated org-level status: configured when any identity has a key."""
    latest = SigningKey.objects.filter(identity__organization_id=key.organization_id).aggregate(
        latest=Max("created_at")
    )["latest"]
    return SigningKeyStatus(configured=latest is not None, created_at=latest)


# --- Console reads --------------------------------------------------------------------------


def delivery_list_for_scope(
    *, scope: Scope, status: str = "", identity: str = "", event_type: str = ""
) -> QuerySet[WebhookDelivery]:
    """Newest first, without the bulky payload columns the list does not show; narrowed
    by status, identity handle and event type when given."""
    qs = (
        deliveries_in(scope)
        .select_related("event", "event__identity", "subscription")
        .defer("request_payload", "response_body", "event__payload")
        .order_by("-created_at", "-id")
    )
    return filter_given(
        qs, status=status, event__identity__handle=identity, event__event_type=event_type
    )


def delivery_get_for_scope(*, scope: Scope, delivery_id: uuid.UUID | str) -> WebhookDelivery:
    return scoped_get(
        deliveries_in(scope).select_related("event", "organization"),
        not_found=DELIVERY_NOT_FOUND,
        id=delivery_id,
    )


def delivery_detail_for_scope(*, scope: Scope, delivery_id: uuid.UUID | str) -> WebhookDelivery:
    """One delivery with everything its console page shows (not the event's payload: the
    request body as sent is the delivery's own `request_payload`)."""
    return scoped_get(
        deliveries_in(scope)
        .select_related("event__identity", "subscription", "organization")
        .defer("event__payload"),
        not_found=DELIVERY_NOT_FOUND,
        id=delivery_id,
    )


def delivery_event_type_list(*, scope: Scope) -> list[str]:
    """The event types the viewer's deliveries carry, for the filter's list."""
    return list(
        deliveries_in(scope)
        .values_list("event__event_type", flat=True)
        .distinct()
        .order_by("event__event_type")
    )


def failed_delivery_count(*, scope: Scope) -> int:
    return deliveries_in(scope).filter(status=DeliveryStatus.FAILED).count()
