"""How a drain job POSTs the webhook deliveries it claimed: in turn while the receivers
answer fast, then concurrently (`post_batch`). `delivery` claims, signs and records;
`transport` makes each POST.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.conf import settings

from console.drain_slots import Slot

Delivery = TypeVar("Delivery")
Outcome = TypeVar("Outcome")


def post_batch(
    deliveries: Sequence[Delivery], attempt: Callable[[Delivery], Outcome], *, slot: Slot | None
) -> list[Outcome]:
    """`attempt` (which never raises) each claimed delivery: one after another while the
    receivers answer fast, then the rest up to WEBHOOK_BATCH_CONCURRENCY at a time. The
    drain job's `slot` is told whether it waits on slow receivers.

    Receivers that answer at once are served fastest one at a time: dozens of POST threads
    per process then spend more CPU contending for the GIL than the POSTs themselves
    (1.65 ms of CPU per delivery against 0.9 ms, measured). The batch turns concurrent
    once the mean answer, from the fifth on (or the whole batch, if shorter), takes
    WEBHOOK_SLOW_ANSWER_MS, or the batch has spent WEBHOOK_SEQUENTIAL_BUDGET_MS. Both are
    wall time, which a busy machine stretches: tighter limits (50 ms for the batch, 20 ms
    for any one answer, an 8 ms mean) mistook that for slow receivers, and the contention
    that followed kept it so (613-749 deliveries/s and 1.9-2.3 ms of CPU each in
    `make bench`, against 1,035-1,054/s and 1.1-1.2 ms without them).

    Only slow answers tell the slot that the job waits: a mean of WEBHOOK_SLOW_ANSWER_MS,
    over the answers so far when the budget runs out first. It is told at once, so a job
    that may not post concurrently (WEBHOOK_BATCH_CONCURRENCY 1) waits on the rest in turn
    without its slot. A budget spent on fast answers more likely means a busy machine, and
    a job that gave up its slot for it let one more job compute in the process, which made
    every batch slower still: with every batch spending its budget (a 100 ms budget in
    `make bench --only ingest,fan-out`), giving the slot up delivered 867 a second at
    1.90 ms of CPU each, keeping it 2,015 at 0.67 ms.

    A thread pool rather than one async client: the Celery workers already run a threads
    pool, the SSRF check (DNS) and signing are synchronous, and an async client belongs to
    one event loop, which each job would have to start; the process's connection pools
    (`transport.pooled_client`) are thread-safe and keep connections alive across jobs.
    The threads never touch the database: the job's own connection claims and records.
    """
    concurrent = min(settings.WEBHOOK_BATCH_CONCURRENCY, len(deliveries)) > 1
    budget = settings.WEBHOOK_SEQUENTIAL_BUDGET_MS / 1000
    if concurrent and budget <= 0:
        if slot is not None:
            slot.waiting(False)
        return list(_post_pool().map(attempt, deliveries))
    slow_answer = settings.WEBHOOK_SLOW_ANSWER_MS / 1000
    judged_after = min(5, len(deliveries))
    started = _clock()
    outcomes: list[Outcome] = []
    receivers_slow = False
    for position, delivery in enumerate(deliveries):
        outcomes.append(attempt(delivery))
        answered, spent = position + 1, _clock() - started
        over_budget = spent >= budget
        receivers_slow = (answered >= judged_after or over_budget) and (
            spent / answered >= slow_answer
        )
        if receivers_slow or over_budget:
            break
    rest = deliveries[len(outcomes) :]
    if slot is not None:
        slot.waiting(receivers_slow)
    if rest and concurrent:
        return outcomes + list(_post_pool().map(attempt, rest))
    return outcomes + [attempt(delivery) for delivery in rest]


# The batch's time budget reads this clock (tests move it).
_clock = time.monotonic

_pools = threading.local()


def _post_pool() -> ThreadPoolExecutor:
    """The calling worker thread's own pool of WEBHOOK_BATCH_CONCURRENCY POST threads, kept
    for the thread's life: starting ten threads per batch cost more than its POSTs."""
    size = settings.WEBHOOK_BATCH_CONCURRENCY
    pool: ThreadPoolExecutor | None = getattr(_pools, "pool", None)
    if pool is None or pool._max_workers != size:
        if pool is not None:
            pool.shutdown(wait=False)
        pool = _pools.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhook-post")
    return pool
