"""Tenancy: organisations, agent identities, API keys, console memberships and the audit log."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

HANDLE_PATTERN = r"^[a-z0-9-]{3,63}$"
handle_validator = RegexValidator(
    HANDLE_PATTERN, "Handles are 3-63 characters of lowercase letters, digits and hyphens."
)


class FilterMode(models.TextChoices):
    BLACKLIST = "blacklist"
    WHITELIST = "whitelist"


def organization_public_id(organization_id: uuid.UUID) -> str:
    """Opaque organisation id on the wire (`org_…`), never parsed as a UUID by clients.
    Takes the id alone so a row that holds only `organization_id` renders it too."""
    return f"org_{organization_id.hex}"


def default_message_retention_days() -> int:
    """New organisations start with `MESSAGE_RETENTION_DAYS` (0: keep forever)."""
    return int(getattr(settings, "MESSAGE_RETENTION_DAYS", 0))


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    # Message text and media older than this many days are redacted nightly; 0 keeps them.
    # db_default: rows written by code that predates the column (a rolling deploy) keep all.
    message_retention_days = models.PositiveIntegerField(
        default=default_message_retention_days, db_default=0
    )
    # Offboarded (`manage.py offboard_organization`): identities archived, keys revoked; the
    # data stays until the retention window has passed and a purge removes it.
    archived_at = models.DateTimeField(null=True, blank=True)
    # Staff takeover: hand a conversation back to the agent after this many idle minutes
    # (null: never automatically).
    handoff_idle_minutes = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def public_id(self) -> str:
        return organization_public_id(self.id)


class IdentityQuerySet(models.QuerySet["AgentIdentity"]):
    def live(self) -> IdentityQuerySet:
        """Identities agents and patients can reach: not archived."""
        return self.filter(archived_at__isnull=True)


class AgentIdentity(models.Model):
    """An agent's identity. Deleting one archives it: the row, its conversations and its
    trail stay for auditors and retention; agents and the router no longer see it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="identities"
    )
    handle = models.CharField(max_length=63, unique=True, validators=[handle_validator])
    display_name = models.CharField(max_length=200)
    description = models.TextField(null=True, blank=True)
    imessage_enabled = models.BooleanField(default=False)
    contact_sharing_enabled = models.BooleanField(default=True)
    # What HELP or INFO answers (empty: the default text naming the identity).
    consent_help_text = models.TextField(blank=True, default="", db_default="")
    # Contact-rule policy per direction; the shared `imessage_filter_mode` is derived.
    inbound_filter_mode = models.CharField(
        max_length=10, choices=FilterMode.choices, default=FilterMode.BLACKLIST
    )
    outbound_filter_mode = models.CharField(
        max_length=10, choices=FilterMode.choices, default=FilterMode.BLACKLIST
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    # The handle the identity had when an operator freed it for reuse (its own handle then
    # becomes a unique placeholder); empty while the archived identity still holds it.
    released_handle = models.CharField(max_length=63, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["handle"]
        indexes = [models.Index(fields=["organization", "handle"])]
        verbose_name_plural = "agent identities"

    def __str__(self) -> str:
        if self.archived_at is not None:
            return f"@{self.released_handle or self.handle} (archived)"
        return f"@{self.handle}"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def imessage_filter_mode(self) -> str:
        if self.inbound_filter_mode == self.outbound_filter_mode:
            return self.inbound_filter_mode
        return FilterMode.BLACKLIST


class ApiKeyStatus(models.TextChoices):
    ACTIVE = "active"
    REVOKED = "revoked"


class ApiKey(models.Model):
    """An API key. Only the SHA-256 of the secret is stored; the key is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    identity = models.ForeignKey(
        AgentIdentity,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="Set for identity-scoped keys; empty for organisation-wide admin keys.",
    )
    label = models.CharField(max_length=255)
    description = models.CharField(max_length=1000, null=True, blank=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    display_prefix = models.CharField(max_length=16)
    last4 = models.CharField(max_length=4)
    status = models.CharField(
        max_length=10, choices=ApiKeyStatus.choices, default=ApiKeyStatus.ACTIVE
    )
    created_by = models.CharField(max_length=255, default="console")
    creator_type = models.CharField(max_length=10, default="human")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.display_prefix}…{self.last4})"

    @property
    def is_admin(self) -> bool:
        return self.identity_id is None

    @property
    def public_id(self) -> str:
        return f"ApiKey_{self.id}"


class MembershipRole(models.TextChoices):
    OPERATOR = "operator"
    AUDITOR = "auditor"


class Membership(models.Model):
    """A console user's access to one organisation."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=MembershipRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique")
        ]
        # Granted through the "Operators" and "Auditors" groups (console migration 0003).
        permissions = [
            ("console_view", "Can read the staff console"),
            ("console_operate", "Can make changes in the staff console"),
        ]

    def __str__(self) -> str:
        return f"{self.user}, {self.role} of {self.organization}"


class IdempotencyRecord(models.Model):
    """A remembered response for an `Idempotency-Key`, scoped per caller and operation."""

    id = models.BigAutoField(primary_key=True)
    # No index of its own: `idempotency_record_unique` starts with it.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    # Identity uuid for identity-scoped operations, "org" for organisation-level ones.
    scope = models.CharField(max_length=64)
    operation = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "scope", "operation", "key"],
                name="idempotency_record_unique",
            )
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"idempotency key {self.key} for {self.operation}"


