"""Scheduled sends (`send_at`), held sends (quiet hours) and how both count against the
rolling send cap.

The cap rule. Every outbound message has a *cap time*: its `scheduled_for` when it was
scheduled or held, else the moment it was accepted (`created_at`). The invariant is that
no 24-hour window `(t - 24 h, t]`, for any moment `t`, past or future, holds more than
`SEND_CAP_PER_24H` cap times. A new message with cap time `s` falls into exactly the
windows ending in `[s, s + 24 h)`; it is accepted only when each of those still has room
(`cap_check`). The count over a window only changes at a cap time, so checking the windows
ending at `s` and at every cap time in `[s, s + 24 h)` checks them all. The check and the
insert run under the identity's row lock (the lock the daily cap always took), so two
concurrent sends cannot both take the last slot: by induction the invariant holds after
every insert. Cancelling a scheduled message deletes it, which only frees room.

When no cap time lies in `(s, s + 24 h)` (a send now with nothing scheduled or held ahead,
the common case) the only window left to check is the one ending at `s`: one statement
counts it (`_window_ending_at`), from the identity's hourly counts of cap times
(`SendCapBucket`, kept by triggers) for the hours that start inside the window, and from
the messages themselves for the part of an hour at its old end. Otherwise the cap times of
`(s - 24 h, s + 24 h)` are read and every window is checked (`_fullest_window`). Both give
the same answer.

Quiet hours are applied to a scheduled message's send time when it is accepted, so its cap
time is the moment it really goes out; a send never moves after it was accepted.

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import bisect
import logging
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    IntegerField,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan, LessThan, LessThanOrEqual
from django.utils import timezone

from console.db.prepared import PreparedQuery
from console.errors import Conflict, RateLimited, ValidationFailed
from console.models import AgentIdentity
from console.services import Actor, audit_record
from messaging.models import (
    Conversation,
    DeliveryStatus,
    Direction,
    Message,
    QuietHours,
    SendCapBucket,
    SendState,
)
from messaging.services.cap_buckets import BUCKET, bucket_start

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)
SEND_AT_MIN = timedelta(minutes=1)
SEND_AT_MAX = timedelta(days=35)
SEND_RATE_LIMITED = "The identity reached its rolling 24-hour send cap."
SCHEDULED_RATE_LIMITED = (
    "The identity's rolling 24-hour send cap would be exceeded around the scheduled time."
)
ALREADY_SENDING = "The message has already started sending; it can no longer be cancelled."
NOT_SCHEDULED = "Only scheduled or held messages can be cancelled."


@dataclass(frozen=True)
class RateInfo:
    limit: int
    remaining: int
    reset_at: datetime


def send_lock(identity: AgentIdentity) -> QuietHours | None:
    """Serialise sends per identity: the counts and the insert must not interleave. NO KEY
    UPDATE still excludes other sends, but not the KEY SHARE lock that the deferred
    foreign-key check of a concurrent inbound insert takes at commit: with FOR UPDATE the
    two deadlocked (that intake holds the conversation row this send then updates).

    The counts are read by later statements, never merged into this one: a statement reads
    the snapshot taken when it started, so a count in the locking statement could miss the
    send whose commit it waited for. The identity's quiet hours are no count: they come
    back from the same statement (None: quiet hours are off), as they stood when it began;
    a change committed while this send waited for the lock holds from the next send on.

    A send by `to` takes the same lock with its conversation's read
    (`messaging.selectors.conversation_for_send`) and does not call this."""
    if not transaction.get_connection().in_atomic_block:
        # What select_for_update() checks: a lock outside a transaction ends at once.
        raise transaction.TransactionManagementError("send_lock needs a transaction")
    locked = _SEND_LOCK.first(identity_id=identity.pk)
    if locked is None:
        raise AgentIdentity.DoesNotExist("the identity is gone")
    quiet: QuietHours | None = getattr(locked, "quiet_hours", None)
    return quiet


# Every send takes it: compiled once per process. Only the identity's row is locked.
_SEND_LOCK = PreparedQuery(
    AgentIdentity,
    lambda *, identity_id: (
        AgentIdentity.objects.select_for_update(no_key=True, of=("self",))
        .filter(pk=identity_id)
        .select_related("quiet_hours")
        .only("pk", *(f"quiet_hours__{f.name}" for f in QuietHours._meta.concrete_fields))
        .order_by()
    ),
    identity_id=uuid.UUID,
)


# An outbound message's cap time; `Message.Meta` indexes it per identity (same expression).
CAP_TIME = Coalesce("scheduled_for", "created_at", output_field=DateTimeField())


def _outbound(identity: AgentIdentity) -> QuerySet[Message]:
    return Message.objects.filter(identity=identity, direction=Direction.OUTBOUND)


def _cap_times(identity: AgentIdentity, lo: datetime, hi: datetime) -> list[datetime]:
    """Sorted cap times of the identity's outbound messages in `(lo, hi)`."""
    rows = (
        _outbound(identity)
        .filter(GreaterThan(CAP_TIME, lo), LessThan(CAP_TIME, hi))
        .values_list(CAP_TIME, flat=True)
    )
    return sorted(rows)


