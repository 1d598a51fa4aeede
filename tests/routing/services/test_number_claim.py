"""Dedicated-number claims: the line is reserved before the provider call, which holds no
lock, and a retry with the same key never orders a second line."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from console.models import AgentIdentity, Organization
from console.services import Actor
from provisioning.models import LineState, PhoneLine
from provisioning.providers.base import LineRequest, ProviderError
from provisioning.providers.fake import FakeProvider
from routing.models import NumberClaim
from routing.services import dedicated_number_claim
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
    SetupFactory(organization=organization)
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
    SetupFactory(organization=org)
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
    SetupFactory(organization=org)
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
    SetupFactory(organization=org)
    fake_provider.assign_immediately = False
    assert claim(admin_client, "first").status_code == 503

    second = claim(admin_client, "second")

    assert second.status_code == 402
    assert (second.json()["detail"]["limit"], second.json()["detail"]["current"]) == (1, 1)
    assert len(fake_provider.calls_to("request_line")) == 1


@pytest.mark.django_db
def test_identity_create_with_a_pending_number_keeps_the_order_for_the_retry(
    admin_client: KeyedClient,
    org: Organization,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    SetupFactory(organization=org)
    fake_provider.assign_immediately = False
    body = {"agent_handle": "front-desk", "imessage_enabled": True, "claim_imessage_number": True}

    pending = admin_client.post(IDENTITIES, body, format="json")

    assert pending.status_code == 503
    assert not AgentIdentity.objects.filter(handle="front-desk").exists()
    monkeypatch.setattr(
        fake_provider,
        "get_line_request",
        lambda **kw: LineRequest(kw["request_id"], "FULFILLED", "+14155557778"),
    )
    created = admin_client.post(IDENTITIES, body, format="json")
    assert created.status_code == 201
    assert created.json()["imessage_number"]["number"] == "+14155557778"
    assert len(fake_provider.calls_to("request_line")) == 1


@pytest.mark.django_db
def test_identity_create_with_a_taken_handle_orders_no_number(
    admin_client: KeyedClient, identity: AgentIdentity, fake_provider: FakeProvider
) -> None:
    SetupFactory(organization=identity.organization)
    body = {
        "agent_handle": identity.handle,
        "imessage_enabled": True,
        "claim_imessage_number": True,
    }

    response = admin_client.post(IDENTITIES, body, format="json")

    assert response.status_code == 409
    assert fake_provider.calls_to("request_line") == []
