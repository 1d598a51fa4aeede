"""Retention: remove message content past an organisation's window, keep the trail.

The nightly run (`messaging.retention_run`) takes every organisation with a window
(`Organization.message_retention_days` > 0) and, for messages older than it that no legal
hold covers, removes the text, the media (files deleted from storage), tapback emoji and
the copies of them kept elsewhere: agent webhook event payloads, recorded provider events
and remembered send responses. Ids, direction, numbers, timestamps, statuses, the delivery
trail, the audit log and the access log stay.

It works in bounded batches, each its own short transaction that skips rows another
transaction holds, so a million-row purge never locks the table for long; a crash loses at
most one batch's work and a second run picks up what is left (everything it does is
idempotent: a redacted row is never touched again).
"""

from __future__ import annotations

import functools
import json
import operator
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from console.errors import ValidationFailed
from console.models import AgentIdentity, IdempotencyRecord, Organization
from console.services import Actor, audit_record
from messaging.models import (
    Conversation,
    HoldKind,
    LegalHold,
    MediaObject,
    Message,
    Reaction,
    RetentionRun,
)
from messaging.webhooks.models import WebhookEvent
from provisioning.models import ProviderEvent

REDACTED_MARK = "redacted"
# Keys whose values are what a person or an agent wrote, in any JSON copy of a message.
_TEXT_KEYS = frozenset({"content", "text", "custom_emoji", "message", "body"})
_MEDIA_KEYS = frozenset({"media", "media_url", "media_urls", "mediaUrl", "url", "vcard"})


@dataclass(frozen=True)
class Holds:
    """What the organisation's active legal holds keep from retention."""

    conversation_ids: frozenset[uuid.UUID] = frozenset()
    identity_ids: frozenset[uuid.UUID] = frozenset()
    numbers: frozenset[str] = frozenset()
    _needles: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, organization: Organization) -> Holds:
        active = LegalHold.objects.filter(organization=organization, lifted_at__isnull=True)
        rows = list(active.values_list("conversation_id", "identity_id", "remote_number"))
        conversations = frozenset(c for c, _, _ in rows if c)
        identities = frozenset(i for _, i, _ in rows if i)
        numbers = frozenset(n for _, _, n in rows if n)
        needles = tuple(str(v) for v in (*conversations, *identities, *numbers))
        return cls(conversations, identities, numbers, needles)

    def messages_q(self) -> Q:
        """Messages a hold covers (to exclude from redaction)."""
        parts = [
            Q(conversation_id__in=self.conversation_ids) if self.conversation_ids else None,
            Q(identity_id__in=self.identity_ids) if self.identity_ids else None,
            Q(remote_number__in=self.numbers) | Q(sender_number__in=self.numbers)
            if self.numbers
            else None,
        ]
        given = [p for p in parts if p is not None]
        return functools.reduce(operator.or_, given) if given else Q(pk__in=[])

    def covers_copy(self, payload: Any) -> bool:
        """Whether a JSON copy names anything held (its conversation, identity or number)."""
        if not self._needles:
            return False
        text = json.dumps(payload, default=str)
        return any(needle in text for needle in self._needles)


