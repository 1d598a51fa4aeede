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

from django.db import connections, router, transaction

from console.db.inserts import insert_if_absent
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
        _response_store(record, result)
        return result


# The UPDATE that stores a response, by database alias.
_RESPONSE_UPDATES: dict[str, str] = {}


def _response_store(record: IdempotencyRecord, result: IdempotentResponse) -> None:
    """Store `result` on `record` in one statement built once per database, its JSON bound
    as text: encoded once, where a model UPDATE encoded the body, decoded it and encoded it
    again (what JSON cannot hold, a UUID or a time, is stored as its text)."""
    using = router.db_for_write(IdempotencyRecord)
    connection = connections[using]
    sql = _RESPONSE_UPDATES.get(using)
    if sql is None:
        meta = IdempotencyRecord._meta
        quote = connection.ops.quote_name
        # SQLite keeps a JSON field as its text; PostgreSQL reads the text as jsonb.
        as_json = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
        columns = {f.name: quote(str(f.column)) for f in meta.concrete_fields}
        sql = _RESPONSE_UPDATES[using] = (
            f"UPDATE {quote(meta.db_table)} SET {columns['response_status']} = %s, "  # noqa: S608
            f"{columns['response_body']} = {as_json}, "
            f"{columns['response_headers']} = {as_json} WHERE {columns['id']} = %s"
        )
    params: list[Any] = [
        result.status,
        json.dumps(result.body, default=str),
        json.dumps(result.headers),
        record.pk,
    ]
    with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
        cursor.execute(sql, params)
