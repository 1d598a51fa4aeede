"""The HTTP transport of agent webhooks: one POST to a target that `safety.check_url`
already checked, connected to its checked address, the answer read up to a cap and
classified (2xx delivered; 429 and 5xx retried; anything else final).

Requests go through one client per worker process (`pooled_client`), so connections to a
receiver are kept alive across deliveries and batches instead of a TCP and TLS handshake
per POST.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx
from django.conf import settings

from console.http import describe_transport_error, http_client, tls_context, total_timeout
from messaging.webhooks import safety

# Destinations whose keep-alive pool a process keeps; the least recently used is dropped.
POOLED_DESTINATIONS = 256
# No cap on open connections (the bound is the threads posting: worker threads x
# WEBHOOK_BATCH_CONCURRENCY, 80 with the recommended 8 threads); idle ones are kept for
# reuse for a few seconds, enough of them that a busy destination is never reconnected.
POOL_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=128, keepalive_expiry=5)


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    body: str | None
    error: str | None
    duration_ms: int
    transient: bool

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _classify_status(status_code: int) -> tuple[bool, str | None]:
    """(transient, error) for a non-2xx answer: 429 and 5xx retry, everything else stops."""
    if status_code == 429 or status_code >= 500:
        return True, None
    if 300 <= status_code < 400:
        return False, "Redirects are not followed."
    return False, None


class PinnedPools(httpx.BaseTransport):
    """One keep-alive connection pool per checked destination: the pinned address, port,
    Host header and TLS server name together. httpx alone would pool by the request URL,
    i.e. by address, and hand a connection verified for one host name to another host
    name that shares the address; here a connection only ever serves the name it was
    opened (and its certificate verified) for."""

    def __init__(self, *, max_destinations: int = POOLED_DESTINATIONS) -> None:
        self._pools: OrderedDict[tuple[str, ...], httpx.HTTPTransport] = OrderedDict()
        self._max_destinations = max_destinations
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = (
            request.url.scheme,
            request.url.host,
            str(request.url.port),
            request.headers.get("Host", ""),
            str(request.extensions.get("sni_hostname") or ""),
        )
        with self._lock:
            pool = self._pools.pop(key, None) or httpx.HTTPTransport(
                verify=tls_context(), limits=POOL_LIMITS
            )
            self._pools[key] = pool
            while len(self._pools) > self._max_destinations:
                # Dropped, not closed: a request may still be reading from it; its
                # sockets close when it is collected.
                self._pools.popitem(last=False)
        return pool.handle_request(request)

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()


_shared: tuple[int, httpx.Client] | None = None
_shared_lock = threading.Lock()


def pooled_client() -> httpx.Client:
    """This process's webhook client (thread-safe; a forked child builds its own)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), http_client(transport=PinnedPools()))
        return _shared[1]


def pooled_client_close() -> None:
    """Close this process's kept-alive connections (at shutdown, or when a receiver goes)."""
    global _shared
    with _shared_lock:
        shared, _shared = _shared, None
    if shared is not None and shared[0] == os.getpid():
        shared[1].close()


def http_post(target: safety.Target, body: bytes, headers: dict[str, str]) -> AttemptResult:
    """POST to a checked target, reading at most WEBHOOK_MAX_RESPONSE_BYTES of the answer."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    cap = settings.WEBHOOK_MAX_RESPONSE_BYTES
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    request_headers = {
        **headers,
        "Host": target.host_header,
        "Content-Type": "application/json",
        # Raw bytes are capped below; a compressed answer could expand past the cap.
        "Accept-Encoding": "identity",
    }
    started = time.monotonic()
    deadline = started + timeout
    try:
        with pooled_client().stream(
            "POST",
            target.request_url,
            content=body,
            headers=request_headers,
            extensions=extensions,
            timeout=total_timeout(timeout),
        ) as response:
            received = bytearray()
            for chunk in response.iter_raw():
                received += chunk[: cap - len(received)]
                if len(received) >= cap or time.monotonic() > deadline:
                    break
            status_code = response.status_code
    except httpx.HTTPError as exc:
        detail = describe_transport_error(exc)
        if isinstance(exc, httpx.TimeoutException):
            detail = f"timed out after {timeout:g}s"
        return AttemptResult(
            status_code=None,
            body=None,
            error=detail,
            duration_ms=int((time.monotonic() - started) * 1000),
            transient=True,
        )
    duration_ms = int((time.monotonic() - started) * 1000)
    text = bytes(received).decode("utf-8", errors="replace")
    if 200 <= status_code < 300:
        return AttemptResult(status_code, text, None, duration_ms, transient=False)
    transient, error = _classify_status(status_code)
    return AttemptResult(status_code, text, error, duration_ms, transient=transient)
