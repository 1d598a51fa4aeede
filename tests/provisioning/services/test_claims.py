"""Dedicated-number claims: the line is reserved before the provider call, which holds no
lock, and a retry with the same key never orders a second line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from console.models import AgentIdentity, Organization
from console.services import Actor
from provisioning.models import LineState, NumberClaim, PhoneLine
from provisioning.providers.base import LineRequest, ProviderError
from provisioning.providers.fake import FakeProvider
from provisioning.services.claims import dedicated_number_claim
from provisioning.services.lines import line_assign
from tests.conftest import KeyedClient
from tests.console.factories import OrganizationFactory
from tests.provisioning.factories import SetupFactory

NUMBERS = "/api/v1/imessage/numbers"
IDENTITIES = "/api/v1/identities/"


def claim(client: KeyedClient, key: str = "claim-1") -> Any:
    return client.post(NUMBERS, {}, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db(transaction=True)
def test_the_provider_is_asked_outside_any_transaction_after_the_line_is_reserved(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    organization = OrganizationFactory()
    SetupFactory(organization=organization, is_default=True)
    original = fake_provider.request_line
    seen: list[tuple[bool, list[str]]] = []

    def spy(**kwargs: Any) -> LineRequest:
        states = list(PhoneLine.objects.values_list("state", flat=True))
        seen.append((connection.in_atomic_block, states))
        return original(**kwargs)

    monkeypatch.setattr(fake_provider, "request_line", spy)

    line = dedicated_number_claim(organization=organization, actor=Actor.system(), key="k1")

    assert seen == [(False, [LineState.PENDING])]
    assert line.state == LineState.ASSIGNED
    assert NumberClaim.objects.get().line == line


@pytest.mark.django_db
def test_a_failed_order_is_502_and_the_same_key_orders_again(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org, is_default=True)
    fake_provider.fail_next.append(ProviderError("provider timed out", permanent=False))

    failed = claim(admin_client)

    assert failed.status_code == 502
    assert failed.json()["detail"]["error"] == "provider_error"
    assert not PhoneLine.objects.exists()
    retry = claim(admin_client)
    assert retry.status_code == 201
    assert len(fake_provider.calls_to("request_line")) == 2
    assert PhoneLine.objects.get().id == NumberClaim.objects.get().line_id


@pytest.mark.django_db
def test_a_retry_after_placement_answers_the_placed_line_in_e164(
    admin_client: KeyedClient,
    org: Organization,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    SetupFactory(organization=org, is_default=True)
    fake_provider.assign_immediately = False
    assert claim(admin_client).status_code == 503
    monkeypatch.setattr(
        fake_provider,
        "get_line_request",
        lambda **kw: LineRequest(kw["request_id"], "FULFILLED", "+1 415 555 7777"),
    )

    retry = claim(admin_client)

    assert retry.status_code == 201
    assert retry.json()["number"] == "+14155557777"
    assert PhoneLine.objects.get().state == LineState.ASSIGNED
    assert len(fake_provider.calls_to("request_line")) == 1


@pytest.mark.django_db
@override_settings(DEDICATED_NUMBERS_PER_ORG=1)
def test_a_pending_reservation_counts_against_the_quota(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org, is_default=True)
    fake_provider.assign_immediately = False
    assert claim(admin_client, "first").status_code == 503

    second = claim(admin_client, "second")

    assert second.status_code == 402
    assert (second.json()["detail"]["limit"], second.json()["detail"]["current"]) == (1, 1)
    assert len(fake_provider.calls_to("request_line")) == 1


CLAIM_BODY = {"agent_handle": "front-desk", "imessage_enabled": True, "claim_imessage_number": True}


@pytest.mark.django_db
def test_identity_create_against_a_slow_provider_creates_the_identity_with_a_pending_notice(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org, is_default=True)
    fake_provider.assign_immediately = False

    created = admin_client.post(IDENTITIES, CLAIM_BODY, format="json")

    assert created.status_code == 201
    body = created.json()
    assert body["agent_handle"] == "front-desk"
    assert body["imessage_number"] is None
    [notice] = body["notices"]
    assert notice["code"] == "dedicated_imessage_number_inventory_pending"
    assert json.loads(created["Inkbox-Notices"]) == body["notices"]
    line = PhoneLine.objects.get()
    assert (line.state, line.identity.handle) == (LineState.PENDING, "front-desk")


@pytest.mark.django_db
def test_the_pending_number_reaches_the_new_identity_when_the_provider_places_it(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    setup = SetupFactory(organization=org, is_default=True)
    fake_provider.assign_immediately = False
    admin_client.post(IDENTITIES, CLAIM_BODY, format="json")
    line = PhoneLine.objects.get()

    line_assign(setup=setup, number="+14155557790", line_request_id=line.provider_request_id)

    shown = admin_client.get(f"{IDENTITIES}front-desk").json()
    assert shown["imessage_number"]["number"] == "+14155557790"


@pytest.mark.django_db
def test_a_provider_failure_still_creates_the_identity_and_reports_the_claim_error(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org, is_default=True)
    fake_provider.fail_next.append(ProviderError("provider timed out", permanent=False))

    created = admin_client.post(IDENTITIES, CLAIM_BODY, format="json")

    assert created.status_code == 201
    assert created.json()["imessage_number"] is None
    assert [n["code"] for n in created.json()["notices"]] == ["provider_error"]
    assert AgentIdentity.objects.filter(handle="front-desk").exists()
    assert not PhoneLine.objects.exists()


@pytest.mark.django_db
def test_a_create_retried_with_its_idempotency_key_returns_the_identity_and_finishes_the_claim(
    admin_client: KeyedClient,
    org: Organization,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    SetupFactory(organization=org, is_default=True)
    fake_provider.assign_immediately = False
    first = admin_client.post(IDENTITIES, CLAIM_BODY, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    monkeypatch.setattr(
        fake_provider,
        "get_line_request",
        lambda **kw: LineRequest(kw["request_id"], "FULFILLED", "+14155557778"),
    )

    retry = admin_client.post(IDENTITIES, CLAIM_BODY, format="json", HTTP_IDEMPOTENCY_KEY="c-1")

    assert retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["imessage_number"]["number"] == "+14155557778"
    assert "notices" not in retry.json()
    assert len(fake_provider.calls_to("request_line")) == 1
    assert AgentIdentity.objects.filter(handle="front-desk").count() == 1


@pytest.mark.django_db
def test_a_create_retried_after_a_provider_failure_orders_again_for_the_same_identity(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org, is_default=True)
    fake_provider.fail_next.append(ProviderError("provider timed out", permanent=False))
    first = admin_client.post(IDENTITIES, CLAIM_BODY, format="json", HTTP_IDEMPOTENCY_KEY="c-2")

    retry = admin_client.post(IDENTITIES, CLAIM_BODY, format="json", HTTP_IDEMPOTENCY_KEY="c-2")

    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["imessage_number"] is not None
    assert len(fake_provider.calls_to("request_line")) == 2


@pytest.mark.django_db
def test_the_same_create_key_with_another_body_is_refused(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org, is_default=True)
    admin_client.post(IDENTITIES, CLAIM_BODY, format="json", HTTP_IDEMPOTENCY_KEY="c-3")

    other = admin_client.post(
        IDENTITIES,
        {**CLAIM_BODY, "display_name": "Other"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="c-3",
    )

    assert other.status_code == 409
    assert other.json()["detail"]["error"] == "idempotency_key_reused"


@pytest.mark.django_db
@override_settings(DEDICATED_NUMBERS_PER_ORG=0)
def test_an_identity_create_over_the_quota_creates_nothing(
    admin_client: KeyedClient, org: Organization, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=org, is_default=True)

    refused = admin_client.post(IDENTITIES, CLAIM_BODY, format="json")

    assert refused.status_code == 402
    assert not AgentIdentity.objects.filter(handle="front-desk").exists()
    assert fake_provider.calls_to("request_line") == []


@pytest.mark.django_db
def test_identity_create_with_a_taken_handle_orders_no_number(
    admin_client: KeyedClient, identity: AgentIdentity, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=identity.organization, is_default=True)
    body = {
        "agent_handle": identity.handle,
        "imessage_enabled": True,
        "claim_imessage_number": True,
    }

    response = admin_client.post(IDENTITIES, body, format="json")

    assert response.status_code == 409
    assert fake_provider.calls_to("request_line") == []
