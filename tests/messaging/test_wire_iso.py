"""wire.iso() renders exactly what DRF's DateTimeField rendered."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone
from rest_framework.fields import DateTimeField

from messaging.wire import iso

VALUES = [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt_timezone(timedelta(hours=2))),
    datetime(2026, 6, 2, 3, 4, 5, 7),  # naive: taken as the current timezone
]


@pytest.mark.parametrize("value", VALUES)
def test_iso_matches_drf_in_utc(value: datetime) -> None:
    assert iso(value) == DateTimeField().to_representation(value)


@pytest.mark.parametrize("value", VALUES)
def test_iso_matches_drf_in_an_activated_timezone(value: datetime) -> None:
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        assert iso(value) == DateTimeField().to_representation(value)


def test_iso_ends_in_z_for_utc_and_parses_back() -> None:
    value = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    text = iso(value)
    assert text == "2026-01-02T03:04:05.000006Z"
    assert datetime.fromisoformat(text) == value


def test_iso_of_none_is_none() -> None:
    assert iso(None) is None


@pytest.mark.django_db
def test_a_message_marked_without_reactions_renders_without_a_query(
    django_assert_num_queries,
) -> None:
    from messaging.models import Message
    from messaging.wire import mark_without_reactions, message_wire
    from tests.messaging.factories import MessageFactory

    message = Message.objects.get(pk=MessageFactory().pk)
    mark_without_reactions(message)
    with django_assert_num_queries(0):
        assert message_wire(message)["reactions"] == []


@pytest.mark.django_db
def test_an_unmarked_message_still_reads_its_reactions() -> None:
    from messaging.models import Message
    from messaging.wire import message_wire
    from tests.messaging.factories import ReactionFactory

    reaction = ReactionFactory()
    message = Message.objects.get(pk=reaction.message_id)
    assert [r["id"] for r in message_wire(message)["reactions"]] == [str(reaction.id)]
