"""Sendblue's wire shapes read: webhook bodies into typed events, and the fields of the
provider's answers (statuses, services, numbers, timestamps).

Tolerant by design (the provider's docs disagree with each other): unknown keys are
ignored, optional fields may be null or absent, enums are free strings compared
case-insensitively with a fallback.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from console.phone import to_e164
from provisioning.providers.base import (
    InboundMessage,
    InboundReaction,
    LineAssigned,
    LineBlocked,
    OutboundRecord,
    ParsedWebhook,
    ProviderWebhookEvent,
    StatusUpdate,
    TypingEvent,
    UnknownEvent,
    WebhookParseError,
)

logger = logging.getLogger(__name__)

# Webhook types we register per setup (§10). The intake learns the type from the URL.
WEBHOOK_TYPES = ("receive", "outbound", "typing_indicator", "line_assigned", "line_blocked")

_STATUS_MAP = {
    "REGISTERED": "registered",
    "PENDING": "pending",
    "QUEUED": "queued",
    "ACCEPTED": "accepted",
    "SENT": "sent",
    "SUCCESS": "sent",
    "DELIVERED": "delivered",
    # The agent contract has no "read" status: a read message was certainly delivered,
    # and StatusUpdate.read carries the read itself.
    "READ": "delivered",
    "DECLINED": "declined",
    "ERROR": "error",
    "FAILED": "error",
    "RECEIVED": "received",
}
_SERVICE_MAP = {"imessage": "imessage", "sms": "sms", "rcs": "rcs"}
_LINE_NUMBER_KEYS = ("sendblue_number", "number", "phone_number", "line")


def map_status(raw: object) -> str:
    """Provider status → our lower-case DeliveryStatus value; unknown values are pending."""
    text = str(raw or "").strip().upper()
    mapped = _STATUS_MAP.get(text)
    if mapped is None:
        logger.warning("unknown provider status %r mapped to pending", text[:32])
        return "pending"
    return mapped


def map_service(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    return _SERVICE_MAP.get(raw.strip().lower())


def opt_str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _parse_dt(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def first_e164(mapping: dict[str, Any], keys: Iterable[str]) -> str | None:
    for key in keys:
        number = to_e164(mapping.get(key))
        if number:
            return number
    return None


def _address(value: object) -> str | None:
    """A person's address: E.164 when it is a number, else the raw handle (email)."""
    number = to_e164(value)
    if number:
        return number
    if isinstance(value, str) and "@" in value:
        return value.strip()
    return None


