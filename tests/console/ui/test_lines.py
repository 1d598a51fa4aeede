"""The Lines page (router number, pool load), the pending lines with their overdue mark,
and "Check with provider now"."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry, Organization
from console.services import Actor
from provisioning.models import LineState, PhoneLine, Setup
from provisioning.providers.base import ProviderError
from provisioning.providers.fake import FakeProvider
from provisioning.services.lines import setup_line_add
from tests.console.ui.conftest import htmx
from tests.provisioning.factories import PhoneLineFactory, SetupFactory
from tests.routing.factories import AssignmentFactory, PoolLineFactory, RouterLineFactory

pytestmark = pytest.mark.django_db


# --- Lines page -------------------------------------------------------------------------


def test_the_lines_page_shows_the_router_number_patients_text(operator_client: Client) -> None:
    router = RouterLineFactory()

    body = operator_client.get(reverse("console:lines")).content.decode()

    assert router.number in body
    assert "connect @handle" in body


def test_without_a_router_line_the_page_says_nobody_can_connect(operator_client: Client) -> None:
    body = operator_client.get(reverse("console:lines")).content.decode()

    assert "No router line: nobody can connect" in body


def test_pool_lines_show_their_load_for_all_and_for_the_viewers_organisations(
    operator_client: Client, identity: AgentIdentity, outsider_identity: AgentIdentity
) -> None:
    line = PoolLineFactory()
    AssignmentFactory(identity=identity, pool_line=line)
    AssignmentFactory(identity=outsider_identity, pool_line=line)
    AssignmentFactory(identity=identity, pool_line=line, status="released")

    response = operator_client.get(reverse("console:lines"))

    load = {row.id: row for row in response.context["pool_lines"]}[line.id]
    assert (load.active, load.active_yours, load.day_contacts) == (2, 1, 3)
    assert line.number in response.content.decode()


def test_released_pool_lines_are_not_listed(operator_client: Client) -> None:
    from django.utils import timezone

    line = PoolLineFactory(released_at=timezone.now())

    assert line.number not in operator_client.get(reverse("console:lines")).content.decode()


def test_auditors_see_the_lines_page_too(auditor_client: Client) -> None:
    line = PoolLineFactory()

    assert line.number in auditor_client.get(reverse("console:lines")).content.decode()


def test_the_lines_page_costs_a_fixed_number_of_queries(
    operator_client: Client, identity: AgentIdentity, django_assert_max_num_queries: Any
) -> None:
    RouterLineFactory()
    for _ in range(20):
        AssignmentFactory(identity=identity, pool_line=PoolLineFactory())
    with django_assert_max_num_queries(7):
        response = operator_client.get(reverse("console:lines"))
    assert response.content.decode().count('<tr id="pool-') == 20


def test_the_navigation_links_the_lines_page(operator_client: Client) -> None:
    body = operator_client.get(reverse("console:dashboard")).content.decode()

    assert f'href="{reverse("console:lines")}"' in body


def test_the_dashboard_shows_the_router_number(operator_client: Client) -> None:
    router = RouterLineFactory()

    body = operator_client.get(reverse("console:dashboard")).content.decode()

    assert f'data-testid="router-number">{router.number}<' in body


# --- Pending lines: overdue --------------------------------------------------------------


def _pending(setup: Setup, *, hours_ago: float, ticket: str = "") -> PhoneLine:
    line = PhoneLineFactory(
        setup=setup, pending=True, **({"provider_request_id": ticket} if ticket else {})
    )
    requested = line.requested_at - dt.timedelta(hours=hours_ago)
    PhoneLine.objects.filter(pk=line.pk).update(requested_at=requested)
    return line


def test_lines_waiting_longer_than_the_threshold_are_marked_overdue(
    operator_client: Client, org: Organization, settings: Any
) -> None:
    settings.PENDING_LINE_OVERDUE_HOURS = 24
    setup = SetupFactory(organization=org)
    late = _pending(setup, hours_ago=30)
    fresh = _pending(setup, hours_ago=2)

    body = operator_client.get(reverse("console:pending-lines")).content.decode()

    assert f'<tr id="pending-{late.id}" class="overdue"' in body
    assert f'<tr id="pending-{fresh.id}">' in body
    assert body.count(">overdue</span>") == 1


def test_the_overdue_threshold_is_a_setting(
    operator_client: Client, org: Organization, settings: Any
) -> None:
    settings.PENDING_LINE_OVERDUE_HOURS = 1
    line = _pending(SetupFactory(organization=org), hours_ago=2)

    body = operator_client.get(reverse("console:pending-lines")).content.decode()

    assert f'<tr id="pending-{line.id}" class="overdue"' in body


def test_the_pending_page_costs_a_fixed_number_of_queries(
    operator_client: Client, org: Organization, django_assert_max_num_queries: Any
) -> None:
    for _ in range(20):
        _pending(SetupFactory(organization=org), hours_ago=1)
    with django_assert_max_num_queries(6):
        response = operator_client.get(reverse("console:pending-lines"))
    assert response.content.decode().count("Check with provider now") == 20


def test_auditors_get_no_check_button(auditor_client: Client, org: Organization) -> None:
    _pending(SetupFactory(organization=org), hours_ago=1)

    body = auditor_client.get(reverse("console:pending-lines")).content.decode()

    assert "Check with provider now" not in body


# --- Check with provider now ------------------------------------------------------------


@pytest.fixture
def waiting_line(org: Organization, fake_provider: FakeProvider) -> PhoneLine:
    """A line really ordered from the (fake) provider, which has not placed it yet."""
    fake_provider.assign_immediately = False
    setup = SetupFactory(organization=org)
    return setup_line_add(setup=setup, role="dedicated", actor=Actor.system())


def _check(client: Client, line: PhoneLine, **extra: Any) -> Any:
    return client.post(reverse("console:line-check", args=[line.id]), **extra)


def test_checking_a_line_the_provider_placed_assigns_it_like_the_webhook_would(
    operator_client: Client, waiting_line: PhoneLine, fake_provider: FakeProvider
) -> None:
    placed = fake_provider.place_line(waiting_line.provider_request_id)

    response = _check(operator_client, waiting_line, **htmx())

    waiting_line.refresh_from_db()
    assert (waiting_line.state, waiting_line.number) == (LineState.ASSIGNED, placed.number)
    assert f"The provider placed {placed.number}" in response.content.decode()
    assert AuditEntry.objects.filter(action="line.assign", object_id=str(waiting_line.id)).exists()


def test_a_check_is_audited_with_the_operator_and_the_outcome(
    operator_client: Client, waiting_line: PhoneLine
) -> None:
    _check(operator_client, waiting_line, **htmx())

    entry = AuditEntry.objects.get(action="line.check")
    assert entry.actor_label == "olivia"
    assert entry.after == {"state": "pending", "provider_status": "OPEN"}


def test_a_line_still_being_placed_stays_pending_and_says_so(
    operator_client: Client, waiting_line: PhoneLine
) -> None:
    response = _check(operator_client, waiting_line, **htmx())

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="pending-{waiting_line.id}"')
    assert "still placing this line" in body
    waiting_line.refresh_from_db()
    assert waiting_line.state == LineState.PENDING


def test_a_provider_failure_is_said_in_the_row(
    operator_client: Client, waiting_line: PhoneLine, fake_provider: FakeProvider
) -> None:
    fake_provider.fail_next.append(ProviderError("provider answered HTTP 503", permanent=False))

    response = _check(operator_client, waiting_line, **htmx())

    assert response.status_code == 502
    assert "could not be asked about this line" in response.content.decode()


def test_without_javascript_a_check_returns_to_the_pending_page(
    operator_client: Client, waiting_line: PhoneLine
) -> None:
    response = _check(operator_client, waiting_line)

    assert response.status_code == 302
    assert response["Location"] == reverse("console:pending-lines")


def test_an_auditors_forged_check_is_refused_before_the_provider_is_asked(
    auditor_client: Client, waiting_line: PhoneLine, fake_provider: FakeProvider
) -> None:
    asked = len(fake_provider.calls_to("get_line_request"))

    assert _check(auditor_client, waiting_line).status_code == 403
    assert len(fake_provider.calls_to("get_line_request")) == asked
    assert not AuditEntry.objects.filter(action="line.check").exists()


def test_another_organisations_line_answers_404(
    outsider_operator_client: Client, waiting_line: PhoneLine
) -> None:
    assert _check(outsider_operator_client, waiting_line).status_code == 404
