"""The Sendblue adapter: the provider contract spoken over httpx.

Tolerant by design (the provider's docs disagree with each other): unknown keys are
ignored, optional fields may be null or absent, enums are free strings compared
case-insensitively with a fallback. Every failure becomes one `ProviderError` whose
`permanent` flag tells the caller whether a retry can help.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from django.conf import settings

from console.http import http_client
from console.phone import to_e164
from provisioning.providers.base import (
    AccountCredentials,
    ChildAccount,
    InboundMessage,
    InboundReaction,
    LineAssigned,
    LineBlocked,
    LineRequest,
    LineStateEntry,
    OutboundRecord,
    ParsedWebhook,
    ProviderError,
    ProviderWebhookEvent,
    SendResult,
    StatusUpdate,
    TypingEvent,
    UnknownEvent,
    UploadResult,
    WebhookParseError,
)

logger = logging.getLogger(__name__)

# HTTP statuses the provider's own SDK retries (§3.2 of the provider contract).
RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
MAX_BACKOFF_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 60.0
# The message lookup reads at most this many pages of this size (oldest first).
LOOKUP_PAGE_SIZE = 100
LOOKUP_MAX_PAGES = 5

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
_CHILD_NUMBER_KEYS = (
    "assigned_number",
    "assigned_phone_number",
    "phone_number",
    "sendblue_number",
    "number",
)


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


def _opt_str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _opt_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _parse_dt(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _first_e164(mapping: dict[str, Any], keys: Iterable[str]) -> str | None:
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
    handle = _opt_str(body.get("message_handle"))
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
    target = _opt_str(
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
            custom_emoji=_opt_str(body.get("custom_emoji")),
            part_index=part if isinstance(part, int) and part >= 0 else 0,
            removed=bool(body.get("removed") or body.get("is_removed")),
        )
    group_id = _opt_str(body.get("group_id")) or ""
    is_group = body.get("message_type") == "group" or bool(group_id)
    return f"receive:{handle}", InboundMessage(
        provider_handle=handle,
        from_number=sender,
        to_number=line,
        content=content if isinstance(content := body.get("content"), str) else "",
        media_url=_opt_str(body.get("media_url")),
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


def _parse_status(body: dict[str, Any]) -> tuple[str, ProviderWebhookEvent]:
    handle = _handle(body, "status")
    raw_status = str(body.get("status") or "").strip().upper()
    return f"status:{handle}:{raw_status}", StatusUpdate(
        provider_handle=handle,
        status=map_status(raw_status),
        service=map_service(body.get("service")),
        was_downgraded=_opt_bool(body.get("was_downgraded")),
        error_code=_opt_str(body.get("error_code")),
        error_message=_opt_str(body.get("error_message")),
        error_reason=_opt_str(body.get("error_reason")),
        error_detail=_opt_str(body.get("error_detail")),
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
    number = _first_e164(body, _LINE_NUMBER_KEYS)
    data = body.get("data")
    if number is None and isinstance(data, dict):
        number = _first_e164(data, _LINE_NUMBER_KEYS)
    return number


def _parse_line_assigned(body: dict[str, Any]) -> tuple[str, ProviderWebhookEvent]:
    number = _line_number(body)
    data = raw if isinstance(raw := body.get("data"), dict) else {}
    request_id = _opt_str(body.get("line_request_id") or data.get("line_request_id"))
    key = f"line_assigned:{number}" if number else f"line_assigned:{body_digest(body)}"
    return key, LineAssigned(number=number, line_request_id=request_id)


def _parse_line_blocked(body: dict[str, Any]) -> tuple[str, ProviderWebhookEvent]:
    number = _line_number(body)
    when = _opt_str(body.get("blocked_at")) or body_digest(body)
    return f"line_blocked:{number}:{when}", LineBlocked(
        number=number, reason=_opt_str(body.get("reason"))
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], tuple[str, ProviderWebhookEvent]]] = {
    "receive": _parse_receive,
    "outbound": _parse_status,
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


# --- Request bodies ------------------------------------------------------------
# The wire bodies of the calls the adapter makes; the fake adapter checks the same bodies
# against the provider's rules, so the two cannot drift apart.


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


def send_message_body(
    *,
    from_number: str,
    to_number: str,
    content: str | None,
    media_url: str | None,
    send_style: str | None,
    status_callback: str | None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"number": to_number, "from_number": from_number}
    if content:
        payload["content"] = content
    if media_url:
        payload["media_url"] = media_url
    if send_style:
        payload["send_style"] = send_style
    if status_callback:
        payload["status_callback"] = status_callback
    return payload


def reaction_body(
    *, from_number: str, provider_handle: str, reaction: str, part_index: int
) -> dict[str, Any]:
    return {
        "from_number": from_number,
        "message_handle": provider_handle,
        "reaction": reaction,
        "part_index": part_index,
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


# --- The HTTP adapter --------------------------------------------------------


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    raw_ms = response.headers.get("retry-after-ms")
    raw = response.headers.get("retry-after")
    try:
        if raw_ms is not None:
            seconds = float(raw_ms) / 1000
        elif raw is not None:
            seconds = float(raw)
        else:
            return None
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER_SECONDS else None


def _outbound_record(entry: object) -> OutboundRecord | None:
    """One entry of the message list, or None when it is not an outbound message we can
    identify (no handle, or marked inbound)."""
    if not isinstance(entry, dict) or entry.get("is_outbound") is False:
        return None
    try:
        _, update = _parse_status(entry)
    except WebhookParseError:
        return None
    assert isinstance(update, StatusUpdate)
    content = entry.get("content")
    return OutboundRecord(
        update=update,
        from_number=to_e164(entry.get("from_number")) or to_e164(entry.get("sendblue_number")),
        to_number=to_e164(entry.get("to_number")) or to_e164(entry.get("number")),
        content=content if isinstance(content, str) else "",
        media_url=_opt_str(entry.get("media_url")),
        created_at=_parse_dt(entry.get("date_sent") or entry.get("date_created")),
    )


def _data(body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        inner = body.get("data")
        if isinstance(inner, dict):
            return inner
        return body
    return {}


class SendblueAdapter:
    """`ProviderAdapter` over httpx for Sendblue and for our simulator (same wire)."""

    name = "sendblue"

    def __init__(
        self,
        *,
        base_url: str,
        agency: AccountCredentials,
        timeout: float = 10.0,
        max_retries: int = 2,
        child_account_path: str = "/accounts/lines/request-child-account",
        add_line_path: str = "/accounts/lines/add-line",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.agency = agency
        self.max_retries = max_retries
        self.child_account_path = child_account_path
        self.add_line_path = add_line_path
        self._sleep = sleep
        self._client = http_client(base_url=self.base_url, timeout=timeout, transport=transport)

    @classmethod
    def from_settings(cls, *, transport: httpx.BaseTransport | None = None) -> SendblueAdapter:
        missing = [
            name
            for name in ("PROVIDER_BASE_URL", "PROVIDER_AGENCY_KEY_ID", "PROVIDER_AGENCY_SECRET")
            if not getattr(settings, name, "")
        ]
        if missing:
            raise ProviderError(f"provider settings missing: {', '.join(missing)}", permanent=True)
        return cls(
            base_url=settings.PROVIDER_BASE_URL,
            agency=AccountCredentials(
                key_id=settings.PROVIDER_AGENCY_KEY_ID, secret=settings.PROVIDER_AGENCY_SECRET
            ),
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            max_retries=settings.PROVIDER_MAX_RETRIES,
            child_account_path=settings.PROVIDER_CHILD_ACCOUNT_PATH,
            add_line_path=settings.PROVIDER_ADD_LINE_PATH,
            transport=transport,
        )

    # --- transport ---------------------------------------------------------

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        base = min(MAX_BACKOFF_SECONDS, 0.5 * (2**attempt))
        delay = base * (0.75 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        return max(delay, retry_after or 0.0)

    def _request(
        self,
        method: str,
        path: str,
        *,
        credentials: AccountCredentials,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        replay_safe: bool = True,
    ) -> Any:
        """Send one call with retries; returns the decoded JSON body.

        `replay_safe=False` marks calls where a request that may have reached the
        provider must not be repeated blindly (a read timeout on send-message could mean
        the message went out): those are retried only when the request surely did not
        arrive (connection refused) or the provider said so (408/409/429/5xx).
        """
        headers = {"sb-api-key-id": credentials.key_id, "sb-api-secret-key": credentials.secret}
        attempt = 0
        while True:
            try:
                response = self._client.request(
                    method, path, headers=headers, json=json_body, params=params
                )
            except httpx.TimeoutException as exc:
                ambiguous = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                error = ProviderError(
                    f"provider timed out on {method} {path}",
                    permanent=False,
                    error_key="timeout",
                    ambiguous=ambiguous and not replay_safe,
                )
                if (ambiguous and not replay_safe) or attempt >= self.max_retries:
                    raise error from exc
            except httpx.TransportError as exc:
                # Only a connection that was never made proves the request did not arrive.
                ambiguous = not isinstance(exc, httpx.ConnectError)
                error = ProviderError(
                    f"provider unreachable on {method} {path}: {type(exc).__name__}",
                    permanent=False,
                    error_key="connection_error",
                    ambiguous=ambiguous and not replay_safe,
                )
                if (ambiguous and not replay_safe) or attempt >= self.max_retries:
                    raise error from exc
            else:
                body = _json_or_none(response)
                if response.is_success:
                    if isinstance(body, dict) and str(body.get("status", "")).upper() == "ERROR":
                        raise self._error(response, body, permanent=True)
                    return body
                should_retry = response.headers.get("x-should-retry")
                retryable = response.status_code in RETRYABLE_STATUSES
                if should_retry in {"true", "false"}:
                    retryable = should_retry == "true"
                if not retryable:
                    raise self._error(response, body, permanent=True)
                if attempt >= self.max_retries:
                    raise self._error(response, body, permanent=False)
                self._sleep(self._backoff(attempt, _retry_after(response)))
                attempt += 1
                continue
            self._sleep(self._backoff(attempt, None))
            attempt += 1

    @staticmethod
    def _error(response: httpx.Response, body: Any, *, permanent: bool) -> ProviderError:
        message = None
        if isinstance(body, dict):
            message = _opt_str(body.get("message") or body.get("error_message"))
        error = refusal_error(response.status_code, message, permanent=permanent)
        if isinstance(body, dict):
            error.error_key = _opt_str(body.get("error_key"))
        error.retry_after = _retry_after(response)
        return error

    # --- provisioning ------------------------------------------------------

    def create_child_account(
        self, *, company_name: str, primary_email: str, provision_line: bool
    ) -> ChildAccount:
        body = self._request(
            "POST",
            self.child_account_path,
            credentials=self.agency,
            json_body=child_account_body(
                company_name=company_name,
                primary_email=primary_email,
                provision_line=provision_line,
            ),
            replay_safe=False,
        )
        data = _data(body)
        key_id = _opt_str(data.get("api_key"))
        secret = _opt_str(data.get("api_secret"))
        if not key_id or not secret:
            raise ProviderError(
                "provider created no child credentials", permanent=False, error_key="bad_response"
            )
        number = _first_e164(data, _CHILD_NUMBER_KEYS)
        request_id = _opt_str(data.get("line_request_id") or data.get("lineRequestId"))
        return ChildAccount(
            account_id=_opt_str(data.get("account_id") or data.get("id")) or primary_email,
            credentials=AccountCredentials(key_id=key_id, secret=secret),
            assigned_number=number,
            line_request_id=None if number else request_id,
        )

    def register_webhooks(
        self, *, credentials: AccountCredentials, urls_by_type: dict[str, str], secret: str
    ) -> None:
        # POST appends; registering the same URL twice would double every delivery, so
        # look first and add only what is missing.
        existing = self._request("GET", "/api/account/webhooks", credentials=credentials)
        hooks = existing.get("webhooks") if isinstance(existing, dict) else None
        hooks = hooks if isinstance(hooks, dict) else {}
        for webhook_type, url in urls_by_type.items():
            registered = hooks.get(webhook_type) or []
            urls = {h.get("url") if isinstance(h, dict) else h for h in registered}
            if url in urls:
                continue
            self._request(
                "POST",
                "/api/account/webhooks",
                credentials=credentials,
                json_body=webhook_add_body(url=url, webhook_type=webhook_type, secret=secret),
            )

    @staticmethod
    def _line_request(data: dict[str, Any]) -> LineRequest:
        request_id = _opt_str(data.get("id") or data.get("line_request_id"))
        if request_id is None:
            raise ProviderError(
                "provider returned a line request without id",
                permanent=False,
                error_key="bad_response",
            )
        return LineRequest(
            request_id=request_id,
            status=str(data.get("status") or "OPEN").upper(),
            number=to_e164(data.get("phoneNumber")) or to_e164(data.get("phone_number")),
        )

    def request_line(self, *, credentials: AccountCredentials) -> LineRequest:
        body = self._request(
            "POST",
            self.add_line_path,
            credentials=credentials,
            json_body=add_line_body(),
            replay_safe=False,
        )
        return self._line_request(_data(body))

    def get_line_request(self, *, credentials: AccountCredentials, request_id: str) -> LineRequest:
        prefix = self.add_line_path.rsplit("/", 1)[0]
        body = self._request("GET", f"{prefix}/line-request/{request_id}", credentials=credentials)
        return self._line_request(_data(body))

    def lines_state(self, *, credentials: AccountCredentials) -> list[LineStateEntry]:
        body = self._request("GET", "/api/v2/lines/state", credentials=credentials)
        entries = body.get("data") if isinstance(body, dict) else None
        result = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                result.append(
                    LineStateEntry(
                        number=to_e164(entry.get("sendblue_number")),
                        status=str(entry.get("status") or "UNKNOWN").upper(),
                    )
                )
        return result

    # --- messaging ---------------------------------------------------------

    @staticmethod
    def _send_result(body: Any) -> SendResult:
        data = _data(body)
        handle = _opt_str(data.get("message_handle"))
        if handle is None:
            raise ProviderError(
                "provider accepted a message without message_handle",
                permanent=False,
                error_key="bad_response",
            )
        return SendResult(
            provider_handle=handle,
            status=map_status(data.get("status")),
            service=map_service(data.get("service")),
            was_downgraded=_opt_bool(data.get("was_downgraded")),
        )

    def send_message(
        self,
        *,
        credentials: AccountCredentials,
        from_number: str,
        to_number: str,
        content: str | None,
        media_url: str | None,
        send_style: str | None,
        status_callback: str | None,
    ) -> SendResult:
        payload = send_message_body(
            from_number=from_number,
            to_number=to_number,
            content=content,
            media_url=media_url,
            send_style=send_style,
            status_callback=status_callback,
        )
        body = self._request(
            "POST",
            "/api/send-message",
            credentials=credentials,
            json_body=payload,
            replay_safe=False,
        )
        return self._send_result(body)

    def message_status(
        self, *, credentials: AccountCredentials, provider_handle: str
    ) -> StatusUpdate | None:
        try:
            body = self._request(
                "GET", "/api/status", credentials=credentials, params={"handle": provider_handle}
            )
        except ProviderError as exc:
            if exc.status_code == 404:
                return None
            raise
        data = _data(body)
        if not data.get("message_handle"):
            return None
        _, event = _parse_status(data)
        assert isinstance(event, StatusUpdate)
        return event

    def outbound_messages(
        self,
        *,
        credentials: AccountCredentials,
        from_number: str,
        to_number: str,
        created_after: datetime,
    ) -> list[OutboundRecord]:
        """`GET /api/v2/messages` filtered to one line and person (SDK `messages.list`),
        paged oldest first. Entries for another line or person are dropped here too, in
        case the provider ignores a filter."""
        records: list[OutboundRecord] = []
        for page in range(LOOKUP_MAX_PAGES):
            body = self._request(
                "GET",
                "/api/v2/messages",
                credentials=credentials,
                params=outbound_messages_query(
                    from_number=from_number,
                    to_number=to_number,
                    created_after=created_after,
                    page=page,
                ),
            )
            entries = body.get("data") if isinstance(body, dict) else None
            entries = entries if isinstance(entries, list) else []
            for entry in entries:
                record = _outbound_record(entry)
                if (
                    record is not None
                    and record.to_number in {None, to_number}
                    and record.from_number in {None, from_number}
                ):
                    records.append(record)
            pagination = body.get("pagination") if isinstance(body, dict) else None
            has_more = isinstance(pagination, dict) and pagination.get("hasMore") is True
            if not has_more or not entries:
                break
        return records

    def send_reaction(
        self,
        *,
        credentials: AccountCredentials,
        from_number: str,
        provider_handle: str,
        reaction: str,
        part_index: int,
    ) -> None:
        self._request(
            "POST",
            "/api/send-reaction",
            credentials=credentials,
            json_body=reaction_body(
                from_number=from_number,
                provider_handle=provider_handle,
                reaction=reaction,
                part_index=part_index,
            ),
        )

    def send_typing(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None:
        self._request(
            "POST",
            "/api/send-typing-indicator",
            credentials=credentials,
            json_body=contact_body(from_number=from_number, to_number=to_number),
        )

    def mark_read(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None:
        self._request(
            "POST",
            "/api/mark-read",
            credentials=credentials,
            json_body=contact_body(from_number=from_number, to_number=to_number),
        )

    def upload_media(self, *, credentials: AccountCredentials, source_url: str) -> UploadResult:
        body = self._request(
            "POST",
            "/api/upload-media-object",
            credentials=credentials,
            json_body=upload_media_body(source_url=source_url),
        )
        data = _data(body)
        return UploadResult(
            media_url=_opt_str(data.get("media_url")) or source_url,
            media_object_id=_opt_str(data.get("mediaObjectId") or data.get("media_object_id")),
        )

    def evaluate_service(self, *, credentials: AccountCredentials, number: str) -> str | None:
        body = self._request(
            "GET", "/api/evaluate-service", credentials=credentials, params={"number": number}
        )
        return map_service(body.get("service")) if isinstance(body, dict) else None

    def parse_webhook(self, *, event_type_hint: str | None, body: Any) -> ParsedWebhook:
        return parse_sendblue_webhook(event_type_hint=event_type_hint, body=body)
