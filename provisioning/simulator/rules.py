"""What the provider documents as invalid, checked on the wire bodies of its API.

One set of rules for the two stand-ins of the provider: the simulator answers a broken
request with `{"status": "ERROR", "message": ...}` and the status code, and the fake
adapter raises the `ProviderError` the real adapter would make of that answer. So the
fake can never accept a call the simulator refuses (the provider contract suite in
tests/provisioning/providers/test_contract.py holds them to it). Section numbers refer
to the provider contract.
"""

from __future__ import annotations

import re
from typing import Any

from console.phone import to_e164
from provisioning.providers.base import MEDIA_URL_REFUSED, media_url_acceptable

# §2: a missing or wrong key pair.
INVALID_CREDENTIALS = "Invalid API credentials"
NOT_AGENCY = "Only agency accounts can create child accounts."
# §3.1, §14, §15: a line that is not the calling account's.
FROM_NUMBER_NOT_REGISTERED = "The from_number is not registered"
LINE_REQUEST_NOT_FOUND = "Line request not found."
DUPLICATE_EMAIL = "An account with this email already exists."

# §10: webhook types (the documented ones and the SDK's additions).
WEBHOOK_TYPES = frozenset(
    {
        "receive",
        "outbound",
        "typing_indicator",
        "call_log",
        "line_blocked",
        "line_assigned",
        "contact_created",
        "call_completed",
        "inbound_call",
        "contact_profile",
    }
)
# §15: the only tapbacks send-reaction takes.
REACTIONS = ("love", "like", "dislike", "laugh", "emphasize", "question")
# §6.1: send_style values.
SEND_STYLES = frozenset(
    {
        "celebration",
        "shooting_star",
        "fireworks",
        "lasers",
        "love",
        "confetti",
        "balloons",
        "spotlight",
        "echo",
        "invisible",
        "gentle",
        "loud",
        "slam",
    }
)
TYPING_STATES = ("start", "stop")
MAX_TYPING_DURATION_MS = 300_000
_AREA_CODE = re.compile(r"^(\d{3}|\d{5})$")


class Refusal(Exception):
    """A request the provider refuses: HTTP `status` with the provider's `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> Refusal:
    return Refusal(400, message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_web_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) > 8


def _number(body: dict[str, Any], message: str) -> str:
    number = to_e164(body.get("number"))
    if number is None:
        raise _bad(message)
    return number


def check_child_account(body: dict[str, Any], *, current_path: bool) -> None:
    """§4. `provision_line` is required on the current path, absent on the older one."""
    if not isinstance(body.get("company_name"), str) or not body["company_name"]:
        raise _bad("company_name is required")
    email = body.get("primary_email")
    if not isinstance(email, str) or "@" not in email:
        raise _bad("primary_email is required")
    provision = body.get("provision_line")
    if (current_path and provision is None) or (
        provision is not None and not isinstance(provision, bool)
    ):
        raise _bad("provision_line must be true or false")
    area = body.get("desired_area_code")
    if area is not None and not (isinstance(area, str) and re.fullmatch(r"\d{3}", area)):
        raise _bad("desired_area_code must be a 3-digit area code")


def check_add_line(body: dict[str, Any]) -> None:
    """§5.1: `line_request_type` is required and `phone`; an area code or ZIP may follow."""
    if body.get("line_request_type") != "phone":
        raise _bad("line_request_type must be phone")
    area = body.get("desired_area_code")
    if area is not None and not (isinstance(area, str) and _AREA_CODE.match(area)):
        raise _bad("desired_area_code must be a 3-digit area code or a 5-digit ZIP code")


def check_send(body: dict[str, Any]) -> str:
    """§6.1; returns the recipient. The sending line is checked by the caller."""
    to_number = _number(body, "You must specify a valid `number` in the request body.")
    content, media_url = body.get("content"), body.get("media_url")
    if content is not None and not isinstance(content, str):
        raise _bad("content must be a string")
    if not content and not media_url:
        raise _bad("content or media_url is required")
    if media_url and not (isinstance(media_url, str) and media_url_acceptable(media_url)):
        raise _bad(MEDIA_URL_REFUSED)
    style = body.get("send_style")
    if style and style not in SEND_STYLES:
        raise _bad(f"send_style must be one of {', '.join(sorted(SEND_STYLES))}")
    callback = body.get("status_callback")
    if callback is not None and not _is_web_url(callback):
        raise _bad("status_callback must be an http(s) URL")
    return to_number


def check_reaction(body: dict[str, Any]) -> None:
    """§15 (the sending line is checked by the caller)."""
    handle = body.get("message_handle")
    if not isinstance(handle, str) or not handle:
        raise _bad("message_handle is required")
    if body.get("reaction") not in REACTIONS:
        raise _bad(f"reaction must be one of {', '.join(REACTIONS)}")
    part = body.get("part_index", 0)
    if not _is_int(part) or part < 0:
        raise _bad("part_index must be a non-negative integer")


def check_typing(body: dict[str, Any]) -> None:
    """§13 (the sending line is checked by the caller)."""
    _number(body, "You must specify a `number` in the request body.")
    state = body.get("state")
    if state is not None and state not in TYPING_STATES:
        raise _bad("state must be start or stop")
    duration = body.get("max_duration_ms")
    if duration is not None and not (_is_int(duration) and 1 <= duration <= MAX_TYPING_DURATION_MS):
        raise _bad(f"max_duration_ms must be between 1 and {MAX_TYPING_DURATION_MS}")


def check_mark_read(body: dict[str, Any]) -> None:
    """§14 (the sending line is checked by the caller)."""
    _number(body, "You must specify a `number` in the request body.")


def check_webhooks_add(body: dict[str, Any]) -> list[dict[str, Any]]:
    """§10 POST; returns the hooks as `{url, secret}`. Without `type` it means receive."""
    webhook_type = body.get("type") or "receive"
    if webhook_type not in WEBHOOK_TYPES:
        raise _bad(f"Unknown webhook type {webhook_type!r}")
    hooks = body.get("webhooks")
    if not isinstance(hooks, list) or not hooks:
        raise _bad("webhooks must be a non-empty array")
    return [webhook_entry(hook) for hook in hooks]


def webhook_entry(hook: Any) -> dict[str, Any]:
    if isinstance(hook, str) and _is_web_url(hook):
        return {"url": hook, "secret": None}
    if isinstance(hook, dict) and _is_web_url(hook.get("url")):
        secret = hook.get("secret")
        return {"url": hook["url"], "secret": secret if isinstance(secret, str) else None}
    raise _bad("Each webhook is a URL or {url, secret}.")


def check_upload_media_object(body: dict[str, Any]) -> str:
    """§11; returns the source URL."""
    source = body.get("media_url")
    if not _is_web_url(source):
        raise _bad("media_url is required")
    assert isinstance(source, str)
    return source


def check_status_lookup(handle: str | None) -> str:
    """§6.2 `GET /api/status?handle=`."""
    if not handle:
        raise _bad("handle is required")
    return handle
