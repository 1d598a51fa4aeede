"""The wire bodies of the calls the Sendblue adapter makes, and the error a refusal
becomes. The fake adapter checks the same bodies against the provider's rules, so the
two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Unpack

from provisioning.providers.base import OutboundMessage, ProviderError, ReactionRequest

# The message lookup reads pages of this size (oldest first).
LOOKUP_PAGE_SIZE = 100


def child_account_body(
    *, company_name: str, primary_email: str, provision_line: bool
) -> dict[str, Any]:
    return {
        "company_name": company_name,
        "primary_email": primary_email,
        "provision_line": provision_line,
    }


def add_line_body() -> dict[str, Any]:
    return {"line_request_type": "phone"}


def webhook_add_body(*, url: str, webhook_type: str, secret: str) -> dict[str, Any]:
    # globalSecret too: status callbacks have no per-webhook secret of their own, and the
    # provider signs them with the account's global one.
    return {
        "webhooks": [{"url": url, "secret": secret}],
        "type": webhook_type,
        "globalSecret": secret,
    }


def send_message_body(**message: Unpack[OutboundMessage]) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "number": message["to_number"],
        "from_number": message["from_number"],
    }
    if message["content"]:
        payload["content"] = message["content"]
    if message["media_url"]:
        payload["media_url"] = message["media_url"]
    if message["send_style"]:
        payload["send_style"] = message["send_style"]
    if message["status_callback"]:
        payload["status_callback"] = message["status_callback"]
    return payload


def reaction_body(**reaction: Unpack[ReactionRequest]) -> dict[str, Any]:
    return {
        "from_number": reaction["from_number"],
        "message_handle": reaction["provider_handle"],
        "reaction": reaction["reaction"],
        "part_index": reaction["part_index"],
    }


def contact_body(*, from_number: str, to_number: str) -> dict[str, Any]:
    """Typing and mark-read: the contact and our line."""
    return {"number": to_number, "from_number": from_number}


def upload_media_body(*, source_url: str) -> dict[str, Any]:
    return {"media_url": source_url}


def outbound_messages_query(
    *, from_number: str, to_number: str, created_after: datetime, page: int
) -> dict[str, Any]:
    """`GET /api/v2/messages` filters: our line's messages to one person since a moment."""
    return {
        "is_outbound": "true",
        "sendblue_number": from_number,
        "to_number": to_number,
        "created_at_gte": created_after.astimezone(UTC).isoformat(),
        "order_by": "createdAt",
        "order_direction": "asc",
        "limit": LOOKUP_PAGE_SIZE,
        "offset": page * LOOKUP_PAGE_SIZE,
    }


def refusal_error(
    status_code: int, message: str | None, *, permanent: bool = True
) -> ProviderError:
    """The error for a provider answer of `status_code` with the provider's `message`."""
    text = f"provider answered HTTP {status_code}"
    if message:
        text = f"{text}: {message[:300]}"
    return ProviderError(text, permanent=permanent, status_code=status_code)
