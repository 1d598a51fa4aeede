"""Workers SIGKILLed around the provider call, for real: a Celery worker process on Redis
sends through the provider simulator (a real HTTP server), and the simulator's status
callbacks reach our intake on a live server.

- killed after the provider accepted: the message still ends delivered, from its callback,
  with one message on the handset and no failure;
- killed after its claim but before the provider call: a retry sends it, once.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.models import F

from messaging.models import Message, SendState
from messaging.services.delivery import SweepResult, message_send_sweep
from tests.messaging.conftest import PERSON
from tests.messaging.sends import conversation_on_a_new_line, send_now
from tests.realworker import (
    RealWorker,
    _PublishToRedis,
    _start_worker,
    _stop_worker,
    database_url_for_worker,
    require_redis,
)
from tests.simulator_process import SimulatorProcess, simulator_process  # noqa: F401

pytestmark = [
    pytest.mark.slow,
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True),
]

WAIT_SECONDS = 60


class Stack:
    """A worker factory wired to the simulator and to the live server's intake."""

    def __init__(self, *, broker_url: str, queue: str, env: dict[str, str], tmp_path: Path) -> None:
        self.broker_url = broker_url
        self.queue = queue
        self.env = env
        self.tmp_path = tmp_path
        self.workers: list[RealWorker] = []

    def start_worker(self) -> RealWorker:
        worker = _start_worker(
            broker_url=self.broker_url,
            queue=self.queue,
            log_path=self.tmp_path / f"worker-{len(self.workers)}.log",
            concurrency=2,
            extra_env=self.env,
        )
        self.workers.append(worker)
        return worker


@pytest.fixture
def stack(
    simulator_process: SimulatorProcess,  # noqa: F811 - the imported fixture
    live_server: Any,
    settings: Any,
    tmp_path: Path,
) -> Iterator[Stack]:
    broker_url = require_redis()
    settings.PROVIDER_NAME = "simulator"
    settings.PROVIDER_BASE_URL = simulator_process.url
    settings.PUBLIC_BASE_URL = live_server.url
    queue = f"bluewire-kill-{uuid.uuid4().hex[:12]}"
    env = {
        "TEST_PROVIDER_NAME": "simulator",
        "PROVIDER_BASE_URL": simulator_process.url,
        "PUBLIC_BASE_URL": live_server.url,
    }
    with _PublishToRedis(broker_url, queue):
        made = Stack(broker_url=broker_url, queue=queue, env=env, tmp_path=tmp_path)
        try:
            yield made
        finally:
            for worker in made.workers:
                _stop_worker(worker)


@pytest.fixture
def conversation(identity: Any, stack: Stack) -> Any:
    """The identity's conversation with PERSON over a line the simulator placed."""
    return conversation_on_a_new_line(identity)


def wait_until(predicate: Callable[[], bool], what: str, *logs: Any) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(log.log_text()[-3000:] for log in logs)
    raise AssertionError(f"{what} within {WAIT_SECONDS}s\n{tails}")


def sigkill(worker: RealWorker) -> None:
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=10)


def sweep_once_the_stuck_timeout_passed() -> SweepResult:
    """The beat sweep after SEND_STUCK_TIMEOUT_SECONDS, without waiting for it: the claims
    are moved back in time (the worker in another process keeps the real clock)."""
    stuck_for = timedelta(seconds=settings.SEND_STUCK_TIMEOUT_SECONDS + 60)
    Message.objects.filter(send_state=SendState.SENDING).update(
        claimed_at=F("claimed_at") - stuck_for
    )
    return message_send_sweep()


def test_a_worker_killed_after_the_provider_accepted_leaves_the_message_delivered(
    stack: Stack,
    conversation: Any,
    simulator_process: SimulatorProcess,  # noqa: F811
    emitted: Any,
) -> None:
    worker = stack.start_worker()
    # The provider takes the message at once but answers slowly: the worker is waiting
    # for the answer when it dies.
    simulator_process.control("POST", "/control/slow-sends", {"seconds": 30})
    message = send_now(conversation, "Your results are ready")
    wait_until(
        lambda: len(simulator_process.handset(PERSON)) == 1,
        "the provider never got the message",
        worker,
        simulator_process,
    )
    # Dies waiting for the answer (a status callback may already have arrived).
    assert "accepted by the provider" not in worker.log_text()
    sigkill(worker)
    simulator_process.control("POST", "/control/slow-sends", {"seconds": 0})

    wait_until(
        lambda: Message.objects.get(pk=message.pk).status == "delivered",
        "the callback did not settle the message",
        simulator_process,
    )
    assert sweep_once_the_stuck_timeout_passed().recovered == 0
    message.refresh_from_db()
    assert (message.send_state, message.status) == (SendState.SENT, "delivered")
    assert message.provider_handle == simulator_process.handset(PERSON)[0]["message_handle"]
    assert len(simulator_process.handset(PERSON)) == 1  # one provider call
    assert emitted.types() == ["imessage.sent", "imessage.delivered"]  # no failure event


@pytest.fixture
def setup_table_locked() -> Iterator[Callable[[], None]]:
    """Hold an exclusive lock on the setups table from another session: a worker that
    loads its message (with its line's setup) after the claim waits there, before the
    provider call. Yields the function that releases it."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's table locks")
    locker = psycopg.connect(database_url_for_worker())
    locker.execute("BEGIN")
    locker.execute("LOCK TABLE provisioning_setup IN ACCESS EXCLUSIVE MODE")
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            locker.rollback()
            released = True

    try:
        yield release
    finally:
        release()
        locker.close()


def test_a_worker_killed_after_its_claim_before_the_call_gets_the_message_sent_once(
    stack: Stack,
    conversation: Any,
    simulator_process: SimulatorProcess,  # noqa: F811
    setup_table_locked: Callable[[], None],
) -> None:
    first = stack.start_worker()
    message = send_now(conversation, "See you at 3")
    wait_until(
        lambda: Message.objects.get(pk=message.pk).send_state == SendState.SENDING,
        "the worker did not claim the message",
        first,
    )

    sigkill(first)  # stuck between its claim and the provider call
    setup_table_locked()
    row = Message.objects.get(pk=message.pk)
    assert (row.send_state, row.provider_call_started_at) == (SendState.SENDING, None)
    assert simulator_process.handset(PERSON) == []

    second = stack.start_worker()
    assert sweep_once_the_stuck_timeout_passed().recovered == 1
    wait_until(
        lambda: Message.objects.get(pk=message.pk).send_state == SendState.SENT,
        "the retry did not send the message",
        second,
    )
    wait_until(lambda: len(simulator_process.handset(PERSON)) == 1, "not on the handset")
    message.refresh_from_db()
    assert message.send_attempts == 2
    assert len(simulator_process.handset(PERSON)) == 1
