"""Webhook test helpers: a local HTTP receiver and a resolver that never touches the network."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from messaging.webhooks import safety, transport

# Host names the fake resolver knows; everything else resolves to a public address.
FAKE_DNS = {
    "localhost": ["127.0.0.1"],
    "private.example.com": ["10.1.2.3"],
    "metadata.example.com": ["169.254.169.254"],
    "rebind.example.com": ["93.184.216.34", "192.168.0.10"],
    "unresolvable.example.com": [],
}
PUBLIC_ADDRESS = "93.184.216.34"


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Tests never resolve real names; edit the returned mapping to change answers."""
    table = dict(FAKE_DNS)

    def resolve(host: str, port: int) -> list[safety.IPAddress]:
        answers = table.get(host, [PUBLIC_ADDRESS])
        if not answers:
            raise OSError("Name or service not known")
        return [ipaddress.ip_address(a) for a in answers]

    monkeypatch.setattr(safety, "resolve_host", resolve)
    return table


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # The client's port: requests on one kept-alive connection share it.
    client_port: int = 0


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    # Seconds to wait before answering (a hanging receiver).
    delay: float = 0.0
    # Stream this many bytes instead of `body` (a huge answer).
    stream_bytes: int = 0


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records requests and plays scripted replies."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    plan: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=Reply)
    # Replies by request path, for requests whose order is not known (parallel attempts).
    by_path: dict[str, Reply] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished_replies: int = 0
    streamed_bytes: int = 0
    stream_broken: bool = False
    on_request: Callable[[Received], None] | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def reply(self, *replies: Reply) -> None:
        self.plan.extend(replies)

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            if path in self.by_path:
                return self.by_path[path]
            return self.plan.popleft() if self.plan else self.default


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            received = Received(
                path=self.path,
                headers=dict(self.headers.items()),
                body=body,
                client_port=self.client_address[1],
            )
            with receiver.lock:
                receiver.requests.append(received)
            if receiver.on_request is not None:
                receiver.on_request(received)
            reply = receiver.next_reply(self.path)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                if reply.stream_bytes:
                    self.send_header("Content-Length", str(reply.stream_bytes))
                    self.end_headers()
                    chunk = b"x" * 65536
                    sent = 0
                    while sent < reply.stream_bytes:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        with receiver.lock:
                            receiver.streamed_bytes = sent
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                with receiver.lock:
                    receiver.stream_broken = True
                self.close_connection = True
                return
            with receiver.lock:
                receiver.finished_replies += 1

    return Handler


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connection bursts from parallel workers, which then
    # wait a full second for the SYN retransmit.
    request_queue_size = 256
    daemon_threads = True


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)
    rec = Receiver(server=server)
    server.RequestHandlerClass = _handler_for(rec)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    # Kept-alive connections would hold its handler threads, and a later receiver given the
    # same port would be reached through them.
    transport.pooled_client_close()
