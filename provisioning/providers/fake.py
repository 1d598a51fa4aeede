"""In-memory fake provider for tests: a small stateful provider that answers like the
simulator, records every call, and refuses exactly what the simulator refuses.

It builds the same wire bodies as the Sendblue adapter and checks them with the
simulator's rules (`provisioning.simulator.rules`); a refusal becomes the `ProviderError`
the adapter makes of the simulator's answer. Like the real provider it knows which
accounts exist and which lines each owns: accounts and lines it created itself, and those
tests `adopt` (the factories adopt every setup and line they make). A second process that
shares the test's database (a real Celery worker) sets `shared_database`: it then learns
the accounts and lines the test process set up from the setups recorded there.

Tests steer it through attributes: `assign_immediately`, `fail_next` (ProviderErrors to
raise on the next calls, before anything else), `down_until` (an outage), `statuses` (what
the provider reports for a handle), `fallback` (numbers without iMessage), and read
`calls` and `outbound` (every message it accepted).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Unpack

from django.utils import timezone

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
    refusal_error,
    send_message_body,
    upload_media_body,
    webhook_add_body,
)
from provisioning.simulator import rules
from provisioning.simulator.message_query import InvalidFilter, MessageQuery


@dataclass
class FakeCall:
    method: str
    kwargs: dict[str, Any]


@dataclass
class FakeTicket:
    request_id: str
    account_key: str
    status: str = "OPEN"
    number: str | None = None

    def request(self) -> LineRequest:
        return LineRequest(request_id=self.request_id, status=self.status, number=self.number)


@dataclass
class FakeProvider:
    name: str = "fake"
    assign_immediately: bool = True
    fail_next: list[ProviderError] = field(default_factory=list)
    calls: list[FakeCall] = field(default_factory=list)
    statuses: dict[str, StatusUpdate] = field(default_factory=dict)
    # Numbers without iMessage and the service sends to them fall back to ("sms", "rcs").
    fallback: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)  # key id -> secret
    emails: set[str] = field(default_factory=set)
    lines: dict[str, str] = field(default_factory=dict)  # number -> owning key id
    tickets: dict[str, FakeTicket] = field(default_factory=dict)
    webhooks: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # Every message the fake accepted, as its message list reports it (oldest first).
    outbound: list[OutboundRecord] = field(default_factory=list)
    # An outage: until then every call fails as a refused connection would.
    down_until: datetime | None = None
    # Learn unknown accounts and lines from the database (kept across `reset`).
    shared_database: bool = False
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(100))
    _tickets: itertools.count[int] = field(default_factory=lambda: itertools.count(5001))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self._lock:
            self.assign_immediately = True
            self.down_until = None
            for state in (
                self.fail_next,
                self.calls,
                self.statuses,
                self.fallback,
                self.accounts,
                self.emails,
                self.lines,
                self.tickets,
                self.webhooks,
                self.outbound,
            ):
                state.clear()

    # --- steering and bookkeeping -------------------------------------------------

    def adopt(self, credentials: AccountCredentials, numbers: Iterable[str] = ()) -> None:
        """Know an account (and lines it owns) that a test made without the provider."""
        with self._lock:
            self.accounts[credentials.key_id] = credentials.secret
            for number in numbers:
                self.lines[number] = credentials.key_id

    def place_line(self, request_id: str, number: str | None = None) -> LineRequest:
        """Fulfil an open line request, as the provider's staff do (the simulator's
        control): the account owns the number from now on."""
        with self._lock:
            ticket = self.tickets[request_id]
            if ticket.status != "FULFILLED":
                ticket.number = number or self.next_number()
                ticket.status = "FULFILLED"
                self.lines[ticket.number] = ticket.account_key
            return ticket.request()

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
        with self._lock:
            while True:
                number = f"+1415555{next(self._numbers):04d}"
                if number not in self.lines:
                    return number

    @contextmanager
    def _provider(self) -> Iterator[None]:
        """Run the provider's checks: a refusal becomes the adapter's ProviderError."""
        try:
            with self._lock:
                yield
        except rules.Refusal as refusal:
            raise refusal_error(refusal.status, refusal.message) from None

    def _auth(self, credentials: AccountCredentials) -> str:
        if self.accounts.get(credentials.key_id) != credentials.secret and self.shared_database:
            self._learn_from_database()
        if self.accounts.get(credentials.key_id) != credentials.secret:
            raise rules.Refusal(401, rules.INVALID_CREDENTIALS)
        return credentials.key_id

    def _own_line(self, account: str, number: object) -> None:
        if isinstance(number, str) and self.lines.get(number) != account and self.shared_database:
            self._learn_from_database()
        if not isinstance(number, str) or self.lines.get(number) != account:
            raise rules.Refusal(400, rules.FROM_NUMBER_NOT_REGISTERED)

    def _learn_from_database(self) -> None:
        """Adopt every setup recorded in the database, with its numbered lines."""
        from provisioning.models import Setup
        from provisioning.services.credentials import setup_credentials

        for setup in Setup.objects.exclude(credentials_encrypted="").prefetch_related("lines"):
            numbers = [line.number for line in setup.lines.all() if line.number]
            self.adopt(setup_credentials(setup), numbers=numbers)

    def _ticket(self, account: str) -> FakeTicket:
        ticket = FakeTicket(request_id=str(next(self._tickets)), account_key=account)
        self.tickets[ticket.request_id] = ticket
        if self.assign_immediately:
            self.place_line(ticket.request_id)
        return ticket

    # --- provisioning ----------------------------------------------------------------

    def create_child_account(
        self, *, company_name: str, primary_email: str, provision_line: bool
    ) -> ChildAccount:
        self._record(
            "create_child_account",
            company_name=company_name,
            primary_email=primary_email,
            provision_line=provision_line,
        )
        body = child_account_body(
            company_name=company_name, primary_email=primary_email, provision_line=provision_line
        )
        with self._provider():
            rules.check_child_account(body, current_path=True)
            if primary_email in self.emails:
                raise rules.Refusal(400, rules.DUPLICATE_EMAIL)
            self.emails.add(primary_email)
            credentials = AccountCredentials(
                key_id=f"fake_k_{uuid.uuid4().hex}", secret=f"fake_s_{uuid.uuid4().hex}"
            )
            self.accounts[credentials.key_id] = credentials.secret
            ticket = self._ticket(credentials.key_id) if provision_line else None
        return ChildAccount(
            account_id=primary_email,
            credentials=credentials,
            assigned_number=ticket.number if ticket else None,
            line_request_id=ticket.request_id if ticket and not ticket.number else None,
        )

    def register_webhooks(
        self, *, credentials: AccountCredentials, urls_by_type: dict[str, str], secret: str
    ) -> None:
        self._record("register_webhooks", urls_by_type=urls_by_type, secret=secret)
        with self._provider():
            account = self._auth(credentials)
            registered = self.webhooks.setdefault(account, {})
            for webhook_type, url in urls_by_type.items():
                if url in registered.get(webhook_type, []):
                    continue  # the adapter looks first and adds only what is missing
                body = webhook_add_body(url=url, webhook_type=webhook_type, secret=secret)
                rules.check_webhooks_add(body)
                registered.setdefault(webhook_type, []).append(url)

    def request_line(self, *, credentials: AccountCredentials) -> LineRequest:
        self._record("request_line")
        with self._provider():
            account = self._auth(credentials)
            rules.check_add_line(add_line_body())
            return self._ticket(account).request()

    def get_line_request(self, *, credentials: AccountCredentials, request_id: str) -> LineRequest:
        self._record("get_line_request", request_id=request_id)
        with self._provider():
            account = self._auth(credentials)
            ticket = self.tickets.get(request_id)
            if ticket is None or ticket.account_key != account:
                raise rules.Refusal(404, rules.LINE_REQUEST_NOT_FOUND)
            return ticket.request()

    def lines_state(self, *, credentials: AccountCredentials) -> list[LineStateEntry]:
        self._record("lines_state")
        with self._provider():
            account = self._auth(credentials)
            return [
                LineStateEntry(number=number, status="ONLINE")
                for number, owner in self.lines.items()
                if owner == account
            ]

    # --- messaging ---------------------------------------------------------------------

    def send_message(
        self, *, credentials: AccountCredentials, **message: Unpack[OutboundMessage]
    ) -> SendResult:
        self._record("send_message", **message)
        body = send_message_body(**message)
        from_number, to_number = message["from_number"], message["to_number"]
        service = self.fallback.get(to_number, "imessage")
        with self._provider():
            account = self._auth(credentials)
            rules.check_send(body)
            self._own_line(account, from_number)
            result = SendResult(
                provider_handle=str(uuid.uuid4()),
                status="queued",
                service=service,
                was_downgraded=service != "imessage",
            )
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
                    content=message["content"] or "",
                    media_url=message["media_url"],
                    created_at=timezone.now(),
                )
            )
        return result

    def message_status(
        self, *, credentials: AccountCredentials, provider_handle: str
    ) -> StatusUpdate | None:
        self._record("message_status", provider_handle=provider_handle)
        with self._provider():
            self._auth(credentials)
            rules.check_status_lookup(provider_handle)
            if provider_handle in self.statuses:
                return self.statuses[provider_handle]
            sent = [r.update for r in self.outbound if r.update.provider_handle == provider_handle]
        return sent[0] if sent else None

    def outbound_messages(
        self, *, credentials: AccountCredentials, **query: Unpack[OutboundQuery]
    ) -> list[OutboundRecord]:
        self._record("outbound_messages", **query)
        params = outbound_messages_query(**query, page=0)
        from_number, to_number = query["from_number"], query["to_number"]
        created_after = query["created_after"]
        with self._provider():
            self._auth(credentials)
            try:
                MessageQuery.parse({name: str(value) for name, value in params.items()})
            except InvalidFilter as exc:
                raise rules.Refusal(400, str(exc)) from None
            records = list(self.outbound)
        return [
            replace(record, update=self.statuses.get(record.update.provider_handle, record.update))
            for record in records
            if record.from_number == from_number
            and record.to_number == to_number
            and (record.created_at is None or record.created_at >= created_after)
        ]

    def send_reaction(
        self, *, credentials: AccountCredentials, **reaction: Unpack[ReactionRequest]
    ) -> None:
        self._record("send_reaction", **reaction)
        body = reaction_body(**reaction)
        with self._provider():
            account = self._auth(credentials)
            rules.check_reaction(body)
            self._own_line(account, reaction["from_number"])

    def send_typing(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None:
        self._record("send_typing", from_number=from_number, to_number=to_number)
        with self._provider():
            account = self._auth(credentials)
            rules.check_typing(contact_body(from_number=from_number, to_number=to_number))
            self._own_line(account, from_number)

    def mark_read(
        self, *, credentials: AccountCredentials, from_number: str, to_number: str
    ) -> None:
        self._record("mark_read", from_number=from_number, to_number=to_number)
        with self._provider():
            account = self._auth(credentials)
            rules.check_mark_read(contact_body(from_number=from_number, to_number=to_number))
            self._own_line(account, from_number)

    def upload_media(self, *, credentials: AccountCredentials, source_url: str) -> UploadResult:
        self._record("upload_media", source_url=source_url)
        with self._provider():
            self._auth(credentials)
            rules.check_upload_media_object(upload_media_body(source_url=source_url))
        return UploadResult(media_url=source_url, media_object_id=uuid.uuid4().hex)

    def parse_webhook(self, *, event_type_hint: str | None, body: Any) -> ParsedWebhook:
        # The fake speaks the same wire format as the real adapter.
        from provisioning.providers.sendblue.parsing import parse_sendblue_webhook

        return parse_sendblue_webhook(event_type_hint=event_type_hint, body=body)


fake_provider = FakeProvider()
