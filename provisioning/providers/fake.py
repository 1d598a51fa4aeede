"""In-memory fake provider for tests: records every call and answers like the real one.

Tests steer it through attributes: `assign_immediately`, `fail_next` (a list of
ProviderError to raise on the next calls), and read `calls` / `sent`.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from provisioning.providers.base import (
    AccountCredentials,
    ChildAccount,
    LineRequest,
    LineStateEntry,
    ParsedWebhook,
    ProviderError,
    SendResult,
    StatusUpdate,
    UploadResult,
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
    # Numbers without iMessage and the service sends to them fall back to ("sms", "rcs").
    fallback: dict[str, str] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.assign_immediately = True
        self.fail_next.clear()
        self.calls.clear()
        self.statuses.clear()
        self.fallback.clear()

    def _record(self, method: str, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append(FakeCall(method, kwargs))
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
        service = self.fallback.get(to_number, "imessage")
        return SendResult(
            provider_handle=str(uuid.uuid4()),
            status="queued",
            service=service,
            was_downgraded=service != "imessage",
        )

    def message_status(
        self, *, credentials: AccountCredentials, provider_handle: str
    ) -> StatusUpdate | None:
        self._record("message_status", provider_handle=provider_handle)
        return self.statuses.get(provider_handle)

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
