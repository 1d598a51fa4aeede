"""Messaging personas: a connected conversation over a pool line, the router, and a
recorder for the agent-webhook events messaging emits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from console.models import AgentIdentity
from messaging.models import Conversation
from messaging.services import conversation_attach
from messaging.webhooks import services as webhook_services
from provisioning.models import PhoneLine, Setup
from routing.models import Assignment
from tests.routing.factories import (
    AssignmentFactory,
    PlatformSetupFactory,
    PoolLineFactory,
    RouterLineFactory,
)

PERSON = "+12025550143"
OTHER_PERSON = "+12025550188"
ROUTER_NUMBER = "+14155557000"
POOL_NUMBER = "+14155556001"


@dataclass
class Emitted:
    event_type: str
    identity: AgentIdentity
    objects: dict[str, Any]


class EventRecorder(list[Emitted]):
    def types(self) -> list[str]:
        return [e.event_type for e in self]


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> Iterator[EventRecorder]:
    """Every `event_emit` call messaging makes (the real function still runs)."""
    recorder = EventRecorder()
    original = webhook_services.event_emit

    def spy(*, event_type: str, identity: AgentIdentity, **objects: Any) -> Any:
        recorder.append(Emitted(event_type, identity, objects))
        return original(event_type=event_type, identity=identity, **objects)

    monkeypatch.setattr(webhook_services, "event_emit", spy)
    yield recorder


@pytest.fixture
def platform_setup(db: None) -> Setup:
    return PlatformSetupFactory()


@pytest.fixture
def router(platform_setup: Setup) -> PhoneLine:
    return RouterLineFactory(setup=platform_setup, number=ROUTER_NUMBER)


@pytest.fixture
def pool_line(platform_setup: Setup) -> PhoneLine:
    return PoolLineFactory(setup=platform_setup, number=POOL_NUMBER)


@pytest.fixture
def assignment(identity: AgentIdentity, pool_line: PhoneLine) -> Assignment:
    made = AssignmentFactory(identity=identity, pool_line=pool_line, remote_number=PERSON)
    conversation_attach(made)
    return made


@pytest.fixture
def conversation(assignment: Assignment) -> Conversation:
    """The identity's conversation with PERSON, connected over the pool line."""
    return Conversation.objects.get(identity=assignment.identity, remote_number=PERSON)
