"""Messaging's models, one module per concern; import them from here.

- `conversations`: conversations, messages, tapbacks and media, and their states.
- `records`: legal holds, retention runs and a person's record exports.
- `clinic`: quiet hours, after-hours replies, consent events and opt-outs.
"""

from messaging.models.clinic import (
    AfterHoursReply,
    ConsentEvent,
    ConsentKind,
    ConsentSource,
    OptOut,
    QuietHours,
)
from messaging.models.conversations import (
    REVIEW_WAITING,
    Conversation,
    DeliveryStatus,
    Direction,
    HandledBy,
    MediaObject,
    Message,
    Reaction,
    ReactionType,
    ReviewState,
    SendCapBucket,
    SendState,
    SendStyle,
    Service,
)
from messaging.models.records import (
    ExportStatus,
    HoldKind,
    LegalHold,
    PersonExport,
    RetentionRun,
)

__all__ = [
    "REVIEW_WAITING",
    "AfterHoursReply",
    "ConsentEvent",
    "ConsentKind",
    "ConsentSource",
    "Conversation",
    "DeliveryStatus",
    "Direction",
    "ExportStatus",
    "HandledBy",
    "HoldKind",
    "LegalHold",
    "MediaObject",
    "Message",
    "OptOut",
    "PersonExport",
    "QuietHours",
    "Reaction",
    "ReactionType",
    "RetentionRun",
    "ReviewState",
    "SendCapBucket",
    "SendState",
    "SendStyle",
    "Service",
]
