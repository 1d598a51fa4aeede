"""Provisioning reads, scoped to the caller's organisation."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from django.db.models import Count, Min, Q, QuerySet

from console.crypto import DecryptionError, decrypt
from console.db.change_feed import CREDENTIAL_CHANGES
from console.db.prepared import PreparedQuery
from console.models import Organization
from console.recent_reads import RecentReads
from console.scope import Scope, filter_given, scoped_get
from provisioning.models import LineState, PhoneLine, Setup, SetupStatus

SETUP_NOT_FOUND = "Setup not found."
LINE_NOT_FOUND = "Line not found."
# Compared against when the setup does not exist, so both paths do the same work.
_DUMMY_SECRET = "x" * 43


def setup_list(
    *, organization: Organization, status: str | None = None, search: str | None = None
) -> QuerySet[Setup]:
    """Setups with `phone_line_count` (lines not released) annotated: one query, no N+1."""
    qs = Setup.objects.filter(organization=organization).annotate(
        phone_line_count=Count("lines", filter=Q(lines__released_at__isnull=True))
    )
    return filter_given(qs, status=status, label__icontains=search).order_by("-created_at", "id")


def setup_get(*, organization: Organization, setup_id: uuid.UUID | str) -> Setup:
    """One setup with its lines prefetched; foreign or unknown ids raise `NotFound`."""
    return scoped_get(
        Setup.objects.filter(organization=organization).prefetch_related("lines"),
        not_found=SETUP_NOT_FOUND,
        id=setup_id,
    )


# Every provider delivery reads it: compiled once per process.
_SETUP = PreparedQuery(
    Setup, lambda *, setup_id: Setup.objects.filter(id=setup_id)[:1], setup_id=uuid.UUID
)


# Setups that authenticated a provider delivery in this process, by id and the digest of
# the secret they were presented with (`console.recent_reads`): a busy setup is read and
# its secret decrypted once a second per process, or once a minute while the change feed
# vouches for it. Emptied by every save or delete of a setup in this process
# (`provisioning.apps`), and by every change committed anywhere that the feed hears.
SETUPS: RecentReads[Setup] = RecentReads(feed=CREDENTIAL_CHANGES)


def setup_for_webhook(*, setup_id: str, presented_secret: str | None) -> Setup | None:
    """The setup a provider delivery is for, or None when it must be rejected.

    Unknown id, malformed id and a wrong or missing secret all return None after the
    same constant-time comparison, so the caller can answer them identically. A setup
    that authenticated the same secret recently is served from `SETUPS`.
    """
    presented = presented_secret or ""
    cache_key = f"{setup_id}:{hashlib.sha256(presented.encode()).hexdigest()}"
    cached = SETUPS.get(cache_key) if presented else None
    if cached is not None:
        return cached
    read_at, generation = SETUPS.clock(), SETUPS.generation
    setup: Setup | None = None
    try:
        setup = _SETUP.first(setup_id=uuid.UUID(setup_id))
    except ValueError:
        setup = None
    expected = _DUMMY_SECRET
    if setup is not None and setup.webhook_secret_encrypted:
        try:
            expected = decrypt(setup.webhook_secret_encrypted)
        except DecryptionError:
            setup = None
    matches = hmac.compare_digest(presented.encode(), expected.encode())
    if setup is None or not presented or not matches:
        return None
    SETUPS.put(cache_key, setup, read_at=read_at, generation=generation)
    return setup


def line_by_number(*, setup: Setup, number: str) -> PhoneLine | None:
    """The assigned line of `setup` with this E.164 number, with its setup (and identity)
    loaded; None when `setup` has no such line (even if another setup has)."""
    return (
        PhoneLine.objects.select_related("setup", "setup__organization", "identity")
        .filter(setup=setup, number=number, state=LineState.ASSIGNED)
        .first()
    )


def line_number_held_elsewhere(*, setup: Setup, number: str) -> bool:
    """Whether a line of another setup holds `number` (a foreign reference, not a typo)."""
    return PhoneLine.objects.filter(number=number).exclude(setup=setup).exists()


def setups_awaiting_lines() -> QuerySet[Setup]:
    """Setups with at least one pending line: the reconciliation poll's work list."""
    return (
        Setup.objects.filter(lines__state=LineState.PENDING)
        .exclude(status=SetupStatus.FAILED)
        .distinct()
    )


# --- Console reads (setups and lines of every organisation in the scope) -----------------


def setup_list_for_scope(*, scope: Scope, status: str | None = None) -> QuerySet[Setup]:
    qs = (
        scope.filter(Setup.objects.select_related("organization"))
        .annotate(
            line_count=Count("lines", filter=Q(lines__released_at__isnull=True), distinct=True),
            pending_count=Count("lines", filter=Q(lines__state=LineState.PENDING), distinct=True),
        )
        .order_by("-created_at", "id")
    )
    return filter_given(qs, status=status)


def setup_get_for_scope(*, scope: Scope, setup_id: uuid.UUID | str) -> Setup:
    return scoped_get(
        scope.filter(Setup.objects.select_related("organization")),
        not_found=SETUP_NOT_FOUND,
        id=setup_id,
    )


def setup_search(*, scope: Scope, text: str, limit: int) -> list[Setup]:
    """Setups whose label or business name contains `text`."""
    text = text.strip()
    return list(
        scope.filter(Setup.objects.select_related("organization"))
        .filter(Q(label__icontains=text) | Q(business_name__icontains=text))
        .order_by("label", "id")[:limit]
    )


def line_search(*, scope: Scope, digits: str, limit: int) -> list[PhoneLine]:
    """Lines whose number contains `digits`."""
    return list(
        scope.filter(PhoneLine.objects.all(), organization="setup__organization_id")
        .filter(number__contains=digits)
        .select_related("setup", "identity")
        .order_by("number", "id")[:limit]
    )


def setup_line_list(*, setup: Setup) -> QuerySet[PhoneLine]:
    return setup.lines.select_related("identity").order_by("requested_at", "id")


def line_get_for_scope(*, scope: Scope, line_id: uuid.UUID | str) -> PhoneLine:
    return scoped_get(
        scope.filter(
            PhoneLine.objects.select_related("setup", "setup__organization"),
            organization="setup__organization_id",
        ),
        not_found=LINE_NOT_FOUND,
        id=line_id,
    )


def pending_line_list(*, scope: Scope) -> QuerySet[PhoneLine]:
    return (
        scope.filter(PhoneLine.objects.all(), organization="setup__organization_id")
        .filter(state=LineState.PENDING)
        .select_related("setup", "setup__organization")
        .order_by("requested_at", "id")
    )


@dataclass(frozen=True)
class PendingLines:
    count: int
    oldest_requested_at: dt.datetime | None


def pending_line_summary(*, scope: Scope) -> PendingLines:
    row = pending_line_list(scope=scope).aggregate(n=Count("id"), oldest=Min("requested_at"))
    return PendingLines(count=row["n"], oldest_requested_at=row["oldest"])
