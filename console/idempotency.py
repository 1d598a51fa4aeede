"""`Idempotency-Key` replay: same key and body replays, same key with another body is 409.

The record, the work and the stored response share one transaction, so a concurrent
duplicate waits on the unique index and then replays the finished response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from console.db import insert_if_absent
from console.db_updates import update_from_values
from console.errors import Conflict, InProgress, ValidationFailed
from console.models import IdempotencyRecord, Organization

IDEMPOTENCY_KEY_REUSED = "This Idempotency-Key was already used with a different request body."


@dataclass
class IdempotentResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


def validate_key(key: str) -> str:
    if not 1 <= len(key) <= 255 or not all(32 <= ord(c) < 127 for c in key):
        raise ValidationFailed(
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            extra={"fields": {"Idempotency-Key": ["invalid"]}},
        )
    return key


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_idempotent(
    *,
    organization: Organization,
    scope: str,
    operation: str,
    key: str | None,
    payload: Any,
    work: Callable[[], IdempotentResponse],
) -> IdempotentResponse:
    """Run `work` at most once per (organisation, scope, operation, key).

    Raises `Conflict` (idempotency_key_reused) when the key was used with another payload.
    Errors raised by `work` are not remembered, so a corrected retry can succeed.
    """
    if key is None:
        # Its own transaction (a savepoint inside a caller's), which `work` may rely on:
        # the send path takes no savepoint of its own.
        with transaction.atomic():
            return work()
    validate_key(key)
    digest = fingerprint(payload)
    with transaction.atomic():
        # One statement, no savepoint: a duplicate key waits for the first request's commit
        # and then stores nothing.
        record = insert_if_absent(
            IdempotencyRecord,
            organization=organization,
            scope=scope,
            operation=operation,
            key=key,
            request_fingerprint=digest,
        )
        if record is None:
            existing = IdempotencyRecord.objects.get(
                organization=organization, scope=scope, operation=operation, key=key
            )
            if existing.request_fingerprint != digest:
                raise Conflict(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused")
            if existing.response_status is None:
                raise InProgress("A request with this Idempotency-Key is still in progress.")
            return IdempotentResponse(
                status=existing.response_status,
                body=existing.response_body,
                headers=dict(existing.response_headers or {}),
                replayed=True,
            )
        result = work()
        record.response_status = result.status
        record.response_body = json.loads(json.dumps(result.body, default=str))
        record.response_headers = result.headers
        # One statement built from the model's columns: save() compiled an UPDATE per send.
        update_from_values(
            IdempotencyRecord, [record], ["response_status", "response_body", "response_headers"]
        )
        return result
