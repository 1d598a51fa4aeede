"""Quiet hours on the console's identity page: shown to every viewer, set by operators
(audited), refused to auditors and to other organisations."""

from __future__ import annotations

from datetime import time

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry
from messaging.models import QuietHours
from tests.console.ui.conftest import htmx
from tests.messaging.factories import QuietHoursFactory

pytestmark = pytest.mark.django_db

FORM = {
    "enabled": "on",
    "start": "21:00",
    "end": "07:00",
    "timezone": "America/Denver",
    "auto_reply": "We answer from 7 am.",
}


def url(identity: AgentIdentity) -> str:
    return reverse("console:quiet-hours", args=[identity.handle])


def test_the_identity_page_shows_quiet_hours_off_by_default(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    body = auditor_client.get(reverse("console:identity", args=[identity.handle])).content.decode()

    assert "Off: agent sends go out at any hour." in body
    assert url(identity) not in body  # auditors get no form


def test_an_operator_sets_quiet_hours_in_place_and_it_is_audited(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(url(identity), FORM, **htmx())

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="quiet-hours"')
    assert "from 21:00 to 07:00" in body
    quiet = QuietHours.objects.get(identity=identity)
    assert (quiet.start, quiet.end, quiet.timezone) == (time(21), time(7), "America/Denver")
    entry = AuditEntry.objects.get(action="identity.quiet_hours_set")
    assert entry.actor_label == "olivia"


def test_without_javascript_the_form_redirects_to_the_identity_page(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(url(identity), FORM)

    assert response.status_code == 302
    assert response["Location"] == reverse("console:identity", args=[identity.handle])


def test_unticking_switches_quiet_hours_off(
    operator_client: Client, identity: AgentIdentity
) -> None:
    QuietHoursFactory(identity=identity)

    operator_client.post(url(identity), {**FORM, "enabled": ""}, **htmx())

    assert not QuietHours.objects.exists()


def test_an_unknown_time_zone_is_reported_and_changes_nothing(
    operator_client: Client, identity: AgentIdentity
) -> None:
    response = operator_client.post(url(identity), {**FORM, "timezone": "Moon/Base"}, **htmx())

    assert response.status_code == 422
    assert "IANA zone" in response.content.decode()
    assert not QuietHours.objects.exists()


def test_an_auditor_cannot_set_quiet_hours(auditor_client: Client, identity: AgentIdentity) -> None:
    response = auditor_client.post(url(identity), FORM)

    assert response.status_code == 403
    assert not QuietHours.objects.exists()


def test_another_organisations_operator_gets_404(
    outsider_operator_client: Client, identity: AgentIdentity
) -> None:
    response = outsider_operator_client.post(url(identity), FORM)

    assert response.status_code == 404
    assert not QuietHours.objects.exists()
