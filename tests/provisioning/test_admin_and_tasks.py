"""Admin pages never show secrets; the reconciliation tasks find missed assignments."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client

from provisioning.models import LineState
from provisioning.providers.base import LineRequest, LineStateEntry
from provisioning.services.credentials import setup_credentials, setup_webhook_secret
from provisioning.tasks import setups_reconcile_all
from tests.console.factories import UserFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_admin_pages_never_show_credentials_or_secrets(staff_client: Client) -> None:
    setup = SetupFactory()
    line = PhoneLineFactory(setup=setup)
    creds = setup_credentials(setup)
    secret = setup_webhook_secret(setup)
    pages = [
        "/admin/provisioning/setup/",
        f"/admin/provisioning/setup/{setup.id}/change/",
        "/admin/provisioning/phoneline/",
        f"/admin/provisioning/phoneline/{line.id}/change/",
        "/admin/provisioning/providerevent/",
    ]

    for page in pages:
        response = staff_client.get(page)
        assert response.status_code == 200, page
        text = response.content.decode()
        for value in (creds.key_id, creds.secret, secret, setup.credentials_encrypted):
            assert value not in text, page


def test_logs_of_a_full_setup_flow_carry_no_secret(
    admin_client: Any, fake_provider: Any, caplog: pytest.LogCaptureFixture, client: Client
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_provider.assign_immediately = False
    body = admin_client.post(
        "/api/v1/imessage/setups",
        data=json.dumps({"business_name": "Acme", "label": "Main"}),
        content_type="application/json",
    ).json()
    from provisioning.models import Setup

    setup = Setup.objects.get(id=body["id"])
    secret = setup_secret(setup)
    client.post(
        f"/api/v1/provider-webhooks/{setup.id}/line_assigned",
        data=json.dumps({"sendblue_number": "+14155550123"}),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=secret,
    )
    client.post(
        f"/api/v1/provider-webhooks/{setup.id}",
        data="{}",
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET="wrong",
    )
    creds = setup_credentials(setup)

    assert str(setup.id) in caplog.text
    for value in (creds.key_id, creds.secret, secret):
        assert value not in caplog.text


def test_line_assigned_without_a_number_reconciles_through_the_provider(
    client: Client, fake_provider: Any, django_capture_on_commit_callbacks: Any
) -> None:
    setup = SetupFactory()
    line = PhoneLineFactory(setup=setup, pending=True, provider_request_id="77")
    fake_provider.get_line_request = lambda **kw: LineRequest(
        request_id="77", status="FULFILLED", number="+14155550130"
    )

    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                f"/api/v1/provider-webhooks/{setup.id}/line_assigned",
                data=json.dumps({"type": "line_assigned"}),
                content_type="application/json",
                HTTP_SB_SIGNING_SECRET=setup_secret(setup),
            )
    finally:
        del fake_provider.get_line_request

    line.refresh_from_db()
    assert line.state == LineState.ASSIGNED
    assert line.number == "+14155550130"


def test_periodic_reconciliation_assigns_lines_found_in_lines_state(fake_provider: Any) -> None:
    setup = SetupFactory()
    line = PhoneLineFactory(setup=setup, pending=True, provider_request_id="")
    done = SetupFactory()
    PhoneLineFactory(setup=done)
    fake_provider.lines_state = lambda **kw: [
        LineStateEntry(number="+14155550131", status="ONLINE")
    ]

    try:
        count = setups_reconcile_all()
    finally:
        del fake_provider.lines_state

    assert count == 1
    line.refresh_from_db()
    assert line.number == "+14155550131"
