"""The provider intake acts only on what the authenticating setup owns.

Organisation A talks to a person over a platform pool line and over its own dedicated line;
organisation B has a setup of its own. B's valid secret aimed at anything of A's (a line, a
message handle) is answered 200 and recorded `rejected_foreign`, and changes nothing: no
message, status change, tapback, webhook event, router reply, assignment, line change or
audit entry. The same event signed by the owner works. Runs on PostgreSQL in CI.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client

from console.models import AuditEntry
from messaging.models import Conversation, Message, Reaction
from messaging.webhooks.models import WebhookDelivery, WebhookEvent
from provisioning.models import PhoneLine, ProviderEvent, ProviderEventStatus, Setup
from routing.models import Assignment, RouterReply
from tests.messaging.conftest import PERSON, POOL_NUMBER
from tests.messaging.factories import MessageFactory
from tests.messaging.webhooks.factories import SigningKeyFactory, WebhookSubscriptionFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret
from tests.routing.factories import RouterLineFactory

pytestmark = pytest.mark.django_db

DEDICATED_NUMBER = "+14155552901"
ROUTER_NUMBER = "+14155557901"
B_NUMBER = "+14155553901"


@pytest.fixture
def a_dedicated(identity: Any) -> PhoneLine:
    """A's own setup and its dedicated line, attached to A's identity."""
    return PhoneLineFactory(
        setup=SetupFactory(organization=identity.organization),
        identity=identity,
        number=DEDICATED_NUMBER,
    )


@pytest.fixture
def b_setup(other_org: Any) -> Setup:
    """Organisation B's clinic setup with its own dedicated line."""
    setup = SetupFactory(organization=other_org)
    PhoneLineFactory(setup=setup, number=B_NUMBER)
    return setup


@pytest.fixture
def a_world(identity: Any, conversation: Conversation, a_dedicated: PhoneLine) -> dict[str, Any]:
    """A's subscriptions, one outbound message per line with a handle, and the router."""
    SigningKeyFactory(identity=identity)
    WebhookSubscriptionFactory(
        identity=identity,
        event_types=[
            "imessage.received",
            "imessage.reaction_received",
            "imessage.sent",
            "imessage.delivered",
            "imessage.delivery_failed",
        ],
    )
    on_pool = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="sent",
        service="imessage",
        provider_handle="a-pool-handle",
    )
    router = RouterLineFactory(setup=conversation.line.setup, number=ROUTER_NUMBER)
    return {"on_pool": on_pool, "router": router}


def post(client: Client, setup: Setup, event_type: str, body: dict[str, Any]) -> Any:
    return client.post(
        f"/api/v1/provider-webhooks/{setup.id}/{event_type}",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=setup_secret(setup),
    )


def receive_body(*, to: str, handle: str, content: str = "my knee hurts", **extra: Any) -> dict:
    return {
        "content": content,
        "is_outbound": False,
        "status": "RECEIVED",
        "message_handle": handle,
        "date_sent": "2026-01-05T10:01:00.000Z",
        "from_number": PERSON,
        "number": PERSON,
        "to_number": to,
        "sendblue_number": to,
        "media_url": "",
        "message_type": "message",
        "group_id": "",
        "service": "iMessage",
        **extra,
    }


def status_body(handle: str) -> dict[str, Any]:
    return {
        "content": "",
        "is_outbound": True,
        "status": "ERROR",
        "error_code": "10001",
        "error_message": "failed",
        "message_handle": handle,
        "from_number": POOL_NUMBER,
        "number": PERSON,
        "to_number": PERSON,
        "service": "SMS",
        "was_downgraded": True,
    }


def reaction_body(*, to: str, target: str) -> dict[str, Any]:
    return receive_body(
        to=to, handle="tapback-1", content="", reaction="love", associated_message_handle=target
    )


def typing_body(line: str) -> dict[str, Any]:
    return {"number": PERSON, "from_number": line, "is_typing": True}


def line_assigned_body(number: str) -> dict[str, Any]:
    return {"type": "line_assigned", "number": number, "assigned_at": "2026-01-05T10:00:00Z"}


def line_blocked_body(number: str) -> dict[str, Any]:
    return {"type": "line_blocked", "number": number, "reason": "carrier"}


