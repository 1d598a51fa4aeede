"""The outbox engine: one mechanism for every kind of outbound job.

A message send, a router reply and a webhook delivery are each a row with a due time. The
request that creates the row publishes its job only after commit (`publish_on_commit`), and
publishing never raises: with the broker down the row simply waits. A worker claims the
row with a conditional UPDATE (`Outbox.claim`, or `Outbox.claim_batch` for many rows in one
statement), which takes a lease (`claimed_at`): of any number of racing jobs exactly one
wins, so one claim makes one attempt. The periodic sweep (`Outbox.sweep`) hands back rows
whose lease expired (their worker died) and publishes again every row overdue for its job
(lost with the broker, or scheduled beyond the broker countdown). Failures are paced by the
kind's named `RetryPolicy` (`retry_policy`, from `settings.OUTBOX_RETRY_POLICIES`).

A kind whose jobs claim in batches may also name a `drain_task`: its commits then ask for
a coalesced wake-up (`Outbox.wake`, `console.outbox_wake`) instead of one job per row, so
a burst of rows publishes one drain job rather than a job per row that mostly finds its row
taken by another job's batch. The drain job runs `Outbox.drain`, which claims a batch at a
time until the backlog is gone.

Each kind declares its model and states in an `Outbox` and supplies only how to attempt a
claimed row and what a failure means: `messaging.services.delivery` (sends),
`routing.services.router_replies` (router replies), `messaging.webhooks.delivery` (webhooks).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Model, Q
from django.db.models.expressions import RawSQL
from django.db.models.sql import UpdateQuery
from django.utils import timezone
from django.utils.module_loading import import_string

from console.outbox_wake import BACKGROUND_WAKES, wake_channel, wake_claim, wake_clear

logger = logging.getLogger(__name__)

# Retries due within this many seconds ride on the broker (a publish with a countdown);
# later ones are left to the sweep, because Redis redelivers long countdowns after its
# visibility timeout.
COUNTDOWN_MAX_SECONDS = 300
SWEEP_BATCH = 500


# --- Retry policies ---------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """Retry transient failures for `window` (or up to `max_attempts`), waiting
    `base_seconds` doubling per attempt up to `max_delay_seconds`, with or without jitter."""

    base_seconds: float
    max_delay_seconds: float
    window: timedelta | None = None
    jitter: bool = True
    max_attempts: int | None = None

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 for the first):
        exponential and capped; with jitter it is "equal jitter" (half fixed, half random)
        so that jobs failed by one outage do not all come back at the same instant."""
        delay = min(self.base_seconds * 2 ** max(attempt - 1, 0), self.max_delay_seconds)
        if not self.jitter:
            return delay
        return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not security

    def exhausted(self, attempt: int) -> bool:
        """Whether attempt number `attempt` was the last one `max_attempts` allows."""
        return self.max_attempts is not None and attempt >= self.max_attempts

    def deadline(self, started_at: datetime) -> datetime:
        """The last moment a job first tried at `started_at` may be tried again."""
        if self.window is None:
            raise ValueError("this retry policy has no time window")
        return started_at + self.window

    def next_attempt_at(
        self,
        *,
        attempt: int,
        deadline: datetime,
        now: datetime,
        retry_after: float | None = None,
    ) -> datetime | None:
        """When to try again after failed attempt number `attempt`, never later than
        `deadline` (a server's `retry_after` is honoured within it). Returns None once the
        deadline has passed: give up."""
        if now >= deadline:
            return None
        delay = max(self.backoff(attempt), retry_after or 0.0)
        return min(now + timedelta(seconds=delay), deadline)


def retry_policy(kind: str) -> RetryPolicy:
    """The retry policy named `kind` in `settings.OUTBOX_RETRY_POLICIES`: `base_seconds`,
    `max_delay_seconds`, and optionally `window_seconds`, `jitter` and `max_attempts`."""
    conf: dict[str, Any] = settings.OUTBOX_RETRY_POLICIES[kind]
    window = conf.get("window_seconds")
    return RetryPolicy(
        base_seconds=float(conf["base_seconds"]),
        max_delay_seconds=float(conf["max_delay_seconds"]),
        window=timedelta(seconds=window) if window is not None else None,
        jitter=bool(conf.get("jitter", True)),
        max_attempts=conf.get("max_attempts"),
    )


