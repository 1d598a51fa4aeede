"""Property-based tests of the parsers that face the outside world: whatever they are fed,
they answer or raise the project's own validation error, never anything else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from console.api.exceptions import error_status
from console.errors import ValidationFailed
from console.phone import is_e164, normalize_e164, to_e164
from provisioning.providers.base import (
    InboundMessage,
    InboundReaction,
    LineAssigned,
    LineBlocked,
    ParsedWebhook,
    StatusUpdate,
    TypingEvent,
    UnknownEvent,
    WebhookParseError,
)
from provisioning.providers.sendblue.parsing import WEBHOOK_TYPES, parse_sendblue_webhook
from provisioning.services.intake import MAX_BODY_DEPTH
from routing.commands import CommandParseError, RouterCommand, parse_command

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# --- Router commands ----------------------------------------------------------------

handles = st.from_regex(r"[a-z0-9-]{3,63}", fullmatch=True)
verbs = st.sampled_from(
    [
        "connect",
        "CONNECT",
        "Connect",
        "disconnect",
        "DisConnect",
        "\uff43\uff4f\uff4e\uff4e\uff45\uff43\uff54",
    ]
)
spaces = st.sampled_from([" ", "  ", "\t", "\u00a0", "\u3000", " @", "@", " @ "])
command_like = st.builds(
    lambda pre, verb, sep, handle, post: f"{pre}{verb}{sep}{handle}{post}",
    st.sampled_from(["", " ", "\n", "\u200b"]),
    verbs,
    spaces,
    handles,
    st.sampled_from(["", ".", "!", " ?", "..", " 🙂", "\x00"]),
)


@FUZZ
@given(st.one_of(st.text(), st.text(max_size=2000), command_like))
@example("connect @" + "a" * 10_000)
@example("\x00" * 500)
@example("connect\u0301 @bot")
def test_the_command_parser_answers_or_raises_its_own_error(text: str) -> None:
    try:
        command = parse_command(text)
    except CommandParseError:
        return
    assert isinstance(command, RouterCommand)
    assert command.verb in {"connect", "disconnect"}
    assert command.handle is None or (
        3 <= len(command.handle) <= 63 and command.handle == command.handle.lower()
    )


@FUZZ
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_the_command_parser_rejects_non_text_with_its_own_error(value: Any) -> None:
    with pytest.raises(CommandParseError):
        parse_command(value)


@FUZZ
@given(handles, spaces)
def test_a_well_formed_connect_command_always_parses(handle: str, sep: str) -> None:
    assert parse_command(f"connect{sep}{handle}") == RouterCommand("connect", handle)


# --- E.164 normalisation -----------------------------------------------------------

phone_like = st.builds(
    lambda plus, digits, junk: f"{plus}{digits}{junk}",
    st.sampled_from(["", "+", "++", "00", "+1 ", "(", "tel:"]),
    st.text(alphabet="0123456789 -().", min_size=0, max_size=25),
    st.sampled_from(["", " ext. 12", "#", "x1", "\u0660\u0661", "٠١٢"]),
)


@FUZZ
@given(st.one_of(st.text(), phone_like))
@example("+" + "9" * 5000)
@example("+1415555010\x00")
@example("\uff0b\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10")
def test_e164_normalisation_answers_or_raises_validation_failed(value: str) -> None:
    try:
        number = normalize_e164(value)
    except ValidationFailed as exc:
        assert error_status(exc) == 400
        assert exc.code == "validation_error"
        return
    assert number.startswith("+")
    assert number[1:].isdigit()
    assert normalize_e164(number) == number
    assert is_e164(number)


@FUZZ
@given(st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.text()), st.binary()))
def test_e164_normalisation_rejects_non_text_with_validation_failed(value: Any) -> None:
    with pytest.raises(ValidationFailed):
        normalize_e164(value)


@FUZZ
@given(
    st.one_of(
        st.text(), phone_like, st.none(), st.integers(), st.dictionaries(st.text(), st.text())
    )
)
def test_the_provider_side_e164_reader_never_raises(value: Any) -> None:
    number = to_e164(value)
    assert number is None or (number.startswith("+") and to_e164(number) == number)


# --- Provider webhook bodies ---------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=50),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
numbers = st.one_of(
    st.sampled_from(["+14155550100", "+14155550199", "4155550100", "someone@example.com", ""]),
    phone_like,
    json_values,
)
statuses = st.one_of(
    st.sampled_from(["QUEUED", "SENT", "DELIVERED", "ERROR", "DECLINED", "read", "weird", ""]),
    json_values,
)
KNOWN_KEYS: dict[str, Any] = {
    "type": st.one_of(st.sampled_from([*WEBHOOK_TYPES, "call_log", ""]), json_values),
    "message_handle": st.one_of(st.uuids().map(str), st.text(max_size=300), json_values),
    "is_outbound": st.one_of(st.booleans(), json_values),
    "is_typing": st.one_of(st.booleans(), json_values),
    "status": statuses,
    "content": st.one_of(st.text(), json_values),
    "from_number": numbers,
    "to_number": numbers,
    "number": numbers,
    "sendblue_number": numbers,
    "phone_number": numbers,
    "line": numbers,
    "service": st.one_of(st.sampled_from(["iMessage", "SMS", "RCS", "fax"]), json_values),
    "was_downgraded": json_values,
    "date_sent": st.one_of(st.sampled_from(["2026-01-05T10:01:00.000Z", "yesterday"]), json_values),
    "media_url": json_values,
    "message_type": st.one_of(st.sampled_from(["message", "group"]), json_values),
    "group_id": json_values,
    "error_code": json_values,
    "error_message": json_values,
    "reaction": st.one_of(st.sampled_from(["love", "like", "LAUGH"]), json_values),
    "associated_message_handle": json_values,
    "part_index": json_values,
    "line_request_id": json_values,
    "blocked_at": json_values,
    "reason": json_values,
    "data": st.one_of(
        st.fixed_dictionaries({}, optional={"sendblue_number": numbers}), json_values
    ),
}
webhook_bodies = st.fixed_dictionaries({}, optional=KNOWN_KEYS)
hints = st.one_of(st.none(), st.sampled_from([*WEBHOOK_TYPES, "status_callback", "bogus"]))
EVENT_TYPES = (
    InboundMessage,
    InboundReaction,
    StatusUpdate,
    TypingEvent,
    LineAssigned,
    LineBlocked,
    UnknownEvent,
)


def _parse_checked(hint: str | None, body: Any) -> ParsedWebhook | None:
    try:
        parsed = parse_sendblue_webhook(event_type_hint=hint, body=body)
    except WebhookParseError:
        return None
    assert isinstance(parsed, ParsedWebhook)
    assert isinstance(parsed.event, EVENT_TYPES)
    # Both go into bounded columns of ProviderEvent.
    assert 0 < len(parsed.event_key) <= 255
    assert 0 < len(parsed.event_type) <= 64
    return parsed


@FUZZ
@given(hints, json_values)
def test_the_webhook_parser_survives_any_json_value(hint: str | None, body: Any) -> None:
    _parse_checked(hint, body)


@FUZZ
@given(hints, webhook_bodies)
def test_the_webhook_parser_survives_provider_shaped_bodies(
    hint: str | None, body: dict[str, Any]
) -> None:
    parsed = _parse_checked(hint, body)
    if parsed is None:
        return
    event = parsed.event
    if isinstance(event, InboundMessage | InboundReaction):
        assert is_e164(event.to_number)
        assert event.from_number
        assert event.provider_handle
    if isinstance(event, StatusUpdate):
        assert event.status in {
            "registered",
            "pending",
            "queued",
            "accepted",
            "sent",
            "delivered",
            "declined",
            "error",
            "received",
        }
    if isinstance(event, TypingEvent):
        assert is_e164(event.line_number)


receive_bodies = st.fixed_dictionaries(
    {
        "message_handle": st.uuids().map(str),
        "from_number": st.sampled_from(["+14155550199", "4155550199", "someone@example.com"]),
        "to_number": st.sampled_from(["+14155550100", "+442071838750"]),
        "is_outbound": st.just(False),
    },
    optional={
        k: v
        for k, v in KNOWN_KEYS.items()
        if k
        not in {"is_typing", "type", "is_outbound", "message_handle", "from_number", "to_number"}
    },
)


@FUZZ
@given(receive_bodies)
def test_the_same_body_always_gets_the_same_event_key(body: dict[str, Any]) -> None:
    """Re-deliveries must collide on the ProviderEvent unique key."""
    first = _parse_checked("receive", body)
    assume(first is not None)
    again = _parse_checked("receive", json.loads(json.dumps(body)))
    assert again is not None and again.event_key == first.event_key  # type: ignore[union-attr]


def test_a_body_as_deep_as_the_intake_allows_is_parsed_not_crashed() -> None:
    nested: Any = "x"
    for _level in range(MAX_BODY_DEPTH):
        nested = {"data": nested}
    _parse_checked(None, {"type": "mystery", "data": nested})
    _parse_checked("line_assigned", {"data": nested})
    _parse_checked("line_blocked", {"data": nested})
