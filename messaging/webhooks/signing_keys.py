"""Agent webhook signing keys: one per identity, minted or rotated, stored encrypted; the
plaintext is shown once."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from console.crypto import decrypt, encrypt
from console.models import AgentIdentity
from console.services import Actor, audit_record
from console.timestamps import iso
from messaging.webhooks.models import SigningKey
from messaging.webhooks.signing import secret_generate


@dataclass(frozen=True)
class IssuedSigningKey:
    record: SigningKey
    secret: str
    created: bool


def identity_lock(identity: AgentIdentity) -> AgentIdentity:
    # Serialises signing-key minting and the overlap check per identity.
    return AgentIdentity.objects.select_for_update().get(pk=identity.pk)


def signing_key_store(identity: AgentIdentity) -> IssuedSigningKey:
    secret = secret_generate()
    now = timezone.now()
    record = SigningKey.objects.filter(identity=identity).first()
    created = record is None
    if record is None:
        record = SigningKey.objects.create(
            identity=identity, secret_encrypted=encrypt(secret), created_at=now
        )
    else:
        record.secret_encrypted = encrypt(secret)
        record.created_at = now
        record.save(update_fields=["secret_encrypted", "created_at"])
    identity.signing_key = record
    return IssuedSigningKey(record=record, secret=secret, created=created)


@transaction.atomic
def signing_key_create_or_rotate(*, identity: AgentIdentity, actor: Actor) -> IssuedSigningKey:
    """Mint the identity's signing key, or replace it; the plaintext is returned once.

    Deliveries attempted after the commit are signed with the new key.
    """
    identity_lock(identity)
    issued = signing_key_store(identity)
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="signing_key.create" if issued.created else "signing_key.rotate",
        obj=identity,
        after={"created_at": iso(issued.record.created_at)},
    )
    return issued


def signing_key_secret(identity: AgentIdentity) -> str | None:
    record = SigningKey.objects.filter(identity=identity).first()
    return decrypt(record.secret_encrypted) if record else None