# --- Publishing ---------------------------------------------------------------
def publish(task: Any, ids: Sequence[Any], *, countdown: float | None = None) -> int:
    """Publish one job of `task` per row id; never raises. Returns how many were published.

    Stops at the first broker failure: the rows are committed, so the sweep publishes the
    rest once the broker is back, and a request that wrote them never fails for it.
    """
    published = 0
    for row_id in ids:
        try:
            if countdown is None:
                task.apply_async(args=(str(row_id),))
            else:
                task.apply_async(args=(str(row_id),), countdown=countdown)
        except Exception as exc:
            logger.warning(
                "%s job for %s not published (%s); the sweep will pick up %d row(s)",
                getattr(task, "name", task),
                row_id,
                type(exc).__name__,
                len(ids) - published,
                exc_info=True,
            )
            break
        published += 1
    return published


def publish_one(task: Any) -> bool:
    """Publish one job of `task` without arguments; never raises."""
    try:
        task.apply_async()
    except Exception as exc:
        logger.warning(
            "%s job not published (%s); the sweep will pick up its rows",
            getattr(task, "name", task),
            type(exc).__name__,
            exc_info=True,
        )
        return False
    return True


def publish_on_commit(task: Any, ids: Sequence[Any], *, countdown: float | None = None) -> None:
    """Publish the jobs once the caller's transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish(task, list(ids), countdown=countdown), robust=True)


# --- One kind of outbox -------------------------------------------------------
@dataclass
class SweepCounts:
    recovered: int = 0  # rows whose lease expired, handed back and published again
    requeued: int = 0  # overdue rows published again


def _no_release(now: datetime) -> dict[str, Any]:
    return {}


def task_at(path: str) -> Callable[[], Any]:
    """An `Outbox.task` that imports the Celery task at dotted `path` when first asked for
    it: the tasks modules import the services that declare the outboxes."""
    return lambda: import_string(path)


# How `claim_batch` has PostgreSQL plan its claim (see there).
CLAIM_PLANNING = "SET LOCAL enable_sort = off"


@dataclass(frozen=True)
class Outbox:
    """One kind of outbox row, described by callables of the current time.

    - `due(now)`: rows a job may claim now; `claim_fields(now)`: what a claim writes (the
      lease `claimed_at=now` and the attempt count);
    - `expired(now)`: claimed rows whose lease ran out, handed back with `release(now)`
      (kinds whose claim does not change state leave both out: `due` admits them again);
    - `overdue(now)`: rows whose job should have run by now, which the sweep publishes;
    - `task()`: the Celery task that attempts one row by id;
    - `drain_task()`: for kinds that claim in batches, a Celery task without arguments that
      attempts due rows until none is left (see `wake`).
    """

    name: str
    model: type[Model]
    task: Callable[[], Any]
    due: Callable[[datetime], Q]
    claim_fields: Callable[[datetime], dict[str, Any]]
    overdue: Callable[[datetime], Q]
    order_by: str = "next_attempt_at"
    expired: Callable[[datetime], Q] | None = None
    release: Callable[[datetime], dict[str, Any]] = field(default=_no_release)
    lease_field: str = "claimed_at"
    drain_task: Callable[[], Any] | None = None

    def claim(self, pk: Any, *, now: datetime) -> bool:
        """Claim one row if it is due; True for exactly one of any number of racing jobs."""
        updated = self.model._default_manager.filter(self.due(now), pk=pk).update(
            **self.claim_fields(now)
        )
        return updated == 1

    def is_due(self, pk: Any, *, now: datetime | None = None) -> bool:
        """Whether row `pk` may be claimed now (a read; the claim alone decides)."""
        return self.model._default_manager.filter(self.due(now or timezone.now()), pk=pk).exists()

    def claim_batch(
        self, *, limit: int, now: datetime | None = None, first: Any | None = None
    ) -> list[Any]:
        """Claim up to `limit` due rows, oldest due first; returns their ids (in no set
        order). Each due row goes to exactly one of any number of racing claimers. With
        `first`, that row is claimed too when it is due (a job claims its own row and up
        to `limit - 1` others).

        On PostgreSQL this is one statement, `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
        SKIP LOCKED LIMIT n) RETURNING id`: racing claimers skip each other's rows instead
        of waiting. Elsewhere (SQLite) due ids are read, then claimed one conditional
        UPDATE each, keeping the rows this claimer won.
        """
        if limit < 1:
            return []
        now = now or timezone.now()
        using = router.db_for_write(self.model)
        connection = connections[using]
        manager = self.model._default_manager.db_manager(using)
        others = limit - 1 if first is not None else limit
        if connection.vendor != "postgresql":
            candidates = [first] if first is not None else []
            if others > 0:
                candidates += [
                    pk
                    for pk in manager.filter(self.due(now))
                    .order_by(self.order_by)
                    .values_list("pk", flat=True)[:limit]
                    if str(pk) != str(first)
                ][:others]
            return [pk for pk in candidates if self.claim(pk, now=now)]
        with transaction.atomic(using=using), connection.cursor() as cursor:
            # Walk the due index in order and stop at the limit, whatever the statistics
            # say: after a burst (thousands of rows the last ANALYZE never saw) the
            # planner read every due row and sorted them to take twenty, 9 ms of database
            # time per batch at 9,000 due rows. Reverts at the end of this transaction.
            cursor.execute(CLAIM_PLANNING)
            cursor.execute(*self.claim_statement(using=using, now=now, first=first, limit=limit))
            return [row[0] for row in cursor.fetchall()]

    def claim_statement(
        self, *, using: str, now: datetime, first: Any | None, limit: int
    ) -> tuple[str, tuple[Any, ...]]:
        """`claim_batch`'s PostgreSQL statement and its parameters."""
        connection = connections[using]
        manager = self.model._default_manager.db_manager(using)
        others = limit - 1 if first is not None else limit
        due = manager.filter(self.due(now)).select_for_update(skip_locked=True)
        parts = [due.filter(pk=first).order_by().values("pk")] if first is not None else []
        if others > 0:
            rest = due.exclude(pk=first) if first is not None else due
            parts.append(rest.order_by(self.order_by).values("pk")[:others])
        # The own row and the oldest others as a UNION of the two locked subqueries (an
        # OR of two IN lists would scan the whole table), collected by ARRAY(...), which
        # PostgreSQL runs once per statement: a plain `IN (subquery)` may be rescanned
        # by a nested-loop semi-join, and each rescan of a `LIMIT ... SKIP LOCKED`
        # subquery can pick other rows, so the claim took more than `limit` of them.
        compiled = [part.query.get_compiler(using).as_sql() for part in parts]
        union = " UNION ".join(
            f"SELECT * FROM ({sql}) AS part{n}"  # noqa: S608
            for n, (sql, _) in enumerate(compiled)
        )
        # The SQL is the ORM's own compilation; every value stays a parameter.
        wanted = RawSQL(  # noqa: S611
            f"SELECT unnest(ARRAY({union}))",
            tuple(param for _, params in compiled for param in params),
        )
        query = UpdateQuery(self.model)
        query.add_update_values(self.claim_fields(now))
        query.add_q(Q(pk__in=wanted))
        sql, params = query.get_compiler(using).as_sql()
        pk_column = connection.ops.quote_name(str(self.model._meta.pk.column))
        return f"{sql} RETURNING {pk_column}", tuple(params)

    def publish(self, ids: Sequence[Any], *, countdown: float | None = None) -> int:
        """Make sure a job will attempt each of these rows: one drain job for all of them
        when this kind has a wake-up channel (`wake_soon`), else one job per row. Never
        raises; returns how many rows a published (or already waiting, or asked for) job
        covers."""
        if countdown is None and ids and self.wake_soon():
            return len(ids)
        return publish(self.task(), ids, countdown=countdown)

    def wake_soon(self) -> bool:
        """`wake` without waiting for it: done by this process's wake-up thread (see
        `console.outbox_wake`) when `OUTBOX_WAKE_IN_BACKGROUND` is on. False when this kind
        has no wake-up channel configured: then the caller publishes one job per row.
        When Redis does not answer the thread, it publishes one drain job instead."""
        if self.drain_task is None or not wake_channel():
            return False
        if not settings.OUTBOX_WAKE_IN_BACKGROUND:
            return self.wake()
        try:
            BACKGROUND_WAKES.ask(self.name, self._wake_or_drain)
        except RuntimeError:  # no thread to be had (`can't start new thread`): wake now
            logger.warning("outbox wake-up thread unavailable; waking %s in place", self.name)
            return self.wake()
        return True

    def _wake_or_drain(self) -> None:
        if not self.wake() and self.drain_task is not None:
            publish_one(self.drain_task())

    def wake(self) -> bool:
        """Ask for a drain job: publishes one unless one is already waiting. False when
        this kind has no wake-up channel (no drain task, no `OUTBOX_WAKE_REDIS_URL`, or
        Redis did not answer): then the caller publishes one job per row."""
        if self.drain_task is None:
            return False
        taken = wake_claim(self.name)
        if taken is None:
            return False
        if taken and not publish_one(self.drain_task()):
            wake_clear(self.name)  # the next commit tries again; the sweep has these rows
        return True

    def woken(self) -> None:
        """Called by a drain job before it claims anything (see `console.outbox_wake`)."""
        wake_clear(self.name)

    def drain(
        self,
        attempt: Callable[[list[Any], datetime], object],
        *,
        size: int,
        batches: int,
        seconds: float | None = None,
    ) -> int:
        """A drain job's loop: claim up to `size` due rows and hand them to
        `attempt(ids, claimed_at)`, until a claim comes back short of a full batch
        (nothing more is due), or after `batches` claims or `seconds`, so that a long
        backlog takes its turn with other jobs. After every full claim it asks for another
        drain job (`wake`) before attempting: idle worker threads join in while the backlog
        lasts, and one is waiting if this job stops early. An exception from `attempt`
        ends the loop and propagates (its rows stay claimed until the sweep hands them
        back). Returns how many rows it claimed."""
        started = time.monotonic()
        claimed = 0
        for _ in range(batches):
            claimed_at = timezone.now()
            ids = self.claim_batch(limit=size, now=claimed_at)
            if len(ids) == size:
                self.wake()
            attempt(ids, claimed_at)
            claimed += len(ids)
            if len(ids) < size:
                break
            if seconds is not None and time.monotonic() - started > seconds:
                break
        return claimed

    def sweep(self, *, now: datetime | None = None, batch: int = SWEEP_BATCH) -> SweepCounts:
        """Hand back rows whose lease expired and publish them, then publish overdue rows.

        Each hand-back is conditional on the same lease, so a worker that is merely slow
        keeps its row; a duplicate job is harmless because the claim is conditional.
        """
        now = now or timezone.now()
        manager = self.model._default_manager
        counts = SweepCounts()
        handed_back: list[Any] = []
        if self.expired is not None:
            expired = self.expired(now)
            stuck = list(
                manager.filter(expired)
                .order_by(self.lease_field)
                .values_list("pk", self.lease_field)[:batch]
            )
            handed_back = [
                pk
                for pk, claimed_at in stuck
                if manager.filter(expired, pk=pk, **{self.lease_field: claimed_at}).update(
                    **self.release(now)
                )
            ]
            counts.recovered = self.publish(handed_back)
        overdue = list(
            manager.filter(self.overdue(now))
            .exclude(pk__in=handed_back)
            .order_by(self.order_by)
            .values_list("pk", flat=True)[:batch]
        )
        counts.requeued = self.publish(overdue)
        if stuck_or_due := len(handed_back) + len(overdue):
            logger.info(
                "%s sweep: %d rows, %d recovered, %d requeued",
                self.name,
                stuck_or_due,
                counts.recovered,
                counts.requeued,
            )
        return counts
