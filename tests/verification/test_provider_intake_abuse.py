"""The provider webhook intake fed truncated, huge, wrongly typed, duplicated and
reordered events: every one is answered (recorded 2xx, or rejected), never a 500, and no
row is half-written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from messaging.models import Conversation, Message
from provisioning.models import ProviderEvent, ProviderEventStatus
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret

pytestmark = pytest.mark.django_db

LINE = "+14155550100"
PERSON = "+14155550199"
ANSWERED = {200, 413, 415}


def receive_body(handle: str = "5B0E0C1A-7E43-4D7B-9A55-2F0C1D7B3E10", **changes: Any) -> dict:
    body = {
        "accountEmail": "ops@acme.test",
        "content": "Hello!",
        "is_outbound": False,
        "status": "RECEIVED",
        "message_handle": handle,
        "date_sent": "2026-01-05T10:01:00.000Z",
        "from_number": PERSON,
        "number": PERSON,
        "to_number": LINE,
        "sendblue_number": LINE,
        "media_url": "",
        "message_type": "message",
        "group_id": "",
        "service": "iMessage",
    }
    body.update(changes)
    return body


@pytest.fixture
def line(identity: Any) -> Any:
    setup = SetupFactory(organization=identity.organization)
    return PhoneLineFactory(setup=setup, identity=identity, number=LINE)


def deliver(
    client: Client,
    line: Any,
    raw: bytes | str,
    *,
    event_type: str | None = "receive",
    content_type: str = "application/json",
) -> Any:
    url = f"/api/v1/provider-webhooks/{line.setup_id}"
    if event_type:
        url += f"/{event_type}"
    return client.post(
        url,
        data=raw,
        content_type=content_type,
        HTTP_SB_SIGNING_SECRET=setup_secret(line.setup),
    )


def assert_consistent() -> None:
    """Every recorded event reached a final state, and only processed receive events left
    messages behind (one per provider handle)."""
    assert not ProviderEvent.objects.filter(status=ProviderEventStatus.RECEIVED).exists()
    handles = list(Message.objects.values_list("provider_handle", flat=True))
    assert len(handles) == len(set(handles))
    processed = set(
        ProviderEvent.objects.filter(
            status=ProviderEventStatus.PROCESSED, event_key__startswith="receive:"
        ).values_list("event_key", flat=True)
    )
    assert {f"receive:{h}" for h in handles} <= processed
    assert Conversation.objects.filter(messages__isnull=True).count() == 0


VALID = json.dumps(receive_body()).encode()

BAD_BODIES: dict[str, bytes] = {
    "empty": b"",
    "null": b"null",
    "array": b"[]",
    "string": b'"receive"',
    "number": b"42",
    "nan": b'{"message_handle": NaN}',
    "invalid utf-8": b'{"content": "\xff\xfe"}',
    "duplicate keys": b'{"message_handle": "a", "message_handle": {"x": 1}}',
    "deeply nested": b'{"data":' * 20_000 + b"1" + b"}" * 20_000,
    "deep array": b"[" * 100_000 + b"]" * 100_000,
    "huge integer": b'{"message_handle": ' + b"9" * 5000 + b"}",
    **{f"truncated at {n}": VALID[:n] for n in (1, 10, len(VALID) // 2, len(VALID) - 1)},
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_a_malformed_body_is_answered_and_recorded_never_a_500(
    client: Client, line: Any, name: str
) -> None:
    response = deliver(client, line, BAD_BODIES[name])
    assert response.status_code in ANSWERED, response.content
    assert Message.objects.count() == 0
    assert_consistent()


WRONG_TYPES: dict[str, dict[str, Any]] = {
    "handle is an object": {"message_handle": {"id": 1}},
    "handle is a list": {"message_handle": [1, 2]},
    "handle is a number": {"message_handle": 12345},
    "handle is empty": {"message_handle": ""},
    "sender is a number": {"from_number": 14155550199, "number": 14155550199},
    "line is a list": {"to_number": [LINE], "sendblue_number": None},
    "content is a list": {"content": ["hi"]},
    "content is null": {"content": None},
    "service is an object": {"service": {"name": "iMessage"}},
    "date is garbage": {"date_sent": "the day before yesterday"},
    "date is a number": {"date_sent": 1700000000},
    "media is a number": {"media_url": 7},
    "group id is true": {"group_id": True},
    "outbound flag is a string": {"is_outbound": "false"},
    "unknown line": {"to_number": "+14155559999", "sendblue_number": "+14155559999"},
    "email sender": {"from_number": "someone@example.com", "number": "someone@example.com"},
    "sender with control chars": {"from_number": "+1415\x00555\x010199"},
    "handle with nul": {"message_handle": "abc\x00def"},
}


@pytest.mark.parametrize("name", list(WRONG_TYPES))
def test_a_wrongly_typed_body_is_answered_and_recorded_never_a_500(
    client: Client, line: Any, name: str
) -> None:
    response = deliver(client, line, json.dumps(receive_body(**WRONG_TYPES[name])))
    assert response.status_code == 200, response.content
    assert ProviderEvent.objects.count() == 1
    assert_consistent()


def test_a_huge_message_handle_is_recorded_without_a_500(client: Client, line: Any) -> None:
    response = deliver(client, line, json.dumps(receive_body(handle="H" * 5000)))
    assert response.status_code == 200, response.content
    assert_consistent()


def test_a_valid_body_behind_a_byte_order_mark_is_stored_once(client: Client, line: Any) -> None:
    response = deliver(client, line, "\ufeff".encode() + VALID)
    assert response.status_code == 200
    assert Message.objects.count() <= 1
    assert_consistent()


def test_nul_characters_are_dropped_not_fatal(client: Client, line: Any) -> None:
    response = deliver(client, line, json.dumps(receive_body(content="a\x00b")))
    assert response.status_code == 200, response.content
    assert Message.objects.get().content == "ab"
    assert_consistent()


def test_a_huge_text_under_the_size_limit_is_stored_whole(client: Client, line: Any) -> None:
    text = "x" * (settings.PROVIDER_WEBHOOK_MAX_BYTES - 2000)
    response = deliver(client, line, json.dumps(receive_body(content=text)))
    assert response.status_code == 200, response.content
    assert Message.objects.get().content == text
    assert_consistent()


def test_a_body_over_the_size_limit_is_refused_with_413(client: Client, line: Any) -> None:
    text = "x" * (settings.PROVIDER_WEBHOOK_MAX_BYTES + 1)
    response = deliver(client, line, json.dumps(receive_body(content=text)))
    assert response.status_code == 413
    assert ProviderEvent.objects.count() == 0


def test_a_non_json_content_type_is_refused_with_415(client: Client, line: Any) -> None:
    response = deliver(client, line, "message_handle=x", content_type="text/plain")
    assert response.status_code == 415
    assert ProviderEvent.objects.count() == 0


@pytest.mark.parametrize(
    "hint", [None, "receive", "outbound", "typing_indicator", "line_assigned", "bogus"]
)
def test_every_body_type_under_every_hint_is_answered(client: Client, line: Any, hint: Any) -> None:
    bodies = [
        receive_body(handle=f"h-{hint}"),
        {"message_handle": f"out-{hint}", "is_outbound": True, "status": "DELIVERED"},
        {"number": PERSON, "from_number": LINE, "is_typing": True},
        {"type": "line_assigned", "sendblue_number": LINE},
        {"type": "line_blocked", "sendblue_number": "+14155559998", "reason": None},
        {"type": "call_log", "duration": 12},
        {},
    ]
    for body in bodies:
        response = deliver(client, line, json.dumps(body), event_type=hint)
        assert response.status_code == 200, (body, response.content)
    assert_consistent()


def test_duplicates_are_answered_2xx_and_stored_once(client: Client, line: Any) -> None:
    raw = json.dumps(receive_body())
    statuses = [deliver(client, line, raw).status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert Message.objects.count() == 1
    assert ProviderEvent.objects.count() == 1
    assert_consistent()


def test_the_same_handle_with_a_different_body_is_still_stored_once(
    client: Client, line: Any
) -> None:
    deliver(client, line, json.dumps(receive_body(content="first")))
    deliver(client, line, json.dumps(receive_body(content="edited re-delivery")))
    assert Message.objects.get().content == "first"
    assert_consistent()


def test_a_status_callback_before_its_message_exists_is_answered(client: Client, line: Any) -> None:
    body = {"message_handle": "never-sent-by-us", "is_outbound": True, "status": "DELIVERED"}
    response = deliver(client, line, json.dumps(body), event_type="outbound")
    assert response.status_code == 200
    assert Message.objects.count() == 0
    assert_consistent()


def test_reordered_and_interleaved_deliveries_leave_one_row_per_handle(
    client: Client, line: Any
) -> None:
    handles = [f"handle-{n}" for n in range(5)]
    order = [3, 1, 3, 0, 4, 1, 2, 0, 4, 2]
    for n in order:
        response = deliver(client, line, json.dumps(receive_body(handle=handles[n])))
        assert response.status_code == 200
    assert sorted(Message.objects.values_list("provider_handle", flat=True)) == handles
    assert ProviderEvent.objects.count() == 5
    assert_consistent()
