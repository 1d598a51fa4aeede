"""Setups from the browser: operators create setups, add lines and mark the default setup,
through the API's services and idempotency; auditors only read."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from console.models import AuditEntry, Organization
from provisioning.models import PhoneLine, Setup
from provisioning.providers.base import AccountCredentials
from provisioning.providers.fake import FakeProvider
from provisioning.providers.sendblue.adapter import SendblueAdapter
from provisioning.simulator.app import Simulator
from tests.console.ui.conftest import htmx
from tests.provisioning.factories import PhoneLineFactory, SetupFactory

pytestmark = pytest.mark.django_db

AGENCY = AccountCredentials(key_id="console-sim-agency", secret="console-sim-agency-secret")


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


# --- New setup ---------------------------------------------------------------------------


def _create(client: Client, org: Organization, token: str = "tok-1", **extra: object) -> object:
    return client.post(
        reverse("console:setups"),
        {
            "organization": str(org.id),
            "business_name": "Riverside Clinic LLC",
            "label": "Front desk",
            "request_token": token,
        },
        **extra,  # type: ignore[arg-type]
    )


def test_operators_get_a_new_setup_form_with_a_fresh_token_each_time(
    operator_client: Client,
) -> None:
    first = operator_client.get(reverse("console:setups"))
    second = operator_client.get(reverse("console:setups"))

    assert "Create setup" in first.content.decode()
    tokens = {r.context["create_form"]["request_token"].value() for r in (first, second)}
    assert len(tokens) == 2


def test_auditors_get_no_new_setup_form(auditor_client: Client) -> None:
    assert "Create setup" not in auditor_client.get(reverse("console:setups")).content.decode()


def test_an_operator_creates_a_setup_through_the_setup_service(
    operator_client: Client, org: Organization, fake_provider: FakeProvider
) -> None:
    response = _create(operator_client, org, **htmx())

    setup = Setup.objects.get(organization=org)
    assert (setup.business_name, setup.label) == ("Riverside Clinic LLC", "Front desk")
    assert setup.idempotency_key == "console:tok-1"
    assert setup.lines.count() == 1
    assert len(fake_provider.calls_to("create_child_account")) == 1
    entry = AuditEntry.objects.get(action="setup.create")
    assert entry.actor_label == "olivia"
    body = response.content.decode()  # type: ignore[attr-defined]
    assert body.lstrip().startswith('<section id="setup-create"')
    assert "Setup “Front desk” created" in body


def test_a_double_submitted_new_setup_form_creates_one_setup(
    operator_client: Client, org: Organization, fake_provider: FakeProvider
) -> None:
    for _ in range(2):
        _create(operator_client, org, token="same")

    assert Setup.objects.filter(organization=org).count() == 1
    assert len(fake_provider.calls_to("create_child_account")) == 1


def test_without_javascript_a_new_setup_opens_its_page(
    operator_client: Client, org: Organization, fake_provider: FakeProvider
) -> None:
    response = _create(operator_client, org)

    setup = Setup.objects.get(organization=org)
    assert response["Location"] == reverse("console:setup", args=[setup.id])  # type: ignore[index]


def test_a_provider_refusal_says_why_and_stores_nothing(
    operator_client: Client, org: Organization, fake_provider: FakeProvider
) -> None:
    from provisioning.providers.base import ProviderError

    fake_provider.fail_next.append(ProviderError("agency key revoked", permanent=True))

    response = _create(operator_client, org, **htmx())

    assert response.status_code == 502  # type: ignore[attr-defined]
    assert "refused to create the subaccount" in response.content.decode()  # type: ignore[attr-defined]
    assert not Setup.objects.exists()


def test_a_setup_missing_its_label_is_refused_next_to_the_field(
    operator_client: Client, org: Organization, fake_provider: FakeProvider
) -> None:
    response = operator_client.post(
        reverse("console:setups"),
        {"organization": str(org.id), "business_name": "Acme", "request_token": "t"},
        **htmx(),
    )

    assert response.status_code == 422
    assert 'id="id_label-error"' in response.content.decode()
    assert not Setup.objects.exists()


def test_an_auditors_forged_new_setup_is_refused(
    auditor_client: Client, org: Organization, fake_provider: FakeProvider
) -> None:
    assert _create(auditor_client, org).status_code == 403  # type: ignore[attr-defined]
    assert not Setup.objects.exists()
    assert fake_provider.calls_to("create_child_account") == []


def test_an_operator_cannot_create_a_setup_in_another_organisation(
    outsider_operator_client: Client, org: Organization, fake_provider: FakeProvider
) -> None:
    response = _create(outsider_operator_client, org, **htmx())

    assert response.status_code == 422  # type: ignore[attr-defined]
    assert not Setup.objects.filter(organization=org).exists()
    assert fake_provider.calls_to("create_child_account") == []


def test_the_setups_page_costs_a_fixed_number_of_queries_with_the_form(
    operator_client: Client, org: Organization, django_assert_max_num_queries: object
) -> None:
    for _ in range(30):
        SetupFactory(organization=org)
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        operator_client.get(reverse("console:setups"))


# --- Against the provider simulator -----------------------------------------------------


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The simulator behind the real Sendblue adapter; its webhooks are lost (503), as
    when a `line_assigned` delivery never reaches us."""
    lost = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503)))
    sim = Simulator(
        agency_key_id=AGENCY.key_id,
        agency_secret=AGENCY.secret,
        public_url="http://sim.test",
        deliver_client=lost,
        status_delay=0,
    )
    adapter = SendblueAdapter(
        base_url="http://sim.test",
        agency=AGENCY,
        transport=httpx.WSGITransport(app=sim),
        sleep=lambda seconds: None,
    )
    monkeypatch.setattr("provisioning.providers.get_adapter", lambda: adapter)
    yield sim
    lost.close()


def test_against_the_simulator_a_console_setup_gets_its_line_by_checking_with_the_provider(
    operator_client: Client, org: Organization, simulator: Simulator
) -> None:
    _create(operator_client, org, **htmx())
    setup = Setup.objects.get(organization=org)
    line = setup.lines.get()
    assert line.state == "pending"
    control = httpx.Client(transport=httpx.WSGITransport(app=simulator), base_url="http://sim.test")
    placed = control.post(f"/control/lines/{line.provider_request_id}/assign").json()
    simulator.run_due(everything=True)  # the line_assigned webhook is lost

    response = operator_client.post(reverse("console:line-check", args=[line.id]), **htmx())

    line.refresh_from_db()
    assert line.number == placed["data"]["phoneNumber"]
    assert f"The provider placed {line.number}" in response.content.decode()


def test_against_the_simulator_a_line_added_in_the_console_is_ordered_once(
    operator_client: Client, org: Organization, simulator: Simulator
) -> None:
    simulator.assign_immediately = True
    _create(operator_client, org)
    setup = Setup.objects.get(organization=org)
    url = reverse("console:setup-line-add", args=[setup.id])

    for _ in range(2):
        operator_client.post(url, {"role": "dedicated", "request_token": "twice"})

    assert setup.lines.count() == 2
    assert all(line.number for line in setup.lines.all())
