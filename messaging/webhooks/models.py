"""Agent webhooks: signing keys, subscriptions, events (the outbox) and delivery attempts."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from console.ids import uuid7
from console.models import AgentIdentity, Organization


class SigningKey(models.Model):
    identity = models.OneToOneField(
        AgentIdentity, on_delete=models.CASCADE, related_name="signing_key"
    )
    secret_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"webhook signing key of {self.identity}"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active"
    DELETED = "deleted"


class WebhookSubscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    url = models.URLField(max_length=2000)
    event_types = models.JSONField(default=list)
    context_config = models.JSONField(null=True, blank=True)
    auth_token_encrypted = models.TextField(blank=True, editable=False)
    status = models.CharField(
        max_length=8, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["identity", "status"])]

    def __str__(self) -> str:
        return f"webhook subscription of {self.identity} ({self.url})"


class SubscriptionSetVersion(models.Model):
    """Replaced in the transaction of every change to one identity's webhook subscriptions
    (`subscriptions.subscriptions_changed`), so that a process may keep the identity's
    active subscriptions for as long as it reads the same version (`events`). Random, so a
    version a rolled-back change wrote is never written again. No row: the subscriptions
    never changed since this table was added (`events.NEVER_CHANGED`)."""

    identity = models.OneToOneField(
        AgentIdentity, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    version = models.UUIDField(default=uuid.uuid4)

    def __str__(self) -> str:
        return f"version {self.version} of the webhook subscriptions of {self.identity}"


class WebhookEvent(models.Model):
    """An event; its `evt_…` id is stable across retries and replays."""

    id = models.CharField(primary_key=True, max_length=40)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    identity = models.ForeignKey(AgentIdentity, on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.event_type} event {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    # Time-ordered: new keys share the index's last pages (`console.ids`).
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No index of their own: the (organization, created_at) and (subscription, created_at)
    # indexes of Meta start with them.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        WebhookSubscription,
        on_delete=models.SET_NULL,
        null=True,
        related_name="deliveries",
        db_index=False,
    )
    url = models.URLField(max_length=2000)
    request_payload = models.TextField()
    is_replay = models.BooleanField(default=False)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Transient failures are retried until then; a manual retry from the console extends it.
    retry_until = models.DateTimeField(null=True, blank=True)
    # Set while a worker holds the row (a lease); a stale claim means that worker died.
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    error_detail = models.TextField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["subscription", "-created_at"]),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event.event_type} delivery to {self.url}"