class AuditEntry(models.Model):
    """Append-only record of every change made in the console or with an admin key."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor_type = models.CharField(max_length=10)  # "user" | "api_key" | "system"
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=255)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["organization", "action", "-created_at"]),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_repr or self.object_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("audit entries are append-only")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise RuntimeError("audit entries are append-only")


class AccessKind(models.TextChoices):
    CONVERSATION = "conversation", "conversation"
    MESSAGE = "message", "message"
    BLOCKED_MESSAGE = "blocked_message", "blocked message"
    EXPORT = "export", "export"
    PERSON_RECORD = "person_record", "person's record"


class AccessLog(models.Model):
    """Append-only record of who viewed patient text: one row per view (one per item a
    list showed), written by `console.access`.

    Migration 0006 adds database triggers that refuse UPDATE and DELETE of these rows. The
    organisation is referenced without a database constraint or cascade, so the trail
    outlives whatever it names."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_type = models.CharField(max_length=10)  # "user" | "api_key"
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=255)
    object_kind = models.CharField(max_length=32, choices=AccessKind.choices)
    object_id = models.CharField(max_length=64)
    # The person's number; blank when the view covered several people (an export).
    remote_number = models.CharField(max_length=320, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    reason = models.CharField(max_length=1000, blank=True)
    # Rows one view covered (an export's rows); 1 for a single item.
    count = models.PositiveIntegerField(default=1)
    # What the view asked for (an export's filters).
    detail = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="access_org_created"),
            models.Index(fields=["organization", "remote_number"], name="access_org_number"),
        ]
        verbose_name = "access log entry"
        verbose_name_plural = "access log entries"

    def __str__(self) -> str:
        return f"{self.actor_label} viewed {self.object_kind} {self.object_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("access log entries are append-only")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise RuntimeError("access log entries are append-only")


class AccessTally(models.Model):
    """Reads of one conversation by one identity-scoped key within one hour, counted: the
    agent reading its own conversations is its job, so those are tallied, not logged per
    request. `console.access_tally_buffer` adds to `count` every few seconds."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    api_key_id = models.UUIDField()
    key_label = models.CharField(max_length=255)
    conversation_id = models.UUIDField()
    remote_number = models.CharField(max_length=320, blank=True)
    hour = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-hour", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["api_key_id", "conversation_id", "hour"], name="access_tally_unique"
            )
        ]
        indexes = [models.Index(fields=["organization", "-hour"], name="access_tally_org_hour")]
        verbose_name_plural = "access tallies"

    def __str__(self) -> str:
        return f"{self.key_label} read conversation {self.conversation_id} {self.count} times"


class AccessTallyBatch(models.Model):
    """One batch of the Redis tally queue already added to `AccessTally`, written in the
    same transaction as its counts: a drain that dies after its commit, or two drains
    taking the same leftover, never count a read twice (`console.access_tally_queue`)."""

    name = models.CharField(max_length=160, primary_key=True)
    written_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return self.name


__all__ = [
    "AccessKind",
    "AccessLog",
    "AccessTally",
    "AgentIdentity",
    "ApiKey",
    "ApiKeyStatus",
    "AuditEntry",
    "FilterMode",
    "IdempotencyRecord",
    "Membership",
    "MembershipRole",
    "Organization",
]
