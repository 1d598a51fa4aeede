"""More lines per setup (`POST /setups/{id}/lines`), line counts, and the default setup."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from provisioning.models import LineState, PhoneLine, Setup, SetupStatus
from provisioning.providers.base import ProviderError
from provisioning.providers.fake import FakeProvider
from tests.conftest import KeyedClient
from tests.provisioning.api.test_provider_webhooks import post as post_provider_event
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret

pytestmark = pytest.mark.django_db

SETUPS = "/api/v1/imessage/setups"


@pytest.fixture
def setup(org: Any) -> Setup:
    made = SetupFactory(organization=org, is_default=True)
    PhoneLineFactory(setup=made)
    return made


def add_line(client: Any, setup: Setup, body: Any = None, **headers: str) -> Any:
    return client.post(
        f"{SETUPS}/{setup.id}/lines",
        data=json.dumps(body or {}),
        content_type="application/json",
        **headers,
    )


def test_admin_adds_a_line_placed_at_once(admin_client: KeyedClient, setup: Setup) -> None:
    response = add_line(admin_client, setup)

    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["role"]) == ("assigned", "dedicated")
    assert body["number"].startswith("+1")
    assert body["assigned_at"] is not None
    assert setup.lines.count() == 2


def test_a_line_still_being_placed_is_pending_and_line_assigned_completes_it(
    admin_client: KeyedClient, client: Client, setup: Setup, fake_provider: FakeProvider
) -> None:
    fake_provider.assign_immediately = False

    body = add_line(admin_client, setup).json()

    assert (body["state"], body["number"]) == ("pending", None)
    event = {
        "type": "line_assigned",
        "sendblue_number": "+14155558123",
        "line_request_id": int(body["provider_request_id"]),
    }
    post_provider_event(
        client, setup.id, event, secret=setup_secret(setup), event_type="line_assigned"
    )
    line = PhoneLine.objects.get(id=body["id"])
    assert (line.state, line.number) == (LineState.ASSIGNED, "+14155558123")


def test_adding_a_pending_line_keeps_an_active_setup_active(
    admin_client: KeyedClient, setup: Setup, fake_provider: FakeProvider
) -> None:
    fake_provider.assign_immediately = False

    add_line(admin_client, setup)

    setup.refresh_from_db()
    assert setup.status == SetupStatus.ACTIVE


def test_the_same_idempotency_key_returns_the_same_line_without_a_second_order(
    admin_client: KeyedClient, setup: Setup, fake_provider: FakeProvider
) -> None:
    first = add_line(admin_client, setup, HTTP_IDEMPOTENCY_KEY="line-1")
    second = add_line(admin_client, setup, HTTP_IDEMPOTENCY_KEY="line-1")

    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert len(fake_provider.calls_to("request_line")) == 1


def test_the_same_key_with_another_role_is_refused(
    admin_client: KeyedClient, fake_provider: FakeProvider
) -> None:
    platform = SetupFactory(organization=admin_client.issued.record.organization, is_platform=True)
    add_line(admin_client, platform, {"role": "pool"}, HTTP_IDEMPOTENCY_KEY="line-2")

    reused = add_line(admin_client, platform, {"role": "router"}, HTTP_IDEMPOTENCY_KEY="line-2")

    assert reused.status_code == 409
    assert reused.json()["detail"]["error"] == "idempotency_key_reused"


def test_router_and_pool_lines_are_refused_on_an_organisation_setup(
    admin_client: KeyedClient, setup: Setup, fake_provider: FakeProvider
) -> None:
    response = add_line(admin_client, setup, {"role": "pool"})

    assert response.status_code == 400
    assert fake_provider.calls_to("request_line") == []


@pytest.mark.parametrize(
    "state",
    [{"status": SetupStatus.FAILED}, {"status": SetupStatus.PENDING, "provider_account_id": ""}],
)
def test_a_failed_or_still_creating_setup_answers_409_setup_not_active(
    admin_client: KeyedClient, org: Any, fake_provider: FakeProvider, state: dict[str, str]
) -> None:
    setup = SetupFactory(organization=org, **state)

    response = add_line(admin_client, setup)

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "setup_not_active"
    assert fake_provider.calls_to("request_line") == []


def test_a_setup_waiting_for_its_first_line_may_take_another(
    admin_client: KeyedClient, org: Any
) -> None:
    setup = SetupFactory(organization=org, status=SetupStatus.PENDING)

    assert add_line(admin_client, setup).status_code == 201


def test_another_organisations_setup_is_404(
    admin_client: KeyedClient, fake_provider: FakeProvider
) -> None:
    foreign = SetupFactory()

    response = add_line(admin_client, foreign)

    assert response.status_code == 404
    assert fake_provider.calls_to("request_line") == []


def test_identity_keys_cannot_add_lines(identity_client: KeyedClient, setup: Setup) -> None:
    assert add_line(identity_client, setup).status_code == 403


def test_a_provider_failure_is_502_and_stores_no_line(
    admin_client: KeyedClient, setup: Setup, fake_provider: FakeProvider
) -> None:
    fake_provider.fail_next.append(ProviderError("provider answered HTTP 500", permanent=False))

    response = add_line(admin_client, setup, HTTP_IDEMPOTENCY_KEY="line-3")

    assert response.status_code == 502
    assert response.json()["detail"]["error"] == "provider_error"
    assert setup.lines.count() == 1
    assert add_line(admin_client, setup, HTTP_IDEMPOTENCY_KEY="line-3").status_code == 201


def test_phone_line_count_leaves_out_released_lines_which_the_detail_still_lists(
    admin_client: KeyedClient, setup: Setup
) -> None:
    PhoneLineFactory(setup=setup, released_at=timezone.now())
    PhoneLineFactory(setup=setup, pending=True)

    [row] = admin_client.get(SETUPS).json()
    detail = admin_client.get(f"{SETUPS}/{setup.id}").json()

    assert row["phone_line_count"] == 2
    assert detail["phone_line_count"] == 2
    assert len(detail["phone_lines"]) == 3
    assert {line["state"] for line in detail["phone_lines"]} == {"assigned", "pending"}
    assert sum(1 for line in detail["phone_lines"] if line["released_at"]) == 1


# --- The default setup ------------------------------------------------------------


def test_the_organisations_first_setup_becomes_its_default_and_the_next_does_not(
    admin_client: KeyedClient,
) -> None:
    body = {"business_name": "Riverside Clinic LLC", "label": "Front desk"}
    first = admin_client.post(SETUPS, body, format="json").json()
    second = admin_client.post(SETUPS, {**body, "label": "Billing"}, format="json").json()

    assert (first["is_default"], second["is_default"]) == (True, False)


def test_marking_another_setup_default_moves_the_default(
    admin_client: KeyedClient, setup: Setup, org: Any
) -> None:
    other = SetupFactory(organization=org)

    response = admin_client.patch(f"{SETUPS}/{other.id}", {"is_default": True}, format="json")

    assert response.status_code == 200
    assert response.json()["is_default"] is True
    assert list(Setup.objects.filter(is_default=True)) == [other]


def test_marking_another_organisations_setup_default_is_404(
    admin_client: KeyedClient, setup: Setup
) -> None:
    foreign = SetupFactory()

    response = admin_client.patch(f"{SETUPS}/{foreign.id}", {"is_default": True}, format="json")

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.is_default is False
