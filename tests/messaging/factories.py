from __future__ import annotations

from datetime import time

import factory
from django.utils import timezone

from messaging.models import (
    AfterHoursReply,
    ConsentEvent,
    Conversation,
    HoldKind,
    LegalHold,
    MediaObject,
    Message,
    OptOut,
    PersonExport,
    QuietHours,
    Reaction,
    RetentionRun,
    SendCapBucket,
)
from tests.console.factories import AgentIdentityFactory


class ConversationFactory(factory.django.DjangoModelFactory[Conversation]):
    """A conversation; pass `assignment=` and `line=` for a connected one."""

    class Meta:
        model = Conversation

    identity = factory.SubFactory(AgentIdentityFactory)
    organization = factory.LazyAttribute(lambda o: o.identity.organization)
    remote_number = factory.Sequence(lambda n: f"+1202555{3000 + n % 5000:04d}")
    last_message_at = factory.LazyFunction(timezone.now)


class MessageFactory(factory.django.DjangoModelFactory[Message]):
    """An inbound message (the common case); pass direction="outbound" for ours."""

    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    identity = factory.LazyAttribute(lambda o: o.conversation.identity)
    organization = factory.LazyAttribute(lambda o: o.conversation.organization)
    assignment = factory.LazyAttribute(lambda o: o.conversation.assignment)
    line = factory.LazyAttribute(lambda o: o.conversation.line)
    remote_number = factory.LazyAttribute(lambda o: o.conversation.remote_number)
    direction = "inbound"
    content = factory.Sequence(lambda n: f"message {n}")
    status = factory.LazyAttribute(lambda o: "received" if o.direction == "inbound" else "sent")
    provider_handle = factory.Sequence(lambda n: f"handle-{n:08d}")
    created_at = factory.LazyFunction(timezone.now)


class ReactionFactory(factory.django.DjangoModelFactory[Reaction]):
    class Meta:
        model = Reaction

    message = factory.SubFactory(MessageFactory)
    organization = factory.LazyAttribute(lambda o: o.message.organization)
    identity = factory.LazyAttribute(lambda o: o.message.identity)
    conversation = factory.LazyAttribute(lambda o: o.message.conversation)
    remote_number = factory.LazyAttribute(lambda o: o.message.remote_number)
    direction = "outbound"
    reaction = "love"


class MediaObjectFactory(factory.django.DjangoModelFactory[MediaObject]):
    class Meta:
        model = MediaObject

    organization = factory.SubFactory("tests.console.factories.OrganizationFactory")
    file = factory.django.FileField(filename="photo.jpg", data=b"\xff\xd8\xff fake jpeg")
    content_type = "image/jpeg"
    size = 14
    sha256 = "0" * 64


class SendCapBucketFactory(factory.django.DjangoModelFactory[SendCapBucket]):
    """An hour's count as the triggers keep it (for tests of what reads it)."""

    class Meta:
        model = SendCapBucket

    identity = factory.SubFactory(AgentIdentityFactory)
    starts_at = factory.LazyFunction(
        lambda: timezone.now().replace(minute=0, second=0, microsecond=0)
    )
    sends = 1


class LegalHoldFactory(factory.django.DjangoModelFactory[LegalHold]):
    """A hold on a person's number; pass kind= with conversation= or identity= for others."""

    class Meta:
        model = LegalHold

    organization = factory.SubFactory("tests.console.factories.OrganizationFactory")
    kind = HoldKind.NUMBER
    remote_number = "+12025550100"
    reason = "Litigation hold requested by counsel"
    placed_by = "olivia"


class RetentionRunFactory(factory.django.DjangoModelFactory[RetentionRun]):
    class Meta:
        model = RetentionRun

    organization = factory.SubFactory("tests.console.factories.OrganizationFactory")
    cutoff = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyFunction(timezone.now)


class PersonExportFactory(factory.django.DjangoModelFactory[PersonExport]):
    """A queued record export; pass status="ready" with file= for a downloadable one."""

    class Meta:
        model = PersonExport

    organization = factory.SubFactory("tests.console.factories.OrganizationFactory")
    remote_number = "+12025550100"
    reason = "Patient asked for their record"
    requested_by = "olivia"


class QuietHoursFactory(factory.django.DjangoModelFactory[QuietHours]):
    """Quiet hours 21:00-08:00 (crossing midnight) with a Berlin fallback zone."""

    class Meta:
        model = QuietHours

    identity = factory.SubFactory(AgentIdentityFactory)
    start = time(21, 0)
    end = time(8, 0)
    timezone = "Europe/Berlin"
    auto_reply = ""


class ConsentEventFactory(factory.django.DjangoModelFactory[ConsentEvent]):
    """An opt-out texted to an identity; pass kind="opt_in" or source="operator"."""

    class Meta:
        model = ConsentEvent

    identity = factory.SubFactory(AgentIdentityFactory)
    organization = factory.LazyAttribute(lambda o: o.identity.organization if o.identity else None)
    remote_number = factory.Sequence(lambda n: f"+1202555{6000 + n % 3000:04d}")
    kind = "opt_out"
    source = "keyword"
    keyword = "STOP"


class OptOutFactory(factory.django.DjangoModelFactory[OptOut]):
    """A person opted out of an identity now (with the ledger event that did it)."""

    class Meta:
        model = OptOut

    event = factory.SubFactory(ConsentEventFactory)
    identity = factory.LazyAttribute(lambda o: o.event.identity)
    organization = factory.LazyAttribute(lambda o: o.event.organization)
    remote_number = factory.LazyAttribute(lambda o: o.event.remote_number)


class AfterHoursReplyFactory(factory.django.DjangoModelFactory[AfterHoursReply]):
    class Meta:
        model = AfterHoursReply

    identity = factory.SubFactory(AgentIdentityFactory)
    remote_number = factory.Sequence(lambda n: f"+1202555{7000 + n % 3000:04d}")
    period_start = factory.LazyFunction(timezone.now)