def body_digest(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


# --- Webhook parsing ---------------------------------------------------------


def _infer_type(event_type_hint: str | None, body: dict[str, Any]) -> str:
    # The body wins where it is unambiguous: a status callback URL and the `outbound`
    # webhook carry the same shape, and typing bodies are told apart by `is_typing`.
    if isinstance(body.get("is_typing"), bool):
        return "typing_indicator"
    declared = body.get("type")
    if isinstance(declared, str) and declared in {"line_assigned", "line_blocked"}:
        return declared
    if body.get("is_outbound") is True:
        return "outbound"
    if event_type_hint:
        return "outbound" if event_type_hint == "status_callback" else event_type_hint
    if isinstance(declared, str) and declared:
        return declared
    if body.get("message_handle") and body.get("is_outbound") is False:
        return "receive"
    return "unknown"


# Message.provider_handle is bounded; provider handles are GUIDs, far shorter.
MAX_HANDLE_LENGTH = 255


def _handle(body: dict[str, Any], kind: str) -> str:
    handle = opt_str(body.get("message_handle"))
    if handle is None:
        raise WebhookParseError(f"{kind} body without message_handle")
    if len(handle) > MAX_HANDLE_LENGTH:
        raise WebhookParseError(f"{kind} body with an overlong message_handle")
    return handle


def _parse_receive(body: dict[str, Any]) -> tuple[str, ProviderWebhookEvent]:
    handle = _handle(body, "receive")
    sender = _address(body.get("from_number")) or _address(body.get("number"))
    line = to_e164(body.get("to_number")) or to_e164(body.get("sendblue_number"))
    if sender is None or line is None:
        raise WebhookParseError("receive body without a usable sender or line number")
    target = opt_str(
        body.get("associated_message_handle")
        or body.get("target_message_handle")
        or body.get("reaction_to")
    )
    reaction = body.get("reaction")
    if target and isinstance(reaction, str) and reaction:
        part = body.get("part_index")
        return f"reaction:{handle}", InboundReaction(
            provider_handle=handle,
            target_provider_handle=target,
            from_number=sender,
            to_number=line,
            reaction=reaction.lower(),
            custom_emoji=opt_str(body.get("custom_emoji")),
            part_index=part if isinstance(part, int) and part >= 0 else 0,
            removed=bool(body.get("removed") or body.get("is_removed")),
        )
    group_id = opt_str(body.get("group_id")) or ""
    is_group = body.get("message_type") == "group" or bool(group_id)
    return f"receive:{handle}", InboundMessage(
        provider_handle=handle,
        from_number=sender,
        to_number=line,
        content=content if isinstance(content := body.get("content"), str) else "",
        media_url=opt_str(body.get("media_url")),
        service=map_service(body.get("service")) or "imessage",
        is_group=is_group,
        sent_at=_parse_dt(body.get("date_sent") or body.get("date_created")),
        group_id=group_id[:MAX_HANDLE_LENGTH] if is_group else "",
        participants=_participants(body.get("participants")) if is_group else (),
    )


# A thread has at most a few dozen members; more is hostile and only bloats the row.
MAX_PARTICIPANTS = 64


def _participants(raw: object) -> tuple[str, ...]:
    """The thread's addresses in the order given, deduplicated; unusable ones dropped."""
    if not isinstance(raw, list):
        return ()
    seen: dict[str, None] = {}
    for item in raw[: MAX_PARTICIPANTS * 2]:
        address = _address(item)
        if address is not None and len(address) <= 320:
            seen.setdefault(address, None)
    return tuple(seen)[:MAX_PARTICIPANTS]


def parse_status(body: dict[str, Any]) -> tuple[str, ProviderWebhookEvent]:
    handle = _handle(body, "status")
    raw_status = str(body.get("status") or "").strip().upper()
    return f"status:{handle}:{raw_status}", StatusUpdate(
        provider_handle=handle,
        status=map_status(raw_status),
        service=map_service(body.get("service")),
        was_downgraded=opt_bool(body.get("was_downgraded")),
        error_code=opt_str(body.get("error_code")),
        error_message=opt_str(body.get("error_message")),
        error_reason=opt_str(body.get("error_reason")),
        error_detail=opt_str(body.get("error_detail")),
        read=raw_status == "READ",
    )


def _parse_typing(body: dict[str, Any]) -> tuple[str, ProviderWebhookEvent]:
    contact = _address(body.get("number"))
    line = to_e164(body.get("from_number"))
    if contact is None or line is None:
        raise WebhookParseError("typing body without numbers")
    return f"typing:{body_digest(body)}", TypingEvent(
        contact_number=contact,
        line_number=line,
        is_typing=bool(body.get("is_typing")),
        at=_parse_dt(body.get("timestamp")),
    )


def _line_number(body: dict[str, Any]) -> str | None:
    number = first_e164(body, _LINE_NUMBER_KEYS)
    data = body.get("data")
    if number is None and isinstance(data, dict):
        number = first_e164(data, _LINE_NUMBER_KEYS)
    return number


def _parse_line_assigned(body: dict[str, Any]) -> tuple[str, ProviderWebhookEvent]:
    number = _line_number(body)
    data = raw if isinstance(raw := body.get("data"), dict) else {}
    request_id = opt_str(body.get("line_request_id") or data.get("line_request_id"))
    key = f"line_assigned:{number}" if number else f"line_assigned:{body_digest(body)}"
    return key, LineAssigned(number=number, line_request_id=request_id)


def _parse_line_blocked(body: dict[str, Any]) -> tuple[str, ProviderWebhookEvent]:
    number = _line_number(body)
    when = opt_str(body.get("blocked_at")) or body_digest(body)
    return f"line_blocked:{number}:{when}", LineBlocked(
        number=number, reason=opt_str(body.get("reason"))
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], tuple[str, ProviderWebhookEvent]]] = {
    "receive": _parse_receive,
    "outbound": parse_status,
    "typing_indicator": _parse_typing,
    "line_assigned": _parse_line_assigned,
    "line_blocked": _parse_line_blocked,
}


def parse_sendblue_webhook(*, event_type_hint: str | None, body: Any) -> ParsedWebhook:
    """Turn one provider webhook body into a typed event with its de-duplication key.

    `event_type_hint` is the webhook type we registered the URL for (the last path
    segment of our intake URL), or None. Raises `WebhookParseError` for a body that is
    not a JSON object or lacks what its type needs. Unknown types parse to `UnknownEvent`.
    """
    if not isinstance(body, dict):
        raise WebhookParseError("webhook body is not a JSON object")
    event_type = _infer_type(event_type_hint, body)
    parser = _PARSERS.get(event_type)
    if parser is None:
        return ParsedWebhook(
            event_key=f"{event_type[:40]}:{body_digest(body)}",
            event_type=event_type[:64],
            event=UnknownEvent(event_type=event_type[:64]),
        )
    key, event = parser(body)
    return ParsedWebhook(event_key=key[:255], event_type=event_type, event=event)


# --- Answers -------------------------------------------------------------------


def outbound_record(entry: object) -> OutboundRecord | None:
    """One entry of the message list, or None when it is not an outbound message we can
    identify (no handle, or marked inbound)."""
    if not isinstance(entry, dict) or entry.get("is_outbound") is False:
        return None
    try:
        _, update = parse_status(entry)
    except WebhookParseError:
        return None
    assert isinstance(update, StatusUpdate)
    content = entry.get("content")
    return OutboundRecord(
        update=update,
        from_number=to_e164(entry.get("from_number")) or to_e164(entry.get("sendblue_number")),
        to_number=to_e164(entry.get("to_number")) or to_e164(entry.get("number")),
        content=content if isinstance(content, str) else "",
        media_url=opt_str(entry.get("media_url")),
        created_at=_parse_dt(entry.get("date_sent") or entry.get("date_created")),
    )


def response_data(body: Any) -> dict[str, Any]:
    """An answer's payload: its `data` object when it has one, else the body itself."""
    if isinstance(body, dict):
        inner = body.get("data")
        if isinstance(inner, dict):
            return inner
        return body
    return {}
