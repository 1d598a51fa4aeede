"""A Redis restart under a running worker and beat: both reconnect, and every job finishes.

Runs against a Redis server of its own (tests/private_redis.py), never the shared one.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from messaging.models import Message, SendState
from tests.messaging.sends import send_now
from tests.private_redis import PrivateRedis, private_redis  # noqa: F401 - fixture
from tests.realworker import (
    RealWorker,
    _PublishToRedis,
    _start_beat,
    _start_worker,
    _stop_worker,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

WAIT_SECONDS = 90
# How long Redis stays away: the 3-5 s restart that used to end the worker.
OUTAGE_SECONDS = 5
# Beat sweeps every second and re-publishes a queued send one second overdue, so the jobs
# published while Redis was away come back without waiting a production minute.
FAST_SWEEP = {"SWEEP_INTERVAL_SECONDS": "1", "SEND_SWEEP_GRACE_SECONDS": "1"}


def send(conversation: Any, text: str) -> str:
    return str(send_now(conversation, text).id)


def wait_until(predicate: Any, worker: RealWorker, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {WAIT_SECONDS}s\n{worker.log_text()[-4000:]}")


def all_sent(ids: list[str]) -> bool:
    states = set(Message.objects.filter(pk__in=ids).values_list("send_state", flat=True))
    return states == {SendState.SENT}


def test_a_redis_restart_leaves_the_same_worker_and_beat_running_and_every_job_finished(
    private_redis: PrivateRedis,  # noqa: F811 - the imported fixture
    conversation: Any,
    tmp_path: Path,
) -> None:
    queue = f"bluewire-restart-{uuid.uuid4().hex[:12]}"
    with _PublishToRedis(private_redis.url, queue):
        worker = _start_worker(
            broker_url=private_redis.url,
            queue=queue,
            log_path=tmp_path / "worker.log",
            concurrency=2,
            extra_env=FAST_SWEEP,
        )
        beat = _start_beat(
            broker_url=private_redis.url,
            queue=queue,
            log_path=tmp_path / "beat.log",
            schedule_path=tmp_path / "beat-schedule",
            extra_env=FAST_SWEEP,
        )
        try:
            before = [send(conversation, f"before {i}") for i in range(3)]
            wait_until(lambda: all_sent(before), worker, "jobs before the restart were not sent")
            wait_until(
                lambda: "Sending due task messaging-send-sweep" in beat.log_text(),
                beat,
                "beat did not publish its sweep",
            )

            private_redis.stop()
            wait_until(
                lambda: (
                    "Connection to broker lost" in worker.log_text()
                    or "Cannot connect to" in worker.log_text()
                ),
                worker,
                "the worker did not notice that Redis went away",
            )
            # Agents keep replying while Redis is away: the publish fails fast, the rows wait.
            during = [send(conversation, f"during {i}") for i in range(3)]
            time.sleep(OUTAGE_SECONDS)  # the outage itself, not a wait for a condition
            private_redis.start()
            after = [send(conversation, f"after {i}") for i in range(3)]

            # The jobs published while Redis was away never reached it (nor did anything
            # queued in it: this Redis keeps nothing across a restart); beat's sweep
            # re-publishes them, and the same worker sends each once.
            everything = before + during + after
            wait_until(lambda: all_sent(everything), worker, "not every job finished")
            assert worker.process.poll() is None, "the worker process exited"
            assert beat.process.poll() is None, "beat exited"
            assert "Unrecoverable error" not in worker.log_text()
            provider_calls = Message.objects.filter(pk__in=everything, send_attempts=1).count()
            assert provider_calls == len(everything)
        finally:
            _stop_worker(beat)
            _stop_worker(worker)
