"""Tenancy reads, always scoped to the caller's organisation (and identity for scoped keys)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from console.errors import NotFound
from console.models import AgentIdentity, ApiKey

IDENTITY_NOT_FOUND = "Identity not found."


def normalize_handle(handle: str) -> str:
    """Strip one leading `@` and lowercase; the SDK allows `@handle`."""
    handle = handle.strip()
    if handle.startswith("@"):
        handle = handle[1:]
    return handle.lower()


def identity_list_for_key(*, key: ApiKey) -> QuerySet[AgentIdentity]:
    qs = AgentIdentity.objects.filter(organization_id=key.organization_id)
    if key.identity_id is not None:
        qs = qs.filter(id=key.identity_id)
    return qs


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
