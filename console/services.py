"""Tenancy writes: organisations, identities, API keys and audit entries."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.text import slugify

from console.api.authentication import hash_api_key
from console.errors import Forbidden, NotFound
from console.models import (
    AgentIdentity,
    ApiKey,
    ApiKeyStatus,
    AuditEntry,
    Organization,
)

API_KEY_PREFIX = "bw_"


@dataclass(frozen=True)
class Actor:
    """Who made a change, for the audit log."""

    type: str  # "user" | "api_key" | "system"
    id: str
    label: str

    @classmethod
    def system(cls) -> Actor:
        return cls(type="system", id="", label="system")

    @classmethod
    def for_api_key(cls, key: ApiKey) -> Actor:
        return cls(type="api_key", id=str(key.id), label=f"API key {key.label}")


@dataclass(frozen=True)
class IssuedApiKey:
    record: ApiKey
    raw_key: str


def organization_create(*, name: str, slug: str | None = None) -> Organization:
    base = slugify(slug or name)[:70] or "org"
    candidate = base
    suffix = 1
    while Organization.objects.filter(slug=candidate).exists():
        suffix += 1
        candidate = f"{base}-{suffix}"
    return Organization.objects.create(name=name, slug=candidate)


def api_key_create(
    *,
    organization: Organization,
    label: str,
    identity: AgentIdentity | None = None,
    description: str | None = None,
    created_by: str = "console",
    creator_type: str = "human",
) -> IssuedApiKey:
    if identity is not None and identity.organization_id != organization.id:
        raise NotFound("Identity not found.")
    raw_key = f"{API_KEY_PREFIX}{secrets.token_urlsafe(32)}"
    record = ApiKey.objects.create(
        organization=organization,
        identity=identity,
        label=label,
        description=description,
        key_hash=hash_api_key(raw_key),
        display_prefix=raw_key[:8],
        last4=raw_key[-4:],
        created_by=created_by,
        creator_type=creator_type,
    )
    return IssuedApiKey(record=record, raw_key=raw_key)


def api_key_create_by_caller(
    *,
    caller: ApiKey,
    label: str,
    scoped_identity: AgentIdentity | None,
    description: str | None,
) -> IssuedApiKey:
    """Admin keys mint identity-scoped keys only; admin keys come from the console."""
    if not caller.is_admin:
        raise Forbidden("Identity-scoped keys cannot mint API keys.")
    if scoped_identity is None:
        raise Forbidden("Admin keys can only mint identity-scoped keys (scoped_identity_id).")
    issued = api_key_create(
        organization=caller.organization,
        label=label,
        identity=scoped_identity,
        description=description,
        created_by=f"ApiKey_{caller.id}",
        creator_type="agent",
    )
    audit_record(
        organization=caller.organization,
        actor=Actor.for_api_key(caller),
        action="api_key.create",
        obj=issued.record,
        after={"label": label, "scoped_identity_id": str(scoped_identity.id)},
    )
    return issued


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    if key.status == ApiKeyStatus.REVOKED:
        return key
    key.status = ApiKeyStatus.REVOKED
    key.revoked_at = timezone.now()
    save_audited(
        key,
        ["status", "revoked_at"],
        organization=key.organization,
        actor=actor,
        action="api_key.revoke",
        before={"status": "active"},
        after={"status": "revoked"},
    )
    return key


def audit_record(
    *,
    organization: Organization,
    actor: Actor,
    action: str,
    obj: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        organization=organization,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label[:255],
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "pk", "")),
        object_repr=str(obj)[:255],
        before=before,
        after=after,
    )


def save_audited(
    obj: Model,
    fields: Sequence[str],
    *,
    organization: Organization,
    actor: Actor,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """Save `fields` of `obj` (with its `updated_at`) and audit `action` from `before` to
    `after`."""
    obj.save(update_fields=[*fields, "updated_at"])
    audit_record(
        organization=organization, actor=actor, action=action, obj=obj, before=before, after=after
    )
