"""Quiet hours on the identity API: an extra PATCH field for admin keys, read back on the
identity."""

from __future__ import annotations

from typing import Any

import pytest

from console.models import AuditEntry
from messaging.models import QuietHours
from tests.conftest import KeyedClient

pytestmark = pytest.mark.django_db

URL = "/api/v1/identities/nurse-bot"
NIGHTS = {"start": "21:00", "end": "07:30", "timezone": "America/Chicago"}


def test_an_identity_reads_quiet_hours_null_by_default(admin_client: KeyedClient, identity: Any):
    assert admin_client.get(URL).json()["quiet_hours"] is None


def test_an_admin_key_sets_quiet_hours_with_an_auto_reply(admin_client: KeyedClient, identity: Any):
    body = {"quiet_hours": {**NIGHTS, "auto_reply": "We answer from 7:30."}}

    response = admin_client.patch(URL, body, format="json")

    assert response.status_code == 200
    assert response.json()["quiet_hours"] == {**NIGHTS, "auto_reply": "We answer from 7:30."}
    assert AuditEntry.objects.filter(action="identity.quiet_hours_set").count() == 1


def test_null_switches_quiet_hours_off(admin_client: KeyedClient, identity: Any):
    admin_client.patch(URL, {"quiet_hours": NIGHTS}, format="json")

    response = admin_client.patch(URL, {"quiet_hours": None}, format="json")

    assert response.json()["quiet_hours"] is None
    assert not QuietHours.objects.exists()


def test_an_identity_key_cannot_set_quiet_hours(identity_client: KeyedClient, identity: Any):
    response = identity_client.patch(URL, {"quiet_hours": NIGHTS}, format="json")

    assert response.status_code == 403
    assert not QuietHours.objects.exists()


@pytest.mark.parametrize(
    "value",
    [
        {"start": "9pm", "end": "07:00", "timezone": "UTC"},
        {"start": "21:00", "end": "07:00", "timezone": "Nowhere/Special"},
        {"start": "21:00", "end": "07:00"},
        {"start": "21:00", "end": "07:00", "timezone": "UTC", "color": "blue"},
        "21:00-07:00",
    ],
)
def test_malformed_quiet_hours_are_400_and_change_nothing(
    admin_client: KeyedClient, identity: Any, value: Any
):
    response = admin_client.patch(
        URL, {"display_name": "Changed", "quiet_hours": value}, format="json"
    )

    assert response.status_code == 400
    assert "quiet_hours" in response.json()["detail"]["fields"]
    identity.refresh_from_db()
    assert identity.display_name == "Nurse Bot"


def test_the_identity_list_reads_quiet_hours_in_bounded_queries(
    admin_client: KeyedClient, identity: Any, django_assert_max_num_queries: Any
):
    admin_client.patch(URL, {"quiet_hours": NIGHTS}, format="json")

    with django_assert_max_num_queries(8):
        rows = admin_client.get("/api/v1/identities/").json()

    assert rows[0]["quiet_hours"]["timezone"] == "America/Chicago"
