"""Setups (provider subaccounts), their phone lines and the provider events we received."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from console.models import AgentIdentity, Organization
from console.phone import display_number


class SetupStatus(models.TextChoices):
    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"


class Setup(models.Model):
    """One subaccount at the upstream provider: one business identity.

    Credentials and the webhook secret are Fernet-encrypted and never leave the server.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="setups")
    business_name = models.CharField(max_length=200)
    label = models.CharField(max_length=200)
    provider = models.CharField(max_length=32)
    provider_account_id = models.CharField(max_length=255, blank=True)
    primary_email = models.CharField(max_length=254, blank=True)
    status = models.CharField(
        max_length=10, choices=SetupStatus.choices, default=SetupStatus.PENDING
    )
    failure_reason = models.TextField(blank=True)
    # Platform setups carry the router and pool lines shared by every organisation.
    is_platform = models.BooleanField(default=False)
    # Where the organisation's dedicated-number claims go when they name no setup.
    is_default = models.BooleanField(default=False)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    webhook_secret_encrypted = models.TextField(blank=True, editable=False)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="setup_idempotency_key_unique",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="setup_one_default_per_organization",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.label or self.business_name


class LineState(models.TextChoices):
    PENDING = "pending"
    ASSIGNED = "assigned"


class LineRole(models.TextChoices):
    DEDICATED = "dedicated"
    POOL = "pool"
    ROUTER = "router"


class PhoneLine(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    setup = models.ForeignKey(Setup, on_delete=models.CASCADE, related_name="lines")
    state = models.CharField(max_length=10, choices=LineState.choices, default=LineState.PENDING)
    number = models.CharField(max_length=20, null=True, blank=True)
    role = models.CharField(max_length=10, choices=LineRole.choices, default=LineRole.DEDICATED)
    # Outstanding provider request (ticket id) while the line waits for carrier placement.
    provider_request_id = models.CharField(max_length=64, blank=True)
    # The Idempotency-Key of the add-line request that ordered this line, if any.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    identity = models.ForeignKey(
        AgentIdentity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dedicated_lines",
        help_text="The identity a dedicated line is attached to.",
    )
    is_paused = models.BooleanField(default=False)
    blocked_at = models.DateTimeField(null=True, blank=True)
    blocked_reason = models.TextField(blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(number__isnull=False),
                name="phone_line_number_unique",
            ),
            models.CheckConstraint(
                condition=Q(state="pending", number__isnull=True)
                | Q(state="assigned", number__isnull=False),
                name="phone_line_state_matches_number",
            ),
            models.UniqueConstraint(
                fields=["setup", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="phone_line_idempotency_key_unique_per_setup",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "requested_at"]),
            models.Index(fields=["role", "state"]),
        ]

    def __str__(self) -> str:
        if self.number:
            return display_number(self.number)
        return f"pending line ({self.setup})"


class ProviderEventStatus(models.TextChoices):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"
    # Named a line or message of another setup: recorded, never acted on.
    REJECTED_FOREIGN = "rejected_foreign"


class ProviderEvent(models.Model):
    """Every accepted provider webhook; the unique key makes re-deliveries stop here."""

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique (setup, event_key) starts with it.
    setup = models.ForeignKey(
        Setup, on_delete=models.CASCADE, related_name="provider_events", db_index=False
    )
    event_key = models.CharField(max_length=255)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(
        max_length=20, choices=ProviderEventStatus.choices, default=ProviderEventStatus.RECEIVED
    )
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["setup", "event_key"], name="provider_event_key_unique_per_setup"
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"provider event {self.event_type} ({self.event_key})"


class NumberClaim(models.Model):
    """One dedicated-number claim per `Idempotency-Key`, so retries never order a second line."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    line = models.ForeignKey(
        PhoneLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The identity an identity create made together with this claim (its replay target).
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table kept its name when the model moved here from routing.
        db_table = "routing_numberclaim"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "scope", "key"], name="number_claim_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"dedicated-number claim {self.key}"
