"""The httpx Sendblue adapter against `httpx.MockTransport` (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from provisioning.providers.base import AccountCredentials, ProviderError
from provisioning.providers.sendblue.adapter import SendblueAdapter
from provisioning.providers.sendblue.parsing import map_status

AGENCY = AccountCredentials(key_id="agency-id", secret="agency-secret")
CHILD = AccountCredentials(key_id="child-id", secret="child-secret")


class Recorder:
    def __init__(self, responses: list[httpx.Response | Exception]) -> None:
        self.responses = responses
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


def adapter_for(
    handler: Callable[[httpx.Request], httpx.Response], *, max_retries: int = 2
) -> tuple[SendblueAdapter, list[float]]:
    sleeps: list[float] = []
    adapter = SendblueAdapter(
        base_url="https://provider.test",
        agency=AGENCY,
        max_retries=max_retries,
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
    )
    return adapter, sleeps


def ok(body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_child_account_is_created_with_agency_credentials_and_provision_line() -> None:
    rec = Recorder(
        [ok({"status": "OK", "data": {"api_key": "k", "api_secret": "s", "assigned_number": None}})]
    )
    adapter, _ = adapter_for(rec)

    child = adapter.create_child_account(
        company_name="Acme", primary_email="a@acme.test", provision_line=True
    )

    (request,) = rec.requests
    assert request.url.path == "/accounts/lines/request-child-account"
    assert request.headers["sb-api-key-id"] == "agency-id"
    assert request.headers["sb-api-secret-key"] == "agency-secret"
    assert request.headers["user-agent"].startswith("Bluewire/")
    assert json.loads(request.content) == {
        "company_name": "Acme",
        "primary_email": "a@acme.test",
        "provision_line": True,
    }
    assert child.credentials == AccountCredentials(key_id="k", secret="s")
    assert child.assigned_number is None


@pytest.mark.parametrize(
    "key", ["assigned_number", "assigned_phone_number", "phone_number", "sendblue_number", "number"]
)
def test_child_account_number_is_read_from_any_documented_key(key: str) -> None:
    data = {"api_key": "k", "api_secret": "s", key: "+1 415 555 0123", "extra": {"x": 1}}
    adapter, _ = adapter_for(Recorder([ok({"status": "OK", "data": data})]))

    child = adapter.create_child_account(
        company_name="Acme", primary_email="a@acme.test", provision_line=True
    )

    assert child.assigned_number == "+14155550123"


def test_child_calls_use_the_child_key_pair() -> None:
    rec = Recorder([ok({"message_handle": "h1", "status": "QUEUED"})])
    adapter, _ = adapter_for(rec)

    adapter.send_message(
        credentials=CHILD,
        from_number="+14155550100",
        to_number="+14155550199",
        content="hi",
        media_url=None,
        send_style=None,
        status_callback="https://us.test/cb",
    )

    request = rec.requests[0]
    assert request.headers["sb-api-key-id"] == "child-id"
    assert json.loads(request.content) == {
        "number": "+14155550199",
        "from_number": "+14155550100",
        "content": "hi",
        "status_callback": "https://us.test/cb",
    }


def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    rec = Recorder([ok({}, 503), ok({}, 502), ok({"status": "OK", "webhooks": {}})])
    adapter, sleeps = adapter_for(rec)

    assert adapter.lines_state(credentials=CHILD) == []

    assert len(rec.requests) == 3
    assert len(sleeps) == 2
    assert 0 < sleeps[0] < sleeps[1]


@pytest.mark.parametrize("status", [408, 409, 429, 500])
def test_retryable_statuses_give_a_transient_error_after_the_last_retry(status: int) -> None:
    rec = Recorder([ok({"status": "ERROR", "message": "busy"}, status)])
    adapter, sleeps = adapter_for(rec)

    with pytest.raises(ProviderError) as excinfo:
        adapter.lines_state(credentials=CHILD)

    assert excinfo.value.permanent is False
    assert excinfo.value.status_code == status
    assert len(rec.requests) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_4xx_fail_at_once_as_permanent(status: int) -> None:
    rec = Recorder([ok({"status": "ERROR", "message": "nope"}, status)])
    adapter, sleeps = adapter_for(rec)

    with pytest.raises(ProviderError) as excinfo:
        adapter.lines_state(credentials=CHILD)

    assert excinfo.value.permanent is True
    assert "nope" in excinfo.value.message
    assert len(rec.requests) == 1
    assert sleeps == []


def test_send_refusal_carries_the_error_key() -> None:
    body = {"status": "ERROR", "error_code": 429, "error_key": "LINE_DAILY_LIMIT_REACHED"}
    adapter, _ = adapter_for(Recorder([ok(body, 400)]))

    with pytest.raises(ProviderError) as excinfo:
        adapter.send_message(
            credentials=CHILD,
            from_number="+14155550100",
            to_number="+14155550199",
            content="hi",
            media_url=None,
            send_style=None,
            status_callback=None,
        )

    assert excinfo.value.error_key == "LINE_DAILY_LIMIT_REACHED"
    assert excinfo.value.permanent is True


def test_retry_after_header_sets_the_wait() -> None:
    rec = Recorder([ok({}, 429, **{"retry-after": "7"}), ok({"status": "OK", "data": []})])
    adapter, sleeps = adapter_for(rec)

    adapter.lines_state(credentials=CHILD)

    assert sleeps == [7.0]


def test_connection_errors_are_retried_and_then_transient() -> None:
    rec = Recorder([httpx.ConnectError("refused")])
    adapter, _ = adapter_for(rec)

    with pytest.raises(ProviderError) as excinfo:
        adapter.lines_state(credentials=CHILD)

    assert excinfo.value.permanent is False
    assert excinfo.value.error_key == "connection_error"
    assert len(rec.requests) == 3


def test_a_read_timeout_on_send_is_not_retried_because_the_message_may_have_gone_out() -> None:
    rec = Recorder([httpx.ReadTimeout("slow")])
    adapter, _ = adapter_for(rec)

    with pytest.raises(ProviderError) as excinfo:
        adapter.send_message(
            credentials=CHILD,
            from_number="+14155550100",
            to_number="+14155550199",
            content="hi",
            media_url=None,
            send_style=None,
            status_callback=None,
        )

    assert excinfo.value.error_key == "timeout"
    assert excinfo.value.permanent is False
    assert len(rec.requests) == 1


def test_a_read_timeout_on_a_read_is_retried() -> None:
    rec = Recorder([httpx.ReadTimeout("slow"), ok({"status": "OK", "data": []})])
    adapter, _ = adapter_for(rec)

    assert adapter.lines_state(credentials=CHILD) == []
    assert len(rec.requests) == 2


def test_redirects_are_not_followed() -> None:
    rec = Recorder([httpx.Response(302, headers={"location": "https://elsewhere.test/"})])
    adapter, _ = adapter_for(rec)

    with pytest.raises(ProviderError) as excinfo:
        adapter.lines_state(credentials=CHILD)

    assert excinfo.value.status_code == 302
    assert len(rec.requests) == 1


def test_send_result_tolerates_either_spelling_and_unknown_statuses() -> None:
    body = {"message_handle": "h1", "status": "Mystery", "accountEmail": "x", "service": "SMS"}
    adapter, _ = adapter_for(Recorder([ok(body)]))

    result = adapter.send_message(
        credentials=CHILD,
        from_number="+14155550100",
        to_number="+14155550199",
        content="hi",
        media_url=None,
        send_style=None,
        status_callback=None,
    )

    assert result.provider_handle == "h1"
    assert result.status == "pending"
    assert result.service == "sms"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("QUEUED", "queued"),
        ("queued", "queued"),
        ("Sent", "sent"),
        ("SUCCESS", "sent"),
        ("DELIVERED", "delivered"),
        ("declined", "declined"),
        ("ERROR", "error"),
        ("failed", "error"),
        ("RECEIVED", "received"),
        ("whatever", "pending"),
        (None, "pending"),
    ],
)
def test_status_mapping_is_case_insensitive_with_unknown_as_pending(
    raw: Any, expected: str
) -> None:
    assert map_status(raw) == expected


def test_register_webhooks_adds_only_missing_urls_with_the_secret() -> None:
    existing = {
        "status": "OK",
        "webhooks": {"receive": [{"url": "https://us.test/r", "secret": "s"}], "globalSecret": ""},
    }
    rec = Recorder([ok(existing), ok({"status": "OK"})])
    adapter, _ = adapter_for(rec)

    adapter.register_webhooks(
        credentials=CHILD,
        urls_by_type={"receive": "https://us.test/r", "line_assigned": "https://us.test/la"},
        secret="s3cret",
    )

    assert [r.method for r in rec.requests] == ["GET", "POST"]
    assert json.loads(rec.requests[1].content) == {
        "webhooks": [{"url": "https://us.test/la", "secret": "s3cret"}],
        "type": "line_assigned",
        "globalSecret": "s3cret",
    }


def test_line_request_reads_the_camel_case_ticket() -> None:
    ticket = {"id": 42, "type": "PHONE", "status": "OPEN", "desiredAreaCode": None}
    adapter, _ = adapter_for(Recorder([ok({"status": "OK", "data": ticket})]))

    request = adapter.request_line(credentials=CHILD)

    assert request.request_id == "42"
    assert request.status == "OPEN"
    assert request.number is None


def test_from_settings_reads_the_configuration(settings: Any) -> None:
    settings.PROVIDER_BASE_URL = "https://api.sendblue.co/"
    adapter = SendblueAdapter.from_settings()

    assert adapter.base_url == "https://api.sendblue.co"
    assert adapter.agency.key_id == settings.PROVIDER_AGENCY_KEY_ID


def test_from_settings_fails_loudly_without_agency_credentials(settings: Any) -> None:
    settings.PROVIDER_AGENCY_SECRET = ""

    with pytest.raises(ProviderError, match="PROVIDER_AGENCY_SECRET"):
        SendblueAdapter.from_settings()
