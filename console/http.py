"""The one place outbound HTTP clients are built (provider adapter, agent webhooks), and
the one reading of an incoming request's declared length.

Every client gets an explicit timeout, our User-Agent and no redirect following: a
redirect from a provider or an agent endpoint is answered as-is, never chased.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from functools import cache
from typing import Any

import httpx

USER_AGENT = "Bluewire/1.0 (+https://github.com/bluewire)"
DEFAULT_TIMEOUT_SECONDS = 10.0


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs tens of milliseconds, and
    clients are built per call (webhook intake, media fetches), so rebuilding it every
    time dominated the provider webhook intake under load (see bench/RESULTS.md)."""
    return httpx.create_ssl_context()


def total_timeout(timeout: float) -> httpx.Timeout:
    """A total `timeout` of which connecting gets at most 5 s."""
    return httpx.Timeout(timeout, connect=min(timeout, 5.0))


def http_client(
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    base_url: str = "",
    transport: httpx.BaseTransport | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """A client with a total `timeout` (connect gets at most 5 s of it)."""
    return httpx.Client(
        base_url=base_url,
        timeout=total_timeout(timeout),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
        follow_redirects=False,
        transport=transport,
        verify=tls_context(),
    )


def describe_transport_error(exc: httpx.HTTPError) -> str:
    """A short, secret-free description of a low-level failure for logs and rows."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    return type(exc).__name__


def declared_content_length(meta: Mapping[str, Any]) -> int:
    """The body length a request declares (`CONTENT_LENGTH` of a WSGI environ or Django's
    `request.META`), 0 when absent or malformed: size limits are checked against it
    before a byte of the body is read."""
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
