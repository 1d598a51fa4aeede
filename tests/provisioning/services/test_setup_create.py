"""Setup create: provider calls outside the database transaction, idempotent under retries."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from console.services import Actor
from provisioning.models import LineRole, Setup, SetupStatus
from provisioning.providers.base import ProviderError
from provisioning.services.setups import SETUP_INTERRUPTED, setup_create, setups_fail_interrupted
from tests.console.factories import OrganizationFactory
from tests.provisioning.factories import SetupFactory

URL = "/api/v1/imessage/setups"
BODY = {"business_name": "Riverside Clinic LLC", "label": "Front desk"}


def create(client: Any, **headers: str) -> Any:
    return client.post(URL, data=json.dumps(BODY), content_type="application/json", **headers)


@pytest.mark.django_db(transaction=True)
def test_provider_calls_run_outside_any_transaction_after_the_setup_is_committed(
    fake_provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool, list[str]]] = []

    def spy(name: str) -> Any:
        original = getattr(fake_provider, name)

        def call(**kwargs: Any) -> Any:
            statuses = list(Setup.objects.values_list("status", flat=True))
            seen.append((name, connection.in_atomic_block, statuses))
            return original(**kwargs)

        return call

    for name in ("create_child_account", "register_webhooks", "request_line"):
        monkeypatch.setattr(fake_provider, name, spy(name))

    setup = setup_create(
        organization=OrganizationFactory(),
        business_name="Platform",
        label="Router and pool",
        actor=Actor.system(),
        line_roles=[LineRole.ROUTER, LineRole.POOL],
    )

    assert [name for name, _, _ in seen] == [
        "create_child_account",
        "register_webhooks",
        "request_line",
    ]
    assert all(not in_transaction for _, in_transaction, _ in seen)
    assert seen[0][2] == [SetupStatus.PENDING]
    assert setup.status == SetupStatus.ACTIVE
    assert setup.lines.count() == 2


@pytest.mark.django_db
def test_a_retry_while_the_first_create_waits_for_the_provider_is_409_in_progress(
    admin_client: Any, fake_provider: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fake_provider.create_child_account
    retries: list[Any] = []

    def slow_provider(**kwargs: Any) -> Any:
        retries.append(create(admin_client, HTTP_IDEMPOTENCY_KEY="setup-1"))
        return original(**kwargs)

    monkeypatch.setattr(fake_provider, "create_child_account", slow_provider)

    first = create(admin_client, HTTP_IDEMPOTENCY_KEY="setup-1")

    (retry,) = retries
    assert retry.status_code == 409
    assert retry.json()["detail"]["error"] == "idempotency_in_progress"
    assert retry["Retry-After"] == "1"
    assert first.status_code == 201
    assert Setup.objects.count() == 1


@pytest.mark.django_db
def test_a_retry_of_an_interrupted_create_fails_it_without_calling_the_provider(
    admin_client: Any, fake_provider: Any
) -> None:
    organization = admin_client.issued.record.organization
    stale = SetupFactory(
        organization=organization,
        idempotency_key="setup-1",
        status=SetupStatus.PENDING,
        provider_account_id="",
        credentials_encrypted="",
        **BODY,
    )
    Setup.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=1))

    response = create(admin_client, HTTP_IDEMPOTENCY_KEY="setup-1")

    assert response.status_code == 201
    assert response.json()["id"] == str(stale.id)
    assert response.json()["status"] == "failed"
    assert response.json()["failure_reason"] == SETUP_INTERRUPTED
    assert fake_provider.calls == []


@pytest.mark.django_db
def test_the_reconcile_beat_fails_only_creates_interrupted_long_ago() -> None:
    stale = SetupFactory(status=SetupStatus.PENDING, provider_account_id="")
    recent = SetupFactory(status=SetupStatus.PENDING, provider_account_id="")
    waiting_for_a_line = SetupFactory(status=SetupStatus.PENDING)
    Setup.objects.filter(pk__in=[stale.pk, waiting_for_a_line.pk]).update(
        created_at=timezone.now() - timedelta(hours=1)
    )

    assert setups_fail_interrupted() == 1

    statuses = dict(Setup.objects.values_list("id", "status"))
    assert statuses[stale.id] == SetupStatus.FAILED
    assert statuses[recent.id] == SetupStatus.PENDING
    assert statuses[waiting_for_a_line.id] == SetupStatus.PENDING


@pytest.mark.django_db
def test_a_refused_create_frees_its_key_for_a_corrected_retry(
    admin_client: Any, fake_provider: Any
) -> None:
    fake_provider.fail_next.append(
        ProviderError("provider answered HTTP 400", permanent=True, status_code=400)
    )
    assert create(admin_client, HTTP_IDEMPOTENCY_KEY="setup-1").status_code == 502

    retry = create(admin_client, HTTP_IDEMPOTENCY_KEY="setup-1")

    assert retry.status_code == 201
    assert retry.json()["status"] == "active"
    assert Setup.objects.count() == 1
