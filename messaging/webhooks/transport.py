"""The HTTP transport of agent webhooks: one POST to a target that `safety.check_url`
already checked, connected to its checked address, the answer read up to a cap and
classified (2xx delivered; 429 and 5xx retried; anything else final).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from console.http import describe_transport_error, http_client
from messaging.webhooks import safety


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
        with (
            # A fresh client per attempt: connections are pinned to a checked address and
            # must never be reused for another host name that shares it.
            http_client(timeout=timeout) as client,
            client.stream(
                "POST",
                target.request_url,
                content=body,
                headers=request_headers,
                extensions=extensions,
            ) as response,
        ):
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
