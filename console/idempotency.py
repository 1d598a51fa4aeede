"""`Idempotency-Key` replay: same key and body replays, same key with another body is 409.

Optimistic: a request with a key runs its work at once, and its record goes in with the
response in the work's transaction: in the work's own last insert when the work takes
it (`RecordKeep.row`, a unique violation when the key has a record), else in one
`INSERT ... ON CONFLICT DO NOTHING` after the work. When the key has a record already (a
replay, or a concurrent duplicate that got there first: the insert waits for its commit),
this request's work is rolled back and the stored response replayed. A duplicate whose
work fails because of what the first one did (its send took the cap's last slot)
replays it too.

Nearly every key is new (a retry is the exception), so reading the record before the work
would cost every request a round trip to spare the rare replay its work; the work must
therefore keep its effects inside the transaction (what it hands to `on_commit` runs only
for the request whose record went in).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, router, transaction

from console.db.compiled import EncodedJson
from console.db.driver import binds_on_server
from console.db.inserts import insert_instance_if_absent
from console.db.instances import unsaved
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


class RecordKeep:
    """Handed to the work of a keyed request: `row` is the key's record with the response,
    for the work to insert in its own last statement (one round trip fewer than an insert
    of its own after the work), when `offered`."""

    def __init__(self, record: IdempotentRecord) -> None:
        self._record = record
        self.taken: IdempotentResponse | None = None

    @property
    def offered(self) -> bool:
        """Whether the work may take the record. Not where PostgreSQL gets the values in
        the statement's text (client-side binding, `DATABASE_PREPARED_STATEMENTS` off):
        a replay's unique violation would log the statement, a message's text with it;
        the insert after the work never fails."""
        return binds_on_server(router.db_for_write(IdempotencyRecord))

    def row(self, result: IdempotentResponse) -> IdempotencyRecord:
        """The record of `result`, unsaved; from this call on, inserting it is the work's
        part (a unique violation then says the key has a record already)."""
        self.taken = result
        return self._record.row(result)


def run_idempotent(
    *,
    organization: Organization,
    scope: str,
    operation: str,
    key: str | None,
    payload: Any,
    work: Callable[[RecordKeep | None], IdempotentResponse],
) -> IdempotentResponse:
    """Keep what `work` does once per (organisation, scope, operation, key), with its
    response.

    Raises `Conflict` (idempotency_key_reused) when the key was used with another payload.
    Errors raised by `work` are not remembered, so a corrected retry can succeed. A replay
    runs `work` too, in a transaction that is rolled back (see the module's docstring).
    `work` gets a `RecordKeep` (None without a key).
    """
    if key is None:
        # Its own transaction (a savepoint inside a caller's), which `work` may rely on:
        # the send path takes no savepoint of its own.
        with transaction.atomic():
            return work(None)
    validate_key(key)
    record = IdempotentRecord(organization, scope, operation, key, fingerprint(payload))
    keep = RecordKeep(record)
    try:
        with transaction.atomic():
            result = work(keep)
            if keep.taken is None and not record.store(result):
                raise _Raced
            return result
    except _Raced:
        pass
    except (ApplicationError, DatabaseError) as exc:
        # A replay runs the work too, which may fail where the first request succeeded
        # (the cap it filled, a lock wait that timed out) or at the record's own insert:
        # a stored record answers all of them. Without one the error stands, but for the
        # record's insert itself (a purge took the record it met): ask for a retry.
        if (stored := record.stored()) is not None:
            return record.replay(stored)
        if isinstance(exc, IntegrityError) and _violated(exc) == RECORD_UNIQUE:
            raise InProgress(IDEMPOTENCY_IN_PROGRESS) from exc
        raise
    stored = record.stored()
    if stored is None:  # deleted since the insert found it (a purge): ask for a retry
        raise InProgress(IDEMPOTENCY_IN_PROGRESS)
    return record.replay(stored)


RECORD_UNIQUE = "idempotency_record_unique"


def _violated(exc: IntegrityError) -> str | None:
    """The constraint PostgreSQL names for `exc` (None elsewhere)."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


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

    def row(self, result: IdempotentResponse) -> IdempotencyRecord:
        """The record with `result`, unsaved, its JSON as `store` keeps it (what JSON
        cannot hold as its text)."""
        text = json.dumps(result.body, default=str)
        body = json.loads(text)
        return unsaved(
            IdempotencyRecord,
            organization_id=self.organization.pk,
            scope=self.scope,
            operation=self.operation,
            key=self.key,
            request_fingerprint=self.digest,
            response_status=result.status,
            # The column stores the text it was read back from, not a third encoding.
            response_body=EncodedJson(body, text) if isinstance(body, dict) else body,
            response_headers=dict(result.headers),
        )

    def store(self, result: IdempotentResponse) -> bool:
        """Insert the record with `result` (`insert_if_absent`: one statement, compiled once
        per process). False when a record of the key is there already (a concurrent
        duplicate's, whose commit the insert waited for)."""
        return insert_instance_if_absent(self.row(result)) is not None


# Replays and failed works read the key's record: compiled once per process.
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
