"""Coalesced outbox wake-ups: one drain job per burst of rows instead of one job per row,
and never a row that no job will take."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import redis

from console import outbox_wake
from console.outbox import Outbox
from console.outbox_wake import BACKGROUND_WAKES, BackgroundWakes, wake_claim, wake_clear
from routing.services.router_replies import REPLIES

pytestmark = pytest.mark.django_db


class RowTask:
    name = "tests.row"

    def __init__(self) -> None:
        self.published: list[Any] = []

    def apply_async(self, *, args: tuple[Any, ...], countdown: float | None = None) -> None:
        self.published.append(args[0])


class DrainTask:
    name = "tests.drain"

    def __init__(self, *, broker_down: bool = False) -> None:
        self.broker_down = broker_down
        self.published = 0

    def apply_async(self) -> None:
        if self.broker_down:
            raise ConnectionError("broker down")
        self.published += 1


def draining(rows: RowTask, drain: DrainTask) -> Outbox:
    return dataclasses.replace(REPLIES, task=lambda: rows, drain_task=lambda: drain)


def test_only_the_first_caller_takes_the_token_until_it_is_cleared(outbox_wake_channel) -> None:
    assert wake_claim("kind") is True
    assert wake_claim("kind") is False
    assert wake_claim("other kind") is True

    wake_clear("kind")

    assert wake_claim("kind") is True


def test_the_token_expires_on_its_own(outbox_wake_channel, settings) -> None:
    settings.OUTBOX_WAKE_TTL_SECONDS = 30
    wake_claim("kind")

    (token,) = outbox_wake_channel.keys(f"{settings.OUTBOX_WAKE_KEY_PREFIX}*")
    ttl_ms = outbox_wake_channel.pttl(token)

    assert 0 < ttl_ms <= 30_000


def test_there_is_no_wake_up_channel_without_a_redis_url(settings) -> None:
    settings.OUTBOX_WAKE_REDIS_URL = ""

    assert wake_claim("kind") is None


def test_an_unreachable_redis_means_no_wake_up_channel(settings) -> None:
    settings.OUTBOX_WAKE_REDIS_URL = "redis://127.0.0.1:1/0"

    assert wake_claim("kind") is None
    wake_clear("kind")  # never raises either


def test_a_burst_of_rows_publishes_one_drain_job(outbox_wake_channel) -> None:
    rows, drain = RowTask(), DrainTask()
    outbox = draining(rows, drain)

    covered = [outbox.publish([f"row-{n}"]) for n in range(5)]

    assert covered == [1] * 5
    assert drain.published == 1
    assert rows.published == []


def test_a_drain_job_that_started_lets_the_next_commit_publish_again(outbox_wake_channel) -> None:
    rows, drain = RowTask(), DrainTask()
    outbox = draining(rows, drain)
    outbox.publish(["first"])

    outbox.woken()  # the drain job starts: rows committed from now on need a new job
    outbox.publish(["second"])

    assert drain.published == 2


def test_without_a_wake_up_channel_each_row_gets_its_own_job(settings) -> None:
    settings.OUTBOX_WAKE_REDIS_URL = ""
    rows, drain = RowTask(), DrainTask()

    assert draining(rows, drain).publish(["a", "b"]) == 2

    assert rows.published == ["a", "b"]
    assert drain.published == 0


def test_with_redis_down_each_row_gets_its_own_job(settings) -> None:
    settings.OUTBOX_WAKE_REDIS_URL = "redis://127.0.0.1:1/0"
    rows, drain = RowTask(), DrainTask()

    draining(rows, drain).publish(["a", "b"])

    assert rows.published == ["a", "b"]
    assert drain.published == 0


def test_a_kind_without_a_drain_task_publishes_one_job_per_row(
    outbox_wake_channel, settings
) -> None:
    rows = RowTask()
    outbox = dataclasses.replace(REPLIES, task=lambda: rows)

    outbox.publish(["a", "b"])

    assert rows.published == ["a", "b"]
    assert outbox_wake_channel.keys(f"{settings.OUTBOX_WAKE_KEY_PREFIX}*") == []


def test_a_retry_with_a_countdown_keeps_its_own_delayed_job(outbox_wake_channel) -> None:
    rows, drain = RowTask(), DrainTask()

    draining(rows, drain).publish(["later"], countdown=30)

    assert rows.published == ["later"]
    assert drain.published == 0


def test_a_failed_drain_publish_gives_the_token_back(outbox_wake_channel) -> None:
    down, rows = DrainTask(broker_down=True), RowTask()
    draining(rows, down).publish(["first"])  # never raises: the sweep has the row

    up = DrainTask()
    draining(rows, up).publish(["second"])

    assert up.published == 1


def test_publishing_never_raises_when_redis_answers_with_an_error(
    outbox_wake_channel, monkeypatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise redis.ResponseError("READONLY You can't write against a read only replica")

    monkeypatch.setattr(redis.Redis, "set", broken)
    rows, drain = RowTask(), DrainTask()

    draining(rows, drain).publish(["a"])

    assert rows.published == ["a"]


@pytest.fixture
def in_background(outbox_wake_channel, settings) -> Iterator[redis.Redis]:
    settings.OUTBOX_WAKE_IN_BACKGROUND = True
    yield outbox_wake_channel
    assert BACKGROUND_WAKES.flush()


def test_a_commit_in_the_background_mode_returns_before_its_wake_up_is_done(
    in_background,
) -> None:
    release = threading.Event()
    rows, drain = RowTask(), DrainTask()
    outbox = draining(rows, drain)
    BACKGROUND_WAKES.ask("blocker", lambda: release.wait(30))  # holds the thread's round

    covered = outbox.publish(["a"])

    assert covered == 1 and drain.published == 0
    release.set()
    assert BACKGROUND_WAKES.flush()
    assert drain.published == 1 and rows.published == []


def test_a_burst_asked_while_the_thread_is_busy_takes_one_token_round(in_background) -> None:
    release = threading.Event()
    rows, drain = RowTask(), DrainTask()
    outbox = draining(rows, drain)
    BACKGROUND_WAKES.ask("blocker", lambda: release.wait(30))
    claims: list[str] = []
    original = outbox_wake.wake_claim

    def counted(kind: str) -> bool | None:
        claims.append(kind)
        return original(kind)

    with (
        mock.patch.object(outbox_wake, "wake_claim", counted),
        mock.patch("console.outbox.wake_claim", counted),
    ):
        for n in range(5):
            outbox.publish([f"row-{n}"])
        release.set()
        assert BACKGROUND_WAKES.flush()

    assert claims == [outbox.name]
    assert drain.published == 1


def test_a_wake_up_asked_after_a_drain_started_publishes_again(in_background) -> None:
    rows, drain = RowTask(), DrainTask()
    outbox = draining(rows, drain)
    outbox.publish(["first"])
    assert BACKGROUND_WAKES.flush()

    outbox.woken()
    outbox.publish(["second"])
    assert BACKGROUND_WAKES.flush()

    assert drain.published == 2


def test_with_redis_down_the_thread_publishes_one_drain_job(settings) -> None:
    settings.OUTBOX_WAKE_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.OUTBOX_WAKE_IN_BACKGROUND = True
    rows, drain = RowTask(), DrainTask()

    draining(rows, drain).publish(["a", "b"])
    assert BACKGROUND_WAKES.flush()

    assert drain.published == 1 and rows.published == []


def test_a_failing_wake_up_leaves_the_thread_serving_the_next(in_background) -> None:
    rows, drain = RowTask(), DrainTask()

    def failing() -> None:
        raise RuntimeError("boom")

    BACKGROUND_WAKES.ask("failing", failing)
    assert BACKGROUND_WAKES.flush()
    draining(rows, drain).publish(["a"])
    assert BACKGROUND_WAKES.flush()

    assert drain.published == 1


def test_without_a_channel_the_background_mode_still_publishes_per_row(settings) -> None:
    settings.OUTBOX_WAKE_REDIS_URL = ""
    settings.OUTBOX_WAKE_IN_BACKGROUND = True
    rows, drain = RowTask(), DrainTask()

    assert draining(rows, drain).publish(["a", "b"]) == 2

    assert rows.published == ["a", "b"] and drain.published == 0


# The thread's death is the point: its traceback is expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_wake_up_thread_that_died_is_started_again() -> None:
    wakes = BackgroundWakes()
    done: list[str] = []

    def fatal() -> None:
        raise SystemExit  # not an Exception: it ends the thread

    wakes.ask("fatal", fatal)
    first = wakes._thread
    assert first is not None
    first.join(30)
    wakes.ask("next", lambda: done.append("next"))

    assert wakes.flush()
    assert done == ["next"] and wakes._thread is not first


def test_without_a_thread_to_be_had_the_commit_wakes_in_place(in_background, monkeypatch) -> None:
    rows, drain = RowTask(), DrainTask()
    wakes = BackgroundWakes()

    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr("console.outbox.BACKGROUND_WAKES", wakes)
    monkeypatch.setattr(threading.Thread, "start", refused)

    assert draining(rows, drain).publish(["a"]) == 1

    assert drain.published == 1
