"""The provider webhook intake: authentication, recording, dispatch, bad input."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from console.crypto import encrypt
from provisioning import dispatch
from provisioning.models import LineState, ProviderEvent, ProviderEventStatus, Setup
from provisioning.providers.base import InboundMessage, StatusUpdate
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret
from tests.webhook_client import webhook_client

pytestmark = pytest.mark.django_db

RECEIVE_BODY = {
    "accountEmail": "ops@acme.test",
    "content": "Hello!",
    "is_outbound": False,
    "status": "RECEIVED",
    "message_handle": "5B0E0C1A-7E43-4D7B-9A55-2F0C1D7B3E10",
    "date_sent": "2026-01-05T10:01:00.000Z",
    "from_number": "+14155550199",
    "number": "+14155550199",
    "to_number": "+14155550100",
    "sendblue_number": "+14155550100",
    "media_url": "",
    "message_type": "message",
    "group_id": "",
    "service": "iMessage",
}


def post(
    client: Client,
    setup_id: object,
    body: Any,
    *,
    secret: str | None,
    event_type: str | None = None,
    content_type: str = "application/json",
) -> Any:
    url = f"/api/v1/provider-webhooks/{setup_id}"
    if event_type:
        url = f"{url}/{event_type}"
    headers = {"HTTP_SB_SIGNING_SECRET": secret} if secret is not None else {}
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=data, content_type=content_type, **headers)


@pytest.fixture
def client() -> Client:
    """The provider's requests go through their own handler in production
    (`console.webhook_handler`): these tests too."""
    return webhook_client()


@pytest.fixture
def setup() -> Any:
    return SetupFactory()


@pytest.fixture
def recorded() -> Any:
    """Registers a recording handler for InboundMessage and StatusUpdate for one test."""
    calls: list[tuple[Any, Any, Any]] = []

    def handler(*, setup: Any, event: Any, record: Any) -> None:
        calls.append((setup, event, record))

    dispatch.register(InboundMessage, handler)
    dispatch.register(StatusUpdate, handler)
    yield calls
    dispatch.unregister(InboundMessage, handler)
    dispatch.unregister(StatusUpdate, handler)


def _fingerprint(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, sorted(response.headers.items()), response.content


def test_unknown_setup_malformed_id_and_bad_secret_get_byte_identical_rejections(
    client: Client, setup: Any
) -> None:
    secret = setup_secret(setup)
    responses = [
        post(client, uuid.uuid4(), RECEIVE_BODY, secret=secret),
        post(client, "not-a-uuid", RECEIVE_BODY, secret=secret),
        post(client, setup.id, RECEIVE_BODY, secret="wrong-secret"),
        post(client, setup.id, RECEIVE_BODY, secret=None),
        post(client, setup.id, RECEIVE_BODY, secret=""),
        post(client, setup.id, RECEIVE_BODY, secret=secret[:-1]),
        post(client, uuid.uuid4(), RECEIVE_BODY, secret=secret, event_type="receive"),
    ]
    first = _fingerprint(responses[0])
    assert first[0] == 401
    assert all(_fingerprint(r) == first for r in responses)
    assert ProviderEvent.objects.count() == 0


def test_accepted_event_is_recorded_and_dispatched_once(
    client: Client, setup: Any, recorded: list[Any]
) -> None:
    response = post(
        client, setup.id, RECEIVE_BODY, secret=setup_secret(setup), event_type="receive"
    )

    assert response.status_code == 200
    event = ProviderEvent.objects.get()
    assert response["Content-Type"] == "application/json"
    assert response.content == b'{"status": "ok", "event_id": %d}' % event.id
    assert event.setup_id == setup.id
    assert event.event_key == f"receive:{RECEIVE_BODY['message_handle']}"
    assert event.status == ProviderEventStatus.PROCESSED
    assert len(recorded) == 1
    _, typed, record = recorded[0]
    assert isinstance(typed, InboundMessage)
    assert typed.from_number == "+14155550199"
    assert typed.to_number == "+14155550100"
    assert typed.service == "imessage"
    assert (record.row, record.stored) == (event, True)


def test_redelivery_is_answered_2xx_and_not_dispatched_again(
    client: Client, setup: Any, recorded: list[Any]
) -> None:
    secret = setup_secret(setup)
    post(client, setup.id, RECEIVE_BODY, secret=secret, event_type="receive")
    again = post(client, setup.id, RECEIVE_BODY, secret=secret, event_type="receive")

    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert ProviderEvent.objects.count() == 1
    assert len(recorded) == 1


def test_unknown_event_type_is_answered_2xx_and_recorded_as_ignored(
    client: Client, setup: Any
) -> None:
    body = {"type": "call_log", "duration": 12}
    response = post(client, setup.id, body, secret=setup_secret(setup), event_type="call_log")

    assert response.status_code == 200
    event = ProviderEvent.objects.get()
    assert event.event_type == "call_log"
    assert event.status == ProviderEventStatus.IGNORED


def test_malformed_json_is_recorded_as_failed_and_answered_2xx(
    client: Client, setup: Any, recorded: list[Any]
) -> None:
    response = post(client, setup.id, b"{not json", secret=setup_secret(setup))

    assert response.status_code == 200
    event = ProviderEvent.objects.get()
    assert event.status == ProviderEventStatus.FAILED
    assert recorded == []


def test_body_missing_required_fields_is_recorded_as_failed(
    client: Client, setup: Any, recorded: list[Any]
) -> None:
    body = {"is_outbound": False, "content": "no handle"}
    response = post(client, setup.id, body, secret=setup_secret(setup), event_type="receive")

    assert response.status_code == 200
    assert ProviderEvent.objects.get().status == ProviderEventStatus.FAILED
    assert recorded == []


def test_json_array_body_is_recorded_as_failed(client: Client, setup: Any) -> None:
    response = post(client, setup.id, [1, 2], secret=setup_secret(setup))

    assert response.status_code == 200
    assert ProviderEvent.objects.get().status == ProviderEventStatus.FAILED


@override_settings(PROVIDER_WEBHOOK_MAX_BYTES=1024)
def test_oversized_body_is_rejected_with_413_before_anything_is_recorded(
    client: Client, setup: Any
) -> None:
    body = {**RECEIVE_BODY, "content": "x" * 5000}
    response = post(client, setup.id, body, secret=setup_secret(setup), event_type="receive")

    assert response.status_code == 413
    assert response.json()["detail"]["error"] == "payload_too_large"
    assert ProviderEvent.objects.count() == 0


def test_wrong_content_type_is_rejected_with_415(client: Client, setup: Any) -> None:
    response = post(
        client,
        setup.id,
        "a=b",
        secret=setup_secret(setup),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 415
    assert ProviderEvent.objects.count() == 0


def test_handler_failure_rolls_back_and_answers_500_so_the_provider_retries(
    client: Client, setup: Any
) -> None:
    def broken(*, setup: Any, event: Any, record: Any) -> None:
        raise RuntimeError("boom")

    dispatch.register(InboundMessage, broken)
    try:
        response = post(client, setup.id, RECEIVE_BODY, secret=setup_secret(setup))
    finally:
        dispatch.unregister(InboundMessage, broken)

    assert response.status_code == 500
    assert response.json()["detail"]["error"] == "server_error"
    assert ProviderEvent.objects.count() == 0


def test_status_callback_url_parses_status_updates(
    client: Client, setup: Any, recorded: list[Any]
) -> None:
    body = {
        "message_handle": "h-1",
        "status": "delivered",
        "is_outbound": True,
        "service": "SMS",
        "was_downgraded": True,
    }
    post(client, setup.id, body, secret=setup_secret(setup), event_type="status_callback")

    (_, typed, _) = recorded[0]
    assert isinstance(typed, StatusUpdate)
    assert typed.status == "delivered"
    assert typed.service == "sms"
    assert typed.was_downgraded is True


def test_line_assigned_moves_the_pending_line_to_assigned(client: Client, setup: Any) -> None:
    line = PhoneLineFactory(setup=setup, pending=True)
    body = {
        "type": "line_assigned",
        "sendblue_number": "+14155550123",
        "line_request_id": int(line.provider_request_id),
        "assigned_at": "2026-01-06T09:00:00.000Z",
    }
    response = post(client, setup.id, body, secret=setup_secret(setup), event_type="line_assigned")

    assert response.status_code == 200
    line.refresh_from_db()
    assert line.state == LineState.ASSIGNED
    assert line.number == "+14155550123"
    assert ProviderEvent.objects.get().status == ProviderEventStatus.PROCESSED


def test_line_assigned_redelivery_is_a_no_op(client: Client, setup: Any) -> None:
    first = PhoneLineFactory(setup=setup, pending=True)
    second = PhoneLineFactory(setup=setup, pending=True)
    body = {"type": "line_assigned", "sendblue_number": "+14155550123"}
    secret = setup_secret(setup)
    post(client, setup.id, body, secret=secret, event_type="line_assigned")
    # A re-delivery that differs in an irrelevant field gets past the event key too.
    post(client, setup.id, {**body, "extra": 1}, secret=secret, event_type="line_assigned")

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.number == "+14155550123"
    assert second.state == LineState.PENDING


def test_line_blocked_marks_the_line(client: Client, setup: Any) -> None:
    line = PhoneLineFactory(setup=setup)
    body = {"type": "line_blocked", "sendblue_number": line.number, "reason": "carrier"}
    post(client, setup.id, body, secret=setup_secret(setup), event_type="line_blocked")

    line.refresh_from_db()
    assert line.blocked_at is not None
    assert line.blocked_reason == "carrier"


def test_get_on_the_intake_is_not_allowed(client: Client, setup: Any) -> None:
    assert client.get(f"/api/v1/provider-webhooks/{setup.id}").status_code == 405


# --- The setup cache (`provisioning.selectors.SETUPS`) ----------------------------------


def _setup_reads(client: Client, setup: Any, *, secret: str, handle: str) -> tuple[int, int]:
    """(status, statements that select from the setups table) of one delivery."""
    body = {**RECEIVE_BODY, "message_handle": handle}
    with CaptureQueriesContext(connection) as queries:
        status = post(client, setup.id, body, secret=secret, event_type="receive").status_code
    table = Setup._meta.db_table
    return status, sum(
        1 for q in queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]
    )


def test_a_setup_that_authenticated_is_not_read_again_within_a_second(
    client: Client, setup: Any, recorded: list[Any], key_clock: Any
) -> None:
    secret = setup_secret(setup)
    assert _setup_reads(client, setup, secret=secret, handle="h-1") == (200, 1)

    key_clock.now += 0.9
    assert _setup_reads(client, setup, secret=secret, handle="h-2") == (200, 0)

    key_clock.now += 0.1
    assert _setup_reads(client, setup, secret=secret, handle="h-3") == (200, 1)
    assert len(recorded) == 3


def test_a_cached_setup_still_refuses_a_wrong_secret_identically(
    client: Client, setup: Any
) -> None:
    post(client, setup.id, RECEIVE_BODY, secret=setup_secret(setup), event_type="receive")

    refused = post(client, setup.id, RECEIVE_BODY, secret="wrong-secret", event_type="receive")
    unknown = post(client, uuid.uuid4(), RECEIVE_BODY, secret="wrong-secret", event_type="receive")

    assert refused.status_code == 401
    assert _fingerprint(refused) == _fingerprint(unknown)


def test_a_secret_changed_elsewhere_is_honoured_within_a_second(
    client: Client, setup: Any, key_clock: Any
) -> None:
    old = setup_secret(setup)
    post(client, setup.id, RECEIVE_BODY, secret=old, event_type="receive")
    # Another process rotates the secret (an update sends no signal here).
    Setup.objects.filter(pk=setup.pk).update(webhook_secret_encrypted=encrypt("rotated-secret"))

    assert _setup_reads(client, setup, secret="rotated-secret", handle="h-new")[0] == 200
    key_clock.now += 1.0
    assert _setup_reads(client, setup, secret=old, handle="h-old")[0] == 401


def test_a_setup_saved_in_this_process_is_read_afresh_at_once(client: Client, setup: Any) -> None:
    old = setup_secret(setup)
    post(client, setup.id, RECEIVE_BODY, secret=old, event_type="receive")

    setup.webhook_secret_encrypted = encrypt("rotated-secret")
    setup.save()

    assert _setup_reads(client, setup, secret=old, handle="h-old")[0] == 401
