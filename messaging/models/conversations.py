"""Conversations, messages, tapbacks and media, and the states they move through."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from console.ids import uuid7
from console.models import AgentIdentity, Organization
from console.phone import display_number
from provisioning.models import PhoneLine
from routing.models import Assignment


class Direction(models.TextChoices):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Service(models.TextChoices):
    IMESSAGE = "imessage"
    SMS = "sms"
    RCS = "rcs"


class DeliveryStatus(models.TextChoices):
    REGISTERED = "registered"
    PENDING = "pending"
    QUEUED = "queued"
    ACCEPTED = "accepted"
    SENT = "sent"
    DELIVERED = "delivered"
    DECLINED = "declined"
    ERROR = "error"
    RECEIVED = "received"


class SendStyle(models.TextChoices):
    CELEBRATION = "celebration"
    SHOOTING_STAR = "shooting_star"
    FIREWORKS = "fireworks"
    LASERS = "lasers"
    LOVE = "love"
    CONFETTI = "confetti"
    BALLOONS = "balloons"
    SPOTLIGHT = "spotlight"
    ECHO = "echo"
    INVISIBLE = "invisible"
    GENTLE = "gentle"
    LOUD = "loud"
    SLAM = "slam"


class ReactionType(models.TextChoices):
    LOVE = "love"
    LIKE = "like"
    DISLIKE = "dislike"
    LAUGH = "laugh"
    EMPHASIZE = "emphasize"
    QUESTION = "question"
    EYES = "eyes"
    CUSTOM = "custom"


class ReviewState(models.TextChoices):
    """A reviewer's decision on a blocked message; the empty string means still waiting."""

    ALLOWED = "allowed"
    KEPT = "kept"


REVIEW_WAITING = ""


class SendState(models.TextChoices):
    """Where the outbound job stands with the provider (the outbox side of a message)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # The provider may have the message, but nothing it reported could confirm it: never
    # sent again (status `error`, error_reason `outcome_unknown`); a late callback settles it.
    UNKNOWN = "unknown"


class HandledBy(models.TextChoices):
    """Who answers the person: the agent, or staff who took the conversation over."""

    AGENT = "agent"
    STAFF = "staff"


# Counted by database triggers, never written by `Conversation.save()`.
CONVERSATION_COUNTERS = frozenset(
    {"visible_count", "visible_unread_count", "blocked_count", "blocked_unread_count"}
)


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of their own (`conv_org_activity` and `conv_identity_activity` start with
    # them): each message moves `last_message_at`, so each index gets a new entry.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    remote_number = models.CharField(max_length=320)
    assignment = models.ForeignKey(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The line the conversation runs over now (pool or dedicated); never shown to agents.
    line = models.ForeignKey(
        PhoneLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Inbound group threads, kept for audit only (never sent to, never an agent event).
    # A group conversation has no remote number; `group_id` identifies it instead.
    is_group = models.BooleanField(default=False)
    group_id = models.CharField(max_length=255, blank=True, default="")
    participants = models.JSONField(default=list, blank=True)
    # Staff takeover: while `staff`, the agent's sends answer 409 conversation_handed_off.
    # db_default: conversations started by code that predates the takeover are the agent's.
    handled_by = models.CharField(
        max_length=5, choices=HandledBy.choices, default=HandledBy.AGENT, db_default="agent"
    )
    handed_off_at = models.DateTimeField(null=True, blank=True)
    handed_off_by = models.CharField(max_length=255, blank=True, default="", db_default="")
    # How many of its messages are visible (not `is_blocked`) or blocked, and how many of
    # those are unread inbound rows: the conversation list reads these instead of counting
    # messages per row. Database triggers on messaging_message keep them exact for every
    # write (migration 0013); `conversation_counts_refresh` recounts them. Never written
    # by application code: `save()` of a stored conversation leaves them out.
    visible_count = models.IntegerField(default=0, db_default=0)
    visible_unread_count = models.IntegerField(default=0, db_default=0)
    blocked_count = models.IntegerField(default=0, db_default=0)
    blocked_unread_count = models.IntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "remote_number"],
                condition=Q(is_group=False),
                name="conversation_unique_per_person",
            ),
            models.UniqueConstraint(
                fields=["identity", "group_id"],
                condition=Q(is_group=True),
                name="conversation_unique_per_group",
            ),
        ]
        indexes = [
            # The idle hand-back sweep reads only conversations staff hold.
            models.Index(
                fields=["organization", "handed_off_at"],
                condition=Q(handled_by="staff"),
                name="conv_staff_handled",
            ),
            # Lists order by (-last_message_at, -id); the id tiebreak keeps pages stable.
            models.Index(
                fields=["identity", "-last_message_at", "-id"], name="conv_identity_activity"
            ),
            models.Index(
                fields=["organization", "-last_message_at", "-id"], name="conv_org_activity"
            ),
        ]

    def __str__(self) -> str:
        if self.is_group:
            return f"group conversation on {self.identity}"
        return f"conversation with {display_number(self.remote_number)} on {self.identity}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A stale in-memory copy must never overwrite what the triggers counted meanwhile.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in CONVERSATION_COUNTERS
            ]
        super().save(*args, **kwargs)

    @property
    def title(self) -> str:
        """How staff pages name the conversation: the person, or the group's members."""
        if self.is_group:
            return f"Group: {', '.join(self.participants or [])}"
        return self.remote_number


