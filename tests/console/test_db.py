"""`console.db`: the shared insert idioms, on PostgreSQL and SQLite alike."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console.db import insert_if_absent, update_returning
from console.models import Organization
from provisioning.models import ProviderEvent
from tests.provisioning.factories import SetupFactory

pytestmark = pytest.mark.django_db


def test_insert_if_absent_stores_the_row_in_one_statement_and_returns_it() -> None:
    setup = SetupFactory()

    with CaptureQueriesContext(connection) as ctx:
        event = insert_if_absent(
            ProviderEvent, setup=setup, event_key="receive:h-1", event_type="receive", payload={}
        )

    assert len(ctx.captured_queries) == 1
    assert event is not None
    assert isinstance(event.pk, int)
    assert ProviderEvent.objects.get(pk=event.pk).event_key == "receive:h-1"
    assert event.received_at is not None  # auto_now_add ran
    assert event._state.adding is False


def test_insert_if_absent_answers_none_for_a_conflict_and_the_transaction_goes_on() -> None:
    setup = SetupFactory()
    fields = {"setup": setup, "event_key": "receive:h-1", "event_type": "receive", "payload": {}}

    with transaction.atomic():
        first = insert_if_absent(ProviderEvent, **fields)
        with CaptureQueriesContext(connection) as ctx:
            again = insert_if_absent(ProviderEvent, **{**fields, "payload": {"n": 2}})
        # No savepoint was needed: the transaction is still usable.
        assert ProviderEvent.objects.count() == 1

    assert first is not None and again is None
    assert len(ctx.captured_queries) == 1
    assert ProviderEvent.objects.get().payload == {}


def test_insert_if_absent_returns_a_uuid_key_as_a_uuid() -> None:
    made = insert_if_absent(Organization, name="Riverside", slug="riverside")

    assert made is not None
    assert isinstance(made.pk, uuid.UUID)
    assert Organization.objects.get(pk=made.pk).slug == "riverside"
    assert insert_if_absent(Organization, name="Other", slug="riverside") is None


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
