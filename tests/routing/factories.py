from __future__ import annotations

import factory

from routing.models import (
    Assignment,
    ContactRule,
    PoolExhaustion,
    ReplyKind,
    RouterReply,
)
from tests.console.factories import AgentIdentityFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory


class PlatformSetupFactory(SetupFactory):
    is_platform = True


class PoolLineFactory(PhoneLineFactory):
    setup = factory.SubFactory(PlatformSetupFactory)
    role = "pool"
    number = factory.Sequence(lambda n: f"+1415555{6000 + n:04d}")


class RouterLineFactory(PhoneLineFactory):
    setup = factory.SubFactory(PlatformSetupFactory)
    role = "router"
    number = factory.Sequence(lambda n: f"+1415555{7000 + n:04d}")


class ContactRuleFactory(factory.django.DjangoModelFactory[ContactRule]):
    class Meta:
        model = ContactRule

    identity = factory.SubFactory(AgentIdentityFactory)
    action = "block"
    match_type = "exact_number"
    match_target = factory.Sequence(lambda n: f"+1202555{n % 10000:04d}")
    direction = "both"


class AssignmentFactory(factory.django.DjangoModelFactory[Assignment]):
    class Meta:
        model = Assignment

    identity = factory.SubFactory(AgentIdentityFactory)
    organization = factory.LazyAttribute(lambda o: o.identity.organization)
    remote_number = factory.Sequence(lambda n: f"+1202555{n % 10000:04d}")
    pool_line = factory.SubFactory(PoolLineFactory)


class RouterReplyFactory(factory.django.DjangoModelFactory[RouterReply]):
    class Meta:
        model = RouterReply

    line = factory.SubFactory(RouterLineFactory)
    to_number = factory.Sequence(lambda n: f"+1202555{n % 10000:04d}")
    kind = ReplyKind.HELP
    text = "help"


class PoolExhaustionFactory(factory.django.DjangoModelFactory[PoolExhaustion]):
    class Meta:
        model = PoolExhaustion

    identity = factory.SubFactory(AgentIdentityFactory)
    remote_number = factory.Sequence(lambda n: f"+1202555{n % 10000:04d}")
    reason = "person"
