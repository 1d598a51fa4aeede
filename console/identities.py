"""Identity writes: create, update, delete and filter modes, each audited.

Deleting an identity reaches into the apps that hold its connections and lines (routing,
provisioning): they release and detach in the same transaction.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from console.errors import Conflict, ValidationFailed
from console.models import AgentIdentity, ApiKey, ApiKeyStatus, FilterMode, Organization
from console.services import Actor, api_key_revoke, audit_record
from provisioning.models import PhoneLine
from routing.models import Assignment, AssignmentStatus, ReleaseReason
from routing.services.assignments import assignment_release

HANDLE_UNAVAILABLE = "This handle is not available."


class HandleUnavailable(Conflict):
    code = "agent_handle_unavailable"


@transaction.atomic
def identity_create(
    *,
    organization: Organization,
    actor: Actor,
    handle: str,
    display_name: str | None = None,
    description: str | None = None,
    imessage_enabled: bool = False,
    contact_sharing_enabled: bool = True,
) -> AgentIdentity:
    """Create an identity. Raises `HandleUnavailable` (409) when the handle is taken anywhere."""
    identity = AgentIdentity(
        organization=organization,
        handle=handle,
        display_name=display_name or handle,
        description=description,
        imessage_enabled=imessage_enabled,
        contact_sharing_enabled=contact_sharing_enabled,
    )
    identity.full_clean(exclude=["handle"])
    try:
        with transaction.atomic():
            identity.save(force_insert=True)
    except IntegrityError:
        raise HandleUnavailable(
            HANDLE_UNAVAILABLE, extra={"blocking_namespace": "identities"}
        ) from None
    audit_record(
        organization=organization,
        actor=actor,
        action="identity.create",
        obj=identity,
        after={"handle": handle, "imessage_enabled": imessage_enabled},
    )
    return identity


IDENTITY_FIELDS = ("display_name", "description", "imessage_enabled", "contact_sharing_enabled")


@transaction.atomic
def identity_update(
    *, identity: AgentIdentity, actor: Actor, changes: dict[str, Any]
) -> AgentIdentity:
    """Apply whitelisted field changes; `display_name: None` falls back to the handle."""
    before = {name: getattr(identity, name) for name in IDENTITY_FIELDS}
    for name in IDENTITY_FIELDS:
        if name not in changes:
            continue
        value = changes[name]
        if name == "display_name" and not value:
            value = identity.handle
        setattr(identity, name, value)
    after = {name: getattr(identity, name) for name in IDENTITY_FIELDS}
    if before != after:
        identity.full_clean(exclude=["handle"], validate_unique=False)
        identity.save(update_fields=[*IDENTITY_FIELDS, "updated_at"])
        audit_record(
            organization=identity.organization,
            actor=actor,
            action="identity.update",
            obj=identity,
            before=before,
            after=after,
        )
    return identity


@transaction.atomic
def identity_delete(*, identity: AgentIdentity, actor: Actor) -> None:
    """Delete an identity: revoke its scoped keys, release its connections, detach lines."""
    for key in ApiKey.objects.filter(identity=identity, status=ApiKeyStatus.ACTIVE).select_related(
        "organization"
    ):
        api_key_revoke(key=key, actor=actor)
    for assignment in Assignment.objects.filter(
        identity=identity, status=AssignmentStatus.ACTIVE
    ).select_related("organization"):
        assignment_release(assignment=assignment, actor=actor, reason=ReleaseReason.AGENT)
    PhoneLine.objects.filter(identity=identity).update(identity=None, updated_at=timezone.now())
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="identity.delete",
        obj=identity,
        before={"handle": identity.handle},
    )
    identity.delete()


FILTER_MODES = {FilterMode.BLACKLIST.value, FilterMode.WHITELIST.value}


@transaction.atomic
def identity_filter_mode_set(
    *,
    identity: AgentIdentity,
    actor: Actor,
    inbound: str | None = None,
    outbound: str | None = None,
) -> AgentIdentity:
    """Set the identity's inbound and/or outbound filter mode (admin only at the API)."""
    for value in (inbound, outbound):
        if value is not None and value not in FILTER_MODES:
            raise ValidationFailed(f"Filter mode must be one of {sorted(FILTER_MODES)}.")
    before = {"inbound": identity.inbound_filter_mode, "outbound": identity.outbound_filter_mode}
    if inbound is not None:
        identity.inbound_filter_mode = inbound
    if outbound is not None:
        identity.outbound_filter_mode = outbound
    after = {"inbound": identity.inbound_filter_mode, "outbound": identity.outbound_filter_mode}
    if before != after:
        identity.save(update_fields=["inbound_filter_mode", "outbound_filter_mode", "updated_at"])
        audit_record(
            organization=identity.organization,
            actor=actor,
            action="identity.filter_mode_set",
            obj=identity,
            before=before,
            after=after,
        )
    return identity
