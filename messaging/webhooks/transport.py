"""The HTTP transport of agent webhooks: one POST to a target that `safety.check_url`
already checked, connected to its checked address, the answer read up to a cap and
classified (2xx delivered; 429 and 5xx retried; anything else final).

Requests go through one set of connection pools per worker process (`pooled_client`), so
connections to a receiver are kept alive across deliveries and batches instead of a TCP
and TLS handshake per POST. The pools are httpcore's, the connection layer under httpx:
a webhook POST needs none of the client layer above it (cookies, auth flows, redirects,
URL merging, event hooks), which cost as much CPU per delivery as the POST itself
(0.2-0.3 ms, measured in `bench/NOTES.md`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import httpcore
import httpx
from django.conf import settings

from console.http import USER_AGENT, tls_context
from messaging.webhooks import safety

# Destinations whose keep-alive pool a process keeps; the least recently used is dropped.
POOLED_DESTINATIONS = 256
# No cap on open connections (the bound is the threads posting: worker threads x
# WEBHOOK_BATCH_CONCURRENCY, 80 with the recommended 8 threads); idle ones are kept for
# reuse for a few seconds, enough of them that a busy destination is never reconnected.
MAX_KEEPALIVE_CONNECTIONS = 128
KEEPALIVE_EXPIRY_SECONDS = 5.0
# Connecting gets at most this much of a delivery's timeout.
CONNECT_TIMEOUT_SECONDS = 5.0


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


class PinnedPools:
    """One keep-alive connection pool per checked destination: the pinned address, port,
    Host header and TLS server name together. A pool keyed by the request URL alone, i.e.
    by address, would hand a connection verified for one host name to another host name
    that shares the address; here a connection only ever serves the name it was opened
    (and its certificate verified) for."""

    def __init__(self, *, max_destinations: int = POOLED_DESTINATIONS) -> None:
        self._pools: OrderedDict[tuple[str, ...], httpcore.ConnectionPool] = OrderedDict()
        self._max_destinations = max_destinations
        self._lock = threading.Lock()

    def pool_for(self, target: safety.Target, url: httpcore.URL) -> httpcore.ConnectionPool:
        key = (
            url.scheme.decode("ascii"),
            url.host.decode("ascii"),
            str(url.port),
            target.host_header,
            target.sni_hostname or "",
        )
        with self._lock:
            pool = self._pools.pop(key, None) or httpcore.ConnectionPool(
                ssl_context=tls_context(),
                max_connections=None,
                max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
                keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
            )
            self._pools[key] = pool
            while len(self._pools) > self._max_destinations:
                # Dropped, not closed: a request may still be reading from it; its
                # sockets close when it is collected.
                self._pools.popitem(last=False)
        return pool

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()


_shared: tuple[int, PinnedPools] | None = None
_shared_lock = threading.Lock()


def pooled_client() -> PinnedPools:
    """This process's webhook connection pools (thread-safe; a forked child builds its
    own)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), PinnedPools())
        return _shared[1]


def pooled_client_close() -> None:
    """Close this process's kept-alive connections (at shutdown, or when a receiver goes)."""
    global _shared
    with _shared_lock:
        shared, _shared = _shared, None
    if shared is not None and shared[0] == os.getpid():
        shared[1].close()


# What a POST may raise short of a programming error: the answer never came or broke off.
TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


def _transport_error(exc: Exception, timeout: float) -> str:
    """A short, secret-free description of a failed POST for logs and rows."""
    if isinstance(exc, httpcore.TimeoutException):
        return f"timed out after {timeout:g}s"
    if isinstance(exc, httpcore.ConnectError):
        return "connection failed"
    return type(exc).__name__


@lru_cache(maxsize=1024)
def _request_url(request_url: str) -> httpcore.URL:
    """`request_url` as httpcore takes it: percent-encoded as httpx encodes it (httpcore
    refuses a string with non-ASCII characters and drops `;params` from the path), parsed
    once per URL per process. Raises `httpx.InvalidURL`."""
    url = httpx.URL(request_url)
    return httpcore.URL(
        scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
    )


@contextmanager
def _post(
    target: safety.Target, body: bytes, headers: dict[str, str], timeout: float
) -> Iterator[httpcore.Response]:
    request_headers = [
        (b"User-Agent", USER_AGENT.encode()),
        (b"Accept", b"application/json"),
        *((name.encode(), value.encode()) for name, value in headers.items()),
        (b"Host", target.host_header.encode()),
        (b"Content-Type", b"application/json"),
        # Raw bytes are capped below; a compressed answer could expand past the cap.
        (b"Accept-Encoding", b"identity"),
    ]
    connect = min(timeout, CONNECT_TIMEOUT_SECONDS)
    extensions: dict[str, object] = {
        "timeout": {"connect": connect, "read": timeout, "write": timeout, "pool": timeout}
    }
    if target.sni_hostname:
        extensions["sni_hostname"] = target.sni_hostname
    url = _request_url(target.request_url)
    pool = pooled_client().pool_for(target, url)
    with pool.stream(
        "POST", url, headers=request_headers, content=body, extensions=extensions
    ) as response:
        yield response


def http_post(target: safety.Target, body: bytes, headers: dict[str, str]) -> AttemptResult:
    """POST to a checked target, reading at most WEBHOOK_MAX_RESPONSE_BYTES of the answer."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    cap = settings.WEBHOOK_MAX_RESPONSE_BYTES
    started = time.monotonic()
    deadline = started + timeout
    try:
        with _post(target, body, headers, timeout) as response:
            received = bytearray()
            for chunk in response.iter_stream():
                received += chunk[: cap - len(received)]
                if len(received) >= cap or time.monotonic() > deadline:
                    break
            status_code = response.status
    except httpx.InvalidURL:
        return AttemptResult(
            status_code=None,
            body=None,
            error=safety.REASON_INVALID,
            duration_ms=int((time.monotonic() - started) * 1000),
            transient=False,
        )
    except TRANSPORT_ERRORS as exc:
        return AttemptResult(
            status_code=None,
            body=None,
            error=_transport_error(exc, timeout),
            duration_ms=int((time.monotonic() - started) * 1000),
            transient=True,
        )
    duration_ms = int((time.monotonic() - started) * 1000)
    text = bytes(received).decode("utf-8", errors="replace")
    if 200 <= status_code < 300:
        return AttemptResult(status_code, text, None, duration_ms, transient=False)
    transient, error = _classify_status(status_code)
    return AttemptResult(status_code, text, error, duration_ms, transient=transient)
