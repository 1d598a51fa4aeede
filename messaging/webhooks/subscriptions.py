"""Agent webhook subscriptions: validation (URL, event types, context config), create,
update and soft delete, each audited. At most one active subscription per identity, URL
and event type."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from console.crypto import decrypt, encrypt
from console.db.inserts import insert_if_absent
from console.errors import Conflict, ValidationFailed
from console.models import AgentIdentity
from console.services import Actor, audit_record, save_audited
from messaging.webhooks import safety
from messaging.webhooks.catalog import EVENT_TYPES
from messaging.webhooks.models import (
    SigningKey,
    SubscriptionSetVersion,
    SubscriptionStatus,
    WebhookSubscription,
)
from messaging.webhooks.signing_keys import identity_lock, signing_key_store

ERR_EVENT_TYPES_EMPTY = "event_types must name at least one event type."
ERR_EVENT_TYPES_DUPLICATE = "event_types must not repeat an event type."
ERR_EVENT_TYPES_UNKNOWN = "Unknown event type: {names}. See GET /api/v1/webhooks/catalog."
ERR_OVERLAP = "This identity already has a subscription to this URL for some of these event types."
ERR_CONTEXT = "context_config: {problem}"

CONTEXT_CLASSES = ("email", "texts", "calls")
CONTEXT_MAX_COUNT = 50
CONTEXT_MAX_HOURS = 168


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
    identity_lock(identity)
    _overlap_check(identity=identity, url=url, event_types=event_types)
    minted: str | None = None
    if not SigningKey.objects.filter(identity=identity).exists():
        minted = signing_key_store(identity).secret
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
    identity_lock(subscription.identity)
    _overlap_check(
        identity=subscription.identity,
        url=subscription.url,
        event_types=subscription.event_types,
        exclude_id=subscription.id,
    )
    save_audited(
        subscription,
        fields,
        organization=subscription.identity.organization,
        actor=actor,
        action="webhook_subscription.update",
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
        # A queryset update sends no post_save.
        subscriptions_changed(subscription.identity_id)
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


def identity_subscriptions_stop(identity: AgentIdentity, actor: Actor) -> None:
    """An identity is being archived (`console.hooks`): its subscriptions are deleted the
    way an agent deletes one, each audited, so nothing more is sent on its behalf."""
    for subscription in WebhookSubscription.objects.filter(
        identity=identity, status=SubscriptionStatus.ACTIVE
    ).select_related("identity__organization"):
        subscription_delete(subscription=subscription, actor=actor)


def subscriptions_changed(identity_id: uuid.UUID) -> None:
    """Give the identity's subscriptions a new version (`SubscriptionSetVersion`) in the
    caller's transaction: every process reading it reads the subscriptions again
    (`events.active_subscriptions`).

    Runs on every save of a subscription (`WebhooksConfig.ready`) and on a soft delete.
    Concurrent changes of one identity queue on the version row; the first change of an
    identity inserts it, and a racing first change replaces the one that won.
    """
    versions = SubscriptionSetVersion.objects.filter(identity_id=identity_id)
    if versions.update(version=uuid.uuid4()):
        return
    if insert_if_absent(SubscriptionSetVersion, identity_id=identity_id) is None:
        versions.update(version=uuid.uuid4())


def subscription_saved(*, instance: WebhookSubscription, **_: Any) -> None:
    """`post_save` of a subscription, whoever saved it (services, admin, factories)."""
    subscriptions_changed(instance.identity_id)
