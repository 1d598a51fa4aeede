from __future__ import annotations

import uuid

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from console.api.authentication import hash_api_key
from console.models import (
    AccessLog,
    AccessTally,
    AccessTallyBatch,
    AgentIdentity,
    ApiKey,
    AuditEntry,
    IdempotencyRecord,
    Membership,
    Organization,
)


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Clinic {n}")
    slug = factory.Sequence(lambda n: f"clinic-{n}")


class AgentIdentityFactory(factory.django.DjangoModelFactory[AgentIdentity]):
    class Meta:
        model = AgentIdentity

    organization = factory.SubFactory(OrganizationFactory)
    handle = factory.Sequence(lambda n: f"agent-{n}")
    display_name = factory.LazyAttribute(lambda o: f"Agent {o.handle}")
    imessage_enabled = True


class ApiKeyFactory(factory.django.DjangoModelFactory[ApiKey]):
    """A key record; use `console.services.api_key_create` when the raw key is needed."""

    class Meta:
        model = ApiKey

    organization = factory.SubFactory(OrganizationFactory)
    identity = None
    label = factory.Sequence(lambda n: f"key {n}")
    key_hash = factory.Sequence(lambda n: hash_api_key(f"bw_factory_{n}"))
    display_prefix = "bw_facto"
    last4 = factory.Sequence(lambda n: f"{n:04d}"[-4:])


class UserFactory(factory.django.DjangoModelFactory):  # type: ignore[type-arg]
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = "operator"


class AuditEntryFactory(factory.django.DjangoModelFactory[AuditEntry]):
    class Meta:
        model = AuditEntry

    organization = factory.SubFactory(OrganizationFactory)
    actor_type = "system"
    actor_label = "system"
    action = "test.action"
    object_type = "Thing"
    object_id = "1"


class IdempotencyRecordFactory(factory.django.DjangoModelFactory[IdempotencyRecord]):
    class Meta:
        model = IdempotencyRecord

    organization = factory.SubFactory(OrganizationFactory)
    scope = "org"
    operation = "setup.create"
    key = factory.Sequence(lambda n: f"key-{n}")
    request_fingerprint = "0" * 64


class AccessLogFactory(factory.django.DjangoModelFactory[AccessLog]):
    class Meta:
        model = AccessLog

    organization = factory.SubFactory(OrganizationFactory)
    actor_type = "user"
    actor_id = "1"
    actor_label = "arthur"
    object_kind = "conversation"
    object_id = factory.Sequence(lambda n: f"object-{n}")
    remote_number = "+14155550199"


class AccessTallyFactory(factory.django.DjangoModelFactory[AccessTally]):
    class Meta:
        model = AccessTally

    organization = factory.SubFactory(OrganizationFactory)
    api_key_id = factory.LazyFunction(uuid.uuid4)
    key_label = "agent"
    conversation_id = factory.LazyFunction(uuid.uuid4)
    remote_number = "+14155550199"
    hour = factory.LazyFunction(lambda: timezone.now().replace(minute=0, second=0, microsecond=0))
    count = 1


class AccessTallyBatchFactory(factory.django.DjangoModelFactory[AccessTallyBatch]):
    class Meta:
        model = AccessTallyBatch

    name = factory.Sequence(lambda n: f"bluewire:access-tally:batch:20260301T090000:{n:032x}")
