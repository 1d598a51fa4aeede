"""Clinic operations: quiet hours, after-hours replies, consent events and opt-outs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from console.models import AgentIdentity, Organization
from messaging.models.conversations import Message
from provisioning.models import PhoneLine


class QuietHours(models.Model):
    """An identity's quiet hours: agent sends that would arrive between `start` and `end`
    (the person's local time; the window may cross midnight) are held until `end`.
    No row: quiet hours are off. `auto_reply`, when set, answers a person who writes
    during quiet hours, at most once per quiet period (`AfterHoursReply`)."""

    identity = models.OneToOneField(
        AgentIdentity, on_delete=models.CASCADE, primary_key=True, related_name="quiet_hours"
    )
    start = models.TimeField()
    end = models.TimeField()
    # IANA zone used when the person's number does not map to exactly one zone.
    timezone = models.CharField(max_length=64)
    auto_reply = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return (
            f"quiet hours {self.start:%H:%M}-{self.end:%H:%M} ({self.timezone}) of {self.identity}"
        )


class AfterHoursReply(models.Model):
    """One after-hours auto-reply per person, identity and quiet period: the unique
    constraint (not a read before the write) makes a second one impossible."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identity = models.ForeignKey(AgentIdentity, on_delete=models.CASCADE, related_name="+")
    remote_number = models.CharField(max_length=320)
    # When the quiet period that the reply answered began (UTC).
    period_start = models.DateTimeField()
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "remote_number", "period_start"],
                name="after_hours_reply_once_per_period",
            )
        ]

    def __str__(self) -> str:
        return f"after-hours reply to {self.remote_number} from {self.identity}"


class ConsentKind(models.TextChoices):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class ConsentSource(models.TextChoices):
    # The person texted a keyword (STOP, START...).
    KEYWORD = "keyword"
    # Staff recorded it in the console (a phone call, a letter).
    OPERATOR = "operator"


class ConsentEvent(models.Model):
    """The consent ledger: one append-only row per opt-out or opt-in of a person.

    `identity` null means the router line (the person opted out of the router itself;
    such rows belong to no organisation). `OptOut` holds the current state.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    remote_number = models.CharField(max_length=320)
    kind = models.CharField(max_length=8, choices=ConsentKind.choices)
    source = models.CharField(max_length=8, choices=ConsentSource.choices)
    keyword = models.CharField(max_length=32, blank=True, default="")
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    operator_label = models.CharField(max_length=255, blank=True, default="")
    source_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The line the keyword arrived on (the router's, for router opt-outs).
    line = models.ForeignKey(
        PhoneLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="consent_org_created"),
            models.Index(
                fields=["identity", "-created_at", "-id"], name="consent_identity_created"
            ),
            models.Index(fields=["remote_number", "-created_at"], name="consent_number_created"),
        ]

    def __str__(self) -> str:
        verb = "opt-out" if self.kind == ConsentKind.OPT_OUT else "opt-in"
        return f"{verb} of {self.remote_number} from {self.identity or 'the router'}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise RuntimeError("consent events are append-only")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise RuntimeError("consent events are append-only")


class OptOut(models.Model):
    """The current state: a row while the person is opted out of the identity (or, with
    no identity, of the router). Written and deleted with its `ConsentEvent`."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    remote_number = models.CharField(max_length=320)
    event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "remote_number"],
                condition=Q(identity__isnull=False),
                name="optout_unique_per_identity",
            ),
            models.UniqueConstraint(
                fields=["remote_number"],
                condition=Q(identity__isnull=True),
                name="optout_unique_on_router",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remote_number} opted out of {self.identity or 'the router'}"
