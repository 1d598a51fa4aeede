"""A console with something on every page, built from the factories: the layout and
screenshot tests walk it. Values are long on purpose (numbers, URLs, errors, audit diffs)
so a page that only fits with short values is caught."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from console.models import AgentIdentity, Organization
from messaging.models import Conversation, Message
from messaging.webhooks.models import WebhookDelivery
from provisioning.models import Setup
from tests.console.factories import AgentIdentityFactory, AuditEntryFactory
from tests.messaging.factories import (
    ConversationFactory,
    LegalHoldFactory,
    MessageFactory,
    RetentionRunFactory,
)
from tests.messaging.webhooks.factories import WebhookDeliveryFactory, WebhookSubscriptionFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory
from tests.routing.factories import (
    AssignmentFactory,
    ContactRuleFactory,
    PoolLineFactory,
    RouterLineFactory,
)

LONG_TEXT = (
    "Hi, this is about my appointment next Tuesday. The pharmacy said the prescription "
    "needs a new authorisation before they can refill it, and I am nearly out. "
    "Could someone call me back this afternoon? https://example.com/a/very/long/link/"
    "that-does-not-break-anywhere-without-help-0123456789abcdef"
)
CHART_DAYS = 14


@dataclass(frozen=True)
class Workbench:
    """The objects whose pages have an address of their own."""

    identity: AgentIdentity
    setup: Setup
    conversation: Conversation
    blocked: Message
    delivery: WebhookDelivery


def _conversation(identity: AgentIdentity, remote_number: str) -> Conversation:
    """A connected conversation over a pool line, with traffic on most of the last 14 days."""
    assignment = AssignmentFactory(identity=identity, remote_number=remote_number)
    conversation = ConversationFactory(
        identity=identity,
        remote_number=remote_number,
        assignment=assignment,
        line=assignment.pool_line,
    )
    now = timezone.now()
    for day in range(CHART_DAYS):
        at = now - timedelta(days=day, hours=2)
        for n in range(1 + (day * 7) % 5):
            MessageFactory(conversation=conversation, created_at=at - timedelta(minutes=n))
        if day % 3 == 0:
            MessageFactory(conversation=conversation, direction="outbound", created_at=at)
    MessageFactory(conversation=conversation, content=LONG_TEXT)
    MessageFactory(conversation=conversation, direction="outbound", content=LONG_TEXT)
    return conversation


def _blocked(identity: AgentIdentity) -> Message:
    rule = ContactRuleFactory(identity=identity, match_target="+14155550199", action="block")
    conversation = ConversationFactory(identity=identity, remote_number=rule.match_target)
    now = timezone.now()
    for day in (0, 1, 4):
        MessageFactory(
            conversation=conversation,
            is_blocked=True,
            blocked_rule_id=rule.id,
            content=LONG_TEXT,
            created_at=now - timedelta(days=day, hours=1),
        )
    blocked: Message = MessageFactory(
        conversation=conversation, is_blocked=True, blocked_rule_id=rule.id, content=LONG_TEXT
    )
    return blocked


def _deliveries(identity: AgentIdentity) -> WebhookDelivery:
    subscription = WebhookSubscriptionFactory(
        identity=identity,
        url="https://hooks.example-clinic-with-a-long-domain-name.com/bluewire/inbound/"
        "events?tenant=riverside-clinic-main-campus",
    )
    WebhookDeliveryFactory(subscription=subscription, status="succeeded", response_status=200)
    return WebhookDeliveryFactory(
        subscription=subscription,
        status="failed",
        attempt_count=8,
        response_status=502,
        error_detail="HTTP 502 from the receiver after 10.0 s: upstream connect error or "
        "disconnect/reset before headers. reset reason: connection termination",
    )


def _audit(organization: Organization) -> None:
    AuditEntryFactory(
        organization=organization,
        actor_type="user",
        actor_label="olivia.operator@riverside-clinic.example.com",
        action="contact_rule.update",
        object_type="ContactRule",
        object_repr="+14155550199 (block, inbound) on @nurse-bot",
        before={"status": "active", "direction": "both", "action": "block"},
        after={"status": "paused", "direction": "inbound", "action": "block"},
    )
    AuditEntryFactory(
        organization=organization,
        actor_type="api_key",
        actor_label="production deploy key",
        action="line.role",
        object_type="PhoneLine",
        object_repr="+14155552001",
        before={"role": "dedicated"},
        after={"role": "pool"},
    )


def workbench_seed(organization: Organization) -> Workbench:
    identity = AgentIdentityFactory(
        organization=organization, handle="nurse-bot", display_name="Nurse Bot"
    )
    AgentIdentityFactory(
        organization=organization,
        handle="after-hours-triage-assistant",
        display_name="After-hours Triage Assistant (Riverside Main Campus)",
    )
    setup = SetupFactory(
        organization=organization,
        label="riverside-main-campus",
        business_name="Riverside Clinic, Main Campus and Outpatient Services",
    )
    PhoneLineFactory(setup=setup, identity=identity)
    PhoneLineFactory(setup=setup, pending=True)
    PhoneLineFactory(setup=setup, pending=True, role="pool")
    RouterLineFactory()
    PoolLineFactory()
    ContactRuleFactory(identity=identity, match_target="+12025550147", action="allow")
    conversation = _conversation(identity, "+12025550101")
    _conversation(identity, "+12025550102")
    blocked = _blocked(identity)
    delivery = _deliveries(identity)
    _audit(organization)
    LegalHoldFactory(organization=organization, remote_number="+12025550101")
    RetentionRunFactory(organization=organization, messages_redacted=1520, messages_held=12)
    return Workbench(
        identity=identity,
        setup=setup,
        conversation=conversation,
        blocked=blocked,
        delivery=delivery,
    )
