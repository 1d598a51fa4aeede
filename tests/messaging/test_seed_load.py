"""`seed_load` fills a consistent benchmark dataset (bulk path on SQLite, COPY on PostgreSQL)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Q

from console.api.authentication import hash_api_key
from console.crypto import reset_keys_cache
from console.models import AgentIdentity, ApiKey
from messaging.bench_data.dataset import bench_number
from messaging.models import Conversation, Message
from messaging.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from messaging.wire import message_wire
from routing.models import Assignment, ContactRule


@pytest.fixture
def seeded(db: None, tmp_path: Path, settings: object) -> Iterator[dict]:
    # Setups carry encrypted secrets; tests run with DEBUG off, so a key is required.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # type: ignore[attr-defined]
    reset_keys_cache()
    keys_file = tmp_path / "keys.json"
    call_command(
        "seed_load",
        messages=2000,
        conversations=200,
        identities=5,
        pool_lines=4,
        keys_file=str(keys_file),
        stdout=io.StringIO(),
    )
    yield json.loads(keys_file.read_text())
    reset_keys_cache()


def test_it_creates_the_requested_volume(seeded: dict) -> None:
    assert Message.objects.count() == 2000
    assert Conversation.objects.count() == 200
    assert AgentIdentity.objects.count() == 5


def test_every_conversation_has_messages_and_its_last_message_time(seeded: dict) -> None:
    stats = Conversation.objects.annotate(n=Count("messages"), last=Max("messages__created_at"))
    assert all(c.n >= 1 and c.last_message_at == c.last for c in stats)


def test_every_conversation_counter_matches_its_messages(seeded: dict) -> None:
    inbound_unread = Q(messages__direction="inbound", messages__is_read=False)
    visible, blocked = Q(messages__is_blocked=False), Q(messages__is_blocked=True)
    stats = Conversation.objects.annotate(
        visible=Count("messages", filter=visible),
        visible_unread=Count("messages", filter=visible & inbound_unread),
        blocked=Count("messages", filter=blocked),
        blocked_unread=Count("messages", filter=blocked & inbound_unread),
    )
    assert all(
        (c.visible_count, c.visible_unread_count, c.blocked_count, c.blocked_unread_count)
        == (c.visible, c.visible_unread, c.blocked, c.blocked_unread)
        for c in stats
    )


def test_blocked_rows_are_inbound_and_match_a_block_rule(seeded: dict) -> None:
    blocked = Message.objects.filter(is_blocked=True)
    assert blocked.exists()
    assert not blocked.filter(direction="outbound").exists()
    rule_ids = set(ContactRule.objects.values_list("id", flat=True))
    assert {m.blocked_rule_id for m in blocked} <= rule_ids


def test_active_assignments_are_unique_per_identity_and_person(seeded: dict) -> None:
    dupes = (
        Assignment.objects.filter(status="active")
        .values("identity_id", "remote_number")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not dupes.exists()


def test_the_keys_file_holds_working_keys(seeded: dict) -> None:
    raw = seeded["identities"][0]["key"]
    key = ApiKey.objects.get(key_hash=hash_api_key(raw))
    assert str(key.identity_id) == seeded["identities"][0]["id"]
    assert len(seeded["organizations"]) == 1
    assert ApiKey.objects.filter(identity__isnull=True).count() == 1


def test_connected_people_in_the_keys_file_have_an_active_connection_or_dedicated_line(
    seeded: dict,
) -> None:
    for ident in seeded["identities"]:
        for conv in ident["conversations"]:
            if conv["pool"]:
                assert Assignment.objects.filter(
                    identity_id=ident["id"], remote_number=conv["remote_number"], status="active"
                ).exists()


def test_it_refuses_a_database_that_already_holds_messages(seeded: dict, tmp_path: Path) -> None:
    with pytest.raises(CommandError):
        call_command(
            "seed_load",
            messages=10,
            conversations=2,
            identities=1,
            keys_file=str(tmp_path / "k.json"),
        )


def test_seeded_numbers_are_valid_and_distinct() -> None:
    numbers = [bench_number(n) for n in [*range(0, 120_000), *range(8_000_000, 8_002_000)]]
    assert len(set(numbers)) == len(numbers)
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(n)) for n in numbers[::97])


def test_every_inbound_message_that_reached_its_agent_has_its_received_event(
    seeded: dict,
) -> None:
    reached = Message.objects.filter(direction="inbound", is_blocked=False)
    events = WebhookEvent.objects.filter(event_type="imessage.received")
    assert events.count() == reached.count() > 0
    ids = {e.payload["data"]["message"]["id"] for e in events}
    assert ids == {str(pk) for pk in reached.values_list("id", flat=True)}


def test_a_seeded_event_carries_the_message_as_the_platform_rendered_it_on_arrival(
    seeded: dict,
) -> None:
    event = WebhookEvent.objects.order_by("created_at").first()
    assert event is not None
    message = Message.objects.get(pk=event.payload["data"]["message"]["id"])
    sent, stored = event.payload["data"]["message"], message_wire(message, include_blocked=False)
    # On arrival it was unread and had no tapbacks; outside PostgreSQL the rows go in
    # through bulk_create, whose auto_now writes its own time.
    stored.update(is_read=False, read_at=None, reactions=[])
    del sent["updated_at"], stored["updated_at"]
    assert sent == stored
    assert event.identity_id == message.identity_id
    assert event.created_at == message.created_at


def test_each_seeded_event_was_delivered_once_to_a_deleted_endpoint(seeded: dict) -> None:
    deliveries = WebhookDelivery.objects.select_related("event", "subscription")
    events = WebhookEvent.objects.count()
    assert deliveries.count() == deliveries.values("event_id").distinct().count() == events
    assert {d.status for d in deliveries} == {"succeeded"}
    assert all(json.loads(d.request_payload) == d.event.payload for d in deliveries[:50])
    assert all(d.subscription.identity_id == d.event.identity_id for d in deliveries[:50])
    assert not WebhookSubscription.objects.filter(status="active").exists()


def test_the_deleted_endpoints_served_the_whole_history(seeded: dict) -> None:
    first = WebhookEvent.objects.order_by("created_at").values_list("created_at", flat=True)[0]
    assert set(WebhookSubscription.objects.values_list("created_at", flat=True)) == {first}
