"""Shared personas and clients: an organisation with an admin key and an identity key,
and an outsider organisation, so every test can check scoping in one line."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rest_framework.test import APIClient

from console import access_tally_queue
from console.access_tally_buffer import TallyBuffer
from console.api.key_cache import KEYS
from console.models import AgentIdentity, Organization
from console.services import IssuedApiKey, api_key_create
from messaging.webhooks import events as webhook_events
from messaging.webhooks.events import SUBSCRIPTIONS_BY_VERSION
from provisioning.providers.fake import FakeProvider
from provisioning.providers.fake import fake_provider as fake_provider_instance
from provisioning.selectors import SETUPS
from tests.console.factories import AgentIdentityFactory, OrganizationFactory
from tests.realworker import require_redis

# Fails the run if any secret the suite creates shows up in a log, response or report.
pytest_plugins = ["tests.secret_scan"]


class KeyedClient(APIClient):
    """An API client that authenticates with one key and remembers it."""

    issued: IssuedApiKey


def keyed_client(issued: IssuedApiKey) -> KeyedClient:
    client = KeyedClient()
    client.credentials(HTTP_X_API_KEY=issued.raw_key)
    client.issued = issued
    return client


@pytest.fixture
def org(db: None) -> Organization:
    return OrganizationFactory(name="Riverside Clinic", slug="riverside")


@pytest.fixture
def other_org(db: None) -> Organization:
    return OrganizationFactory(name="Elsewhere Health", slug="elsewhere")


@pytest.fixture
def identity(org: Organization) -> AgentIdentity:
    return AgentIdentityFactory(organization=org, handle="nurse-bot", display_name="Nurse Bot")


@pytest.fixture
def other_identity(org: Organization) -> AgentIdentity:
    """A second identity in the same organisation."""
    return AgentIdentityFactory(organization=org, handle="billing-bot", display_name="Billing")


@pytest.fixture
def outsider_identity(other_org: Organization) -> AgentIdentity:
    return AgentIdentityFactory(organization=other_org, handle="outsider-bot")


@pytest.fixture
def admin_key(org: Organization) -> IssuedApiKey:
    return api_key_create(organization=org, label="admin")


@pytest.fixture
def identity_key(org: Organization, identity: AgentIdentity) -> IssuedApiKey:
    return api_key_create(organization=org, label="agent", identity=identity)


@pytest.fixture
def admin_client(admin_key: IssuedApiKey) -> KeyedClient:
    return keyed_client(admin_key)


@pytest.fixture
def identity_client(identity_key: IssuedApiKey) -> KeyedClient:
    return keyed_client(identity_key)


@pytest.fixture
def outsider_client(other_org: Organization) -> KeyedClient:
    return keyed_client(api_key_create(organization=other_org, label="outsider admin"))


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


class KeyClock:
    """The authentication caches' monotonic clock (API keys, webhook setups), moved by
    hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def key_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyClock]:
    """Empty API key, webhook setup and agent subscription caches whose clock stands still:
    a row a test cached stays cached until something saves a change or the test moves the
    clock, however slow the machine (query counts stay exact). Rows cached by one test never
    answer for the next."""
    clock = KeyClock()
    for cache in (KEYS, SETUPS):
        cache.clear()
        monkeypatch.setattr(cache, "clock", clock)
    SUBSCRIPTIONS_BY_VERSION.clear()
    monkeypatch.setattr(webhook_events, "_clock", clock)
    yield clock
    for cache in (KEYS, SETUPS):
        cache.clear()
    SUBSCRIPTIONS_BY_VERSION.clear()


@pytest.fixture(autouse=True)
def _media_root(settings: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    settings.MEDIA_ROOT = tmp_path_factory.mktemp("media")  # type: ignore[attr-defined]
    yield


@pytest.fixture(autouse=True)
def fake_provider() -> Iterator[FakeProvider]:
    """The in-memory provider every test talks to (settings.PROVIDER_NAME = "fake")."""
    fake_provider_instance.reset()
    yield fake_provider_instance
    fake_provider_instance.reset()


@pytest.fixture
def buffer(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TallyBuffer]:
    """The production buffer, with an interval long enough that only the test flushes."""
    settings.ACCESS_TALLY_FLUSH_SECONDS = 3600
    fresh = TallyBuffer()
    monkeypatch.setattr("console.access.TALLIES", fresh)
    yield fresh
    fresh.close()


@pytest.fixture
def tally_queue(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """The Redis tally queue on the test Redis, under keys of this test's own."""
    url = require_redis()
    settings.ACCESS_TALLY_REDIS_URL = url
    prefix = f"test:access-tally:{uuid.uuid4().hex}"
    monkeypatch.setattr(access_tally_queue, "QUEUE_KEY", prefix)
    monkeypatch.setattr(access_tally_queue, "BATCH_PREFIX", f"{prefix}:batch:")
    client = redis.Redis.from_url(url)
    yield client
    client.delete(prefix, *client.keys(f"{prefix}*"))


@pytest.fixture
def outbox_wake_channel(settings: Any) -> Iterator[redis.Redis]:
    """Outbox wake-ups on the test Redis, under a token prefix of this test's own."""
    url = require_redis()
    settings.OUTBOX_WAKE_REDIS_URL = url
    prefix = settings.OUTBOX_WAKE_KEY_PREFIX = f"test:outbox-wake:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(url)
    yield client
    if stale := client.keys(f"{prefix}*"):
        client.delete(*stale)
