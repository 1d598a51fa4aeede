"""`parse_sendblue_webhook`: provider bodies to typed events, tolerant of variants."""

from __future__ import annotations

import pytest

from provisioning.providers.base import (
    InboundMessage,
    LineAssigned,
    LineBlocked,
    StatusUpdate,
    TypingEvent,
    UnknownEvent,
    WebhookParseError,
)
from provisioning.providers.sendblue.parsing import parse_sendblue_webhook


def test_receive_body_becomes_an_inbound_message() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint="receive",
        body={
            "message_handle": "H1",
            "from_number": "+14155550199",
            "to_number": "+14155550100",
            "content": "Hi",
            "media_url": "",
            "service": "iMessage",
            "is_outbound": False,
            "date_sent": "2026-01-05T10:01:00.000Z",
            "group_id": "",
        },
    )

    event = parsed.event
    assert isinstance(event, InboundMessage)
    assert parsed.event_key == "receive:H1"
    assert event.media_url is None
    assert event.is_group is False
    assert event.sent_at is not None and event.sent_at.tzinfo is not None


def test_a_group_receive_carries_its_group_id_and_participants() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint="receive",
        body={
            "message_handle": "G1",
            "from_number": "+14155550199",
            "to_number": "+14155550100",
            "content": "dinner?",
            "message_type": "group",
            "group_id": "A1B2",
            "participants": ["+14155550199", "+1 415 555 0188", "bad", "+14155550100"],
        },
    )

    event = parsed.event
    assert isinstance(event, InboundMessage)
    assert (event.is_group, event.group_id) == (True, "A1B2")
    assert event.participants == ("+14155550199", "+14155550188", "+14155550100")


def test_a_one_to_one_receive_has_no_participants_or_group_id() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint="receive",
        body={
            "message_handle": "M1",
            "from_number": "+14155550199",
            "to_number": "+14155550100",
            "content": "hi",
            "message_type": "message",
            "group_id": "",
            "participants": ["+14155550199", "+14155550100"],
        },
    )

    assert isinstance(parsed.event, InboundMessage)
    assert (parsed.event.is_group, parsed.event.group_id, parsed.event.participants) == (
        False,
        "",
        (),
    )


def test_receive_falls_back_to_number_and_sendblue_number() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint=None,
        body={
            "message_handle": "H2",
            "number": "+14155550199",
            "sendblue_number": "+14155550100",
            "is_outbound": False,
            "status": "RECEIVED",
        },
    )

    assert isinstance(parsed.event, InboundMessage)
    assert parsed.event.from_number == "+14155550199"
    assert parsed.event.to_number == "+14155550100"


def test_outbound_body_on_the_receive_url_is_still_a_status_update() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint="receive",
        body={"message_handle": "H3", "is_outbound": True, "status": "SENT"},
    )

    assert isinstance(parsed.event, StatusUpdate)
    assert parsed.event_key == "status:H3:SENT"


def test_typing_body_is_told_apart_by_is_typing() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint="receive",
        body={"number": "+14155550199", "from_number": "+14155550100", "is_typing": True},
    )

    assert parsed.event == TypingEvent(
        contact_number="+14155550199", line_number="+14155550100", is_typing=True
    )


def test_typing_keeps_the_providers_timestamp() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint="typing_indicator",
        body={
            "number": "+14155550199",
            "from_number": "+14155550100",
            "is_typing": False,
            "timestamp": "2026-03-01T12:00:00.000Z",
        },
    )

    assert isinstance(parsed.event, TypingEvent)
    assert parsed.event.at is not None and parsed.event.at.isoformat().startswith("2026-03-01T12")


def test_a_read_status_is_delivered_and_read_with_its_own_key() -> None:
    body = {"message_handle": "H9", "is_outbound": True, "status": "READ"}

    parsed = parse_sendblue_webhook(event_type_hint="outbound", body=body)
    delivered = parse_sendblue_webhook(
        event_type_hint="outbound", body={**body, "status": "DELIVERED"}
    )

    assert isinstance(parsed.event, StatusUpdate) and isinstance(delivered.event, StatusUpdate)
    assert (parsed.event.status, parsed.event.read) == ("delivered", True)
    assert (delivered.event.status, delivered.event.read) == ("delivered", False)
    assert parsed.event_key != delivered.event_key


@pytest.mark.parametrize("key", ["sendblue_number", "number", "phone_number", "line"])
def test_line_assigned_reads_the_number_from_any_documented_key(key: str) -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint="line_assigned", body={key: "+14155550123", "line_request_id": 7}
    )

    assert parsed.event == LineAssigned(number="+14155550123", line_request_id="7")
    assert parsed.event_key == "line_assigned:+14155550123"


def test_line_assigned_reads_a_nested_data_object() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint=None,
        body={"type": "line_assigned", "data": {"phone_number": "+14155550123"}},
    )

    assert parsed.event == LineAssigned(number="+14155550123", line_request_id=None)


def test_line_assigned_without_a_number_still_parses_for_reconciliation() -> None:
    parsed = parse_sendblue_webhook(event_type_hint="line_assigned", body={"type": "line_assigned"})

    assert parsed.event == LineAssigned(number=None, line_request_id=None)


def test_line_blocked_parses_number_and_reason() -> None:
    parsed = parse_sendblue_webhook(
        event_type_hint="line_blocked",
        body={"sendblue_number": "+14155550123", "reason": "spam reports"},
    )

    assert parsed.event == LineBlocked(number="+14155550123", reason="spam reports")


def test_unknown_types_parse_to_unknown_event() -> None:
    parsed = parse_sendblue_webhook(event_type_hint="call_log", body={"x": 1})

    assert parsed.event == UnknownEvent(event_type="call_log")


def test_the_same_unknown_body_gets_the_same_key() -> None:
    first = parse_sendblue_webhook(event_type_hint="call_log", body={"x": 1, "y": 2})
    second = parse_sendblue_webhook(event_type_hint="call_log", body={"y": 2, "x": 1})

    assert first.event_key == second.event_key


@pytest.mark.parametrize("body", [None, [], "text", 3])
def test_non_object_bodies_raise_parse_errors(body: object) -> None:
    with pytest.raises(WebhookParseError):
        parse_sendblue_webhook(event_type_hint="receive", body=body)


def test_receive_without_handle_raises_a_parse_error() -> None:
    with pytest.raises(WebhookParseError):
        parse_sendblue_webhook(
            event_type_hint="receive",
            body={"from_number": "+14155550199", "to_number": "+14155550100"},
        )
