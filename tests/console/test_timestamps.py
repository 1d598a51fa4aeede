"""iso() renders exactly what DRF's DateTimeField rendered."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone
from rest_framework.fields import DateTimeField

from console.timestamps import iso

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


def test_iso_in_utc_with_milliseconds_ignores_an_activated_timezone() -> None:
    value = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Berlin")):
        assert iso(value, timespec="milliseconds", tz=UTC) == "2026-01-02T03:04:05.678Z"
