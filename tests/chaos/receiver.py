"""The chaos drill's agent: a webhook receiver that verifies every signature.

    python -m tests.chaos.receiver --port N --ledger FILE

`POST /hook` verifies the Standard Webhooks signature (and the inkbox one) with the key set
through `POST /control/key`, then appends one JSON line per verified request to the ledger:
event id, type and message id. It never writes message text anywhere. `POST /control/fail`
with `{"seconds": N}` makes it answer 500 for N seconds (an agent outage); `GET
/control/stats` counts verified, invalid and refused requests.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class State:
    def __init__(self, ledger: Path) -> None:
        self.lock = threading.Lock()
        self.ledger = ledger
        self.signing_key = ""
        self.fail_until = 0.0
        self.stats = {"verified": 0, "invalid": 0, "refused": 0}


def inkbox_signature_ok(key: str, headers: Any, body: bytes) -> bool:
    secret = key.removeprefix("whsec_").encode()
    request_id = headers.get("X-Inkbox-Request-ID", "")
    timestamp = headers.get("X-Inkbox-Timestamp", "")
    signed = f"{request_id}.{timestamp}.".encode() + body
    expected = "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("X-Inkbox-Signature", ""))


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines only would be harmless; nothing is quieter

        def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            if self.path == "/control/stats":
                with state.lock:
                    self._answer(200, dict(state.stats))
                return
            self._answer(404)

        def do_POST(self) -> None:
            body = self._body()
            if self.path == "/control/key":
                state.signing_key = json.loads(body)["signing_key"]
                self._answer(200)
                return
            if self.path == "/control/fail":
                state.fail_until = time.monotonic() + float(json.loads(body)["seconds"])
                self._answer(200)
                return
            if self.path != "/hook":
                self._answer(404)
                return
            if time.monotonic() < state.fail_until:
                with state.lock:
                    state.stats["refused"] += 1
                self._answer(500, {"error": "agent outage drill"})
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = Webhook(state.signing_key).verify(body, headers)
                if not inkbox_signature_ok(state.signing_key, self.headers, body):
                    raise WebhookVerificationError("inkbox signature mismatch")
            except (WebhookVerificationError, ValueError):
                with state.lock:
                    state.stats["invalid"] += 1
                self._answer(400, {"error": "invalid signature"})
                return
            message = (event.get("data") or {}).get("message") or {}
            line = {
                "event_id": event.get("id"),
                "event_type": event.get("event_type"),
                "message_id": message.get("id"),
            }
            with state.lock:
                state.stats["verified"] += 1
                with state.ledger.open("a") as ledger:
                    ledger.write(json.dumps(line) + "\n")
            self._answer(200, {"ok": True})

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ledger", type=Path, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(State(args.ledger)))
    server.daemon_threads = True
    print(f"receiver on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