def snapshot() -> dict[str, Any]:
    """Everything an event could change, outside the provider event table."""
    return {
        "messages": list(
            Message.objects.order_by("id").values_list(
                "id", "status", "service", "was_downgraded", "error_code", "send_state"
            )
        ),
        "reactions": list(Reaction.objects.values_list("id", "is_live")),
        "conversations": list(
            Conversation.objects.order_by("id").values_list(
                "id", "line_id", "assignment_id", "last_message_at"
            )
        ),
        "assignments": list(Assignment.objects.values_list("id", "status")),
        "events": WebhookEvent.objects.count(),
        "deliveries": WebhookDelivery.objects.count(),
        "replies": RouterReply.objects.count(),
        "audit": AuditEntry.objects.count(),
        "lines": list(
            PhoneLine.objects.order_by("id").values_list("id", "state", "number", "blocked_at")
        ),
    }


def foreign_cases(a_world: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("receive", "receive", receive_body(to=POOL_NUMBER, handle="foreign-receive-pool")),
        ("receive", "receive", receive_body(to=DEDICATED_NUMBER, handle="foreign-receive-ded")),
        (
            "receive",
            "receive",
            receive_body(to=ROUTER_NUMBER, handle="foreign-router", content="connect @nurse-bot"),
        ),
        ("outbound", "outbound", status_body("a-pool-handle")),
        ("reaction", "receive", reaction_body(to=B_NUMBER, target="a-pool-handle")),
        ("typing", "typing_indicator", typing_body(POOL_NUMBER)),
        ("line_assigned", "line_assigned", line_assigned_body(DEDICATED_NUMBER)),
        ("line_blocked", "line_blocked", line_blocked_body(DEDICATED_NUMBER)),
        ("line_blocked", "line_blocked", line_blocked_body(POOL_NUMBER)),
    ]


CASE_IDS = [
    "receive-on-pool-line",
    "receive-on-dedicated-line",
    "connect-on-router-line",
    "status-callback-on-message",
    "reaction-on-message",
    "typing-on-pool-line",
    "line-assigned-with-number",
    "line-blocked-dedicated",
    "line-blocked-pool",
]


