"""The API while the database is away: the contract's JSON error shape, 503 with Retry-After,
and retries that converge once it is back.

The database is made unreachable for real (the connection pointed at a closed port, or on
SQLite at a file that cannot be opened), not by mocking a query.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from django.test.utils import override_settings
from drf_spectacular.generators import SchemaGenerator

from console.api.server_errors import DATABASE_RETRY_AFTER_SECONDS, server_error
from messaging.models import Message
from provisioning import dispatch
from provisioning.models import ProviderEvent
from provisioning.providers.base import InboundMessage
from tests.dbfaults import database_unreachable, terminate_own_backend
from tests.provisioning.factories import SetupFactory, setup_secret

RECEIVE_BODY = {
    "content": "Hello!",
    "is_outbound": False,
    "status": "RECEIVED",
    "message_handle": "6C1F0D2B-8A54-4E8C-AB66-3F1D2E8C4F21",
    "from_number": "+14155550199",
    "number": "+14155550199",
    "to_number": "+14155550100",
    "service": "iMessage",
}


def assert_database_unavailable_answer(response: Any) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert int(response["Retry-After"]) <= 5  # the inkbox SDK retries only up to 5 s
    detail = json.loads(response.content)["detail"]
    assert detail["error"] == "server_error"
    assert detail["message"]


def post_receive(client: Client, setup: Any, secret: str) -> Any:
    return client.post(
        f"/api/v1/provider-webhooks/{setup.id}/receive",
        data=json.dumps(RECEIVE_BODY),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=secret,
    )


@pytest.mark.django_db(transaction=True)
def test_an_api_request_answers_503_json_with_retry_after_while_the_database_is_unreachable(
    admin_client: Any, tmp_path: Path
) -> None:
    admin_client.raise_request_exception = False

    with database_unreachable(tmp_path):
        response = admin_client.get("/api/whoami")

    assert_database_unavailable_answer(response)
    assert admin_client.get("/api/whoami").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_send_retried_with_its_idempotency_key_after_the_outage_creates_one_message(
    identity_client: Any, conversation: Any, tmp_path: Path
) -> None:
    identity_client.raise_request_exception = False
    body = {"conversation_id": str(conversation.id), "text": "Your results are in"}
    key = {"HTTP_IDEMPOTENCY_KEY": "reply-after-outage"}

    with database_unreachable(tmp_path):
        during = identity_client.post("/api/v1/imessage/messages", body, format="json", **key)
    first = identity_client.post("/api/v1/imessage/messages", body, format="json", **key)
    again = identity_client.post("/api/v1/imessage/messages", body, format="json", **key)

    assert_database_unavailable_answer(during)
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert Message.objects.filter(conversation=conversation).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_provider_intake_answers_503_while_the_database_is_unreachable(
    tmp_path: Path,
) -> None:
    setup = SetupFactory()
    secret = setup_secret(setup)
    client = Client(raise_request_exception=False)

    with database_unreachable(tmp_path):
        during = post_receive(client, setup, secret)
    redelivered = post_receive(client, setup, secret)

    assert_database_unavailable_answer(during)
    assert redelivered.status_code == 200
    assert ProviderEvent.objects.filter(setup=setup).count() == 1


def drop_connection_handler(**_: Any) -> None:
    """A dispatch handler that loses the intake's connection mid-transaction."""
    terminate_own_backend()


@pytest.mark.django_db(transaction=True)
def test_the_provider_intake_answers_503_when_the_database_drops_mid_event() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no server connection to drop")
    setup = SetupFactory()
    secret = setup_secret(setup)
    client = Client(raise_request_exception=False)
    dispatch.register(InboundMessage, drop_connection_handler)
    try:
        dropped = post_receive(client, setup, secret)
    finally:
        dispatch.unregister(InboundMessage, drop_connection_handler)
        connection.close()

    redelivered = post_receive(client, setup, secret)

    assert_database_unavailable_answer(dropped)
    assert redelivered.status_code == 200
    assert ProviderEvent.objects.filter(setup=setup).count() == 1


@pytest.mark.django_db
def test_an_unexpected_error_in_an_api_view_answers_the_json_error_shape(
    admin_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_client.raise_request_exception = False

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("console.api.views.WhoamiSerializer", broken)

    with override_settings(DEBUG=True):  # not even the technical page in development
        response = admin_client.get("/api/whoami")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": {"error": "server_error", "message": "The server failed to handle this request."}
    }


def test_the_error_handler_answers_json_under_the_api_for_failures_outside_views() -> None:
    request = RequestFactory().get("/api/v1/imessage/messages")

    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        response = server_error(request)

    assert_database_unavailable_answer(response)


def test_the_error_handler_keeps_django_s_page_outside_the_api() -> None:
    request = RequestFactory().get("/console/")

    try:
        raise RuntimeError("a bug")
    except RuntimeError:
        response = server_error(request)

    assert response.status_code == 500
    assert not response["Content-Type"].startswith("application/json")


def test_the_api_schema_documents_the_503_on_every_keyed_operation() -> None:
    document = SchemaGenerator().get_schema(request=None, public=True)
    send = document["paths"]["/api/v1/imessage/messages"]["post"]["responses"]

    assert "503" in send
    assert send["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
