"""Records kept about messages: legal holds, retention runs and a person's record exports."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from console.models import AgentIdentity, Organization
from messaging.models.conversations import Conversation


class HoldKind(models.TextChoices):
    CONVERSATION = "conversation"
    IDENTITY = "identity"
    NUMBER = "number"


class LegalHold(models.Model):
    """Suspends retention for one conversation, one identity or one person's number in an
    organisation, from when an operator sets it until one lifts it (both audited)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    kind = models.CharField(max_length=12, choices=HoldKind.choices)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    remote_number = models.CharField(max_length=320, blank=True)
    reason = models.TextField()
    placed_by = models.CharField(max_length=255)
    placed_at = models.DateTimeField(default=timezone.now)
    lifted_by = models.CharField(max_length=255, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at"]
        indexes = [models.Index(fields=["organization", "lifted_at"])]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="conversation", conversation__isnull=False)
                    | Q(kind="identity", identity__isnull=False)
                    | (Q(kind="number") & ~Q(remote_number=""))
                ),
                name="legal_hold_names_its_target",
            )
        ]

    def __str__(self) -> str:
        return f"legal hold on {self.target_label}"

    @property
    def target_label(self) -> str:
        if self.kind == HoldKind.CONVERSATION:
            return (
                f"conversation with {self.conversation.remote_number if self.conversation else '?'}"
            )
        if self.kind == HoldKind.IDENTITY:
            return str(self.identity)
        return self.remote_number


class RetentionRun(models.Model):
    """One organisation's pass of the nightly retention job, for the dashboard and audit."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    cutoff = models.DateTimeField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    messages_redacted = models.PositiveIntegerField(default=0)
    media_deleted = models.PositiveIntegerField(default=0)
    copies_redacted = models.PositiveIntegerField(default=0)
    messages_held = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["organization", "-started_at"])]

    def __str__(self) -> str:
        return f"retention run of {self.started_at:%Y-%m-%d %H:%M}"


class ExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


class PersonExport(models.Model):
    """One person's whole record in one organisation, requested by staff with a reason and
    built by a worker into a ZIP kept until `expires_at`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    remote_number = models.CharField(max_length=320)
    reason = models.TextField()
    requested_by = models.CharField(max_length=255)
    requested_by_user_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=8, choices=ExportStatus.choices, default="queued")
    progress = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    size = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"record export of {self.remote_number}"
