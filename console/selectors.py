"""Tenancy and audit reads, always scoped to the caller's organisation (and identity for
scoped keys)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from console.errors import NotFound
from console.models import AccessLog, AccessTally, AgentIdentity, ApiKey, AuditEntry
from console.scope import Scope, local_days_q, scoped_get

IDENTITY_NOT_FOUND = "Identity not found."


def normalize_handle(handle: str) -> str:
    """Strip one leading `@` and lowercase; the SDK allows `@handle`."""
    handle = handle.strip()
    if handle.startswith("@"):
        handle = handle[1:]
    return handle.lower()


def identity_list_for_key(*, key: ApiKey) -> QuerySet[AgentIdentity]:
    """The identities a key may address; an archived (deleted) identity is gone for agents."""
    return Scope.for_api_key(key).filter(AgentIdentity.objects.live(), identity="id")


def identity_get_for_key(*, key: ApiKey, handle: str) -> AgentIdentity:
    """The identity a key may address by handle; foreign or unknown handles are 404."""
    identity = identity_list_for_key(key=key).filter(handle=normalize_handle(handle)).first()
    if identity is None:
        raise NotFound(IDENTITY_NOT_FOUND)
    return identity


def identity_get_by_id_for_key(*, key: ApiKey, identity_id: uuid.UUID) -> AgentIdentity:
    identity = identity_list_for_key(key=key).filter(id=identity_id).first()
    if identity is None:
        raise NotFound(IDENTITY_NOT_FOUND)
    return identity


def acting_identity_for_key(
    *, key: ApiKey, agent_identity_id: uuid.UUID | None
) -> AgentIdentity | None:
    """The identity an iMessage call acts for.

    Scoped keys always act as their own identity (the parameter is ignored); admin keys
    narrow by `agent_identity_id` when given, else act organisation-wide (None).
    """
    if not key.is_admin:
        return key.identity
    if agent_identity_id is None:
        return None
    return identity_get_by_id_for_key(key=key, identity_id=agent_identity_id)


def identity_get_for_scope(*, scope: Scope, handle: str) -> AgentIdentity:
    return scoped_get(
        scope.filter(AgentIdentity.objects.select_related("organization"), identity="id"),
        not_found=IDENTITY_NOT_FOUND,
        handle=handle,
    )


def identity_handle_list(*, scope: Scope) -> list[str]:
    return list(
        scope.filter(AgentIdentity.objects.all(), identity="id")
        .values_list("handle", flat=True)
        .order_by("handle")
    )


def identity_search(*, scope: Scope, text: str, limit: int) -> list[AgentIdentity]:
    """Identities whose handle (`@` optional) or display name contains `text`."""
    handle = normalize_handle(text)
    return list(
        scope.filter(AgentIdentity.objects.select_related("organization"), identity="id")
        .filter(Q(handle__contains=handle) | Q(display_name__icontains=text.strip()))
        .order_by("handle")[:limit]
    )


# --- Audit log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    object_type: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def audit_entry_list(*, scope: Scope, filters: AuditFilters) -> QuerySet[AuditEntry]:
    qs = scope.filter(AuditEntry.objects.select_related("organization"))
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.actor:
        qs = qs.filter(actor_label__icontains=filters.actor)
    if filters.object_type:
        qs = qs.filter(object_type__iexact=filters.object_type)
    qs = qs.filter(local_days_q(filters.date_from, filters.date_to))
    return qs.order_by("-created_at", "-id")


def audit_action_list(*, scope: Scope) -> list[str]:
    return list(
        scope.filter(AuditEntry.objects.all())
        .values_list("action", flat=True)
        .distinct()
        .order_by("action")
    )


def audit_object_type_list(*, scope: Scope) -> list[str]:
    """The object types the viewer's audit entries name, for the filter's list."""
    return list(
        scope.filter(AuditEntry.objects.all())
        .values_list("object_type", flat=True)
        .distinct()
        .order_by("object_type")
    )


@dataclass(frozen=True)
class AccessFilters:
    """The access log's filters: part of the viewer's name, digits of the person's number
    and whole local days."""

    user: str = ""
    number: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def access_log_list(*, scope: Scope, filters: AccessFilters) -> QuerySet[AccessLog]:
    qs = scope.filter(AccessLog.objects.all())
    if filters.user:
        qs = qs.filter(actor_label__icontains=filters.user)
    if filters.number:
        qs = qs.filter(remote_number__contains=filters.number)
    qs = qs.filter(local_days_q(filters.date_from, filters.date_to))
    return qs.order_by("-created_at", "-id")


def access_tally_list(*, scope: Scope, filters: AccessFilters) -> QuerySet[AccessTally]:
    """Hourly counts of identity-scoped keys reading their conversations, same filters (the
    key's name stands for the user)."""
    qs = scope.filter(AccessTally.objects.all())
    if filters.user:
        qs = qs.filter(key_label__icontains=filters.user)
    if filters.number:
        qs = qs.filter(remote_number__contains=filters.number)
    qs = qs.filter(local_days_q(filters.date_from, filters.date_to, field="hour"))
    return qs.order_by("-hour", "-id")