def _fullest_window(times: list[datetime], at: datetime) -> tuple[int, datetime]:
    """The most cap times any window containing `at` holds, and the window's oldest one
    (`at` itself when the window is empty). `times` is sorted and within 24 h of `at`."""
    best, oldest = 0, at
    ends = [at] + [t for t in times if at <= t]
    for end in ends:
        lo = bisect.bisect_right(times, end - WINDOW)
        hi = bisect.bisect_right(times, end)
        if hi - lo > best:
            best, oldest = hi - lo, times[lo]
    return best, oldest


@dataclass(frozen=True)
class WindowRead:
    """What `_window_columns` read for a cap time: the count and oldest cap time of the
    window ending there, or None when a later cap time exists."""

    ending_at: tuple[int, datetime] | None


def _window_columns(*, identity_id: Any, lo: Any, edge: Any, at: Any, hi: Any) -> dict[str, Any]:
    """The window ending at `at` as expressions beside another row (the identity's own in
    `_window_row`, the conversation's in `send_slot`): what its count is made of, the
    oldest cap time in `(lo, at]`, and whether one lies in `(at, hi)`.

    The count (`_window_read`) is the sum of the identity's hourly buckets that start in
    `[edge, at]`, with `edge` the first hour boundary after `lo` (`_window_edge`), plus
    the cap times in `(lo, edge)`, at most an hour of them, read from the index. It is
    the count of `(lo, at]` when no cap time lies after `at` within the hour `at` is in,
    which `cap_ahead` rules out (else the caller reads the cap times themselves)."""
    in_range = (
        Message.objects.filter(identity_id=identity_id, direction=Direction.OUTBOUND)
        .filter(GreaterThan(CAP_TIME, lo), LessThan(CAP_TIME, hi))
        .order_by()
    )
    past = in_range.filter(LessThanOrEqual(CAP_TIME, at))
    buckets = SendCapBucket.objects.filter(
        identity_id=identity_id, starts_at__gte=edge, starts_at__lte=at
    ).order_by()
    return {
        # Grouped by the one identity: no row (NULL) when nothing is there.
        "cap_hours": Subquery(
            buckets.values("identity_id").annotate(n=Sum("sends")).values("n"),
            output_field=IntegerField(),
        ),
        "cap_edge": Subquery(
            in_range.filter(LessThan(CAP_TIME, edge))
            .values("identity_id")
            .annotate(n=Count(CAP_TIME))
            .values("n"),
            output_field=IntegerField(),
        ),
        # The first entry of the cap-time index in the window: a grouped MIN read the
        # whole window a second time.
        "cap_oldest": Subquery(
            past.annotate(m=CAP_TIME).order_by("m").values("m")[:1],
            output_field=DateTimeField(),
        ),
        "cap_ahead": Exists(in_range.filter(GreaterThan(CAP_TIME, at))),
    }


def _window_edge(lo: datetime) -> datetime:
    """The first hour boundary after `lo`: the window `(lo, ...]` holds the buckets that
    start there or later whole, and only part of the one before."""
    return bucket_start(lo) + BUCKET


def _window_read(row: dict[str, Any], at: datetime) -> WindowRead:
    if row["cap_ahead"]:
        return WindowRead(ending_at=None)
    count = (row["cap_hours"] or 0) + (row["cap_edge"] or 0)
    return WindowRead(ending_at=(count, row["cap_oldest"] or at))


