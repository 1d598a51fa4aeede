"""`Idempotency-Key` replay: same key and body replays, same key with another body is 409.

A request with a key reads its record first and replays it when there is one. Otherwise
the work runs, and its record goes in with the response in the work's transaction, one
`INSERT ... ON CONFLICT DO NOTHING` after it: a concurrent duplicate that got there first
makes the insert wait for its commit and then store nothing, and this request's work is
rolled back and the other's response replayed. A duplicate whose work fails because of
what the first one did (its send took the cap's last slot) replays it too.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from console.db.prepared import PreparedQuery
from console.errors import ApplicationError, Conflict, InProgress, ValidationFailed
from console.models import IdempotencyRecord, Organization

IDEMPOTENCY_KEY_REUSED = "This Idempotency-Key was already used with a different request body."
IDEMPOTENCY_IN_PROGRESS = "A request with this Idempotency-Key is still in progress."


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


class _Raced(Exception):
    """A concurrent request with the same key stored its record first."""


def run_idempotent(
    *,
    organization: Organization,
    scope: str,
    operation: str,
    key: str | None,
    payload: Any,
    work: Callable[[], IdempotentResponse],
) -> IdempotentResponse:
    """Run `work` once per (organisation, scope, operation, key) and keep its response.

    Raises `Conflict` (idempotency_key_reused) when the key was used with another payload.
    Errors raised by `work` are not remembered, so a corrected retry can succeed.
    """
    if key is None:
        # Its own transaction (a savepoint inside a caller's), which `work` may rely on:
        # the send path takes no savepoint of its own.
        with transaction.atomic():
            return work()
    validate_key(key)
    record = IdempotentRecord(organization, scope, operation, key, fingerprint(payload))
    stored = record.stored()
    if stored is not None:
        return record.replay(stored)
    try:
        with transaction.atomic():
            result = work()
            if not record.store(result):
                raise _Raced
            return result
    except _Raced:
        pass
    except ApplicationError:
        if (stored := record.stored()) is None:
            raise
        return record.replay(stored)
    stored = record.stored()
    if stored is None:  # deleted since the insert found it (a purge): ask for a retry
        raise InProgress(IDEMPOTENCY_IN_PROGRESS)
    return record.replay(stored)


@dataclass(frozen=True)
class IdempotentRecord:
    """The record of one key: read, replayed, or stored with its response."""

    organization: Organization
    scope: str
    operation: str
    key: str
    digest: str

    def stored(self) -> IdempotencyRecord | None:
        return _STORED.first(
            organization_id=self.organization.pk,
            scope=self.scope,
            operation=self.operation,
            key=self.key,
        )

    def replay(self, stored: IdempotencyRecord) -> IdempotentResponse:
        if stored.request_fingerprint != self.digest:
            raise Conflict(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused")
        if stored.response_status is None:
            # Never committed without its response (it goes in with it, in the work's
            # transaction): a row written some other way.
            raise InProgress(IDEMPOTENCY_IN_PROGRESS)
        return IdempotentResponse(
            status=stored.response_status,
            body=stored.response_body,
            headers=dict(stored.response_headers or {}),
            replayed=True,
        )

    def store(self, result: IdempotentResponse) -> bool:
        """Insert the record with `result` in one statement built once per database, its
        JSON bound as text (what JSON cannot hold, a UUID or a time, is stored as its
        text). False when a record of the key is there already (a concurrent duplicate's,
        whose commit the insert waited for)."""
        using = router.db_for_write(IdempotencyRecord)
        connection = connections[using]
        sql = _RECORD_INSERTS.get(using)
        if sql is None:
            sql = _RECORD_INSERTS[using] = _record_insert_sql(connection)
        meta = IdempotencyRecord._meta
        created_at = meta.get_field("created_at")
        params: list[Any] = [
            meta.get_field("organization").get_db_prep_save(self.organization.pk, connection),
            self.scope,
            self.operation,
            self.key,
            self.digest,
            result.status,
            json.dumps(result.body, default=str),
            json.dumps(result.headers),
            created_at.get_db_prep_save(timezone.now(), connection),
        ]
        with transaction.mark_for_rollback_on_error(using=using), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() is not None


# Every keyed send reads its record first: compiled once per process.
_STORED = PreparedQuery(
    IdempotencyRecord,
    lambda *, organization_id, scope, operation, key: IdempotencyRecord.objects.filter(
        organization_id=organization_id, scope=scope, operation=operation, key=key
    ).order_by(),
    organization_id=uuid.UUID,
    scope=str,
    operation=str,
    key=str,
)


# The INSERT that stores a record with its response, by database alias.
_RECORD_INSERTS: dict[str, str] = {}


def _record_insert_sql(connection: BaseDatabaseWrapper) -> str:
    meta = IdempotencyRecord._meta
    quote = connection.ops.quote_name
    # SQLite keeps a JSON field as its text; PostgreSQL reads the text as jsonb.
    as_json = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    names = (
        "organization",
        "scope",
        "operation",
        "key",
        "request_fingerprint",
        "response_status",
        "response_body",
        "response_headers",
        "created_at",
    )
    column_of = {f.name: str(f.column) for f in meta.concrete_fields}
    columns = ", ".join(quote(column_of[name]) for name in names)
    values = ["%s"] * len(names)
    values[6] = values[7] = as_json
    pk = quote(str(meta.pk.column)) if meta.pk is not None else "id"
    return (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
        f"VALUES ({', '.join(values)}) ON CONFLICT DO NOTHING RETURNING {pk}"
    )
