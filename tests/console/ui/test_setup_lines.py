"""The setup page: operators add lines and mark the default setup; auditors only read."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from console.models import AuditEntry, Organization
from provisioning.models import PhoneLine, Setup
from provisioning.providers.fake import FakeProvider
from tests.console.ui.conftest import htmx
from tests.provisioning.factories import PhoneLineFactory, SetupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(org: Organization) -> Setup:
    made = SetupFactory(organization=org, is_default=True)
    PhoneLineFactory(setup=made)
    return made


def test_operators_see_the_add_line_control_and_the_default_mark(
    operator_client: Client, setup: Setup
) -> None:
    body = operator_client.get(reverse("console:setup", args=[setup.id])).content.decode()

    assert "Add line" in body
    assert "Default for claims" in body and "Yes" in body


def test_auditors_get_no_add_line_or_default_control(
    auditor_client: Client, org: Organization, setup: Setup
) -> None:
    other = SetupFactory(organization=org)

    body = auditor_client.get(reverse("console:setup", args=[other.id])).content.decode()

    assert "Add line" not in body
    assert "Make default" not in body


def test_an_operator_adds_a_line_and_the_section_is_swapped_in(
    operator_client: Client, setup: Setup, fake_provider: FakeProvider
) -> None:
    response = operator_client.post(
        reverse("console:setup-line-add", args=[setup.id]),
        {"role": "dedicated", "request_token": "t-1"},
        **htmx(),
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="lines-section"')
    assert setup.lines.count() == 2
    new_line = setup.lines.order_by("-requested_at").first()
    assert new_line is not None and new_line.number in body
    assert AuditEntry.objects.filter(action="line.request").exists()


def test_a_double_submitted_add_line_form_orders_one_line(
    operator_client: Client, setup: Setup, fake_provider: FakeProvider
) -> None:
    url = reverse("console:setup-line-add", args=[setup.id])
    for _ in range(2):
        operator_client.post(url, {"role": "dedicated", "request_token": "same"})

    assert setup.lines.count() == 2
    assert len(fake_provider.calls_to("request_line")) == 1


def test_an_add_line_refused_by_the_provider_is_shown_in_the_section(
    operator_client: Client, setup: Setup, fake_provider: FakeProvider
) -> None:
    from provisioning.providers.base import ProviderError

    fake_provider.fail_next.append(ProviderError("provider answered HTTP 500", permanent=False))

    response = operator_client.post(
        reverse("console:setup-line-add", args=[setup.id]),
        {"role": "dedicated", "request_token": "t-2"},
        **htmx(),
    )

    assert response.status_code == 502
    assert "could not place a line" in response.content.decode()
    assert setup.lines.count() == 1


def test_an_operator_marks_another_setup_as_default(
    operator_client: Client, org: Organization, setup: Setup
) -> None:
    other = SetupFactory(organization=org)

    response = operator_client.post(reverse("console:setup-default", args=[other.id]))

    assert response.status_code == 302
    assert list(Setup.objects.filter(is_default=True)) == [other]
    assert AuditEntry.objects.filter(action="setup.default_set").exists()


def test_the_setups_list_tags_the_default_setup(operator_client: Client, setup: Setup) -> None:
    body = operator_client.get(reverse("console:setups")).content.decode()

    assert '<span class="tag">default</span>' in body


def test_auditors_posting_add_line_get_403_and_nothing_is_ordered(
    auditor_client: Client, setup: Setup, fake_provider: FakeProvider
) -> None:
    response = auditor_client.post(
        reverse("console:setup-line-add", args=[setup.id]), {"role": "dedicated"}
    )

    assert response.status_code == 403
    assert fake_provider.calls_to("request_line") == []
    assert PhoneLine.objects.count() == 1
