"""The provider adapter interface, its error type and the typed events it parses.

Provider wire shapes end in the adapters: everything past `parse_webhook` sees only the
dataclasses below. Every adapter (sendblue over httpx, the in-memory fake) implements
`ProviderAdapter`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypedDict, Unpack
from urllib.parse import urlsplit


class ProviderError(Exception):
    """A failed provider call. `permanent` tells callers not to retry; `ambiguous` that the
    request may have reached the provider and taken effect (it timed out or the connection
    broke after it was sent), so a call that must not happen twice is not simply repeated."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status_code: int | None = None,
        error_key: str | None = None,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status_code = status_code
        self.error_key = error_key
        self.retry_after = retry_after
        self.ambiguous = ambiguous


MEDIA_URL_REFUSED = (
    "media_url must be a public URL whose path ends with the file extension; "
    "signed URLs with a query string are not supported."
)
_MEDIA_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def media_url_acceptable(url: str) -> bool:
    """What the provider documents for a send's `media_url` (contract §6.1): http(s), the
    last path segment ends with a file extension, no query string (signed URLs are not
    supported) and no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme in {"http", "https"}
        and bool(parts.netloc)
        and not parts.query
        and not parts.fragment
        and "?" not in url
        and bool(_MEDIA_EXTENSION.search(parts.path.rsplit("/", 1)[-1]))
    )


class WebhookParseError(ValueError):
    """A provider webhook body that cannot be understood (recorded, answered 2xx)."""


@dataclass(frozen=True)
class AccountCredentials:
    key_id: str
    secret: str


@dataclass(frozen=True)
class ChildAccount:
    account_id: str
    credentials: AccountCredentials
    # E.164 when a line was placed at once, None while pending.
    assigned_number: str | None
    line_request_id: str | None = None


@dataclass(frozen=True)
class LineRequest:
    request_id: str
    status: str  # OPEN | FULFILLED | CANCELLED
    number: str | None


@dataclass(frozen=True)
class LineStateEntry:
    number: str | None
    status: str  # ONLINE | OFFLINE | DEGRADED | UNKNOWN


@dataclass(frozen=True)
class SendResult:
    provider_handle: str
    status: str  # normalised lower-case DeliveryStatus value
    service: str | None = None
    was_downgraded: bool | None = None


@dataclass(frozen=True)
class UploadResult:
    media_url: str
    media_object_id: str | None = None


# --- Typed webhook events --------------------------------------------------


@dataclass(frozen=True)
class InboundMessage:
    provider_handle: str
    from_number: str  # the person (E.164, or an email address on dedicated lines)
    to_number: str  # our line
    content: str
    media_url: str | None
    service: str  # imessage | sms | rcs
    is_group: bool
    sent_at: datetime | None
    raw_type: str = "receive"
    # Group threads only: the provider's group id ("" when it gave none) and every
    # address in the thread, our line included.
    group_id: str = ""
    participants: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusUpdate:
    provider_handle: str
    status: str  # normalised lower-case DeliveryStatus value
    service: str | None
    was_downgraded: bool | None
    error_code: str | None
    error_message: str | None
    error_reason: str | None = None
    error_detail: str | None = None
    # The provider's READ status: the person read the message (status stays delivered).
    read: bool = False
    # Our message id, when the update came to the message's own status callback URL.
    message_ref: str | None = None


@dataclass(frozen=True)
class OutboundRecord:
    """One outbound message as the provider's message list reports it: how a send whose
    answer was lost is found again."""

    update: StatusUpdate  # handle, status, service, downgrade and error fields
    from_number: str | None
    to_number: str | None
    content: str
    media_url: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class InboundReaction:
    """A tapback from the person (not documented upstream; parsed when present)."""

    provider_handle: str
    target_provider_handle: str
    from_number: str
    to_number: str
    reaction: str  # a ReactionType value; `custom` with custom_emoji
    custom_emoji: str | None
    part_index: int
    removed: bool


@dataclass(frozen=True)
class TypingEvent:
    contact_number: str
    line_number: str
    is_typing: bool
    at: datetime | None = None  # the provider's timestamp, when it sent one


@dataclass(frozen=True)
class LineAssigned:
    number: str | None  # None: the adapter found no number; reconcile by polling
    line_request_id: str | None


@dataclass(frozen=True)
class LineBlocked:
    number: str | None
    reason: str | None


@dataclass(frozen=True)
class UnknownEvent:
    event_type: str


ProviderWebhookEvent = (
    InboundMessage
    | StatusUpdate
    | InboundReaction
    | TypingEvent
    | LineAssigned
    | LineBlocked
    | UnknownEvent
)


@dataclass(frozen=True)
class ParsedWebhook:
    """What the adapter made of one delivery: its de-duplication key and the typed event."""

    event_key: str
    event_type: str
    event: ProviderWebhookEvent
    extra: dict[str, Any] = field(default_factory=dict)


class OutboundMessage(TypedDict):
    """What one send-message call carries, next to the child credentials."""

    from_number: str
    to_number: str
    content: str | None
    media_url: str | None
    send_style: str | None
    status_callback: str | None


class OutboundQuery(TypedDict):
    """Which sent messages an outbound-messages lookup asks for."""

    from_number: str
    to_number: str
    created_after: datetime


class ReactionRequest(TypedDict):
    """What one send-reaction call carries, next to the child credentials."""

    from_number: str
    provider_handle: str
    reaction: str
    part_index: int


class ProviderAdapter(Protocol):
    name: str

    # Provisioning (agency credentials)
    def create_child_account(
        self, *, company_name: str, primary_email: str, provision_line: bool
    ) -> ChildAccount: ...

    def register_webhooks(
        self, *, credentials: AccountCredentials, urls_by_type: dict[str, str], secret: str
    ) -> None: ...

    def request_line(self, *, credentials: AccountCredentials) -> LineRequest: ...

    def get_line_request(
        self, *, credentials: AccountCredentials, request_id: str
    ) -> LineRequest: ...

    def lines_state(self, *, credentials: AccountCredentials) -> list[LineStateEntry]: ...

    # Messaging (child credentials)
    def send_message(
        self, *, credentials: AccountCredentials, **message: Unpack[OutboundMessage]
    ) -> SendResult: ...

    def message_status(
        self, *, credentials: AccountCredentials, provider_handle: str
    ) -> StatusUpdate | None: ...

    def outbound_messages(
        self, *, credentials: AccountCredentials, **query: Unpack[OutboundQuery]
    ) -> list[OutboundRecord]:
        """Messages sent from our line `from_number` to `to_number` since `created_after`,
        oldest first. Raises `ProviderError`."""
        ...

    def send_reaction(
        self, *, credentials: AccountCredentials, **reaction: Unpack[ReactionRequest]
    ) -> None: ...

    def send_typing(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None: ...

    def mark_read(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None: ...

    def upload_media(self, *, credentials: AccountCredentials, source_url: str) -> UploadResult: ...

    # Webhooks
    def parse_webhook(self, *, event_type_hint: str | None, body: Any) -> ParsedWebhook:
        """Turn a webhook body into a typed event. Raises `WebhookParseError`."""
        ...
