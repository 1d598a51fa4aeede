"""Calls to Sendblue over httpx: credentials headers, retries with backoff and jitter
(the statuses the provider's SDK retries, its Retry-After and x-should-retry headers),
and every failure turned into one `ProviderError`."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from console.http import http_client
from provisioning.providers.base import AccountCredentials, ProviderError
from provisioning.providers.sendblue.bodies import refusal_error
from provisioning.providers.sendblue.parsing import opt_str

# HTTP statuses the provider's own SDK retries (§3.2 of the provider contract).
RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
MAX_BACKOFF_SECONDS = 8.0
MAX_RETRY_AFTER_SECONDS = 60.0


class SendblueClient:
    """One httpx client for the provider and the retry policy around each call."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float,
        max_retries: int,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_retries = max_retries
        self._sleep = sleep
        self._client = http_client(base_url=base_url, timeout=timeout, transport=transport)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        base = min(MAX_BACKOFF_SECONDS, 0.5 * (2**attempt))
        delay = base * (0.75 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        return max(delay, retry_after or 0.0)

    def request(
        self,
        method: str,
        path: str,
        *,
        credentials: AccountCredentials,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        replay_safe: bool = True,
    ) -> Any:
        """Send one call with retries; returns the decoded JSON body.

        `replay_safe=False` marks calls where a request that may have reached the
        provider must not be repeated blindly (a read timeout on send-message could mean
        the message went out): those are retried only when the request surely did not
        arrive (connection refused) or the provider said so (408/409/429/5xx).
        """
        headers = {"sb-api-key-id": credentials.key_id, "sb-api-secret-key": credentials.secret}
        attempt = 0
        while True:
            try:
                response = self._client.request(
                    method, path, headers=headers, json=json_body, params=params
                )
            except httpx.TransportError as exc:  # timeouts included
                error = _no_answer_error(exc, method, path, replay_safe=replay_safe)
                if error.ambiguous or attempt >= self.max_retries:
                    raise error from exc
            else:
                body = _json_or_none(response)
                if response.is_success:
                    if isinstance(body, dict) and str(body.get("status", "")).upper() == "ERROR":
                        raise self._error(response, body, permanent=True)
                    return body
                should_retry = response.headers.get("x-should-retry")
                retryable = response.status_code in RETRYABLE_STATUSES
                if should_retry in {"true", "false"}:
                    retryable = should_retry == "true"
                if not retryable:
                    raise self._error(response, body, permanent=True)
                if attempt >= self.max_retries:
                    raise self._error(response, body, permanent=False)
                self._sleep(self._backoff(attempt, _retry_after(response)))
                attempt += 1
                continue
            self._sleep(self._backoff(attempt, None))
            attempt += 1

    @staticmethod
    def _error(response: httpx.Response, body: Any, *, permanent: bool) -> ProviderError:
        message = None
        if isinstance(body, dict):
            message = opt_str(body.get("message") or body.get("error_message"))
        error = refusal_error(response.status_code, message, permanent=permanent)
        if isinstance(body, dict):
            error.error_key = opt_str(body.get("error_key"))
        error.retry_after = _retry_after(response)
        return error


def _no_answer_error(
    exc: httpx.TransportError, method: str, path: str, *, replay_safe: bool
) -> ProviderError:
    """The error for a call that got no answer. Only a connection that was never made
    (connect or pool timeout, connection refused) proves the request did not arrive;
    otherwise a call that is not replay-safe is ambiguous and must not be repeated."""
    if isinstance(exc, httpx.TimeoutException):
        may_have_arrived = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
        message, error_key = f"provider timed out on {method} {path}", "timeout"
    else:
        may_have_arrived = not isinstance(exc, httpx.ConnectError)
        message = f"provider unreachable on {method} {path}: {type(exc).__name__}"
        error_key = "connection_error"
    return ProviderError(
        message,
        permanent=False,
        error_key=error_key,
        ambiguous=may_have_arrived and not replay_safe,
    )


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    raw_ms = response.headers.get("retry-after-ms")
    raw = response.headers.get("retry-after")
    try:
        if raw_ms is not None:
            seconds = float(raw_ms) / 1000
        elif raw is not None:
            seconds = float(raw)
        else:
            return None
    except ValueError:
        return None
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER_SECONDS else None
