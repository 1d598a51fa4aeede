"""The agent webhook event types (`GET /api/v1/webhooks/catalog`).

Every event reaches only the subscriptions whose `event_types` list it. The five of the
inkbox contract came first; the later ones (read receipts, typing, connections) are
marked `opt_in` in the catalog so that agents know nothing sends them unasked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    opt_in: bool = False


CATALOG: tuple[EventType, ...] = (
    EventType(
        "imessage.received", "A person sent the identity a message (never for blocked senders)."
    ),
    EventType("imessage.reaction_received", "A person added or changed a tapback on a message."),
    EventType("imessage.sent", "The provider accepted a message the identity sent."),
    EventType("imessage.delivered", "A message the identity sent reached the person's device."),
    EventType("imessage.delivery_failed", "A message the identity sent failed for good."),
    EventType(
        "imessage.delivery_unknown",
        "The provider may have delivered a message the identity sent, but it could not be "
        "confirmed (status error, error_reason outcome_unknown). Do not resend it without "
        "asking the person.",
        opt_in=True,
    ),
    EventType(
        "imessage.read",
        "The person read a message the identity sent (data.message, with read_at).",
        opt_in=True,
    ),
    EventType(
        "imessage.typing",
        "The person started or stopped typing (data: conversation_id, remote_number, "
        "is_typing, timestamp).",
        opt_in=True,
    ),
    EventType(
        "imessage.connected",
        "A person connected to the identity (data: assignment_id, conversation_id, remote_number).",
        opt_in=True,
    ),
    EventType(
        "imessage.disconnected",
        "A connection ended (data: assignment_id, conversation_id, remote_number, reason: "
        "person, operator or agent).",
        opt_in=True,
    ),
    EventType(
        "imessage.handoff",
        "Staff took a conversation over or handed it back (data: conversation_id, "
        "remote_number, handled_by, handed_off_at, handed_off_by). While handled_by is "
        "staff, sends into it answer 409 conversation_handed_off.",
        opt_in=True,
    ),
    EventType(
        "imessage.opted_out",
        "A person texted STOP (or a like keyword): data.message is their message, sent "
        "instead of imessage.received; sends to them answer 403 recipient_opted_out.",
        opt_in=True,
    ),
    EventType(
        "imessage.opted_in",
        "A person texted START (or a like keyword) after opting out; data.message is "
        "their message, sent instead of imessage.received.",
        opt_in=True,
    ),
)
EVENT_TYPES = frozenset(event.name for event in CATALOG)