def _window_row(
    *, identity_id: uuid.UUID, lo: datetime, edge: datetime, at: datetime, hi: datetime
) -> QuerySet[AgentIdentity, Any]:
    return AgentIdentity.objects.filter(pk=identity_id).values(
        **_window_columns(identity_id=identity_id, lo=lo, edge=edge, at=at, hi=hi)
    )


# Every send counts its window: compiled once per process.
_WINDOW = PreparedQuery(
    AgentIdentity,
    _window_row,
    identity_id=uuid.UUID,
    lo=datetime,
    edge=datetime,
    at=datetime,
    hi=datetime,
)


def _window_ending_at(identity: AgentIdentity, at: datetime) -> tuple[int, datetime] | None:
    """`_fullest_window` in one statement, when no cap time lies in `(at, at + 24 h)` (the
    common case: a send now with nothing scheduled or held ahead). Then no window
    containing `at` ends at a later cap time, so the fullest one is `(at - 24 h, at]`: its
    count, and its oldest cap time (`at` when empty). None when a later cap time exists:
    the caller falls back to the full analysis.

    The hourly buckets, and index-only range scans of `msg_outbound_cap_time_covering` on
    (identity, cap time) for the rest."""
    lo = at - WINDOW
    row = _WINDOW.first(
        identity_id=identity.pk, lo=lo, edge=_window_edge(lo), at=at, hi=at + WINDOW
    )
    if row is None:  # no such identity: nothing of it is counted
        return 0, at
    return _window_read(row, at).ending_at


def _fullest(
    identity: AgentIdentity, at: datetime, read: WindowRead | None = None
) -> tuple[int, datetime]:
    """The most cap times any window containing `at` holds, and its oldest one (`read`:
    the window ending at `at` as another statement read it)."""
    fast = read.ending_at if read is not None else _window_ending_at(identity, at)
    if fast is not None:
        return fast
    return _fullest_window(_cap_times(identity, at - WINDOW, at + WINDOW), at)


def cap_check(
    identity: AgentIdentity, *, at: datetime, now: datetime, read: WindowRead | None = None
) -> RateInfo:
    """Raise 429 `send_rate_limited` unless a message with cap time `at` fits the cap.

    The caller holds the identity's row lock, so the counts cannot change underneath;
    `read` is the window ending at `at` when a statement after the lock read it already.
    """
    cap = settings.SEND_CAP_PER_24H
    count, oldest = _fullest(identity, at, read)
    reset_at = oldest + WINDOW
    if count >= cap:
        retry_after = max(1, math.ceil((reset_at - now).total_seconds()))
        raise RateLimited(
            SEND_RATE_LIMITED if at <= now else SCHEDULED_RATE_LIMITED,
            code="send_rate_limited",
            limit=cap,
            remaining=0,
            reset_at=reset_at,
            retry_after=retry_after,
            extra={"limit": cap, "retry_after_seconds": retry_after},
        )
    return RateInfo(limit=cap, remaining=cap - count - 1, reset_at=reset_at)


def cap_status(identity: AgentIdentity, *, now: datetime) -> RateInfo:
    """How many sends accepted now would still fit (headers of replays and reads)."""
    cap = settings.SEND_CAP_PER_24H
    count, oldest = _fullest(identity, now)
    return RateInfo(limit=cap, remaining=max(0, cap - count), reset_at=oldest + WINDOW)


def send_at_check(send_at: datetime, *, now: datetime) -> None:
    """`send_at` must lie between 1 minute and 35 days ahead (400 naming the field)."""
    if send_at < now + SEND_AT_MIN or send_at > now + SEND_AT_MAX:
        message = "send_at must be at least 1 minute and at most 35 days in the future."
        raise ValidationFailed(message, extra={"fields": {"send_at": [message]}})


def timing_fields(scheduled_for: datetime | None, *, now: datetime) -> dict[str, Any]:
    """How an accepted send is stored: `queued` and due now, or (held or scheduled)
    `pending` and due at `scheduled_for`."""
    if scheduled_for is None:
        return {"status": DeliveryStatus.QUEUED, "next_attempt_at": now}
    return {
        "status": DeliveryStatus.PENDING,
        "scheduled_for": scheduled_for,
        "next_attempt_at": scheduled_for,
    }


def _not_started() -> Q:
    return Q(send_state=SendState.QUEUED, send_attempts=0, provider_call_started_at=None)