def redacted_copy(payload: Any) -> Any:
    """`payload` with every text and media value removed, marked as redacted."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key in _TEXT_KEYS and isinstance(item, str):
                    out[key] = None
                elif key in _MEDIA_KEYS and isinstance(item, (str, list, dict)):
                    out[key] = [] if isinstance(item, list) else None
                else:
                    out[key] = scrub(item)
            return out
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    scrubbed = scrub(payload)
    if isinstance(scrubbed, dict):
        scrubbed[REDACTED_MARK] = True
    return scrubbed


def _is_redacted(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get(REDACTED_MARK) is True


def retention_cutoff(organization: Organization, now: datetime) -> datetime | None:
    days = organization.message_retention_days
    return now - timedelta(days=days) if days else None


def retention_run_all(*, now: datetime | None = None) -> list[RetentionRun]:
    """The nightly job: one run per organisation that has a retention window."""
    return [
        retention_run(organization=organization, now=now)
        for organization in Organization.objects.filter(message_retention_days__gt=0)
    ]


def retention_run(
    *, organization: Organization, now: datetime | None = None, batch_size: int | None = None
) -> RetentionRun:
    now = now or timezone.now()
    cutoff = retention_cutoff(organization, now)
    if cutoff is None:
        raise ValidationFailed("This organisation keeps its messages forever.")
    size = batch_size or settings.RETENTION_BATCH_SIZE
    holds = Holds.of(organization)
    run = RetentionRun.objects.create(organization=organization, cutoff=cutoff, started_at=now)
    run.messages_redacted = _messages_redact(organization, cutoff, holds, now, size)
    run.media_deleted = _media_delete(organization, cutoff, size)
    run.copies_redacted = sum(
        _copies_redact(rows, payload_field, holds, size)
        for rows, payload_field in _copies(organization, cutoff)
    )
    run.messages_held = (
        Message.objects.filter(organization=organization, redacted_at__isnull=True)
        .filter(created_at__lt=cutoff)
        .count()
    )
    run.finished_at = timezone.now()
    run.save()
    audit_record(
        organization=organization,
        actor=Actor.system(),
        action="retention.run",
        obj=run,
        after={
            "retention_days": organization.message_retention_days,
            "cutoff": cutoff.isoformat(),
            "messages_redacted": run.messages_redacted,
            "media_deleted": run.media_deleted,
            "copies_redacted": run.copies_redacted,
            "messages_held": run.messages_held,
        },
    )
    return run


def _messages_redact(
    organization: Organization, cutoff: datetime, holds: Holds, now: datetime, size: int
) -> int:
    due = (
        Message.objects.filter(organization=organization, redacted_at__isnull=True)
        .filter(created_at__lt=cutoff)
        .exclude(holds.messages_q())
        .order_by("created_at", "id")
    )
    total = 0
    while True:
        with transaction.atomic():
            ids = list(due.select_for_update(skip_locked=True).values_list("id", flat=True)[:size])
            if not ids:
                return total
            total += Message.objects.filter(id__in=ids, redacted_at__isnull=True).update(
                content=None, media=[], redacted_at=now, updated_at=now
            )
            Reaction.objects.filter(message_id__in=ids).update(custom_emoji=None, updated_at=now)


def _media_delete(organization: Organization, cutoff: datetime, size: int) -> int:
    """Delete stored media older than the window that no unredacted message still shows
    (a held message keeps its files)."""
    deleted = 0
    last: uuid.UUID | None = None
    old = MediaObject.objects.filter(organization=organization, created_at__lt=cutoff)
    while True:
        page = old.filter(pk__gt=last) if last else old
        batch = list(page.order_by("pk")[:size])
        if not batch:
            return deleted
        last = batch[-1].pk
        in_use = _media_in_use(organization, [m.pk for m in batch])
        for media in batch:
            if media.pk in in_use:
                continue
            media.file.delete(save=False)
            media.delete()
            deleted += 1


def _media_in_use(organization: Organization, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    names = [str(i) for i in ids]
    mentions = functools.reduce(operator.or_, (Q(media__icontains=n) for n in names))
    rows = Message.objects.filter(organization=organization, redacted_at__isnull=True).filter(
        mentions
    )
    text = " ".join(json.dumps(media) for media in rows.values_list("media", flat=True))
    return {i for i, n in zip(ids, names, strict=True) if n in text}


def _copies(organization: Organization, cutoff: datetime) -> Iterator[tuple[QuerySet[Any], str]]:
    yield (
        WebhookEvent.objects.filter(organization=organization, created_at__lt=cutoff),
        "payload",
    )
    yield (
        ProviderEvent.objects.filter(setup__organization=organization, received_at__lt=cutoff),
        "payload",
    )
    yield (
        IdempotencyRecord.objects.filter(organization=organization, created_at__lt=cutoff),
        "response_body",
    )


def _copies_redact(rows: QuerySet[Any], payload_field: str, holds: Holds, size: int) -> int:
    """Redact the JSON copies in `rows`, walked by primary key in batches."""
    changed = 0
    last: Any = None
    while True:
        page = rows.filter(pk__gt=last) if last is not None else rows
        batch: list[Model] = list(page.order_by("pk").only("pk", payload_field)[:size])
        if not batch:
            return changed
        last = batch[-1].pk
        dirty = [row for row in _scrubbed(batch, payload_field, holds) if row is not None]
        if dirty:
            type(dirty[0]).objects.bulk_update(dirty, [payload_field])  # type: ignore[attr-defined]
            changed += len(dirty)


def _scrubbed(rows: Iterable[Model], payload_field: str, holds: Holds) -> Iterator[Model | None]:
    for row in rows:
        payload = getattr(row, payload_field)
        if payload is None or _is_redacted(payload) or holds.covers_copy(payload):
            yield None
            continue
        setattr(row, payload_field, redacted_copy(payload))
        yield row


# --- Legal holds -------------------------------------------------------------------------


def legal_hold_place(
    *,
    organization: Organization,
    actor: Actor,
    reason: str,
    conversation: Conversation | None = None,
    identity: AgentIdentity | None = None,
    remote_number: str = "",
) -> LegalHold:
    """Hold one conversation, identity or number of `organization` from retention."""
    if not reason.strip():
        raise ValidationFailed("A legal hold needs a reason.")
    targets = [t for t in (conversation, identity, remote_number) if t]
    if len(targets) != 1:
        raise ValidationFailed("A legal hold covers exactly one conversation, identity or number.")
    for target in (conversation, identity):
        if target is not None and target.organization_id != organization.id:
            raise ValidationFailed("That is not in this organisation.")
    kind = (
        HoldKind.CONVERSATION
        if conversation
        else HoldKind.IDENTITY
        if identity
        else HoldKind.NUMBER
    )
    hold = LegalHold.objects.create(
        organization=organization,
        kind=kind,
        conversation=conversation,
        identity=identity,
        remote_number=remote_number,
        reason=reason.strip(),
        placed_by=actor.label,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="legal_hold.place",
        obj=hold,
        after={"kind": kind, "target": hold.target_label, "reason": hold.reason},
    )
    return hold


@transaction.atomic
def legal_hold_lift(*, hold: LegalHold, actor: Actor, reason: str) -> LegalHold:
    if not reason.strip():
        raise ValidationFailed("Lifting a legal hold needs a reason.")
    locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if locked.lifted_at is not None:
        return locked
    locked.lifted_at = timezone.now()
    locked.lifted_by = actor.label
    locked.lift_reason = reason.strip()
    locked.save(update_fields=["lifted_at", "lifted_by", "lift_reason"])
    audit_record(
        organization=locked.organization,
        actor=actor,
        action="legal_hold.lift",
        obj=locked,
        before={"active": True},
        after={"active": False, "reason": locked.lift_reason},
    )
    return locked


def retention_days_set(*, organization: Organization, days: int, actor: Actor) -> Organization:
    if days < 0 or days > 36_500:
        raise ValidationFailed("Retention is 0 (keep forever) to 36500 days.")
    before = organization.message_retention_days
    if before == days:
        return organization
    organization.message_retention_days = days
    organization.save(update_fields=["message_retention_days"])
    audit_record(
        organization=organization,
        actor=actor,
        action="organization.retention",
        obj=organization,
        before={"message_retention_days": before},
        after={"message_retention_days": days},
    )
    return organization
