"""Statements per provider `receive` webhook in the common case (issue 18): an inbound
message without media from a connected person on a pool line (and one on a dedicated
line), through the real intake view, with one active subscription.

The tests run outside a test transaction (`transaction=True`) so that the intake's own
transaction is the outermost one, as in production: no SAVEPOINT of the test harness is
counted, and BEGIN/COMMIT are not statements Django's query log records (the COMMIT is
one more round trip on top of the counted ones).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.models import Conversation, Message
from messaging.services import after_hours
from messaging.services.quiet_hours import person_zone
from messaging.webhooks import events
from messaging.webhooks.models import WebhookDelivery
from provisioning.models import PhoneLine, ProviderEvent, Setup
from tests.messaging.conftest import PERSON, POOL_NUMBER
from tests.messaging.factories import QuietHoursFactory
from tests.messaging.services.test_inbound import blind_handle_check
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory
from tests.provisioning.api.test_provider_webhooks import RECEIVE_BODY
from tests.provisioning.factories import PhoneLineFactory, setup_secret

pytestmark = pytest.mark.django_db(transaction=True)

DEDICATED_NUMBER = "+14155552222"

# What one common-case receive runs (the setup's authentication is answered from this
# process's cache after the warm-up; a miss reads it once more), on PostgreSQL:
#   1. SELECT the line + setup + line identity + the sender's active connection + its
#      identity + the inbound filter verdict + "handle stored already, by which setup" +
#      the conversation's id and who handles it + "identity has an after-hours
#      auto-reply" + its webhook subscriptions' version
#   2. INSERT the provider event ON CONFLICT DO NOTHING RETURNING, in its final state, and
#      only if it went in: INSERT the message ON CONFLICT DO NOTHING, and only if that
#      went in its webhook event and deliveries and the conversation's UPDATE (last
#      message, line, connection): one statement (`insert_with_dependents` with the record
#      as its gate), atomic on its own, so no BEGIN and no COMMIT
# On SQLite the writes are five statements inside BEGIN and COMMIT.
# Before issue 18 it was 20 on a pool line and 19 on a dedicated line, on both backends
# (SAVEPOINTs around two inserts, separate reads of the stored handle, connection, rules,
# conversation and quiet hours, and an UPDATE of the provider event after dispatch).
INGEST_STATEMENTS = {"postgresql": 2, "sqlite": 8}


def receive(client: Client, setup: Setup, *, handle: str, to: str) -> Any:
    body = {
        **RECEIVE_BODY,
        "message_handle": handle,
        "from_number": PERSON,
        "number": PERSON,
        "to_number": to,
        "sendblue_number": to,
    }
    return client.post(
        f"/api/v1/provider-webhooks/{setup.id}/receive",
        json.dumps(body),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=setup_secret(setup),
    )


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """After commit the deliveries go to the broker, not the database: record them."""
    calls: list[Any] = []
    monkeypatch.setattr(events, "deliveries_fan_out", calls.append)
    return calls


def measured_receive(client: Client, setup: Setup, *, to: str) -> list[str]:
    """Warm up (first message of the conversation), then capture one more receive."""
    assert receive(client, setup, handle="warm-up", to=to).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        response = receive(client, setup, handle="h-measured", to=to)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    statements = [q["sql"] for q in ctx.captured_queries]
    print(f"\n{connection.vendor}: {len(statements)} statements")
    for n, sql in enumerate(statements, 1):
        print(f"{n:2}. {sql[:300]}")
    assert not [sql for sql in statements if "SAVEPOINT" in sql], "no savepoint is needed"
    return statements


def bound() -> int:
    return INGEST_STATEMENTS[connection.vendor]


def test_a_pool_line_receive_runs_in_few_statements(
    client: Client, conversation: Conversation, platform_setup: Setup, published: list[Any]
) -> None:
    WebhookSubscriptionFactory(identity=conversation.identity)

    statements = measured_receive(client, platform_setup, to=POOL_NUMBER)

    message = Message.objects.get(provider_handle="h-measured")
    assert message.conversation_id == conversation.id
    conversation.refresh_from_db()
    assert conversation.last_message_at == message.created_at
    assert WebhookDelivery.objects.filter(event__payload__data__message__id=str(message.id))
    assert len(published) == 2
    assert len(statements) <= bound(), "\n".join(statements)


def test_a_dedicated_line_receive_runs_in_few_statements(
    client: Client, identity: Any, published: list[Any]
) -> None:
    line: PhoneLine = PhoneLineFactory(identity=identity, number=DEDICATED_NUMBER)
    WebhookSubscriptionFactory(identity=identity)

    statements = measured_receive(client, line.setup, to=DEDICATED_NUMBER)

    message = Message.objects.get(provider_handle="h-measured")
    assert message.line_id == line.id
    assert len(published) == 2
    assert len(statements) <= bound(), "\n".join(statements)


def test_a_redelivered_webhook_stops_at_the_provider_event(
    client: Client, conversation: Conversation, platform_setup: Setup, published: list[Any]
) -> None:
    WebhookSubscriptionFactory(identity=conversation.identity)
    assert receive(client, platform_setup, handle="h-1", to=POOL_NUMBER).status_code == 200

    with CaptureQueriesContext(connection) as ctx:
        again = receive(client, platform_setup, handle="h-1", to=POOL_NUMBER)

    assert again.json()["status"] == "duplicate"
    assert Message.objects.filter(provider_handle="h-1").count() == 1
    assert len(published) == 1
    # The line (its handle is stored), the conflicting INSERT and the stored event (with
    # BEGIN and COMMIT on SQLite).
    assert len(ctx.captured_queries) <= 5, [q["sql"] for q in ctx.captured_queries]


def test_a_redelivery_whose_first_delivery_stored_no_message_stores_nothing(
    client: Client, conversation: Conversation, platform_setup: Setup, published: list[Any]
) -> None:
    """The record decides, not the handle: a delivery recorded when its message could not
    be stored (say, before the line was placed) stays the only one."""
    WebhookSubscriptionFactory(identity=conversation.identity)
    first = ProviderEvent.objects.create(
        setup=platform_setup, event_key="receive:h-late", event_type="receive", payload={}
    )
    before = Conversation.objects.get(pk=conversation.pk).last_message_at

    again = receive(client, platform_setup, handle="h-late", to=POOL_NUMBER)

    assert again.json() == {"status": "duplicate", "event_id": first.id}
    assert not Message.objects.filter(provider_handle="h-late").exists()
    assert Conversation.objects.get(pk=conversation.pk).last_message_at == before
    assert published == []
    assert ProviderEvent.objects.count() == 1


def test_a_handle_of_another_setup_that_slips_past_the_read_leaves_only_a_rejection(
    client: Client,
    conversation: Conversation,
    platform_setup: Setup,
    identity: Any,
    published: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race the one statement cannot roll back: the record goes in, the message meets
    another setup's row for its handle. Nothing else is written, and the record becomes
    the rejection."""
    dedicated: PhoneLine = PhoneLineFactory(identity=identity, number=DEDICATED_NUMBER)
    assert receive(client, dedicated.setup, handle="h-race", to=DEDICATED_NUMBER).status_code == 200
    before = Conversation.objects.get(pk=conversation.pk).last_message_at
    announced = len(published)
    blind_handle_check(monkeypatch)

    response = receive(client, platform_setup, handle="h-race", to=POOL_NUMBER)

    assert response.status_code == 200
    rejection = ProviderEvent.objects.get(setup=platform_setup, event_key="receive:h-race")
    assert rejection.status == "rejected_foreign"
    assert response.json() == {"status": "ok", "event_id": rejection.id}
    assert Message.objects.get(provider_handle="h-race").line_id == dedicated.id
    assert Conversation.objects.get(pk=conversation.pk).last_message_at == before
    assert len(published) == announced


def test_a_message_to_an_identity_with_an_auto_reply_commits_with_its_reply_job(
    client: Client,
    conversation: Conversation,
    platform_setup: Setup,
    published: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The after-hours job has no sweep: its message and it commit together or not at all."""
    # Quiet now where the person is, whatever the hour the suite runs at (the factory's
    # hours are 21:00-08:00).
    local = timezone.now().astimezone(person_zone(PERSON, "Europe/Berlin"))
    QuietHoursFactory(
        identity=conversation.identity,
        auto_reply="We are closed.",
        start=(local - timedelta(hours=2)).time().replace(microsecond=0),
        end=(local + timedelta(hours=2)).time().replace(microsecond=0),
    )
    # The job itself runs after the commit (eagerly in tests): recorded, not measured.
    replied: list[str] = []
    monkeypatch.setattr(
        after_hours, "after_hours_reply", lambda *, message_id: replied.append(message_id)
    )

    statements = measured_receive(client, platform_setup, to=POOL_NUMBER)

    assert len([s for s in statements if s.startswith("BEGIN")]) == 1
    assert statements[-1] == "COMMIT"
    measured = Message.objects.get(provider_handle="h-measured")
    assert replied[-1] == str(measured.id)  # published once the message was stored
