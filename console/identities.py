"""Identity writes: create, update, delete and filter modes, each audited.

The console core imports no app: deleting (archiving) an identity tells the apps
that hold its connections, lines and subscriptions (routing, provisioning, messaging)
through `console.hooks.identity_archiving`, and they release, detach and stop in the same
transaction; a PATCH claims and attaches
dedicated numbers through `console.hooks.dedicated_numbers()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from console import hooks
from console.errors import Conflict, Forbidden, ValidationFailed
from console.idempotency import validate_key
from console.models import AgentIdentity, ApiKey, ApiKeyStatus, FilterMode, Organization
from console.services import Actor, api_key_revoke, audit_record, save_audited

if TYPE_CHECKING:
    from provisioning.services.claims import IdentityWithClaim

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


IDENTITY_FIELDS = (
    "display_name",
    "description",
    "imessage_enabled",
    "contact_sharing_enabled",
    # What HELP/INFO answers (empty: the default text).
    "consent_help_text",
)


def identity_register(
    *,
    organization: Organization,
    actor: Actor,
    handle: str,
    values: dict[str, Any],
    idempotency_key: str | None = None,
    fingerprint: str = "",
) -> IdentityWithClaim:
    """Apply an identity create (contract §4), with its dedicated number when asked.

    `values` holds the validated body. `claim_imessage_number` accepts only true and needs
    `imessage_enabled: true`, else `ValidationFailed` naming the field; with it the
    identity is created and a number claimed once per `idempotency_key` (optional), and
    the result carries the claim's notices. Raises `HandleUnavailable` and the claim's
    errors (quota, setup, conflicts).
    """
    # Function-level: claims create identities through this module.
    from provisioning.services import claims

    claim = values.get("claim_imessage_number")
    if claim is not None and claim is not True:
        raise field_error("claim_imessage_number", "Only true is accepted.")
    if claim and not values["imessage_enabled"]:
        raise field_error("claim_imessage_number", "Requires imessage_enabled: true.")
    identity_fields = {
        "display_name": values.get("display_name"),
        "description": values.get("description"),
        "imessage_enabled": values["imessage_enabled"],
        "contact_sharing_enabled": values["contact_sharing_enabled"],
    }
    if not claim:
        identity = identity_create(
            organization=organization, actor=actor, handle=handle, **identity_fields
        )
        return claims.IdentityWithClaim(identity=identity)
    return claims.identity_create_with_number(
        organization=organization,
        actor=actor,
        handle=handle,
        identity_fields=identity_fields,
        key=None if idempotency_key is None else validate_key(idempotency_key),
        fingerprint=fingerprint,
    )


def identity_update(
    *,
    identity: AgentIdentity,
    actor: Actor,
    changes: dict[str, Any],
    filter_modes_allowed: bool,
    idempotency_key: str | None = None,
    fingerprint: str = "",
) -> AgentIdentity:
    """Apply an identity PATCH (contract §4): fields, filter modes and the dedicated number.

    `changes` holds the validated body. Filter modes need `filter_modes_allowed` (admin
    keys), else `Forbidden`. `claim_imessage_number: true` claims a dedicated number once
    per `idempotency_key` (required) before anything is written, with no transaction
    open while the provider is asked, and attaches it; `imessage_number_id` attaches an
    owned number (None detaches). Raises `ValidationFailed` naming the field for
    contradictory requests, and the claim's errors (`InventoryPending`, quota, conflicts).
    """
    claims = hooks.dedicated_numbers()
    inbound, outbound = _filter_modes(changes)
    if (inbound is not None or outbound is not None) and not filter_modes_allowed:
        raise Forbidden("Only admin keys can change filter modes.")
    claim = changes.get("claim_imessage_number")
    if claim is not None and claim is not True:
        raise field_error("claim_imessage_number", "Only true is accepted.")
    if claim and "imessage_number_id" in changes:
        raise field_error("claim_imessage_number", "Cannot be combined with imessage_number_id.")
    if claim and changes.get("imessage_enabled") is False:
        raise field_error("claim_imessage_number", "Cannot claim while disabling iMessage.")
    line: object | None = None
    if claim:
        if not idempotency_key:
            raise field_error("Idempotency-Key", "Required with claim_imessage_number.")
        line = claims.dedicated_number_claim(
            organization=identity.organization,
            actor=actor,
            key=validate_key(idempotency_key),
            scope=f"identity:{identity.id}",
            fingerprint=fingerprint,
        )
    with transaction.atomic():
        _fields_update(identity=identity, actor=actor, changes=changes)
        if inbound is not None or outbound is not None:
            identity_filter_mode_set(
                identity=identity, actor=actor, inbound=inbound, outbound=outbound
            )
        if claim:
            claims.dedicated_number_attach(identity=identity, line=line, actor=actor)
        elif "imessage_number_id" in changes:
            number_id: uuid.UUID | None = changes["imessage_number_id"]
            target = (
                claims.dedicated_line_get(organization=identity.organization, line_id=number_id)
                if number_id is not None
                else None
            )
            claims.dedicated_number_attach(identity=identity, line=target, actor=actor)
    return identity


def field_error(name: str, message: str) -> ValidationFailed:
    """A 400 naming the request field at fault."""
    return ValidationFailed(f"{name}: {message}", extra={"fields": {name: [message]}})


SHARED_MODE_FIELDS = ("imessage_filter_mode", "phone_filter_mode")
DIRECTIONAL_MODE_FIELDS = ("phone_inbound_filter_mode", "phone_outbound_filter_mode")


def _filter_modes(values: dict[str, Any]) -> tuple[str | None, str | None]:
    """Map the contract's mode keys onto (inbound, outbound).

    `imessage_filter_mode` / `phone_filter_mode` set both directions (they must agree when
    both are sent); the directional keys set one side and never mix with a shared key.
    """
    shared = {values[n] for n in SHARED_MODE_FIELDS if n in values}
    directional = [n for n in DIRECTIONAL_MODE_FIELDS if n in values]
    if len(shared) > 1:
        raise field_error("phone_filter_mode", "Must agree with imessage_filter_mode.")
    if shared and directional:
        raise field_error(directional[0], "Cannot be combined with a shared filter mode.")
    if shared:
        mode = shared.pop()
        return mode, mode
    return values.get("phone_inbound_filter_mode"), values.get("phone_outbound_filter_mode")


def _save_changed(
    identity: AgentIdentity,
    actor: Actor,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    fields: Sequence[str],
) -> None:
    """Save `fields` and audit `action` from `before` to `after`, when anything changed."""
    if before != after:
        save_audited(
            identity,
            fields,
            organization=identity.organization,
            actor=actor,
            action=action,
            before=before,
            after=after,
        )


@transaction.atomic
def _fields_update(
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
    _save_changed(identity, actor, "identity.update", before, after, IDENTITY_FIELDS)
    return identity


@transaction.atomic
def identity_archive(*, identity: AgentIdentity, actor: Actor) -> None:
    """What deleting an identity does: revoke its scoped keys, then let the apps release
    its connections, detach its lines and stop its webhook subscriptions (registered on
    `console.hooks.on_identity_archiving`), and archive the row. Conversations, messages,
    rules and the audit trail stay; the handle stays taken until an operator frees it."""
    locked = AgentIdentity.objects.select_for_update().get(pk=identity.pk)
    if locked.archived_at is not None:
        return
    for key in ApiKey.objects.filter(identity=identity, status=ApiKeyStatus.ACTIVE).select_related(
        "organization"
    ):
        api_key_revoke(key=key, actor=actor)
    hooks.identity_archiving(identity, actor)
    identity.archived_at = locked.archived_at = timezone.now()
    identity.save(update_fields=["archived_at", "updated_at"])
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="identity.archive",
        obj=identity,
        before={"handle": identity.handle},
        after={"archived": True},
    )


@transaction.atomic
def identity_handle_free(*, identity: AgentIdentity, actor: Actor) -> AgentIdentity:
    """Let a new identity take an archived identity's handle: the archived row keeps the
    handle in `released_handle` and moves to a placeholder no one can register."""
    locked = AgentIdentity.objects.select_for_update().get(pk=identity.pk)
    if locked.archived_at is None:
        raise Conflict("Only an archived identity's handle can be freed.")
    if locked.released_handle:
        return locked
    handle = locked.handle
    locked.released_handle = handle
    locked.handle = _placeholder_handle(locked)
    locked.save(update_fields=["handle", "released_handle", "updated_at"])
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="identity.handle_free",
        obj=locked,
        before={"handle": handle},
        after={"handle": locked.handle},
    )
    return locked


def _placeholder_handle(identity: AgentIdentity) -> str:
    """A handle nobody can register: handles never contain a dot."""
    return f"archived.{identity.id.hex}"


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
    fields = ["inbound_filter_mode", "outbound_filter_mode"]
    _save_changed(identity, actor, "identity.filter_mode_set", before, after, fields)
    return identity
