from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import factory

from console.crypto import encrypt
from provisioning.models import LineRole, LineState, PhoneLine, ProviderEvent, Setup, SetupStatus
from tests.console.factories import OrganizationFactory


class SetupFactory(factory.django.DjangoModelFactory[Setup]):
    """A setup with encrypted credentials; the plaintext secret is `webhook_secret`."""

    class Meta:
        model = Setup

    class Params:
        webhook_secret = factory.Sequence(lambda n: f"whsec-test-{n:06d}-abcdefghijklmnop")
        key_id = factory.Sequence(lambda n: f"child-key-{n}")
        key_secret = factory.Sequence(lambda n: f"child-secret-{n}-qwertyuiop")

    organization = factory.SubFactory(OrganizationFactory)
    business_name = factory.Sequence(lambda n: f"Business {n}")
    label = factory.Sequence(lambda n: f"Setup {n}")
    provider = "fake"
    provider_account_id = factory.Sequence(lambda n: f"acct-{n}")
    primary_email = factory.Sequence(lambda n: f"setup-{n}@bluewire.test")
    status = SetupStatus.ACTIVE
    credentials_encrypted = factory.LazyAttribute(
        lambda o: encrypt(json.dumps({"key_id": o.key_id, "secret": o.key_secret}))
    )
    webhook_secret_encrypted = factory.LazyAttribute(lambda o: encrypt(o.webhook_secret))


class PhoneLineFactory(factory.django.DjangoModelFactory[PhoneLine]):
    """An assigned dedicated line; use `pending=True` for one awaiting placement."""

    class Meta:
        model = PhoneLine

    class Params:
        pending = factory.Trait(
            state=LineState.PENDING,
            number=None,
            assigned_at=None,
            provider_request_id=factory.Sequence(lambda n: str(5000 + n)),
        )

    setup = factory.SubFactory(SetupFactory)
    state = LineState.ASSIGNED
    number = factory.Sequence(lambda n: f"+1415555{2000 + n:04d}")
    role = LineRole.DEDICATED
    assigned_at = factory.Faker("date_time_this_year", tzinfo=UTC)


class ProviderEventFactory(factory.django.DjangoModelFactory[ProviderEvent]):
    class Meta:
        model = ProviderEvent

    setup = factory.SubFactory(SetupFactory)
    event_key = factory.Sequence(lambda n: f"receive:handle-{n}")
    event_type = "receive"
    payload: Any = factory.LazyFunction(dict)


def setup_secret(setup: Setup) -> str:
    from provisioning.services import setup_webhook_secret

    return setup_webhook_secret(setup)
