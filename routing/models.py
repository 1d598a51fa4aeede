"""Contact rules, connections (assignments) of people to identities over pool lines."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from console.models import AgentIdentity, Organization
from console.phone import display_number
from provisioning.models import PhoneLine


class RuleAction(models.TextChoices):
    ALLOW = "allow"
    BLOCK = "block"


class RuleDirection(models.TextChoices):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    BOTH = "both"


class RuleStatus(models.TextChoices):
    ACTIVE = "active"
    PAUSED = "paused"


class MatchType(models.TextChoices):
    EXACT_NUMBER = "exact_number"


class ContactRule(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, related_name="contact_rules"
    )
    action = models.CharField(max_length=5, choices=RuleAction.choices)
    match_type = models.CharField(
        max_length=20, choices=MatchType.choices, default=MatchType.EXACT_NUMBER
    )
    match_target = models.CharField(max_length=20)
    direction = models.CharField(
        max_length=8, choices=RuleDirection.choices, default=RuleDirection.BOTH
    )
    status = models.CharField(max_length=6, choices=RuleStatus.choices, default=RuleStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "match_type", "match_target", "direction"],
                name="contact_rule_unique_coverage",
            )
        ]
        indexes = [models.Index(fields=["identity", "match_target"])]

    def __str__(self) -> str:
        return (
            f"{display_number(self.match_target)} ({self.action}, {self.direction}) "
            f"on {self.identity}"
        )


class AssignmentStatus(models.TextChoices):
    ACTIVE = "active"
    RELEASED = "released"


class ReleaseReason(models.TextChoices):
    PERSON = "person"  # the person texted disconnect
    OPERATOR = "operator"  # a staff member released it in the console
    AGENT = "agent"  # released through the API (an admin key, or the identity's deletion)


class Assignment(models.Model):
    """One person connected to one identity over one pool line."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, related_name="assignments"
    )
    remote_number = models.CharField(max_length=20)
    pool_line = models.ForeignKey(PhoneLine, on_delete=models.PROTECT, related_name="assignments")
    status = models.CharField(
        max_length=8, choices=AssignmentStatus.choices, default=AssignmentStatus.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(
        max_length=8, choices=ReleaseReason.choices, blank=True, default=""
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "remote_number"],
                condition=Q(status="active"),
                name="assignment_one_active_per_identity_person",
            ),
            models.UniqueConstraint(
                fields=["pool_line", "remote_number"],
                condition=Q(status="active"),
                name="assignment_one_active_per_line_person",
            ),
        ]
        indexes = [
            models.Index(fields=["pool_line", "remote_number", "status"]),
            models.Index(fields=["identity", "status", "-created_at"]),
            models.Index(fields=["organization", "status", "-created_at"]),
            models.Index(fields=["pool_line", "created_at"]),
            # The pool lines a person is connected over (every connect reads them).
            models.Index(
                fields=["remote_number"],
                condition=Q(status="active"),
                name="assignment_active_by_person",
            ),
        ]

    def __str__(self) -> str:
        return f"connection of {display_number(self.remote_number)} to {self.identity}"


class ReplyKind(models.TextChoices):
    CONNECTED = "connected"
    GENERIC = "generic"
    HELP = "help"
    POOL_EXHAUSTED = "pool_exhausted"
    POOL_BUSY = "pool_busy"
    DISCONNECTED = "disconnected"
    # Consent keywords (STOP, START, HELP) answered on the line they came in on.
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    CONSENT_HELP = "consent_help"


class ReplyState(models.TextChoices):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class RouterReply(models.Model):
    """An automatic reply to a person (the outbox): written in the routing transaction,
    sent by a Celery task after commit, re-enqueued by the sweep if the job was lost."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    line = models.ForeignKey(PhoneLine, on_delete=models.CASCADE, related_name="router_replies")
    to_number = models.CharField(max_length=320)
    kind = models.CharField(max_length=16, choices=ReplyKind.choices)
    text = models.TextField()
    media_url = models.TextField(blank=True)
    state = models.CharField(max_length=8, choices=ReplyState.choices, default=ReplyState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    provider_handle = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["state", "next_attempt_at"],
                condition=Q(state__in=["queued", "sending"]),
                name="router_reply_outbox",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} reply to {display_number(self.to_number)}"


class ExhaustionReason(models.TextChoices):
    # Every eligible pool line already carries one of this person's connections.
    PERSON = "person"
    # No pool line can take a new contact (caps, blocked or paused lines, none configured).
    CAPACITY = "capacity"


class PoolExhaustion(models.Model):
    """A connect that found no pool line: the console counts and lists these."""

    id = models.BigAutoField(primary_key=True)
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, related_name="pool_exhaustions"
    )
    remote_number = models.CharField(max_length=20)
    reason = models.CharField(max_length=10, choices=ExhaustionReason.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"no pool line for {display_number(self.remote_number)} to reach {self.identity}"
