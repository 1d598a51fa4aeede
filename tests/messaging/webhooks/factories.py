from __future__ import annotations

import uuid

import factory
from django.utils import timezone

from console.crypto import encrypt
from messaging.webhooks.events import dumps, event_id_new
from messaging.webhooks.models import (
    SigningKey,
    SubscriptionSetVersion,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from messaging.webhooks.signing import secret_generate
from tests.console.factories import AgentIdentityFactory

PUBLIC_URL = "https://hooks.example.com/inbox"


class SigningKeyFactory(factory.django.DjangoModelFactory[SigningKey]):
    """A signing key; the plaintext is on `secret` (a factory parameter)."""

    class Meta:
        model = SigningKey

    class Params:
        secret = factory.LazyFunction(secret_generate)

    identity = factory.SubFactory(AgentIdentityFactory)
    secret_encrypted = factory.LazyAttribute(lambda o: encrypt(o.secret))
    created_at = factory.LazyFunction(timezone.now)


class WebhookSubscriptionFactory(factory.django.DjangoModelFactory[WebhookSubscription]):
    class Meta:
        model = WebhookSubscription

    identity = factory.SubFactory(AgentIdentityFactory)
    organization = factory.LazyAttribute(lambda o: o.identity.organization)
    url = factory.Sequence(lambda n: f"https://hooks.example.com/{n}")
    event_types = factory.LazyFunction(lambda: ["imessage.received"])


class SubscriptionSetVersionFactory(factory.django.DjangoModelFactory[SubscriptionSetVersion]):
    class Meta:
        model = SubscriptionSetVersion

    identity = factory.SubFactory(AgentIdentityFactory)
    version = factory.LazyFunction(uuid.uuid4)


class WebhookEventFactory(factory.django.DjangoModelFactory[WebhookEvent]):
    class Meta:
        model = WebhookEvent

    id = factory.LazyFunction(event_id_new)
    identity = factory.SubFactory(AgentIdentityFactory)
    organization = factory.LazyAttribute(lambda o: o.identity.organization)
    event_type = "imessage.received"
    created_at = factory.LazyFunction(timezone.now)
    payload = factory.LazyAttribute(
        lambda o: {
            "id": o.id,
            "event_type": o.event_type,
            "timestamp": o.created_at.isoformat(),
            "data": {"message": None, "reaction": None, "contacts": [], "agent_identities": []},
        }
    )


class WebhookDeliveryFactory(factory.django.DjangoModelFactory[WebhookDelivery]):
    class Meta:
        model = WebhookDelivery

    subscription = factory.SubFactory(WebhookSubscriptionFactory)
    event = factory.SubFactory(
        WebhookEventFactory, identity=factory.SelfAttribute("..subscription.identity")
    )
    organization = factory.LazyAttribute(lambda o: o.subscription.organization)
    url = factory.LazyAttribute(lambda o: o.subscription.url)
    request_payload = factory.LazyAttribute(lambda o: dumps(o.event.payload))
    next_attempt_at = factory.LazyFunction(timezone.now)