def test_setup_b_secret_posting_a_receive_to_organisation_a_pool_line_changes_nothing(
    client: Client,
    a_world: dict[str, Any],
    b_setup: Setup,
    emitted: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The security review's repro."""
    before = snapshot()

    with django_capture_on_commit_callbacks() as jobs:
        response = post(client, b_setup, "receive", receive_body(to=POOL_NUMBER, handle="repro"))

    assert response.status_code == 200
    event = ProviderEvent.objects.get(setup=b_setup)
    assert event.status == ProviderEventStatus.REJECTED_FOREIGN
    assert snapshot() == before
    assert not Message.objects.filter(provider_handle="repro").exists()
    assert emitted == []
    assert jobs == []


@pytest.mark.parametrize("case", range(len(CASE_IDS)), ids=CASE_IDS)
def test_a_valid_foreign_secret_changes_nothing_and_emits_nothing(
    case: int,
    client: Client,
    a_world: dict[str, Any],
    b_setup: Setup,
    emitted: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, event_type, body = foreign_cases(a_world)[case]
    before = snapshot()

    with django_capture_on_commit_callbacks() as jobs:
        response = post(client, b_setup, event_type, body)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert ProviderEvent.objects.get(setup=b_setup).status == "rejected_foreign"
    assert snapshot() == before
    assert emitted == []
    assert jobs == []


def test_a_redelivered_foreign_event_stays_rejected_once(
    client: Client, a_world: dict[str, Any], b_setup: Setup
) -> None:
    body = receive_body(to=POOL_NUMBER, handle="again")
    post(client, b_setup, "receive", body)

    response = post(client, b_setup, "receive", body)

    assert response.json()["status"] == "duplicate"
    assert ProviderEvent.objects.filter(setup=b_setup).count() == 1


def test_the_rejection_warning_names_the_setup_and_event_only(
    client: Client, a_world: dict[str, Any], b_setup: Setup, caplog: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger="provisioning.services.intake"):
        post(client, b_setup, "receive", receive_body(to=POOL_NUMBER, handle="logged"))

    event = ProviderEvent.objects.get(setup=b_setup)
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    line = record.getMessage()
    assert str(b_setup.id) in line and str(event.id) in line
    for leaked in (POOL_NUMBER, PERSON, "my knee hurts", str(a_world["on_pool"].id)):
        assert leaked not in line


@pytest.mark.parametrize(
    ("to", "content"), [(POOL_NUMBER, "my knee hurts"), (ROUTER_NUMBER, "connect @nurse-bot")]
)
def test_a_clinic_own_setup_secret_cannot_speak_for_a_platform_line(
    to: str,
    content: str,
    client: Client,
    a_world: dict[str, Any],
    a_dedicated: PhoneLine,
    emitted: Any,
) -> None:
    """Even organisation A's own clinic setup may not post for the platform's lines."""
    before = snapshot()

    response = post(
        client, a_dedicated.setup, "receive", receive_body(to=to, handle="own-org", content=content)
    )

    assert response.status_code == 200
    assert ProviderEvent.objects.get(setup=a_dedicated.setup).status == "rejected_foreign"
    assert snapshot() == before
    assert emitted == []


# --- the owner's secret still works ---------------------------------------------------


def test_the_platform_secret_delivers_a_receive_on_its_pool_line(
    client: Client, a_world: dict[str, Any], emitted: Any
) -> None:
    platform = a_world["router"].setup

    response = post(client, platform, "receive", receive_body(to=POOL_NUMBER, handle="own-pool"))

    assert response.status_code == 200
    assert ProviderEvent.objects.get(setup=platform).status == "processed"
    assert Message.objects.filter(provider_handle="own-pool").exists()
    assert emitted.types() == ["imessage.received"]


def test_the_owner_secret_delivers_a_receive_on_its_dedicated_line(
    client: Client, a_world: dict[str, Any], a_dedicated: PhoneLine
) -> None:
    post(client, a_dedicated.setup, "receive", receive_body(to=DEDICATED_NUMBER, handle="own-ded"))

    message = Message.objects.get(provider_handle="own-ded")
    assert message.line_id == a_dedicated.id


def test_the_platform_secret_runs_the_router(client: Client, a_world: dict[str, Any]) -> None:
    platform = a_world["router"].setup

    post(client, platform, "receive", receive_body(to=ROUTER_NUMBER, handle="own-router"))

    assert RouterReply.objects.filter(line=a_world["router"]).exists()


def test_the_platform_secret_applies_a_status_callback(
    client: Client, a_world: dict[str, Any], emitted: Any
) -> None:
    platform = a_world["router"].setup

    post(client, platform, "outbound", status_body("a-pool-handle"))

    message = Message.objects.get(pk=a_world["on_pool"].pk)
    assert (message.status, message.service, message.was_downgraded) == ("error", "sms", True)
    assert emitted.types() == ["imessage.delivery_failed"]


def test_the_platform_secret_records_a_tapback(
    client: Client, a_world: dict[str, Any], emitted: Any
) -> None:
    platform = a_world["router"].setup

    post(client, platform, "receive", reaction_body(to=POOL_NUMBER, target="a-pool-handle"))

    assert Reaction.objects.filter(message=a_world["on_pool"], is_live=True).exists()
    assert emitted.types() == ["imessage.reaction_received"]


def test_the_platform_secret_typing_on_its_line_is_processed(
    client: Client, a_world: dict[str, Any]
) -> None:
    platform = a_world["router"].setup

    post(client, platform, "typing_indicator", typing_body(POOL_NUMBER))

    assert ProviderEvent.objects.get(setup=platform).status == "processed"


def test_the_owner_secret_blocks_its_own_line(
    client: Client, a_world: dict[str, Any], a_dedicated: PhoneLine
) -> None:
    post(client, a_dedicated.setup, "line_blocked", line_blocked_body(DEDICATED_NUMBER))

    a_dedicated.refresh_from_db()
    assert a_dedicated.blocked_at is not None
    assert ProviderEvent.objects.get(setup=a_dedicated.setup).status == "processed"


def test_the_owner_secret_assigns_its_own_pending_line(client: Client, b_setup: Setup) -> None:
    pending = PhoneLineFactory(setup=b_setup, pending=True)

    post(client, b_setup, "line_assigned", line_assigned_body("+14155553902"))

    pending.refresh_from_db()
    assert pending.number == "+14155553902"
    assert ProviderEvent.objects.get(setup=b_setup).status == "processed"


def test_a_foreign_line_assigned_leaves_the_setup_pending_line_waiting(
    client: Client, a_world: dict[str, Any], b_setup: Setup
) -> None:
    pending = PhoneLineFactory(setup=b_setup, pending=True)

    post(client, b_setup, "line_assigned", line_assigned_body(DEDICATED_NUMBER))

    pending.refresh_from_db()
    assert pending.number is None
    assert ProviderEvent.objects.get(setup=b_setup).status == "rejected_foreign"
