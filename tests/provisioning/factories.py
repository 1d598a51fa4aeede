from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import factory

from console.crypto import encrypt
from provisioning.models import (
    LineRole,
    LineState,
    NumberClaim,
    PhoneLine,
    ProviderEvent,
    Setup,
    SetupStatus,
)
from provisioning.providers.fake import fake_provider
from provisioning.services.credentials import setup_credentials, setup_webhook_secret
from tests.console.factories import OrganizationFactory


class SetupFactory(factory.django.DjangoModelFactory[Setup]):
    """A setup with encrypted credentials; the plaintext secret is `webhook_secret`."""

    class Meta:
        model = Setup
        skip_postgeneration_save = True

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

    @factory.post_generation
    def known_to_the_fake_provider(obj: Setup, create: bool, extracted: Any, **kwargs: Any) -> None:
        """The fake provider knows the account, as if the provider had created it."""
        if create and obj.credentials_encrypted:
            fake_provider.adopt(setup_credentials(obj))


class PhoneLineFactory(factory.django.DjangoModelFactory[PhoneLine]):
    """An assigned dedicated line; use `pending=True` for one awaiting placement."""

    class Meta:
        model = PhoneLine
        skip_postgeneration_save = True

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

    @factory.post_generation
    def known_to_the_fake_provider(
        obj: PhoneLine, create: bool, extracted: Any, **kwargs: Any
    ) -> None:
        """The fake provider knows the line belongs to its setup's account."""
        if create and obj.number and obj.setup.credentials_encrypted:
            fake_provider.adopt(setup_credentials(obj.setup), numbers=[obj.number])


class ProviderEventFactory(factory.django.DjangoModelFactory[ProviderEvent]):
    class Meta:
        model = ProviderEvent

    setup = factory.SubFactory(SetupFactory)
    event_key = factory.Sequence(lambda n: f"receive:handle-{n}")
    event_type = "receive"
    payload: Any = factory.LazyFunction(dict)


def setup_secret(setup: Setup) -> str:
    return setup_webhook_secret(setup)


class NumberClaimFactory(factory.django.DjangoModelFactory[NumberClaim]):
    class Meta:
        model = NumberClaim

    organization = factory.SubFactory(OrganizationFactory)
    scope = "org"
    key = factory.Sequence(lambda n: f"claim-{n}")
    request_fingerprint = ""
