"""Input and output shapes of the webhook API (contract §5)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from console.models import organization_public_id
from console.timestamps import iso
from messaging.webhooks.delivery import replay_unavailable_reason
from messaging.webhooks.models import WebhookDelivery, WebhookSubscription
from messaging.webhooks.subscriptions import CONTEXT_CLASSES, subscription_auth_token


def context_config_wire(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    return {name: config.get(name) for name in CONTEXT_CLASSES}


class SubscriptionOutputSerializer(serializers.Serializer[WebhookSubscription]):
    id = serializers.UUIDField()
    organization_id = serializers.CharField()
    url = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    agent_identity_id = serializers.UUIDField()
    owner_identity_id = serializers.UUIDField()
    mailbox_id = serializers.UUIDField(allow_null=True)
    phone_number_id = serializers.UUIDField(allow_null=True)
    context_config = serializers.JSONField(allow_null=True)
    has_auth_token = serializers.BooleanField()
    auth_token = serializers.CharField(allow_null=True)

    def to_representation(self, sub: WebhookSubscription) -> dict[str, Any]:
        return {
            "id": str(sub.id),
            "organization_id": organization_public_id(sub.organization_id),
            "url": sub.url,
            "event_types": list(sub.event_types),
            "status": sub.status,
            "created_at": iso(sub.created_at),
            "updated_at": iso(sub.updated_at),
            "agent_identity_id": str(sub.identity_id),
            "owner_identity_id": str(sub.identity_id),
            "mailbox_id": None,
            "phone_number_id": None,
            "context_config": context_config_wire(sub.context_config),
            "has_auth_token": bool(sub.auth_token_encrypted),
            "auth_token": subscription_auth_token(sub),
        }


class SubscriptionCreateOutputSerializer(SubscriptionOutputSerializer):
    signing_key = serializers.CharField(allow_null=True)


class SubscriptionListOutputSerializer(serializers.Serializer[dict[str, Any]]):
    subscriptions = SubscriptionOutputSerializer(many=True)


class SubscriptionCreateInputSerializer(serializers.Serializer[dict[str, Any]]):
    url = serializers.CharField(max_length=2000)
    event_types = serializers.ListField(child=serializers.CharField(max_length=64))
    agent_identity_id = serializers.UUIDField(required=False, allow_null=True)
    mailbox_id = serializers.CharField(required=False, allow_null=True)
    phone_number_id = serializers.CharField(required=False, allow_null=True)
    context_config = serializers.JSONField(required=False, allow_null=True)
    auth_token = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=1000
    )


class SubscriptionUpdateInputSerializer(serializers.Serializer[dict[str, Any]]):
    url = serializers.CharField(required=False, max_length=2000)
    event_types = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    context_config = serializers.JSONField(required=False, allow_null=True)
    auth_token = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=1000
    )


class CatalogEventSerializer(serializers.Serializer[dict[str, Any]]):
    event_type = serializers.CharField()
    channel = serializers.CharField()
    description = serializers.CharField()
    opt_in = serializers.BooleanField()


class CatalogOutputSerializer(serializers.Serializer[dict[str, Any]]):
    supports_identity_subscriptions = serializers.BooleanField()
    event_types = CatalogEventSerializer(many=True)


class DeliveryOutputSerializer(serializers.Serializer[WebhookDelivery]):
    id = serializers.UUIDField()
    organization_id = serializers.CharField()
    event_id = serializers.CharField()
    event_type = serializers.CharField()
    url = serializers.CharField()
    request_payload = serializers.CharField()
    is_replay = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    webhook_subscription_id = serializers.UUIDField(allow_null=True)
    phone_number_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
    attempt_count = serializers.IntegerField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    response_status = serializers.IntegerField(allow_null=True)
    response_body = serializers.CharField(allow_null=True)
    error_detail = serializers.CharField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    replayable = serializers.BooleanField()
    replay_unavailable_reason = serializers.CharField(allow_null=True)

    def to_representation(self, delivery: WebhookDelivery) -> dict[str, Any]:
        reason = replay_unavailable_reason(delivery)
        return {
            "id": str(delivery.id),
            "organization_id": organization_public_id(delivery.organization_id),
            "event_id": delivery.event_id,
            "event_type": delivery.event.event_type,
            "url": delivery.url,
            "request_payload": delivery.request_payload,
            "is_replay": delivery.is_replay,
            "created_at": iso(delivery.created_at),
            "updated_at": iso(delivery.updated_at),
            "webhook_subscription_id": (
                str(delivery.subscription_id) if delivery.subscription_id else None
            ),
            "phone_number_id": None,
            "status": delivery.status,
            "attempt_count": delivery.attempt_count,
            "last_attempt_at": iso(delivery.last_attempt_at),
            "next_attempt_at": iso(delivery.next_attempt_at),
            "response_status": delivery.response_status,
            "response_body": delivery.response_body,
            "error_detail": delivery.error_detail,
            "duration_ms": delivery.duration_ms,
            "replayable": reason is None,
            "replay_unavailable_reason": reason,
        }


class DeliveryListOutputSerializer(serializers.Serializer[dict[str, Any]]):
    deliveries = DeliveryOutputSerializer(many=True)


class SigningKeyOutputSerializer(serializers.Serializer[dict[str, Any]]):
    signing_key = serializers.CharField()
    created_at = serializers.DateTimeField()


class SigningKeyStatusOutputSerializer(serializers.Serializer[dict[str, Any]]):
    configured = serializers.BooleanField()
    created_at = serializers.DateTimeField(allow_null=True)
