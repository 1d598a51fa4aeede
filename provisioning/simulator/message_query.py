"""The simulator's message list (`GET /api/v2/messages`, the SDK's `messages.list`): the
filters it validates the way the provider documents them, and how they match a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.phone import to_e164


class InvalidFilter(ValueError):
    """A filter the provider documents as invalid (the route answers 400 with the text)."""


# `GET /api/v2/messages` (the SDK's `messages.list`): its enums, and the message fields each
# filter and `order_by` value reads. The simulator keeps only outbound messages.
MESSAGE_STATUSES = {
    "REGISTERED",
    "PENDING",
    "SENT",
    "DELIVERED",
    "RECEIVED",
    "QUEUED",
    "ERROR",
    "DECLINED",
    "ACCEPTED",
    "SUCCESS",
}
MESSAGE_ORDER_FIELDS = {
    "createdAt": "date_sent",
    "sentAt": "date_sent",
    "updatedAt": "date_updated",
}
MESSAGE_NUMBER_FILTERS = ("from_number", "to_number", "sendblue_number")
MESSAGE_DATE_FILTERS = {
    "created_at_gte": ("date_sent", 1),
    "created_at_lte": ("date_sent", -1),
    "sent_at_gte": ("date_sent", 1),
    "sent_at_lte": ("date_sent", -1),
    "updated_at_gte": ("date_updated", 1),
    "updated_at_lte": ("date_updated", -1),
}
MESSAGE_PAGE_MAX = 100  # Assume: the provider documents no maximum; callers follow hasMore


def _parse_iso(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilter(f"`{name}` must be an ISO 8601 date.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_count(name: str, value: str | None, default: int, minimum: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise InvalidFilter(f"`{name}` must be an integer of at least {minimum}.")
    return int(value)


@dataclass(frozen=True)
class MessageQuery:
    """The validated filters of one message list request. `parse` raises `InvalidFilter`."""

    is_outbound: bool | None
    numbers: dict[str, str]
    any_number: str | None
    status: str | None
    dates: dict[str, datetime]
    order_key: str
    descending: bool
    limit: int
    offset: int

    @classmethod
    def parse(cls, query: dict[str, str]) -> MessageQuery:
        outbound = query.get("is_outbound")
        if outbound not in {None, "true", "false"}:
            raise InvalidFilter("`is_outbound` must be true or false.")
        numbers: dict[str, str] = {}
        for name in (*MESSAGE_NUMBER_FILTERS, "number"):
            if name in query:
                number = to_e164(query[name])
                if number is None:
                    raise InvalidFilter(f"`{name}` must be an E.164 phone number.")
                numbers[name] = number
        status = query.get("status")
        if status is not None and status not in MESSAGE_STATUSES:
            raise InvalidFilter(f"`status` must be one of {', '.join(sorted(MESSAGE_STATUSES))}.")
        order_by = query.get("order_by", "createdAt")
        if order_by not in MESSAGE_ORDER_FIELDS:
            raise InvalidFilter("`order_by` must be createdAt, updatedAt or sentAt.")
        direction = query.get("order_direction", "desc")
        if direction not in {"asc", "desc"}:
            raise InvalidFilter("`order_direction` must be asc or desc.")
        return cls(
            is_outbound=None if outbound is None else outbound == "true",
            numbers={k: v for k, v in numbers.items() if k != "number"},
            any_number=numbers.get("number"),
            status=status,
            dates={k: _parse_iso(k, query[k]) for k in MESSAGE_DATE_FILTERS if k in query},
            order_key=MESSAGE_ORDER_FIELDS[order_by],
            descending=direction == "desc",
            limit=min(
                _parse_count("limit", query.get("limit"), MESSAGE_PAGE_MAX, 1), MESSAGE_PAGE_MAX
            ),
            offset=_parse_count("offset", query.get("offset"), 0, 0),
        )

    def matches(self, message: dict[str, Any]) -> bool:
        if self.is_outbound is not None and bool(message.get("is_outbound")) != self.is_outbound:
            return False
        if any(message.get(name) != number for name, number in self.numbers.items()):
            return False
        if self.any_number is not None and self.any_number not in {
            message.get("from_number"),
            message.get("to_number"),
        }:
            return False
        if self.status is not None and message.get("status") != self.status:
            return False
        for name, bound in self.dates.items():
            field_name, sign = MESSAGE_DATE_FILTERS[name]
            value = _parse_iso(field_name, str(message.get(field_name)))
            if (value - bound).total_seconds() * sign < 0:
                return False
        return True
