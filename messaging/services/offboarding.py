"""Offboarding an organisation: archive it now, purge it once its retention has passed.

Archiving archives every identity (keys revoked, connections released, lines detached,
subscriptions stopped: `console.identities.identity_archive`) and revokes the admin keys;
staff keep reading everything. Purging deletes the organisation's rows in bounded batches
(messages first, each batch its own transaction), then the organisation itself. It is
refused until `archived_at + message_retention_days` has passed, for an organisation that
keeps its messages forever (0 days), and while a legal hold is active.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from console.errors import Conflict
from console.identities import identity_archive
from console.models import AgentIdentity, ApiKey, ApiKeyStatus, Organization
from console.services import Actor, api_key_revoke, audit_record
from messaging.models import Conversation, LegalHold, MediaObject, Message
from messaging.webhooks.models import WebhookEvent
from provisioning.models import ProviderEvent


@transaction.atomic
def organization_archive(*, organization: Organization, actor: Actor) -> Organization:
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if locked.archived_at is not None:
        return locked
    for identity in AgentIdentity.objects.live().filter(organization=locked):
        identity_archive(identity=identity, actor=actor)
    for key in ApiKey.objects.filter(organization=locked, status=ApiKeyStatus.ACTIVE):
        api_key_revoke(key=key, actor=actor)
    locked.archived_at = timezone.now()
    locked.save(update_fields=["archived_at"])
    audit_record(
        organization=locked,
        actor=actor,
        action="organization.archive",
        obj=locked,
        after={"archived": True, "retention_days": locked.message_retention_days},
    )
    return locked


def purge_allowed_at(organization: Organization) -> datetime | None:
    """When a purge may start; None while it never may (not archived, or kept forever)."""
    if organization.archived_at is None or not organization.message_retention_days:
        return None
    return organization.archived_at + timedelta(days=organization.message_retention_days)


@dataclass(frozen=True)
class PurgeCounts:
    messages: int
    conversations: int
    events: int


def organization_purge(
    *, organization: Organization, now: datetime | None = None, batch_size: int | None = None
) -> PurgeCounts:
    now = now or timezone.now()
    allowed_at = purge_allowed_at(organization)
    if organization.archived_at is None:
        raise Conflict("Archive the organisation first.")
    if allowed_at is None:
        raise Conflict("This organisation keeps its messages forever; it is never purged.")
    if now < allowed_at:
        raise Conflict(f"Its retention period ends {allowed_at:%Y-%m-%d %H:%M} UTC.")
    if LegalHold.objects.filter(organization=organization, lifted_at__isnull=True).exists():
        raise Conflict("A legal hold is active; lift it before purging.")
    size = batch_size or settings.RETENTION_BATCH_SIZE
    counts = PurgeCounts(
        messages=_delete_in_batches(Message.objects.filter(organization=organization), size),
        conversations=_delete_in_batches(
            Conversation.objects.filter(organization=organization), size
        ),
        events=_delete_in_batches(WebhookEvent.objects.filter(organization=organization), size)
        + _delete_in_batches(ProviderEvent.objects.filter(setup__organization=organization), size),
    )
    for media in MediaObject.objects.filter(organization=organization).iterator():
        media.file.delete(save=False)
    with transaction.atomic():
        Organization.objects.filter(pk=organization.pk).delete()
    return counts


def _delete_in_batches(rows: QuerySet[Any], size: int) -> int:
    """Delete `rows` `size` at a time, each batch in its own short transaction."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(rows.order_by("pk").values_list("pk", flat=True)[:size])
            if not ids:
                return total
            rows.model._default_manager.filter(pk__in=ids).delete()
            total += len(ids)
