"""The Sendblue adapter: the provider contract spoken over httpx (`SendblueClient`).

Every failure becomes one `ProviderError` whose `permanent` flag tells the caller whether
a retry can help. Wire bodies are built in `bodies`, answers and webhooks read in
`parsing`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Unpack

import httpx
from django.conf import settings

from console.phone import to_e164
from provisioning.providers.base import (
    AccountCredentials,
    ChildAccount,
    LineRequest,
    LineStateEntry,
    OutboundMessage,
    OutboundQuery,
    OutboundRecord,
    ParsedWebhook,
    ProviderError,
    ReactionRequest,
    SendResult,
    StatusUpdate,
    UploadResult,
)
from provisioning.providers.sendblue.bodies import (
    add_line_body,
    child_account_body,
    contact_body,
    outbound_messages_query,
    reaction_body,
    send_message_body,
    upload_media_body,
    webhook_add_body,
)
from provisioning.providers.sendblue.parsing import (
    first_e164,
    map_service,
    map_status,
    opt_bool,
    opt_str,
    outbound_record,
    parse_sendblue_webhook,
    parse_status,
    response_data,
)
from provisioning.providers.sendblue.transport import SendblueClient

# The message lookup reads at most this many pages (oldest first).
LOOKUP_MAX_PAGES = 5
_CHILD_NUMBER_KEYS = (
    "assigned_number",
    "assigned_phone_number",
    "phone_number",
    "sendblue_number",
    "number",
)


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
        self.child_account_path = child_account_path
        self.add_line_path = add_line_path
        self._client = SendblueClient(
            base_url=self.base_url,
            timeout=timeout,
            max_retries=max_retries,
            transport=transport,
            sleep=sleep,
        )

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

    # --- provisioning ------------------------------------------------------

    def create_child_account(
        self, *, company_name: str, primary_email: str, provision_line: bool
    ) -> ChildAccount:
        body = self._client.request(
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
        data = response_data(body)
        key_id = opt_str(data.get("api_key"))
        secret = opt_str(data.get("api_secret"))
        if not key_id or not secret:
            raise ProviderError(
                "provider created no child credentials", permanent=False, error_key="bad_response"
            )
        number = first_e164(data, _CHILD_NUMBER_KEYS)
        request_id = opt_str(data.get("line_request_id") or data.get("lineRequestId"))
        return ChildAccount(
            account_id=opt_str(data.get("account_id") or data.get("id")) or primary_email,
            credentials=AccountCredentials(key_id=key_id, secret=secret),
            assigned_number=number,
            line_request_id=None if number else request_id,
        )

    def register_webhooks(
        self, *, credentials: AccountCredentials, urls_by_type: dict[str, str], secret: str
    ) -> None:
        # POST appends; registering the same URL twice would double every delivery, so
        # look first and add only what is missing.
        existing = self._client.request("GET", "/api/account/webhooks", credentials=credentials)
        hooks = existing.get("webhooks") if isinstance(existing, dict) else None
        hooks = hooks if isinstance(hooks, dict) else {}
        for webhook_type, url in urls_by_type.items():
            registered = hooks.get(webhook_type) or []
            urls = {h.get("url") if isinstance(h, dict) else h for h in registered}
            if url in urls:
                continue
            self._client.request(
                "POST",
                "/api/account/webhooks",
                credentials=credentials,
                json_body=webhook_add_body(url=url, webhook_type=webhook_type, secret=secret),
            )

    @staticmethod
    def _line_request(data: dict[str, Any]) -> LineRequest:
        request_id = opt_str(data.get("id") or data.get("line_request_id"))
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
        body = self._client.request(
            "POST",
            self.add_line_path,
            credentials=credentials,
            json_body=add_line_body(),
            replay_safe=False,
        )
        return self._line_request(response_data(body))

    def get_line_request(self, *, credentials: AccountCredentials, request_id: str) -> LineRequest:
        prefix = self.add_line_path.rsplit("/", 1)[0]
        body = self._client.request(
            "GET", f"{prefix}/line-request/{request_id}", credentials=credentials
        )
        return self._line_request(response_data(body))

    def lines_state(self, *, credentials: AccountCredentials) -> list[LineStateEntry]:
        body = self._client.request("GET", "/api/v2/lines/state", credentials=credentials)
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
        data = response_data(body)
        handle = opt_str(data.get("message_handle"))
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
            was_downgraded=opt_bool(data.get("was_downgraded")),
        )

    def send_message(
        self, *, credentials: AccountCredentials, **message: Unpack[OutboundMessage]
    ) -> SendResult:
        payload = send_message_body(**message)
        body = self._client.request(
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
            body = self._client.request(
                "GET", "/api/status", credentials=credentials, params={"handle": provider_handle}
            )
        except ProviderError as exc:
            if exc.status_code == 404:
                return None
            raise
        data = response_data(body)
        if not data.get("message_handle"):
            return None
        _, event = parse_status(data)
        assert isinstance(event, StatusUpdate)
        return event

    def outbound_messages(
        self, *, credentials: AccountCredentials, **query: Unpack[OutboundQuery]
    ) -> list[OutboundRecord]:
        """`GET /api/v2/messages` filtered to one line and person (SDK `messages.list`),
        paged oldest first. Entries for another line or person are dropped here too, in
        case the provider ignores a filter."""
        from_number, to_number = query["from_number"], query["to_number"]
        records: list[OutboundRecord] = []
        for page in range(LOOKUP_MAX_PAGES):
            body = self._client.request(
                "GET",
                "/api/v2/messages",
                credentials=credentials,
                params=outbound_messages_query(**query, page=page),
            )
            entries = body.get("data") if isinstance(body, dict) else None
            entries = entries if isinstance(entries, list) else []
            for entry in entries:
                record = outbound_record(entry)
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
        self, *, credentials: AccountCredentials, **reaction: Unpack[ReactionRequest]
    ) -> None:
        self._client.request(
            "POST",
            "/api/send-reaction",
            credentials=credentials,
            json_body=reaction_body(**reaction),
        )

    def send_typing(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None:
        self._client.request(
            "POST",
            "/api/send-typing-indicator",
            credentials=credentials,
            json_body=contact_body(from_number=from_number, to_number=to_number),
        )

    def mark_read(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None:
        self._client.request(
            "POST",
            "/api/mark-read",
            credentials=credentials,
            json_body=contact_body(from_number=from_number, to_number=to_number),
        )

    def upload_media(self, *, credentials: AccountCredentials, source_url: str) -> UploadResult:
        body = self._client.request(
            "POST",
            "/api/upload-media-object",
            credentials=credentials,
            json_body=upload_media_body(source_url=source_url),
        )
        data = response_data(body)
        return UploadResult(
            media_url=opt_str(data.get("media_url")) or source_url,
            media_object_id=opt_str(data.get("mediaObjectId") or data.get("media_object_id")),
        )

    def parse_webhook(self, *, event_type_hint: str | None, body: Any) -> ParsedWebhook:
        return parse_sendblue_webhook(event_type_hint=event_type_hint, body=body)
