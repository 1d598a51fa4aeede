"""Listeners and services messaging provides to routing, so routing never imports messaging.

Messaging registers `connection_attach` and its media publisher here in its
AppConfig.ready(); routing calls `assignment_changed` inside the transaction that
activates or releases an assignment outside the inbound path (the inbound path returns
the change to messaging instead: see `routing.services.router.RouteResult`), and
`media_publish` to host contact cards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Protocol

from console.models import AgentIdentity
from routing.models import Assignment

AssignmentListener = Callable[[Assignment], None]
_listeners: list[AssignmentListener] = []


class MediaPublisher(Protocol):
    def __call__(
        self, *, organization_id: uuid.UUID, filename: str, content_type: str, body: bytes
    ) -> str: ...


_publishers: list[MediaPublisher] = []

OptOutCheck = Callable[[AgentIdentity, str], bool]
_opt_out_checks: list[OptOutCheck] = []


def on_assignment_changed(listener: AssignmentListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def assignment_changed(assignment: Assignment) -> None:
    for listener in _listeners:
        listener(assignment)


def on_media_publish(publisher: MediaPublisher) -> None:
    """Set the one publisher that hosts files the provider fetches (the last one wins)."""
    _publishers[:] = [publisher]


def media_publish(
    *, organization_id: uuid.UUID, filename: str, content_type: str, body: bytes
) -> str:
    """Host `body` where the provider can fetch it; returns its absolute, unguessable URL."""
    if not _publishers:
        raise RuntimeError("No media publisher is registered (is the messaging app installed?)")
    return _publishers[0](
        organization_id=organization_id, filename=filename, content_type=content_type, body=body
    )


def on_opt_out_check(check: OptOutCheck) -> None:
    """Set the one check of whether a person opted out of an identity (the last one wins)."""
    _opt_out_checks[:] = [check]


def opted_out(identity: AgentIdentity, number: str) -> bool:
    """Whether `number` opted out of `identity` (False when messaging registered no check)."""
    return any(check(identity, number) for check in _opt_out_checks)
