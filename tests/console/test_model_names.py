"""Every model has a human name (`__str__`): the audit log stores it as the object's name,
so none may read "ContactRule object (…)", and a message is never named by its content."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.db import models

from console.models import AgentIdentity
from tests.console.factories import (
    AccessLogFactory,
    AccessTallyBatchFactory,
    AccessTallyFactory,
    AgentIdentityFactory,
    ApiKeyFactory,
    AuditEntryFactory,
    IdempotencyRecordFactory,
    MembershipFactory,
    OrganizationFactory,
)
from tests.messaging.factories import (
    AfterHoursReplyFactory,
    ConsentEventFactory,
    ConversationFactory,
    LegalHoldFactory,
    MediaObjectFactory,
    MessageFactory,
    OptOutFactory,
    PersonExportFactory,
    QuietHoursFactory,
    ReactionFactory,
    RetentionRunFactory,
    SendCapBucketFactory,
)
from tests.messaging.webhooks.factories import (
    SigningKeyFactory,
    SubscriptionSetVersionFactory,
    WebhookDeliveryFactory,
    WebhookEventFactory,
    WebhookSubscriptionFactory,
)
from tests.provisioning.factories import (
    NumberClaimFactory,
    PhoneLineFactory,
    ProviderEventFactory,
    SetupFactory,
)
from tests.routing.factories import (
    AssignmentFactory,
    ContactRuleFactory,
    PoolExhaustionFactory,
    RouterReplyFactory,
)

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("console", "provisioning", "routing", "messaging", "webhooks")

FACTORIES: dict[str, Callable[..., Any]] = {
    "Organization": OrganizationFactory,
    "AgentIdentity": AgentIdentityFactory,
    "ApiKey": ApiKeyFactory,
    "Membership": MembershipFactory,
    "IdempotencyRecord": IdempotencyRecordFactory,
    "AuditEntry": AuditEntryFactory,
    "AccessLog": AccessLogFactory,
    "AccessTally": AccessTallyFactory,
    "AccessTallyBatch": AccessTallyBatchFactory,
    "Setup": SetupFactory,
    "PhoneLine": PhoneLineFactory,
    "ProviderEvent": ProviderEventFactory,
    "NumberClaim": NumberClaimFactory,
    "ContactRule": ContactRuleFactory,
    "Assignment": AssignmentFactory,
    "RouterReply": RouterReplyFactory,
    "PoolExhaustion": PoolExhaustionFactory,
    "Conversation": ConversationFactory,
    "Message": MessageFactory,
    "Reaction": ReactionFactory,
    "SendCapBucket": SendCapBucketFactory,
    "MediaObject": MediaObjectFactory,
    "LegalHold": LegalHoldFactory,
    "RetentionRun": RetentionRunFactory,
    "PersonExport": PersonExportFactory,
    "QuietHours": QuietHoursFactory,
    "AfterHoursReply": AfterHoursReplyFactory,
    "ConsentEvent": ConsentEventFactory,
    "OptOut": OptOutFactory,
    "SigningKey": SigningKeyFactory,
    "SubscriptionSetVersion": SubscriptionSetVersionFactory,
    "WebhookSubscription": WebhookSubscriptionFactory,
    "WebhookEvent": WebhookEventFactory,
    "WebhookDelivery": WebhookDeliveryFactory,
}


def project_models() -> list[type[models.Model]]:
    return [model for label in PROJECT_APPS for model in apps.get_app_config(label).get_models()]


def test_every_project_model_has_a_factory_here() -> None:
    assert {model.__name__ for model in project_models()} == set(FACTORIES)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_every_model_has_a_human_name(name: str) -> None:
    obj = FACTORIES[name]()
    text = str(obj)
    assert text.strip()
    assert "object (" not in text
    assert str(obj.pk) not in text or not isinstance(obj.pk, uuid.UUID)


def test_a_contact_rule_is_named_by_number_action_direction_and_identity(
    identity: AgentIdentity,
) -> None:
    rule = ContactRuleFactory(
        identity=identity, match_target="+14155550199", action="block", direction="inbound"
    )
    assert str(rule) == "+1 415-555-0199 (block, inbound) on @nurse-bot"


def test_an_assigned_line_is_named_by_its_formatted_number() -> None:
    assert str(PhoneLineFactory(number="+14155550123")) == "+1 415-555-0123"


def test_a_pending_line_is_named_by_its_setup() -> None:
    line = PhoneLineFactory(pending=True, setup__label="Riverside main")
    assert str(line) == "pending line (Riverside main)"


def test_a_message_is_named_by_its_sender_and_identity_never_its_content(
    identity: AgentIdentity,
) -> None:
    message = MessageFactory(
        conversation__identity=identity,
        conversation__remote_number="+14155550199",
        content="my knee hurts",
    )
    assert str(message) == "message from +1 415-555-0199 on @nurse-bot"


def test_an_outbound_message_is_named_by_its_recipient(identity: AgentIdentity) -> None:
    message = MessageFactory(
        conversation__identity=identity,
        conversation__remote_number="+14155550199",
        direction="outbound",
    )
    assert str(message) == "message to +1 415-555-0199 from @nurse-bot"


def test_a_connection_is_named_by_the_person_and_identity(identity: AgentIdentity) -> None:
    assignment = AssignmentFactory(identity=identity, remote_number="+14155550199")
    assert str(assignment) == "connection of +1 415-555-0199 to @nurse-bot"
