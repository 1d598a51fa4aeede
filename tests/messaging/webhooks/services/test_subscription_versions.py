"""Every change of an identity's subscriptions raises their version; an inbound message
reuses the subscriptions its process read at the version it reads, and nothing older."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from console.services import Actor
from messaging.models import Conversation
from messaging.services.inbound import inbound_message_receive
from messaging.webhooks import subscriptions as subscriptions_module
from messaging.webhooks.events import SUBSCRIPTIONS_MAX_AGE_SECONDS
from messaging.webhooks.models import SubscriptionSetVersion, WebhookDelivery, WebhookSubscription
from messaging.webhooks.subscriptions import (
    subscription_delete,
    subscription_update,
    subscriptions_changed,
)
from provisioning.models import Setup
from tests.conftest import KeyClock
from tests.console.factories import AgentIdentityFactory
from tests.messaging.services.test_inbound import inbound
from tests.messaging.webhooks.factories import WebhookSubscriptionFactory

pytestmark = pytest.mark.django_db


def version_of(identity_id: object) -> uuid.UUID | None:
    row = SubscriptionSetVersion.objects.filter(identity_id=identity_id).first()
    return row.version if row is not None else None


def receive(setup: Setup, handle: str) -> None:
    inbound_message_receive(setup=setup, event=inbound(handle=handle))


def subscriptions_read(queries: CaptureQueriesContext) -> int:
    return sum('FROM "webhooks_webhooksubscription"' in q["sql"] for q in queries)


def last_delivery_urls(count: int) -> set[str]:
    """The URLs of the last `count` deliveries."""
    return set(
        WebhookDelivery.objects.order_by("-created_at")[:count].values_list("url", flat=True)
    )


def test_saving_a_subscription_gives_its_identity_a_new_version() -> None:
    subscription = WebhookSubscriptionFactory()
    first = version_of(subscription.identity_id)

    subscription.url = "https://hooks.example.com/moved"
    subscription.save()

    assert first is not None
    assert version_of(subscription.identity_id) not in (None, first)


def test_deleting_a_subscription_gives_a_new_version() -> None:
    subscription = WebhookSubscriptionFactory()
    first = version_of(subscription.identity_id)

    subscription_delete(subscription=subscription, actor=Actor.system())

    assert version_of(subscription.identity_id) not in (None, first)


def test_a_change_of_one_identity_leaves_the_others_version() -> None:
    subscription = WebhookSubscriptionFactory()
    other = WebhookSubscriptionFactory()
    others_version = version_of(other.identity_id)

    subscriptions_changed(subscription.identity_id)

    assert version_of(other.identity_id) == others_version


def test_a_first_change_that_lost_the_insert_race_replaces_the_winners_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identity = AgentIdentityFactory()
    winners = uuid.uuid4()

    def insert_lost_to_a_concurrent_change(model: type, **fields: object) -> None:
        SubscriptionSetVersion.objects.create(identity=identity, version=winners)
        return None

    monkeypatch.setattr(
        subscriptions_module, "insert_if_absent", insert_lost_to_a_concurrent_change
    )

    subscriptions_changed(identity.id)

    assert version_of(identity.id) not in (None, winners)


def test_a_rolled_back_change_leaves_no_version_a_later_change_could_write_again() -> None:
    subscription = WebhookSubscriptionFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        subscriptions_changed(subscription.identity_id)
        rolled_back = version_of(subscription.identity_id)
        raise RuntimeError

    subscriptions_changed(subscription.identity_id)

    assert version_of(subscription.identity_id) != rolled_back


def test_an_inbound_message_reuses_the_subscriptions_read_at_the_same_version(
    conversation: Conversation, platform_setup: Setup
) -> None:
    WebhookSubscriptionFactory(identity=conversation.identity, url="https://hooks.example.com/a")
    receive(platform_setup, "h-1")

    with CaptureQueriesContext(connection) as queries:
        receive(platform_setup, "h-2")

    assert subscriptions_read(queries) == 0
    assert WebhookDelivery.objects.count() == 2


def test_a_subscription_added_since_gets_the_next_message(
    conversation: Conversation, platform_setup: Setup
) -> None:
    WebhookSubscriptionFactory(identity=conversation.identity, url="https://hooks.example.com/a")
    receive(platform_setup, "h-1")

    WebhookSubscriptionFactory(identity=conversation.identity, url="https://hooks.example.com/b")
    receive(platform_setup, "h-2")

    assert last_delivery_urls(2) == {"https://hooks.example.com/a", "https://hooks.example.com/b"}


def test_a_deleted_subscription_gets_nothing_from_the_next_message(
    conversation: Conversation, platform_setup: Setup
) -> None:
    subscription = WebhookSubscriptionFactory(identity=conversation.identity)
    receive(platform_setup, "h-1")

    subscription_delete(subscription=subscription, actor=Actor.system())
    receive(platform_setup, "h-2")

    assert WebhookDelivery.objects.count() == 1


def test_event_types_changed_since_apply_to_the_next_message(
    conversation: Conversation, platform_setup: Setup
) -> None:
    subscription = WebhookSubscriptionFactory(identity=conversation.identity)
    receive(platform_setup, "h-1")

    subscription_update(
        subscription=subscription, actor=Actor.system(), event_types=["imessage.sent"]
    )
    receive(platform_setup, "h-2")

    assert WebhookDelivery.objects.count() == 1


def test_a_changed_url_takes_effect_on_the_next_message(
    conversation: Conversation, platform_setup: Setup
) -> None:
    subscription = WebhookSubscriptionFactory(identity=conversation.identity)
    receive(platform_setup, "h-1")

    subscription_update(
        subscription=subscription, actor=Actor.system(), url="https://hooks.example.com/moved"
    )
    receive(platform_setup, "h-2")

    assert last_delivery_urls(1) == {"https://hooks.example.com/moved"}


def test_a_set_is_read_again_once_it_is_a_minute_old(
    conversation: Conversation, platform_setup: Setup, key_clock: KeyClock
) -> None:
    # A write that bypassed the version (a bulk update) counts after at most a minute.
    subscription = WebhookSubscriptionFactory(identity=conversation.identity)
    receive(platform_setup, "h-1")
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        url="https://hooks.example.com/bulk-moved"
    )

    key_clock.now += SUBSCRIPTIONS_MAX_AGE_SECONDS
    receive(platform_setup, "h-2")

    assert last_delivery_urls(1) == {"https://hooks.example.com/bulk-moved"}


def test_subscriptions_without_a_version_row_are_read_and_then_reused(
    conversation: Conversation, platform_setup: Setup
) -> None:
    # Rows stored without save() (bulk loads, data from before versions) have no version.
    WebhookSubscription.objects.bulk_create(
        [
            WebhookSubscription(
                organization_id=conversation.organization_id,
                identity_id=conversation.identity_id,
                url="https://hooks.example.com/bulk",
                event_types=["imessage.received"],
            )
        ]
    )
    receive(platform_setup, "h-1")

    with CaptureQueriesContext(connection) as queries:
        receive(platform_setup, "h-2")

    assert subscriptions_read(queries) == 0
    assert last_delivery_urls(2) == {"https://hooks.example.com/bulk"}