class Message(models.Model):
    # Time-ordered: new keys share the index's last pages (`console.ids`).
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # No index of their own on the keys that an index of Meta starts with: every insert
    # paid for three that no query needs (`msg_org_created`, `msg_identity_created`,
    # `msg_conv_created` serve the lookups and the cascades).
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    assignment = models.ForeignKey(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    line = models.ForeignKey(
        PhoneLine, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    direction = models.CharField(max_length=8, choices=Direction.choices)
    remote_number = models.CharField(max_length=320)
    content = models.TextField(null=True, blank=True)
    message_type = models.CharField(max_length=10, default="message")
    service = models.CharField(max_length=8, choices=Service.choices, default=Service.IMESSAGE)
    send_style = models.CharField(max_length=16, choices=SendStyle.choices, null=True, blank=True)
    # [{"url": ..., "content_type": ..., "size": ...}]
    media = models.JSONField(default=list, blank=True)
    was_downgraded = models.BooleanField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, null=True, blank=True)
    error_code = models.CharField(max_length=64, null=True, blank=True)
    error_message = models.TextField(null=True, blank=True)
    error_reason = models.TextField(null=True, blank=True)
    error_detail = models.TextField(null=True, blank=True)
    is_read = models.BooleanField(default=False)
    # Outbound: when the person read it (the provider's READ status); status stays delivered.
    read_at = models.DateTimeField(null=True, blank=True)
    is_blocked = models.BooleanField(default=False)
    # A message of a group thread: who sent it, and everyone in the thread at the time.
    is_group = models.BooleanField(default=False)
    sender_number = models.CharField(max_length=320, null=True, blank=True)
    participants = models.JSONField(default=list, blank=True)
    # Which rule blocked it (null: the filter-mode default); for audit and review only.
    blocked_rule_id = models.UUIDField(null=True, blank=True)
    review_state = models.CharField(max_length=16, blank=True)
    # Who settled the review and when (null while waiting).
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # a partial index of the rows that have one (`Meta.indexes`)
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # A held message a reviewer released to the agent: no longer `is_blocked` (delivered
    # like any inbound message), still listed in the blocked review.
    released_at = models.DateTimeField(null=True, blank=True)
    reply_to = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # a partial index of the rows that have one (`Meta.indexes`)
    )
    provider_handle = models.CharField(max_length=255, null=True, blank=True)
    # Outbound: the staff user who wrote it from the console (null: the agent).
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # a partial index of the rows that have one (`Meta.indexes`)
    )
    # Outbound job (outbox): claimed with a conditional update, never sent twice.
    send_state = models.CharField(max_length=8, choices=SendState.choices, null=True, blank=True)
    send_attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Committed just before the provider call and cleared once its outcome is recorded:
    # set, the provider may have the message, so it is reconciled, never sent blindly again.
    provider_call_started_at = models.DateTimeField(null=True, blank=True)
    # Set when retention removed the content, media and tapback emoji; the row stays.
    redacted_at = models.DateTimeField(null=True, blank=True)
    # A held send (quiet hours) or a scheduled one (`send_at`): it goes out at this time,
    # and counts against the rolling send cap at this time (`messaging.services.scheduling`).
    scheduled_for = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider_handle"],
                condition=Q(provider_handle__isnull=False),
                name="message_provider_handle_unique",
            )
        ]
        indexes = [
            # Lists are newest first with an id tiebreak, narrowed by identity or
            # conversation; matching the whole ORDER BY lets Postgres stop after one page
            # (and the conversation preview read one index entry per row).
            models.Index(fields=["conversation", "-created_at", "-id"], name="msg_conv_created"),
            models.Index(fields=["identity", "-created_at", "-id"], name="msg_identity_created"),
            models.Index(fields=["organization", "-created_at", "-id"], name="msg_org_created"),
            models.Index(
                fields=["identity", "-created_at"],
                condition=Q(is_blocked=True),
                name="msg_blocked_identity_created",
            ),
            models.Index(
                fields=["organization", "-created_at"],
                condition=Q(is_blocked=True),
                name="msg_blocked_org_created",
            ),
            # The review queue's default view: still waiting, oldest first.
            models.Index(
                fields=["organization", "created_at"],
                condition=Q(is_blocked=True, review_state=""),
                name="msg_blocked_waiting_org",
            ),
            # Identity keys never see a conversation whose only traffic is blocked.
            models.Index(
                fields=["conversation"],
                condition=Q(is_blocked=True),
                name="msg_blocked_conversation",
            ),
            # Keys most messages leave empty: a user's or a message's deletion finds the
            # rows that point at it here, and a message without one costs no entry.
            models.Index(
                fields=["reply_to"], condition=Q(reply_to__isnull=False), name="msg_reply_to"
            ),
            models.Index(
                fields=["reviewed_by"],
                condition=Q(reviewed_by__isnull=False),
                name="msg_reviewed_by",
            ),
            models.Index(
                fields=["sent_by"], condition=Q(sent_by__isnull=False), name="msg_sent_by"
            ),
            # The cap's window count reads one range of cap times (the scheduled time, else
            # the acceptance time; `messaging.services.scheduling.CAP_TIME`). The columns
            # the time is made of ride along, so the count never visits the table (an
            # index-only scan: 0.2 ms instead of 2.6 for 800 sends in the window).
            models.Index(
                F("identity"),
                Coalesce("scheduled_for", "created_at"),
                condition=Q(direction="outbound"),
                include=["scheduled_for", "created_at"],
                name="msg_outbound_cap_time_covering",
            ),
            models.Index(
                fields=["send_state", "next_attempt_at"],
                condition=Q(send_state__in=["queued", "sending"]),
                name="msg_send_outbox",
            ),
            # Retention walks one organisation's unredacted rows, oldest first.
            models.Index(
                fields=["organization", "created_at"],
                condition=Q(redacted_at__isnull=True),
                name="msg_retention_pending",
            ),
            # Scheduled and held sends count against the cap at their scheduled time.
            models.Index(
                fields=["identity", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="msg_identity_scheduled",
            ),
        ]

    def __str__(self) -> str:
        # Never the content: names end up in the audit log and in logs.
        if self.direction == Direction.OUTBOUND:
            return f"message to {display_number(self.remote_number)} from {self.identity}"
        sender = self.sender_number if self.is_group and self.sender_number else self.remote_number
        return f"message from {display_number(sender)} on {self.identity}"


class Reaction(models.Model):
    """A tapback. At most one live tapback per sender, message and part."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    identity = models.ForeignKey(AgentIdentity, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reactions")
    direction = models.CharField(max_length=8, choices=Direction.choices)
    reaction = models.CharField(max_length=10, choices=ReactionType.choices)
    custom_emoji = models.CharField(max_length=32, null=True, blank=True)
    part_index = models.PositiveIntegerField(default=0)
    remote_number = models.CharField(max_length=320)
    is_live = models.BooleanField(default=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "direction", "part_index"],
                condition=Q(is_live=True),
                name="reaction_one_live_per_sender_part",
            )
        ]

    def __str__(self) -> str:
        side = "to" if self.direction == Direction.OUTBOUND else "from"
        return f"{self.reaction} tapback {side} {display_number(self.remote_number)}"


class MediaObject(models.Model):
    """A file we host: uploaded by an agent or re-hosted from the provider's expiring CDN."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    file = models.FileField(upload_to="media/%Y/%m/")
    content_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    source_url = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Generated files (the router's contact cards, one per connect) are stored once
            # per organisation and content: found by digest, not by reading every file
            # the organisation holds.
            models.Index(fields=["organization", "sha256"], name="media_by_digest"),
        ]

    def __str__(self) -> str:
        return f"{self.content_type or 'file'} file ({self.size} bytes)"


class SendCapBucket(models.Model):
    """How many of an identity's outbound messages have their cap time (`scheduled_for`,
    else `created_at`) in the hour starting at `starts_at` (UTC): the send cap sums these
    instead of counting a day of messages one index entry at a time.

    Database triggers on messaging_message keep them exact for every write (migration
    0016); `cap_buckets_refresh` recounts them. Never written by application code, but
    pruned once no window can reach them (`cap_buckets_prune`)."""

    id = models.BigAutoField(primary_key=True)
    identity = models.ForeignKey(
        AgentIdentity, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    starts_at = models.DateTimeField()
    sends = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["identity", "starts_at"], name="send_cap_bucket_unique")
        ]
        # The prune deletes by age across identities.
        indexes = [models.Index(fields=["starts_at"], name="send_cap_bucket_age")]

    def __str__(self) -> str:
        return f"{self.sends} sends from {self.starts_at:%Y-%m-%d %H:%M}"
