"""Messaging personas: a connected conversation over a pool line, the router, and a
recorder for the agent-webhook events messaging emits."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from console.models import AgentIdentity
from messaging import media
from messaging.models import Conversation
from messaging.services.conversations import conversation_attach
from messaging.webhooks import events as webhook_events
from messaging.webhooks import safety
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
    """Every event messaging builds, through `event_emit` or beside its own insert (the
    inbound message's): `event_build` serves both (the real function still runs). On
    PostgreSQL an inbound message's event is built before its insert, so one whose message
    lost a handle race is recorded here though nothing was stored: count stored rows there."""
    recorder = EventRecorder()
    original = webhook_events.event_build

    def spy(*, event_type: str, identity: AgentIdentity, **objects: Any) -> Any:
        recorder.append(Emitted(event_type, identity, objects))
        return original(event_type=event_type, identity=identity, **objects)

    monkeypatch.setattr(webhook_events, "event_build", spy)
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


PUBLIC_ADDRESS = "93.184.216.34"


@dataclass
class Cdn:
    """A fake CDN over httpx.MockTransport, behind a fake resolver.

    Set `responses[url]` (by the URL as written, host name included); `dns[host]` changes
    what a name resolves to (everything else is PUBLIC_ADDRESS); `requests` records what
    was actually requested: (URL connected to, Host header).
    """

    responses: dict[str, httpx.Response] = field(default_factory=dict)
    dns: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __setitem__(self, url: str, response: httpx.Response) -> None:
        self.responses[url] = response

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.headers["host"]
        self.requests.append((str(request.url), host))
        url = f"{request.url.scheme}://{host}{request.url.raw_path.decode()}"
        return self.responses.get(url, httpx.Response(404))


@pytest.fixture
def cdn(monkeypatch: pytest.MonkeyPatch) -> Cdn:
    fake = Cdn()

    def resolve(host: str, port: int) -> list[safety.IPAddress]:
        return [ipaddress.ip_address(a) for a in fake.dns.get(host, [PUBLIC_ADDRESS])]

    monkeypatch.setattr(safety, "resolve_host", resolve)
    monkeypatch.setattr(media, "transport_factory", lambda: httpx.MockTransport(fake.handle))
    return fake
