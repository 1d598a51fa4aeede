from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from console.models import AgentIdentity, Organization
from provisioning.models import LineState, PhoneLine, Setup
from provisioning.providers.fake import FakeProvider
from tests.conftest import KeyedClient
from tests.provisioning.factories import PhoneLineFactory, SetupFactory

pytestmark = pytest.mark.django_db

NUMBERS = "/api/v1/imessage/numbers"


@pytest.fixture
def org_setup(org: Organization) -> Setup:
    return SetupFactory(organization=org, is_default=True)


def claim(client: KeyedClient, key: str = "claim-1") -> Any:
    return client.post(NUMBERS, {}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_claim_places_a_line_under_the_organisation_setup(
    admin_client: KeyedClient, org_setup: Setup, fake_provider: FakeProvider
) -> None:
    response = claim(admin_client)

    assert response.status_code == 201
    body = response.json()
    assert body["type"] == "dedicated_outbound"
    assert body["status"] == "active"
    assert body["agent_identity_id"] is None and body["agent_handle"] is None
    assert PhoneLine.objects.get(id=body["id"]).setup == org_setup
    assert len(fake_provider.calls_to("request_line")) == 1


def test_claim_without_setup_id_uses_the_default_setup_not_the_oldest(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org, label="Oldest")
    default = SetupFactory(organization=org, label="Chosen", is_default=True)

    response = claim(admin_client)

    assert PhoneLine.objects.get(id=response.json()["id"]).setup == default


def test_claim_with_setup_id_orders_on_that_setup(
    admin_client: KeyedClient, org_setup: Setup, org: Organization
) -> None:
    other = SetupFactory(organization=org)

    response = admin_client.post(
        NUMBERS, {"setup_id": str(other.id)}, format="json", HTTP_IDEMPOTENCY_KEY="k-other"
    )

    assert response.status_code == 201
    assert PhoneLine.objects.get(id=response.json()["id"]).setup == other


def test_claim_naming_another_organisations_setup_is_404(
    admin_client: KeyedClient, org_setup: Setup, fake_provider: FakeProvider
) -> None:
    foreign = SetupFactory()

    response = admin_client.post(
        NUMBERS, {"setup_id": str(foreign.id)}, format="json", HTTP_IDEMPOTENCY_KEY="k-f"
    )

    assert response.status_code == 404
    assert fake_provider.calls_to("request_line") == []
    assert not PhoneLine.objects.exists()


def test_claim_without_a_default_setup_is_409_no_default_setup(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org)

    response = claim(admin_client)

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "no_default_setup"
    assert fake_provider.calls_to("request_line") == []


def test_claim_on_a_failed_setup_is_409_setup_not_active(
    admin_client: KeyedClient, org: Organization
) -> None:
    SetupFactory(organization=org, is_default=True, status="failed")

    response = claim(admin_client)

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "setup_not_active"


def test_claim_replays_on_the_same_key_without_a_second_provider_call(
    admin_client: KeyedClient, org_setup: Setup, fake_provider: FakeProvider
) -> None:
    first = claim(admin_client)
    second = claim(admin_client)

    assert second.json() == first.json()
    assert len(fake_provider.calls_to("request_line")) == 1


def test_pending_inventory_is_503_with_retry_after_and_the_retry_does_not_reorder(
    admin_client: KeyedClient, org_setup: Setup, fake_provider: FakeProvider
) -> None:
    fake_provider.assign_immediately = False

    response = claim(admin_client)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    detail = response.json()["detail"]
    assert detail["error"] == "dedicated_imessage_number_inventory_pending"
    assert detail["retry_after_seconds"] == 30
    assert claim(admin_client).status_code == 503
    assert len(fake_provider.calls_to("request_line")) == 1
    assert PhoneLine.objects.filter(state=LineState.PENDING).count() == 1


@override_settings(DEDICATED_NUMBERS_PER_ORG=1)
def test_quota_is_402_with_integer_limit_and_current(
    admin_client: KeyedClient, org_setup: Setup
) -> None:
    PhoneLineFactory(setup=org_setup)

    response = claim(admin_client)

    assert response.status_code == 402
    detail = response.json()["detail"]
    assert detail["error"] == "dedicated_imessage_number_quota_exceeded"
    assert (detail["limit"], detail["current"]) == (1, 1)


def test_claim_needs_an_idempotency_key(admin_client: KeyedClient, org_setup: Setup) -> None:
    assert admin_client.post(NUMBERS, {}, format="json").status_code == 400


def test_list_shows_the_organisation_lines_and_their_identity(
    admin_client: KeyedClient,
    org_setup: Setup,
    identity: AgentIdentity,
    outsider_identity: AgentIdentity,
) -> None:
    attached = PhoneLineFactory(setup=org_setup, identity=identity)
    PhoneLineFactory(setup=SetupFactory(organization=outsider_identity.organization))
    PhoneLineFactory(setup=org_setup, pending=True)

    body = admin_client.get(NUMBERS).json()

    assert body == [
        {
            "id": str(attached.id),
            "number": attached.number,
            "type": "dedicated_outbound",
            "status": "active",
            "agent_identity_id": str(identity.id),
            "agent_handle": identity.handle,
        }
    ]


def test_identity_patch_attaches_and_detaches_an_owned_line(
    admin_client: KeyedClient, org_setup: Setup, identity: AgentIdentity
) -> None:
    line = PhoneLineFactory(setup=org_setup)

    attached = admin_client.patch(
        "/api/v1/identities/nurse-bot", {"imessage_number_id": str(line.id)}, format="json"
    ).json()
    assert attached["imessage_number"] == {
        "id": str(line.id),
        "number": line.number,
        "type": "dedicated_outbound",
    }

    detached = admin_client.patch(
        "/api/v1/identities/nurse-bot", {"imessage_number_id": None}, format="json"
    ).json()
    assert detached["imessage_number"] is None


def test_identity_patch_claim_needs_a_key_and_attaches_the_new_line(
    admin_client: KeyedClient, org_setup: Setup, identity: AgentIdentity
) -> None:
    path = "/api/v1/identities/nurse-bot"
    body = {"claim_imessage_number": True}
    assert admin_client.patch(path, body, format="json").status_code == 400

    response = admin_client.patch(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 200
    assert response.json()["imessage_number"]["type"] == "dedicated_outbound"
    reused = admin_client.patch(
        path, {**body, "display_name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert reused.status_code == 409
    assert reused.json()["detail"]["error"] == "idempotency_key_reused"
