"""The setups API: create (with Idempotency-Key), list, detail; admin keys only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provisioning.models import LineState, PhoneLine, Setup, SetupStatus
from provisioning.providers.base import ProviderError
from provisioning.services.credentials import setup_credentials, setup_webhook_secret
from tests.provisioning.factories import PhoneLineFactory, SetupFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/imessage/setups"
BODY = {"business_name": "Riverside Clinic LLC", "label": "Front desk"}


def create(client: Any, body: Any = BODY, **headers: str) -> Any:
    return client.post(URL, data=json.dumps(body), content_type="application/json", **headers)


def test_admin_creates_a_setup_with_its_line_assigned_at_once(
    admin_client: Any, fake_provider: Any
) -> None:
    response = create(admin_client)

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "active"
    assert body["label"] == "Front desk"
    assert body["phone_line_count"] == 1
    (line,) = body["phone_lines"]
    assert line["state"] == "assigned"
    assert line["number"].startswith("+1415555")
    setup = Setup.objects.get(id=body["id"])
    assert setup.organization == admin_client.issued.record.organization


def test_create_registers_one_webhook_url_per_type_with_the_setup_secret(
    admin_client: Any, fake_provider: Any
) -> None:
    body = create(admin_client).json()

    (call,) = fake_provider.calls_to("register_webhooks")
    setup = Setup.objects.get(id=body["id"])
    assert call.kwargs["secret"] == setup_webhook_secret(setup)
    urls = call.kwargs["urls_by_type"]
    assert set(urls) >= {"receive", "outbound", "line_assigned", "line_blocked"}
    assert urls["line_assigned"].endswith(f"/api/v1/provider-webhooks/{setup.id}/line_assigned")


def test_credentials_and_secret_are_stored_encrypted(admin_client: Any, fake_provider: Any) -> None:
    body = create(admin_client).json()

    setup = Setup.objects.get(id=body["id"])
    creds = setup_credentials(setup)
    assert creds.key_id.startswith("fake_k_")
    assert creds.key_id not in setup.credentials_encrypted
    assert setup_webhook_secret(setup) not in setup.webhook_secret_encrypted
    assert creds.secret not in response_text(admin_client, setup)


def response_text(client: Any, setup: Setup) -> str:
    return client.get(f"{URL}/{setup.id}").content.decode() + client.get(URL).content.decode()


def test_create_leaves_the_line_pending_when_the_provider_has_no_number_yet(
    admin_client: Any, fake_provider: Any
) -> None:
    fake_provider.assign_immediately = False

    body = create(admin_client).json()

    assert body["status"] == "pending"
    (line,) = body["phone_lines"]
    assert line["state"] == "pending"
    assert line["number"] is None


def test_identity_keys_cannot_create_or_read_setups(identity_client: Any) -> None:
    assert create(identity_client).status_code == 403
    assert identity_client.get(URL).status_code == 403
    setup = SetupFactory(organization=identity_client.issued.record.organization)
    assert identity_client.get(f"{URL}/{setup.id}").status_code == 403


def test_anonymous_callers_get_401(anon_client: Any) -> None:
    assert anon_client.get(URL).status_code == 401


def test_retried_create_with_the_same_idempotency_key_returns_the_same_setup(
    admin_client: Any, fake_provider: Any
) -> None:
    first = create(admin_client, HTTP_IDEMPOTENCY_KEY="setup-1")
    second = create(admin_client, HTTP_IDEMPOTENCY_KEY="setup-1")

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Setup.objects.count() == 1
    assert len(fake_provider.calls_to("create_child_account")) == 1


def test_idempotency_key_reused_with_another_body_is_409(admin_client: Any) -> None:
    create(admin_client, HTTP_IDEMPOTENCY_KEY="setup-1")
    response = create(admin_client, {**BODY, "label": "Other"}, HTTP_IDEMPOTENCY_KEY="setup-1")

    assert response.status_code == 409
    assert response.json()["detail"]["error"] == "idempotency_key_reused"


def test_provider_5xx_leaves_the_setup_failed_with_a_readable_reason(
    admin_client: Any, fake_provider: Any
) -> None:
    fake_provider.fail_next.append(
        ProviderError("provider answered HTTP 503", permanent=False, status_code=503)
    )

    response = create(admin_client)

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "failed"
    assert "unavailable" in body["failure_reason"]
    assert "HTTP 503" in body["failure_reason"]
    assert Setup.objects.get().status == SetupStatus.FAILED
    assert PhoneLine.objects.count() == 0


def test_provider_4xx_is_a_502_and_nothing_is_stored(admin_client: Any, fake_provider: Any) -> None:
    fake_provider.fail_next.append(
        ProviderError(
            "provider answered HTTP 403: not an agency account", permanent=True, status_code=403
        )
    )

    response = create(admin_client)

    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail["error"] == "provider_error"
    assert "not an agency account" in detail["message"]
    assert detail["provider_status"] == 403
    assert Setup.objects.count() == 0


def test_webhook_registration_failure_leaves_the_setup_failed(
    admin_client: Any, fake_provider: Any
) -> None:
    original = fake_provider.register_webhooks

    def failing(**kwargs: Any) -> None:
        raise ProviderError("provider timed out", permanent=False)

    fake_provider.register_webhooks = failing
    try:
        body = create(admin_client).json()
    finally:
        fake_provider.register_webhooks = original

    assert body["status"] == "failed"
    assert "registering webhooks" in body["failure_reason"]


def test_malformed_json_is_400(admin_client: Any) -> None:
    response = admin_client.post(URL, data="{oops", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "malformed_json"


def test_wrong_content_type_is_415(admin_client: Any) -> None:
    response = admin_client.post(URL, data="business_name=x", content_type="text/plain")

    assert response.status_code == 415


def test_missing_fields_are_400_with_per_field_errors(admin_client: Any) -> None:
    response = create(admin_client, {})

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["error"] == "validation_error"
    assert set(detail["fields"]) == {"business_name", "label"}


def test_over_long_fields_are_400_with_per_field_errors(
    admin_client: Any, fake_provider: Any
) -> None:
    response = create(admin_client, {"business_name": "b" * 201, "label": "l" * 201})

    assert response.status_code == 400
    assert set(response.json()["detail"]["fields"]) == {"business_name", "label"}
    assert fake_provider.calls_to("create_child_account") == []


def test_list_shows_phone_line_counts_in_one_query(
    admin_client: Any, django_assert_num_queries: Any
) -> None:
    org = admin_client.issued.record.organization
    for lines in (0, 1, 3):
        setup = SetupFactory(organization=org)
        PhoneLineFactory.create_batch(lines, setup=setup)
    admin_client.get(URL)  # warm the key's last_used_at write

    with django_assert_num_queries(1):  # the list (the key: cached)
        response = admin_client.get(URL)

    assert response.status_code == 200
    assert sorted(row["phone_line_count"] for row in response.json()) == [0, 1, 3]


def test_list_paginates_with_limit_and_offset(admin_client: Any) -> None:
    org = admin_client.issued.record.organization
    SetupFactory.create_batch(5, organization=org)

    page = admin_client.get(URL, {"limit": 2, "offset": 1}).json()
    everything = admin_client.get(URL).json()

    assert [row["id"] for row in page] == [row["id"] for row in everything][1:3]


def test_list_filters_by_status_and_searches_labels(admin_client: Any) -> None:
    org = admin_client.issued.record.organization
    SetupFactory(organization=org, label="North clinic", status=SetupStatus.ACTIVE)
    SetupFactory(organization=org, label="South clinic", status=SetupStatus.PENDING)
    SetupFactory(organization=org, label="Billing", status=SetupStatus.PENDING)

    pending = admin_client.get(URL, {"status": "pending"}).json()
    clinics = admin_client.get(URL, {"search": "CLINIC"}).json()

    assert {row["label"] for row in pending} == {"South clinic", "Billing"}
    assert {row["label"] for row in clinics} == {"North clinic", "South clinic"}


def test_list_rejects_an_unknown_status_filter(admin_client: Any) -> None:
    response = admin_client.get(URL, {"status": "weird"})

    assert response.status_code == 400
    assert "status" in response.json()["detail"]["fields"]


def test_list_never_shows_other_organisations_setups(admin_client: Any, other_org: Any) -> None:
    SetupFactory(organization=other_org)

    assert admin_client.get(URL).json() == []


def test_detail_lists_every_line_with_its_state(admin_client: Any) -> None:
    setup = SetupFactory(organization=admin_client.issued.record.organization)
    PhoneLineFactory(setup=setup, number="+14155550111")
    PhoneLineFactory(setup=setup, pending=True)

    body = admin_client.get(f"{URL}/{setup.id}").json()

    assert [(line["state"], line["number"]) for line in body["phone_lines"]] == [
        (LineState.ASSIGNED, "+14155550111"),
        (LineState.PENDING, None),
    ]


def test_detail_of_another_organisations_setup_is_404_like_a_missing_one(
    admin_client: Any, other_org: Any
) -> None:
    foreign = SetupFactory(organization=other_org)

    foreign_response = admin_client.get(f"{URL}/{foreign.id}")
    missing_response = admin_client.get(f"{URL}/00000000-0000-4000-8000-000000000000")
    malformed_response = admin_client.get(f"{URL}/not-a-uuid")

    assert foreign_response.status_code == 404
    assert foreign_response.json() == missing_response.json() == malformed_response.json()


def test_no_api_response_contains_a_credential_or_secret(
    admin_client: Any, fake_provider: Any
) -> None:
    created = create(admin_client)
    setup = Setup.objects.get(id=created.json()["id"])
    creds = setup_credentials(setup)
    secret = setup_webhook_secret(setup)
    pages = [
        created.content,
        admin_client.get(URL).content,
        admin_client.get(f"{URL}/{setup.id}").content,
    ]

    for page in pages:
        text = page.decode()
        for value in (creds.key_id, creds.secret, secret, setup.credentials_encrypted):
            assert value not in text
