"""The provider simulator: a small WSGI app speaking the provider contract (§17).

State lives in memory. Webhooks (line_assigned, receive, status callbacks) are queued
as jobs with a due time; `run_due()` sends what is due. The command `run_simulator`
runs a background thread that calls it continuously; tests call it themselves, so an
in-process simulator behind `httpx.WSGITransport` never re-enters Django mid-request.

`Simulator` holds the state and the jobs; the routes are module-level handlers grouped by
resource under `routes/`, each called with the simulator as its first argument.
"""

from __future__ import annotations

import base64
import functools
import heapq
import itertools
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from console.phone import to_e164
from provisioning.simulator import rules
from provisioning.simulator.http import HttpError, Request, Route, StartResponse, dispatch
from provisioning.simulator.records import Account, Line, Ticket, now_iso
from provisioning.simulator.routes import agency, control, lines, messages, phone

logger = logging.getLogger(__name__)

WEBHOOK_RETRY_DELAYS = (5.0, 30.0, 120.0)
# Simulator controls, the patient's handset and media stay up during a provider outage.
OFF_API_PREFIXES = ("/control/", "/phone/", "/media/")
# Every route, by resource; a path matches at most one pattern per method.
ROUTES: list[Route] = [
    *agency.route.routes,
    *lines.route.routes,
    *messages.route.routes,
    *control.route.routes,
    *phone.route.routes,
]


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

    def new_number(self) -> str:
        with self.lock:
            while True:
                number = f"+1415555{next(self._numbers):04d}"
                if number not in self.lines:
                    return number

    def open_ticket(self, account: Account, area_code: str | None = None) -> Ticket:
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
            number = number or self.new_number()
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
        for agency_account in [a for a in self.accounts.values() if a.is_agency]:
            self.deliver(agency_account, "line_assigned", body)
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
        request = Request.from_environ(environ)
        extra_headers: list[tuple[str, str]] = []
        try:
            if self.clock() < self.outage_until and not request.path.startswith(OFF_API_PREFIXES):
                raise HttpError(503, "Service temporarily unavailable.")
            status, payload = dispatch(self, ROUTES, request)
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

    # --- what the routes share ---------------------------------------------

    def auth(self, request: Request, *, agency: bool = False) -> Account:
        """The account whose key pair the request presents (401), the agency's (403)."""
        key_id = request.headers.get("sb-api-key-id", "")
        secret = request.headers.get("sb-api-secret-key", "")
        with self.lock:
            account = self.accounts.get(key_id)
        if account is None or not secrets.compare_digest(account.secret, secret):
            raise HttpError(401, rules.INVALID_CREDENTIALS)
        if agency and not account.is_agency:
            raise HttpError(403, rules.NOT_AGENCY)
        return account

    def own_line(self, account: Account, number: object) -> Line:
        e164 = to_e164(number)
        line = self.lines.get(e164 or "")
        if line is None or line.account_key != account.key_id:
            raise HttpError(400, rules.FROM_NUMBER_NOT_REGISTERED)
        return line

    def service_for(self, number: str) -> str:
        """The service traffic with `number` uses: iMessage unless it has no iMessage."""
        return self.fallback.get(number, "iMessage")

    def store_media(self, content_type: str, data: bytes) -> str:
        media_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        with self.lock:
            self.media[media_id] = (content_type, data)
        return media_id

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

    def progress(self, account: Account, message: dict[str, Any], *, failed: bool) -> None:
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
