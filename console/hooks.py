"""What the apps provide to the console core, so the core never imports them.

The core (tenancy, errors, API authentication, idempotency, audit) sits below every app.
Where an identity write must reach into an app, the app registers here from its
AppConfig.ready(): deleting (archiving) an identity releases its connections (routing),
detaches its lines (provisioning) and stops its webhook subscriptions (messaging) through
`identity_archiving`, and an identity PATCH claims and
attaches dedicated numbers through `dedicated_numbers()` (provisioning).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol

from console.models import AgentIdentity, Organization
from console.services import Actor

IdentityListener = Callable[[AgentIdentity, Actor], None]
_archiving: list[IdentityListener] = []


def on_identity_archiving(listener: IdentityListener) -> None:
    if listener not in _archiving:
        _archiving.append(listener)


def identity_archiving(identity: AgentIdentity, actor: Actor) -> None:
    """Tell every listener, inside the archiving transaction, before the row is marked."""
    for listener in _archiving:
        listener(identity, actor)


class DedicatedNumbers(Protocol):
    """Dedicated-number claims (`provisioning.services.claims` satisfies it as a module)."""

    def dedicated_number_claim(
        self, *, organization: Organization, actor: Actor, key: str, scope: str, fingerprint: str
    ) -> object: ...

    def dedicated_number_attach(
        self, *, identity: AgentIdentity, line: Any, actor: Actor
    ) -> object: ...

    def dedicated_line_get(self, *, organization: Organization, line_id: uuid.UUID) -> object: ...


_numbers: list[DedicatedNumbers] = []


def on_dedicated_numbers(provider: DedicatedNumbers) -> None:
    """Set the one provider of dedicated numbers (the last one wins)."""
    _numbers[:] = [provider]


def dedicated_numbers() -> DedicatedNumbers:
    if not _numbers:
        raise RuntimeError(
            "No dedicated-number provider is registered (is provisioning installed?)"
        )
    return _numbers[0]
