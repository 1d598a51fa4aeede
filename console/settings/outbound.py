"""Settings of the outbound jobs: message sends, agent webhook deliveries, and the retry
policy of each kind of outbox row (`console/outbox.py`). Read from the environment like
every setting; `base.py` takes them all."""

from __future__ import annotations

from console.settings.environment import env, env_bool, env_count

# --- Message sends (the outbox the send sweep recovers) ------------------
# A send drain job (messaging/services/delivery.py) claims this many queued sends at a
# time and sends them in turn (each a provider call of up to PROVIDER_TIMEOUT_SECONDS),
# and claims no further batch once it has run SEND_DRAIN_SECONDS or SEND_DRAIN_BATCHES
# batches: a batch's worst case plus the budget stays inside the task time limit.
SEND_DRAIN_BATCH_SIZE = env_count("SEND_DRAIN_BATCH_SIZE", 5)
SEND_DRAIN_BATCHES = env_count("SEND_DRAIN_BATCHES", 20)
SEND_DRAIN_SECONDS = env.float("SEND_DRAIN_SECONDS", default=30.0)
# The sweep re-publishes a queued send this long overdue: its own job was lost.
SEND_SWEEP_GRACE_SECONDS = env.int("SEND_SWEEP_GRACE_SECONDS", default=60)
# A send claimed this long ago without an outcome lost its worker (keep it above the
# task hard time limit, CELERY_TASK_TIME_LIMIT).
SEND_STUCK_TIMEOUT_SECONDS = env.int("SEND_STUCK_TIMEOUT_SECONDS", default=300)
# Transient provider failures are retried this long after the agent sent the message,
# with backoff from SEND_RETRY_BASE_SECONDS doubling up to SEND_RETRY_MAX_DELAY_SECONDS.
SEND_RETRY_WINDOW_MINUTES = env.int("SEND_RETRY_WINDOW_MINUTES", default=60)
SEND_RETRY_BASE_SECONDS = env.float("SEND_RETRY_BASE_SECONDS", default=5.0)
SEND_RETRY_MAX_DELAY_SECONDS = env.float("SEND_RETRY_MAX_DELAY_SECONDS", default=300.0)

# --- Agent webhooks -------------------------------------------------------
WEBHOOKS_ALLOW_LOOPBACK = env_bool("WEBHOOKS_ALLOW_LOOPBACK", False)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_RESPONSE_BYTES = env.int("WEBHOOK_MAX_RESPONSE_BYTES", default=64 * 1024)
WEBHOOK_RETRY_WINDOW_HOURS = env.int("WEBHOOK_RETRY_WINDOW_HOURS", default=26)
# Backoff between attempts: base * 2^(attempt-1), capped, with jitter.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env.float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", default=3600.0)
# The sweep re-enqueues due deliveries this long overdue (their own job should have run).
WEBHOOK_SWEEP_GRACE_SECONDS = env.int("WEBHOOK_SWEEP_GRACE_SECONDS", default=60)
# A delivery job claims its own row and up to BATCH_SIZE - 1 other due deliveries in one
# statement and POSTs up to BATCH_CONCURRENCY of them at a time (per worker thread). The
# claim, the load and the record are three statements per batch whatever its size: in
# `make bench`, 1,770-1,840 deliveries/s at 20, 2,240-2,400 at 50 and 2,540-2,620 at 100.
# A larger batch holds its claims longer (the lease grows with it) and re-sends more after
# a worker dies mid-batch.
WEBHOOK_BATCH_SIZE = env_count("WEBHOOK_BATCH_SIZE", 100)
WEBHOOK_BATCH_CONCURRENCY = env_count("WEBHOOK_BATCH_CONCURRENCY", 10)
# A batch POSTs one delivery after another while the receivers answer fast, then the rest
# BATCH_CONCURRENCY at a time: slow means a mean answer of SLOW_ANSWER_MS (from the fifth
# answer on) or SEQUENTIAL_BUDGET_MS spent (messaging/webhooks/batches.py, `post_batch`).
# Keep the budget at 10 ms a delivery of a full batch: fast answers that spent it on a busy
# machine turned to threads contending for the GIL (990 deliveries/s at 200 a batch with a
# 200 ms budget, 2,940 with 2,000 ms; 2,540-2,620 at 100 with 1,000 ms).
WEBHOOK_SLOW_ANSWER_MS = env.float("WEBHOOK_SLOW_ANSWER_MS", default=25.0)
WEBHOOK_SEQUENTIAL_BUDGET_MS = env.float("WEBHOOK_SEQUENTIAL_BUDGET_MS", default=1000.0)
# A drain job attempts at most this many batches before leaving the backlog to the next
# drain job, so a long backlog takes its turn with sends and replies on the worker threads
# (2 batches of 100: the 200 deliveries a job took when batches were 20).
WEBHOOK_DRAIN_BATCHES = env_count("WEBHOOK_DRAIN_BATCHES", 2)
# Drain jobs POSTing to fast receivers at once per worker process; more contend for the GIL
# and deliver less (console/drain_slots.py). Jobs waiting on slow receivers do not count.
WEBHOOK_DRAINS_PER_PROCESS = env_count("WEBHOOK_DRAINS_PER_PROCESS", 2)

# One named retry policy per kind of outbound job: base * 2^(attempt-1) seconds, capped,
# with "equal jitter" unless turned off, for `window_seconds` or up to `max_attempts`.
OUTBOX_RETRY_POLICIES: dict[str, dict[str, object]] = {
    "message_send": {
        "base_seconds": SEND_RETRY_BASE_SECONDS,
        "max_delay_seconds": SEND_RETRY_MAX_DELAY_SECONDS,
        "window_seconds": SEND_RETRY_WINDOW_MINUTES * 60,
    },
    "router_reply": {
        "base_seconds": 30.0,
        "max_delay_seconds": 1800.0,
        "jitter": False,
        "max_attempts": 5,
    },
    "webhook_delivery": {
        "base_seconds": WEBHOOK_RETRY_BASE_SECONDS,
        "max_delay_seconds": WEBHOOK_RETRY_MAX_DELAY_SECONDS,
        "window_seconds": WEBHOOK_RETRY_WINDOW_HOURS * 3600,
    },
}
