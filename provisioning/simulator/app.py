"""The provider simulator: a small WSGI app speaking the provider contract (§17).

State lives in memory. Webhooks (line_assigned, receive, status callbacks) are queued
as jobs with a due time; `run_due()` sends what is due. The command `run_simulator`
runs a background thread that calls it continuously; tests call it themselves, so an
in-process simulator behind `httpx.WSGITransport` never re-enters Django mid-request.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import functools
import heapq
import itertools
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx

from console.phone import to_e164
from provisioning.simulator import rules
from provisioning.simulator.handset import handset_routes_build
from provisioning.simulator.message_query import InvalidFilter, MessageQuery

logger = logging.getLogger(__name__)

WEBHOOK_RETRY_DELAYS = (5.0, 30.0, 120.0)
# Simulator controls, the patient's handset and media stay up during a provider outage.
OFF_API_PREFIXES = ("/control/", "/phone/", "/media/")
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"status": "ERROR", "message": message, **extra}
        self.headers: list[tuple[str, str]] = []


@dataclass
class Account:
    key_id: str
    secret: str
    company_name: str
    primary_email: str
    is_agency: bool = False
    webhooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    global_secret: str = ""


@dataclass
class Line:
    number: str
    account_key: str
    status: str = "ONLINE"


@dataclass
class Ticket:
    id: int
    account_key: str
    status: str = "OPEN"
    phone_number: str | None = None
    desired_area_code: str | None = None
    created_at: str = field(default_factory=now_iso)

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "PHONE",
            "status": self.status,
            "desiredAreaCode": self.desired_area_code,
            "createdAt": self.created_at,
            "phoneNumber": self.phone_number,
        }


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    content_type: str

    def json(self) -> dict[str, Any]:
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise HttpError(400, "Request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise HttpError(400, "Request body must be a JSON object.")
        return data


Route = tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]


class Simulator:
    """One in-memory provider: an agency account, its children, lines and messages."""

    def __init__(
        self,
        *,
        agency_key_id: str,
        agency_secret: str,
        public_url: str = "http://127.0.0.1:8001",
        deliver_client: httpx.Client | None = None,
        assign_immediately: bool = False,
        assign_delay: float | None = None,
        status_delay: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        state_path: str | None = None,
    ) -> None:
        self.state_path = state_path
        self.public_url = public_url.rstrip("/")
        self.deliver_client = deliver_client or httpx.Client(timeout=10.0)
        self.assign_immediately = assign_immediately
        self.assign_delay = assign_delay
        self.status_delay = status_delay
        self.clock = clock
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {
            agency_key_id: Account(
                key_id=agency_key_id,
                secret=agency_secret,
                company_name="agency",
                primary_email="agency@simulator.test",
                is_agency=True,
            )
        }
        self.lines: dict[str, Line] = {}
        self.tickets: dict[int, Ticket] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.handsets: dict[str, list[dict[str, Any]]] = {}
        self.media: dict[str, tuple[str, bytes]] = {}
        # Numbers without iMessage: the service their traffic falls back to (SMS or RCS).
        self.fallback: dict[str, str] = {}
        self.callbacks: dict[str, str] = {}  # message handle -> its status_callback
        # Tapbacks our lines sent (what the person's phone shows), oldest first.
        self.reactions: list[dict[str, Any]] = []
        # Seconds send-message holds its answer after accepting (a slow provider).
        self.send_answer_delay = 0.0
        # Until this clock reading the provider API answers 503 (an upstream outage drill).
        self.outage_until = 0.0
        self.deliveries: list[dict[str, Any]] = []  # every webhook attempt, for tests
        self._jobs: list[tuple[float, int, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._ticket_ids = itertools.count(1001)
        self._numbers = itertools.count(3000)
        self._routes: list[Route] = []
        self._build_routes()
        self._load()

    # --- persistence -------------------------------------------------------
    # With a state file, accounts, lines and messages survive a restart, so a demo
    # database seeded yesterday still matches the simulator's credentials today.

    def _load(self) -> None:
        if not self.state_path:
            return
        try:
            with open(self.state_path) as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return
        self.accounts.update({a["key_id"]: Account(**a) for a in data.get("accounts", [])})
        self.lines = {line["number"]: Line(**line) for line in data.get("lines", [])}
        self.tickets = {t["id"]: Ticket(**t) for t in data.get("tickets", [])}
        self.messages = data.get("messages", {})
        self.handsets = data.get("handsets", {})
        self.fallback = dict(data.get("fallback", {}))
        self.fallback.update(dict.fromkeys(data.get("sms_only", []), "SMS"))
        self._ticket_ids = itertools.count(max(self.tickets, default=1000) + 1)
        if self.assign_delay is not None and self.assign_delay > 0:
            for ticket in self.tickets.values():
                if ticket.status == "OPEN":
                    ticket_id = ticket.id
                    self.schedule(
                        self.assign_delay, functools.partial(self.assign_ticket, ticket_id)
                    )

    def save(self) -> None:
        if not self.state_path:
            return
        with self.lock:
            data = {
                "accounts": [vars(a) for a in self.accounts.values() if not a.is_agency],
                "lines": [vars(line) for line in self.lines.values()],
                "tickets": [vars(t) for t in self.tickets.values()],
                "messages": self.messages,
                "handsets": self.handsets,
                "fallback": self.fallback,
            }
            tmp = f"{self.state_path}.tmp"
            with open(tmp, "w") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.state_path)

    # --- jobs --------------------------------------------------------------

    def schedule(self, delay: float, job: Callable[[], object]) -> None:
        with self.lock:
            heapq.heappush(self._jobs, (self.clock() + max(delay, 0.0), next(self._seq), job))

    def run_due(self, *, everything: bool = False) -> int:
        """Run the jobs that are due (all of them with `everything`); returns how many ran.

        Jobs may schedule more jobs (SENT then DELIVERED); with `everything` those run too.
        """
        ran = 0
        while True:
            with self.lock:
                if not self._jobs or (not everything and self._jobs[0][0] > self.clock()):
                    return ran
                _, _, job = heapq.heappop(self._jobs)
            try:
                job()
                self.save()
            except Exception:
                logger.exception("simulator job failed")
            ran += 1

    def pending_jobs(self) -> int:
        with self.lock:
            return len(self._jobs)

    def start_background(self, interval: float = 0.05) -> threading.Event:
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.run_due()
                stop.wait(interval)

        threading.Thread(target=loop, name="simulator-jobs", daemon=True).start()
        return stop

    # --- webhooks ----------------------------------------------------------

    def _post(self, url: str, secret: str, body: dict[str, Any], attempt: int = 0) -> None:
        headers = {"sb-signing-secret": secret} if secret else {}
        record: dict[str, Any] = {"url": url, "type": body.get("type"), "attempt": attempt}
        try:
            response = self.deliver_client.post(url, json=body, headers=headers)
            record["status"] = response.status_code
            ok = response.is_success
        except httpx.HTTPError as exc:
            record["status"] = None
            record["error"] = type(exc).__name__
            ok = False
        with self.lock:
            self.deliveries.append(record)
        if not ok and attempt < len(WEBHOOK_RETRY_DELAYS):
            delay = WEBHOOK_RETRY_DELAYS[attempt]
            self.schedule(delay, lambda: self._post(url, secret, body, attempt + 1))

    def deliver(self, account: Account, webhook_type: str, body: dict[str, Any]) -> int:
        """Queue `body` for every `webhook_type` URL of the account; returns how many."""
        targets = [
            (hook["url"], hook.get("secret") or account.global_secret)
            for hook in account.webhooks.get(webhook_type, [])
        ]
        for url, secret in targets:
            self.schedule(0, functools.partial(self._post, url, secret, body))
        return len(targets)

    # --- numbers and lines -------------------------------------------------

    def _new_number(self) -> str:
        with self.lock:
            while True:
                number = f"+1415555{next(self._numbers):04d}"
                if number not in self.lines:
                    return number

    def _open_ticket(self, account: Account, area_code: str | None = None) -> Ticket:
        ticket = Ticket(
            id=next(self._ticket_ids), account_key=account.key_id, desired_area_code=area_code
        )
        self.tickets[ticket.id] = ticket
        if self.assign_delay is not None and self.assign_delay > 0:
            self.schedule(self.assign_delay, lambda: self.assign_ticket(ticket.id))
        return ticket

    def assign_ticket(self, ticket_id: int, number: str | None = None) -> Ticket:
        """Fulfil a ticket (operator action or the delay) and post `line_assigned`."""
        with self.lock:
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                raise HttpError(404, "Line request not found.")
            if ticket.status == "FULFILLED":
                return ticket
            number = number or self._new_number()
            if number in self.lines:
                raise HttpError(409, "Number already assigned.")
            ticket.status = "FULFILLED"
            ticket.phone_number = number
            self.lines[number] = Line(number=number, account_key=ticket.account_key)
            account = self.accounts[ticket.account_key]
        body = {
            "type": "line_assigned",
            "accountEmail": account.primary_email,
            "sendblue_number": number,
            "line_request_id": ticket.id,
            "assigned_at": now_iso(),
        }
        self.deliver(account, "line_assigned", body)
        for agency in [a for a in self.accounts.values() if a.is_agency]:
            self.deliver(agency, "line_assigned", body)
        return ticket

    def block_line(self, number: str, reason: str | None) -> Line:
        with self.lock:
            line = self.lines.get(number)
            if line is None:
                raise HttpError(404, "Line not found.")
            line.status = "OFFLINE"
            account = self.accounts[line.account_key]
        body = {
            "type": "line_blocked",
            "accountEmail": account.primary_email,
            "sendblue_number": number,
            "blocked_at": now_iso(),
            "reason": reason,
        }
        self.deliver(account, "line_blocked", body)
        return line

    # --- WSGI --------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        request = Request(
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("PATH_INFO", "/") or "/",
            query=query,
            headers=headers,
            body=body,
            content_type=environ.get("CONTENT_TYPE", ""),
        )
        extra_headers: list[tuple[str, str]] = []
        try:
            status, payload = self._dispatch(request)
            if request.method != "GET":
                self.save()
        except HttpError as exc:
            status, payload, extra_headers = exc.status, exc.body, exc.headers
        except rules.Refusal as exc:
            status, payload = exc.status, {"status": "ERROR", "message": exc.message}
        if isinstance(payload, tuple):  # raw media bytes
            content_type, data = payload
        else:
            content_type, data = "application/json", json.dumps(payload).encode()
        reason = {200: "OK", 201: "Created", 202: "Accepted"}.get(status, "Status")
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(data))),
                *extra_headers,
            ],
        )
        return [data]

    def _dispatch(self, request: Request) -> tuple[int, Any]:
        if self.clock() < self.outage_until and not request.path.startswith(OFF_API_PREFIXES):
            raise HttpError(503, "Service temporarily unavailable.")
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path.rstrip("/") or "/")
            if match is None:
                continue
            allowed = True
            if method == request.method:
                return handler(request, **match.groupdict())
        if allowed:
            raise HttpError(405, "Method not allowed.")
        raise HttpError(404, "Not found.")

    def route(self, method: str, *paths: str) -> Callable[[Callable[..., Any]], Any]:
        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            for path in paths:
                self._routes.append((method, re.compile(path), handler))
            return handler

        return decorator

    def _auth(self, request: Request, *, agency: bool = False) -> Account:
        key_id = request.headers.get("sb-api-key-id", "")
        secret = request.headers.get("sb-api-secret-key", "")
        with self.lock:
            account = self.accounts.get(key_id)
        if account is None or not secrets.compare_digest(account.secret, secret):
            raise HttpError(401, rules.INVALID_CREDENTIALS)
        if agency and not account.is_agency:
            raise HttpError(403, rules.NOT_AGENCY)
        return account

    def _own_line(self, account: Account, number: object) -> Line:
        e164 = to_e164(number)
        line = self.lines.get(e164 or "")
        if line is None or line.account_key != account.key_id:
            raise HttpError(400, rules.FROM_NUMBER_NOT_REGISTERED)
        return line

    # --- routes ------------------------------------------------------------

    def _build_routes(self) -> None:
        route = self.route

        @route("POST", r"/accounts/lines/request-child-account", r"/request-child-account")
        def child_account(request: Request) -> tuple[int, Any]:
            self._auth(request, agency=True)
            data = request.json()
            rules.check_child_account(data, current_path=request.path.startswith("/accounts/"))
            company = data["company_name"]
            email_addr = data["primary_email"]
            with self.lock:
                if any(a.primary_email == email_addr for a in self.accounts.values()):
                    raise HttpError(400, rules.DUPLICATE_EMAIL)
                child = Account(
                    key_id=f"sim_k_{secrets.token_hex(8)}",
                    secret=f"sim_s_{secrets.token_hex(16)}",
                    company_name=company,
                    primary_email=email_addr,
                )
                self.accounts[child.key_id] = child
                number: str | None = None
                ticket: Ticket | None = None
                provision = data.get("provision_line", True) is not False
                if provision and self.assign_immediately:
                    number = self._new_number()
                    self.lines[number] = Line(number=number, account_key=child.key_id)
                elif provision:
                    ticket = self._open_ticket(child, data.get("desired_area_code"))
            line_status = "none" if not provision else ("assigned" if number else "pending")
            return 200, {
                "status": "OK",
                "data": {
                    "company_name": company,
                    "api_key": child.key_id,
                    "api_secret": child.secret,
                    "assigned_number": number,
                    "line_status": line_status,
                    "line_request_id": ticket.id if ticket else None,
                },
            }

        @route("POST", r"/accounts/lines/add-line", r"/account/lines/add-line")
        def add_line(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            data = request.json()
            rules.check_add_line(data)
            with self.lock:
                ticket = self._open_ticket(account, data.get("desired_area_code"))
                if self.assign_immediately:
                    number = self._new_number()
                    ticket.status, ticket.phone_number = "FULFILLED", number
                    self.lines[number] = Line(number=number, account_key=account.key_id)
            return 200, {"status": "OK", "data": ticket.wire()}

        @route(
            "GET",
            r"/accounts/lines/line-request/(?P<ticket_id>\d+)",
            r"/account/lines/line-request/(?P<ticket_id>\d+)",
        )
        def line_request(request: Request, ticket_id: str) -> tuple[int, Any]:
            account = self._auth(request)
            ticket = self.tickets.get(int(ticket_id))
            if ticket is None or ticket.account_key != account.key_id:
                raise HttpError(404, rules.LINE_REQUEST_NOT_FOUND)
            return 200, {"status": "OK", "data": ticket.wire()}

        @route("GET", r"/api/v2/lines/state")
        def lines_state(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            entries = [
                {
                    "worker_id": f"w-{line.number[-4:]}",
                    "sendblue_number": line.number,
                    "assignment": "assigned",
                    "status": line.status,
                    "degraded_since": None,
                    "effective_until": None,
                    "status_changed_at": now_iso(),
                }
                for line in self.lines.values()
                if line.account_key == account.key_id
            ]
            return 200, {"status": "OK", "snapshot_at": now_iso(), "data": entries}

        @route("GET", r"/api/account/webhooks", r"/api/v2/account/webhooks")
        def webhooks_get(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            return 200, {"status": "OK", "webhooks": self._webhooks_wire(account)}

        @route("POST", r"/api/account/webhooks", r"/api/v2/account/webhooks")
        def webhooks_add(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            data = request.json()
            hooks = rules.check_webhooks_add(data)
            with self.lock:
                account.webhooks.setdefault(data.get("type") or "receive", []).extend(hooks)
                if isinstance(data.get("globalSecret"), str):
                    account.global_secret = data["globalSecret"]
            return 200, {
                "status": "OK",
                "message": "Webhooks added successfully",
                "webhooks": self._webhooks_wire(account),
            }

        @route("PUT", r"/api/account/webhooks", r"/api/v2/account/webhooks")
        def webhooks_put(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            data = request.json().get("webhooks")
            if not isinstance(data, dict):
                raise HttpError(400, "webhooks must be an object")
            with self.lock:
                account.global_secret = str(data.get("globalSecret") or "")
                account.webhooks = {
                    t: [rules.webhook_entry(h) for h in hooks]
                    for t, hooks in data.items()
                    if t in rules.WEBHOOK_TYPES and isinstance(hooks, list)
                }
            return 200, {"status": "OK", "webhooks": self._webhooks_wire(account)}

        @route("DELETE", r"/api/account/webhooks", r"/api/v2/account/webhooks")
        def webhooks_delete(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            data = request.json()
            urls = set(data.get("webhooks") or [])
            with self.lock:
                hooks = account.webhooks.get(data.get("type") or "receive", [])
                hooks[:] = [h for h in hooks if h["url"] not in urls]
            return 200, {"status": "OK", "message": "Webhooks deleted successfully"}

        @route("POST", r"/api/send-message")
        def send_message(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            data = request.json()
            to_number = rules.check_send(data)
            line = self._own_line(account, data.get("from_number"))
            content = data.get("content") or ""
            media_url = data.get("media_url") or ""
            handle = str(uuid.uuid4())
            message = {
                "accountEmail": account.primary_email,
                "content": content,
                "is_outbound": True,
                "status": "QUEUED",
                "error_code": None,
                "error_message": None,
                "message_handle": handle,
                "date_sent": now_iso(),
                "date_updated": now_iso(),
                "from_number": line.number,
                "number": to_number,
                "to_number": to_number,
                "sendblue_number": line.number,
                "was_downgraded": None,
                "service": self.service_for(to_number),
                "plan": "dedicated",
                "media_url": media_url,
                "send_style": data.get("send_style") or "",
                "message_type": "message",
            }
            with self.lock:
                self.messages[handle] = message
            callback = data.get("status_callback")
            if callback:
                with self.lock:
                    self.callbacks[handle] = callback
            self._progress(account, message, failed=line.status == "OFFLINE")
            if self.send_answer_delay > 0:
                # Accepted and progressing, but the caller waits: a slow provider.
                time.sleep(self.send_answer_delay)
            return 200, dict(message)

        @route("GET", r"/api/status")
        def message_status(request: Request) -> tuple[int, Any]:
            self._auth(request)
            message = self.messages.get(rules.check_status_lookup(request.query.get("handle")))
            if message is None:
                raise HttpError(404, "Message not found.")
            return 200, dict(message)

        @route("GET", r"/api/v2/messages")
        def messages_list(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            try:
                query = MessageQuery.parse(request.query)
            except InvalidFilter as exc:
                raise HttpError(400, str(exc)) from None
            with self.lock:
                own = [
                    dict(m)
                    for m in self.messages.values()
                    if m.get("accountEmail") == account.primary_email
                ]
            matching = sorted(
                (m for m in own if query.matches(m)),
                key=lambda m: str(m.get(query.order_key) or ""),
                reverse=query.descending,
            )
            page = matching[query.offset : query.offset + query.limit]
            return 200, {
                "status": "OK",
                "data": page,
                "pagination": {
                    "hasMore": query.offset + len(page) < len(matching),
                    "limit": query.limit,
                    "offset": query.offset,
                    "total": len(matching),
                },
            }

        @route("GET", r"/api/evaluate-service")
        def evaluate_service(request: Request) -> tuple[int, Any]:
            self._auth(request)
            number = to_e164(request.query.get("number"))
            if number is None:
                raise HttpError(400, "You must specify a valid `number`.")
            return 200, {
                "number": number,
                # The lookup answers iMessage or SMS only (provider contract §16).
                "service": "iMessage" if number not in self.fallback else "SMS",
            }

        @route("POST", r"/api/send-typing-indicator")
        def typing(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            data = request.json()
            rules.check_typing(data)
            self._own_line(account, data.get("from_number"))
            return 200, {"number": data["number"], "status": "SENT", "error_message": None}

        @route("POST", r"/api/mark-read")
        def mark_read(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            data = request.json()
            rules.check_mark_read(data)
            self._own_line(account, data.get("from_number"))
            return 200, {
                "status": "OK",
                "message": "Mark read request sent",
                "number": data["number"],
            }

        @route("POST", r"/api/send-reaction")
        def send_reaction(request: Request) -> tuple[int, Any]:
            account = self._auth(request)
            data = request.json()
            rules.check_reaction(data)
            self._own_line(account, data.get("from_number"))
            part = data.get("part_index", 0)
            with self.lock:
                self.reactions.append(
                    {
                        "from_number": data["from_number"],
                        "message_handle": data["message_handle"],
                        "reaction": data["reaction"],
                        "part_index": part,
                        "date_sent": now_iso(),
                    }
                )
            return 200, {
                "status": "OK",
                "message": "Reaction request sent",
                "message_handle": data["message_handle"],
                "reaction": data["reaction"],
            }

        @route("POST", r"/api/upload-media-object")
        def upload_media_object(request: Request) -> tuple[int, Any]:
            self._auth(request)
            source = rules.check_upload_media_object(request.json())
            try:
                response = self.deliver_client.get(source)
                response.raise_for_status()
            except httpx.HTTPError:
                raise HttpError(400, "Could not download media_url") from None
            media_id = self._store_media(
                response.headers.get("content-type", "application/octet-stream"), response.content
            )
            return 200, {
                "status": "OK",
                "message": "Media object created",
                "mediaObjectId": media_id,
                "media_url": f"{self.public_url}/media/{media_id}",
            }

        @route("POST", r"/api/upload-file")
        def upload_file(request: Request) -> tuple[int, Any]:
            self._auth(request)
            content_type, data = self._multipart_file(request)
            media_id = self._store_media(content_type, data)
            return 201, {
                "status": "OK",
                "message": "File uploaded",
                "media_url": f"{self.public_url}/media/{media_id}",
                "mediaObjectId": media_id,
            }

        @route("GET", r"/media/(?P<media_id>[A-Za-z0-9_-]+)")
        def media(request: Request, media_id: str) -> tuple[int, Any]:
            item = self.media.get(media_id)
            if item is None:
                raise HttpError(404, "Media not found.")
            return 200, item

        # --- operator and handset controls (not part of the provider API) ---

        @route("POST", r"/control/lines/(?P<request_id>\d+)/assign")
        def control_assign(request: Request, request_id: str) -> tuple[int, Any]:
            number = request.json().get("number")
            if number is not None and to_e164(number) is None:
                raise HttpError(400, "number must be E.164", fields={"number": ["invalid"]})
            ticket = self.assign_ticket(int(request_id), to_e164(number) if number else None)
            return 200, {"status": "OK", "data": ticket.wire()}

        @route("POST", r"/control/lines/(?P<number>\+\d+)/block")
        def control_block(request: Request, number: str) -> tuple[int, Any]:
            line = self.block_line(number, request.json().get("reason"))
            return 200, {"status": "OK", "number": line.number, "line_status": line.status}

        @route("POST", r"/control/slow-sends")
        def control_slow_sends(request: Request) -> tuple[int, Any]:
            seconds = request.json().get("seconds")
            if not isinstance(seconds, int | float) or not 0 <= seconds <= 600:
                raise HttpError(400, "seconds must be a number from 0 to 600")
            self.send_answer_delay = float(seconds)
            return 200, {"status": "OK", "seconds": self.send_answer_delay}

        @route("POST", r"/control/sms-only")
        def control_sms_only(request: Request) -> tuple[int, Any]:
            return 200, self._fall_back(request, "SMS")

        @route("POST", r"/control/rcs-only")
        def control_rcs_only(request: Request) -> tuple[int, Any]:
            return 200, self._fall_back(request, "RCS")

        @route("POST", r"/control/outage")
        def control_outage(request: Request) -> tuple[int, Any]:
            seconds = request.json().get("seconds")
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise HttpError(
                    400, "seconds must be a number >= 0", fields={"seconds": ["invalid"]}
                )
            with self.lock:
                self.outage_until = self.clock() + float(seconds)
            return 200, {"status": "OK", "outage_seconds": float(seconds)}

        @route("GET", r"/control/state")
        def control_state(request: Request) -> tuple[int, Any]:
            return 200, {
                "lines": [vars(line) for line in self.lines.values()],
                "tickets": [t.wire() for t in self.tickets.values()],
                "reactions": list(self.reactions),
                "pending_jobs": self.pending_jobs(),
                "outage_seconds_left": max(0.0, self.outage_until - self.clock()),
            }

        handset_routes_build(self)

    # --- helpers -----------------------------------------------------------

    def service_for(self, number: str) -> str:
        """The service traffic with `number` uses: iMessage unless it has no iMessage."""
        return self.fallback.get(number, "iMessage")

    def _fall_back(self, request: Request, service: str) -> dict[str, Any]:
        number = to_e164(request.json().get("number"))
        if number is None:
            raise HttpError(400, "number must be E.164", fields={"number": ["invalid"]})
        with self.lock:
            self.fallback[number] = service
        return {"status": "OK", "number": number, "service": service}

    @staticmethod
    def _webhooks_wire(account: Account) -> dict[str, Any]:
        # Secrets are write-only here too, like at the real provider's UI.
        wire: dict[str, Any] = {
            t: [{"url": h["url"]} for h in hooks] for t, hooks in account.webhooks.items()
        }
        wire["globalSecret"] = "********" if account.global_secret else ""
        return wire

    def _store_media(self, content_type: str, data: bytes) -> str:
        media_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        with self.lock:
            self.media[media_id] = (content_type, data)
        return media_id

    @staticmethod
    def _multipart_file(request: Request) -> tuple[str, bytes]:
        if not request.content_type.startswith("multipart/form-data"):
            raise HttpError(400, "Send multipart/form-data with a `file` field.")
        raw = f"Content-Type: {request.content_type}\r\n\r\n".encode() + request.body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                payload = part.get_payload(decode=True)
                return part.get_content_type(), payload if isinstance(payload, bytes) else b""
        raise HttpError(400, "The `file` field is missing.")

    def _announce_status(self, account: Account, snapshot: dict[str, Any]) -> None:
        """Post a message's new status to its status callback and `outbound` webhooks."""
        callback = self.callbacks.get(snapshot["message_handle"])
        if callback:
            self.schedule(0, lambda: self._post(callback, account.global_secret, snapshot))
        self.deliver(account, "outbound", snapshot)

    def read_message(self, handle: str) -> dict[str, Any]:
        """The person's handset reads one of our messages: status READ, posted like any
        status. Only a message the handset has (SENT or DELIVERED) can be read."""
        with self.lock:
            message = self.messages.get(handle)
            if message is None:
                raise HttpError(404, "Message not found.")
            if message["status"] not in {"SENT", "DELIVERED", "READ"}:
                raise HttpError(409, "The handset has not received this message.")
            if message["status"] == "READ":
                return dict(message)
            message["status"] = "READ"
            message["date_updated"] = now_iso()
            snapshot = dict(message)
            account = next(
                a for a in self.accounts.values() if a.primary_email == message["accountEmail"]
            )
        self._announce_status(account, snapshot)
        return snapshot

    def _progress(self, account: Account, message: dict[str, Any], *, failed: bool) -> None:
        """QUEUED → SENT → DELIVERED (or → ERROR), each step posted to the callback and
        to the account's `outbound` webhooks; the handset sees the message once SENT."""
        steps = ["ERROR"] if failed else ["SENT", "DELIVERED"]

        def step(index: int) -> None:
            status = steps[index]
            with self.lock:
                if message["status"] == "READ":
                    return  # read before the delivery step ran: never go backwards
                message["status"] = status
                message["date_updated"] = now_iso()
                if status == "ERROR":
                    message["error_code"] = 10001
                    message["error_message"] = "Line is offline."
                else:
                    message["was_downgraded"] = message["service"] != "iMessage"
                if status == "SENT":
                    self.handsets.setdefault(message["to_number"], []).append(
                        {
                            "message_handle": message["message_handle"],
                            "from_number": message["from_number"],
                            "content": message["content"],
                            "media_url": message["media_url"],
                            "service": message["service"],
                            "date_sent": message["date_sent"],
                        }
                    )
                snapshot = dict(message)
            self._announce_status(account, snapshot)
            if index + 1 < len(steps):
                self.schedule(self.status_delay, lambda: step(index + 1))

        self.schedule(self.status_delay, lambda: step(0))


def simulator_from_settings(
    *, deliver_client: httpx.Client | None = None, state_path: str | None = None
) -> Simulator:
    from django.conf import settings

    delay = settings.SIMULATOR_ASSIGN_DELAY_SECONDS
    return Simulator(
        agency_key_id=settings.PROVIDER_AGENCY_KEY_ID,
        agency_secret=settings.PROVIDER_AGENCY_SECRET,
        public_url=settings.PROVIDER_BASE_URL,
        deliver_client=deliver_client,
        assign_immediately=settings.SIMULATOR_ASSIGN_IMMEDIATELY,
        assign_delay=delay if delay > 0 else None,
        status_delay=settings.SIMULATOR_STATUS_DELAY_SECONDS,
        state_path=state_path,
    )
