"""Updates in one statement (`console.db.updates`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.db.inserts import insert_if_absent
from console.db.updates import update_from_values, update_returning
from messaging.webhooks.models import DeliveryStatus, WebhookDelivery
from provisioning.models import ProviderEvent
from tests.messaging.webhooks.factories import WebhookDeliveryFactory
from tests.provisioning.factories import SetupFactory

pytestmark = pytest.mark.django_db


def test_update_returning_updates_and_returns_the_rows_in_one_statement() -> None:
    setup = SetupFactory()
    event = insert_if_absent(
        ProviderEvent, setup=setup, event_key="receive:h-1", event_type="receive", payload={}
    )
    assert event is not None
    at = timezone.now()

    with CaptureQueriesContext(connection) as ctx:
        rows = update_returning(
            ProviderEvent.objects.filter(setup=setup, event_key="receive:h-1"),
            status="processed",
            processed_at=at,
        )

    assert len(ctx.captured_queries) == 1
    assert [(r.pk, r.status, r.processed_at) for r in rows] == [(event.pk, "processed", at)]
    assert rows[0].setup_id == setup.pk  # a UUID, also on SQLite
    assert rows[0].received_at == ProviderEvent.objects.get().received_at
    assert ProviderEvent.objects.get().status == "processed"


def test_update_returning_answers_no_rows_when_nothing_matches() -> None:
    assert update_returning(ProviderEvent.objects.filter(event_key="none"), status="x") == []


def test_update_from_values_writes_each_rows_own_values_in_one_statement() -> None:
    first, second = WebhookDeliveryFactory(), WebhookDeliveryFactory()
    later = timezone.now() + timedelta(hours=1)
    first.status, first.response_status, first.error_detail = DeliveryStatus.SUCCEEDED, 200, None
    second.status, second.next_attempt_at, second.error_detail = DeliveryStatus.PENDING, later, "x"

    with CaptureQueriesContext(connection) as queries:
        written = update_from_values(
            WebhookDelivery,
            [first, second],
            ["status", "response_status", "error_detail", "next_attempt_at"],
        )

    assert written == 2
    assert len([q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.response_status, first.error_detail) == ("succeeded", 200, None)
    assert (second.status, second.next_attempt_at, second.error_detail) == ("pending", later, "x")


def test_update_from_values_leaves_rows_that_do_not_match_where_alone() -> None:
    claimed_at = timezone.now()
    mine = WebhookDeliveryFactory(claimed_at=claimed_at)
    reclaimed = WebhookDeliveryFactory(claimed_at=claimed_at + timedelta(minutes=5))
    mine.status = reclaimed.status = DeliveryStatus.FAILED

    written = update_from_values(
        WebhookDelivery, [mine, reclaimed], ["status"], where={"claimed_at": claimed_at}
    )

    assert written == 1
    assert WebhookDelivery.objects.get(pk=mine.pk).status == DeliveryStatus.FAILED
    assert WebhookDelivery.objects.get(pk=reclaimed.pk).status == DeliveryStatus.PENDING


def test_update_from_values_with_no_rows_runs_no_statement() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert update_from_values(WebhookDelivery, [], ["status"]) == 0

    assert queries.captured_queries == []
