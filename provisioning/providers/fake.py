"""In-memory fake provider for tests: records every call and answers like the real one.

Tests steer it through attributes: `assign_immediately`, `fail_next` (a list of
ProviderError to raise on the next calls), `down_until` (an outage), `statuses` (what the
provider reports for a handle), and read `calls` and `outbound` (every message it accepted).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.utils import timezone

from console.phone import to_e164
from provisioning.providers.base import (
    MEDIA_URL_REFUSED,
    AccountCredentials,
    ChildAccount,
    LineRequest,
    LineStateEntry,
    OutboundRecord,
    ParsedWebhook,
    ProviderError,
    SendResult,
    StatusUpdate,
    UploadResult,
    media_url_acceptable,
)


@dataclass
class FakeCall:
    method: str
    kwargs: dict[str, Any]


@dataclass
class FakeProvider:
    name: str = "fake"
    assign_immediately: bool = True
    fail_next: list[ProviderError] = field(default_factory=list)
    calls: list[FakeCall] = field(default_factory=list)
    statuses: dict[str, StatusUpdate] = field(default_factory=dict)
    sms_only_numbers: set[str] = field(default_factory=set)
    # Every message the fake accepted, as its message list reports it (oldest first).
    outbound: list[OutboundRecord] = field(default_factory=list)
    # An outage: until then every call fails as a refused connection would.
    down_until: datetime | None = None
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.assign_immediately = True
        self.fail_next.clear()
        self.calls.clear()
        self.statuses.clear()
        self.sms_only_numbers.clear()
        self.outbound.clear()
        self.down_until = None

    def _record(self, method: str, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append(FakeCall(method, kwargs))
            if self.down_until is not None and timezone.now() < self.down_until:
                raise ProviderError(
                    f"provider unreachable on {method}: ConnectError",
                    permanent=False,
                    error_key="connection_error",
                )
            if self.fail_next:
                raise self.fail_next.pop(0)

    def calls_to(self, method: str) -> list[FakeCall]:
        return [c for c in self.calls if c.method == method]

    def next_number(self) -> str:
        return f"+1415555{next(self._numbers):04d}"

    def create_child_account(
        self, *, company_name: str, primary_email: str, provision_line: bool
    ) -> ChildAccount:
        self._record(
            "create_child_account",
            company_name=company_name,
            primary_email=primary_email,
            provision_line=provision_line,
        )
        number = self.next_number() if provision_line and self.assign_immediately else None
        return ChildAccount(
            account_id=primary_email,
            credentials=AccountCredentials(
                key_id=f"fake_k_{uuid.uuid4().hex}", secret=f"fake_s_{uuid.uuid4().hex}"
            ),
            assigned_number=number,
            line_request_id=None if number or not provision_line else f"{uuid.uuid4().int % 10**6}",
        )

    def register_webhooks(
        self, *, credentials: AccountCredentials, urls_by_type: dict[str, str], secret: str
    ) -> None:
        self._record("register_webhooks", urls_by_type=urls_by_type, secret=secret)

    def request_line(self, *, credentials: AccountCredentials) -> LineRequest:
        self._record("request_line")
        if self.assign_immediately:
            return LineRequest(request_id="1", status="FULFILLED", number=self.next_number())
        return LineRequest(request_id=str(uuid.uuid4().int % 10**6), status="OPEN", number=None)

    def get_line_request(self, *, credentials: AccountCredentials, request_id: str) -> LineRequest:
        self._record("get_line_request", request_id=request_id)
        return LineRequest(request_id=request_id, status="OPEN", number=None)

    def lines_state(self, *, credentials: AccountCredentials) -> list[LineStateEntry]:
        self._record("lines_state")
        return []

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
        self._record(
            "send_message",
            from_number=from_number,
            to_number=to_number,
            content=content,
            media_url=media_url,
            send_style=send_style,
            status_callback=status_callback,
        )
        if media_url and not media_url_acceptable(media_url):
            # The simulator (and the provider) answer 400: the adapter makes it permanent.
            raise ProviderError(MEDIA_URL_REFUSED, permanent=True, status_code=400)
        downgraded = to_number in self.sms_only_numbers
        result = SendResult(
            provider_handle=str(uuid.uuid4()),
            status="queued",
            service="sms" if downgraded else "imessage",
            was_downgraded=downgraded,
        )
        with self._lock:
            self.outbound.append(
                OutboundRecord(
                    update=StatusUpdate(
                        provider_handle=result.provider_handle,
                        status=result.status,
                        service=result.service,
                        was_downgraded=None,
                        error_code=None,
                        error_message=None,
                    ),
                    from_number=from_number,
                    to_number=to_number,
                    content=content or "",
                    media_url=media_url,
                    created_at=timezone.now(),
                )
            )
        return result

    def message_status(
        self, *, credentials: AccountCredentials, provider_handle: str
    ) -> StatusUpdate | None:
        self._record("message_status", provider_handle=provider_handle)
        return self.statuses.get(provider_handle)

    def outbound_messages(
        self,
        *,
        credentials: AccountCredentials,
        from_number: str,
        to_number: str,
        created_after: datetime,
    ) -> list[OutboundRecord]:
        self._record(
            "outbound_messages",
            from_number=from_number,
            to_number=to_number,
            created_after=created_after,
        )
        # The simulator refuses filters that are not phone numbers; so does the fake.
        if to_e164(from_number) is None or to_e164(to_number) is None:
            raise ProviderError(
                "provider answered HTTP 400: numbers must be E.164", permanent=True, status_code=400
            )
        with self._lock:
            records = list(self.outbound)
        return [
            replace(record, update=self.statuses.get(record.update.provider_handle, record.update))
            for record in records
            if record.from_number == from_number
            and record.to_number == to_number
            and (record.created_at is None or record.created_at >= created_after)
        ]

    def send_reaction(
        self,
        *,
        credentials: AccountCredentials,
        from_number: str,
        provider_handle: str,
        reaction: str,
        part_index: int,
    ) -> None:
        self._record(
            "send_reaction",
            from_number=from_number,
            provider_handle=provider_handle,
            reaction=reaction,
            part_index=part_index,
        )

    def send_typing(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None:
        self._record("send_typing", from_number=from_number, to_number=to_number)

    def mark_read(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None:
        self._record("mark_read", from_number=from_number, to_number=to_number)

    def upload_media(self, *, credentials: AccountCredentials, source_url: str) -> UploadResult:
        self._record("upload_media", source_url=source_url)
        return UploadResult(media_url=source_url, media_object_id=uuid.uuid4().hex)

    def parse_webhook(self, *, event_type_hint: str | None, body: Any) -> ParsedWebhook:
        # The fake speaks the same wire format as the real adapter.
        from provisioning.providers.sendblue import parse_sendblue_webhook

        return parse_sendblue_webhook(event_type_hint=event_type_hint, body=body)


fake_provider = FakeProvider()
