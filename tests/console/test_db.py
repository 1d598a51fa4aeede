"""`insert_if_absent`: one statement; the unique constraint decides; no savepoint needed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.db import insert_if_absent
from provisioning.models import ProviderEvent, ProviderEventStatus
from tests.provisioning.factories import SetupFactory

pytestmark = pytest.mark.django_db


def _event(setup: object, key: str = "receive:h-1") -> ProviderEvent | None:
    return insert_if_absent(
        ProviderEvent,
        setup=setup,
        event_key=key,
        event_type="receive",
        payload={"a": 1},
        status=ProviderEventStatus.RECEIVED,
    )


def test_a_new_row_is_inserted_in_one_statement_with_its_database_values() -> None:
    setup = SetupFactory()

    with CaptureQueriesContext(connection) as ctx:
        event = _event(setup)

    assert len(ctx.captured_queries) == 1
    assert event is not None and event.pk is not None
    assert event.received_at is not None
    stored = ProviderEvent.objects.get(pk=event.pk)
    assert (stored.event_key, stored.payload, stored.setup_id) == (
        "receive:h-1",
        {"a": 1},
        setup.id,
    )


def test_a_row_the_unique_constraint_already_holds_is_not_inserted_and_nothing_raises() -> None:
    setup = SetupFactory()
    first = _event(setup)

    with CaptureQueriesContext(connection) as ctx:
        again = _event(setup)

    assert again is None
    assert len(ctx.captured_queries) == 1
    # The transaction is still usable: no savepoint was needed to recover.
    assert first is not None
    assert list(ProviderEvent.objects.values_list("pk", flat=True)) == [first.pk]