@transaction.atomic
def scheduled_cancel(*, message: Message, actor: Actor) -> None:
    """Cancel a scheduled or held message that has not started sending: it is deleted, so
    it frees its cap slot, and the cancel is audited (without the text). 409
    `already_sending` once a worker claimed it."""
    if message.direction != Direction.OUTBOUND or message.scheduled_for is None:
        raise Conflict(NOT_SCHEDULED, code="not_scheduled")
    deleted, _ = Message.objects.filter(_not_started(), pk=message.pk).delete()
    if not deleted:
        raise Conflict(ALREADY_SENDING, code="already_sending")
    audit_record(
        organization=message.identity.organization,
        actor=actor,
        action="message.scheduled_cancel",
        obj=message.identity,
        before={
            "message_id": str(message.pk),
            "conversation_id": str(message.conversation_id),
            "scheduled_for": message.scheduled_for.isoformat(),
        },
    )
    logger.info("scheduled message %s cancelled", message.pk)


def scheduled_due_publish(*, now: datetime | None = None, batch: int = 500) -> int:
    """Publish the send job of every scheduled or held message now due (beat, every
    `SCHEDULED_SEND_INTERVAL_SECONDS`); the send outbox's claim decides who sends it."""
    from messaging.services.delivery import SENDS

    now = now or timezone.now()
    due = list(
        Message.objects.filter(
            _not_started(), scheduled_for__isnull=False, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    )
    published = SENDS.publish(due)
    if due:
        logger.info("scheduled sends: %d due, %d published", len(due), published)
    return published


@dataclass(frozen=True)
class SendSlot:
    """When an accepted send goes out (None: now) and the cap it leaves."""

    scheduled_for: datetime | None
    rate: RateInfo


def send_slot(
    *,
    identity: AgentIdentity,
    conversation: Conversation,
    now: datetime,
    send_at: datetime | None,
    urgent: bool,
    quiet: QuietHours | None,
) -> SendSlot:
    """The timing checks of a send, in order: the loop guard (429
    `conversation_burst_limited`), the identity's quiet hours `quiet` (a send arriving
    inside them is held to their end unless `urgent` or a reply within 30 minutes of the
    person's last message), then the cap at the send's cap time (429 `send_rate_limited`).

    The caller holds the identity's row lock (`send_lock`, or the conversation's read of
    a send by `to`; either answers `quiet`). The pace and the cap window ending now are read
    in one statement after the lock.
    """
    from messaging.services import burst, quiet_hours

    row = _SLOT_READS.first(
        conversation_id=conversation.pk,
        since=now - burst.BURST_WINDOW,
        identity_id=identity.pk,
        lo=now - WINDOW,
        edge=_window_edge(now - WINDOW),
        at=now,
        hi=now + WINDOW,
    )
    if row is None:
        raise Conversation.DoesNotExist
    pace = burst.pace_of(row)
    burst.burst_check(pace=pace, now=now)
    last_inbound = pace.last_inbound
    scheduled_for = send_at
    if not urgent:
        held = quiet_hours.hold_until(
            quiet=quiet,
            number=conversation.remote_number,
            at=send_at or now,
            last_inbound_at=None if send_at is not None else last_inbound,
        )
        scheduled_for = held or send_at
    # The window read beside the pace ends now: it serves a send going out now.
    read = _window_read(row, now) if scheduled_for is None else None
    rate = cap_check(identity, at=scheduled_for or now, now=now, read=read)
    return SendSlot(scheduled_for=scheduled_for, rate=rate)


def _slot_reads(
    *,
    conversation_id: uuid.UUID,
    since: datetime,
    identity_id: uuid.UUID,
    lo: datetime,
    edge: datetime,
    at: datetime,
    hi: datetime,
) -> QuerySet[Conversation, Any]:
    from messaging.services import burst

    return Conversation.objects.filter(pk=conversation_id).values(
        **burst.pace_columns(conversation_id=conversation_id, since=since),
        **_window_columns(identity_id=identity_id, lo=lo, edge=edge, at=at, hi=hi),
    )


# What every send reads once it holds the lock: the conversation's pace and the cap window
# ending now, in one statement compiled once per process.
_SLOT_READS = PreparedQuery(
    Conversation,
    _slot_reads,
    conversation_id=uuid.UUID,
    since=datetime,
    identity_id=uuid.UUID,
    lo=datetime,
    edge=datetime,
    at=datetime,
    hi=datetime,
)
