"""The per-process snapshot of active connections per pool line (`routing.line_loads`)
that orders a connect's free lines."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.test import override_settings

from routing.line_loads import LINE_LOADS, LineLoads
from routing.selectors import pool_line_choose
from tests.routing.factories import AssignmentFactory, PoolLineFactory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LINE = uuid.uuid4()
OTHER = uuid.uuid4()


def counter(*answers: dict[uuid.UUID, int]):  # type: ignore[no-untyped-def]
    """A database count that answers `answers` in turn and records each call."""
    calls: list[int] = []

    def count() -> dict[uuid.UUID, int]:
        calls.append(1)
        return dict(answers[min(len(calls), len(answers)) - 1])

    count.calls = calls  # type: ignore[attr-defined]
    return count


@override_settings(POOL_LOAD_SNAPSHOT_SECONDS=1.0)
def test_the_database_is_counted_once_while_the_snapshot_is_fresh() -> None:
    clock = Clock()
    loads = LineLoads(clock=clock)
    count = counter({LINE: 5})

    assert loads.counts(count) == {LINE: 5}
    clock.now += 0.9
    assert loads.counts(count) == {LINE: 5}

    assert len(count.calls) == 1


@override_settings(POOL_LOAD_SNAPSHOT_SECONDS=1.0)
def test_a_snapshot_older_than_its_limit_is_counted_again() -> None:
    clock = Clock()
    loads = LineLoads(clock=clock)
    count = counter({LINE: 5}, {LINE: 7})
    loads.counts(count)

    clock.now += 1.0

    assert loads.counts(count) == {LINE: 7}


@override_settings(POOL_LOAD_SNAPSHOT_SECONDS=1.0)
def test_connections_this_process_placed_count_before_the_next_snapshot() -> None:
    loads = LineLoads(clock=Clock())
    count = counter({LINE: 5})
    loads.counts(count)

    loads.placed(LINE)
    loads.placed(OTHER)

    assert loads.counts(count) == {LINE: 6, OTHER: 1}
    assert len(count.calls) == 1


@override_settings(POOL_LOAD_SNAPSHOT_SECONDS=1.0)
def test_callers_cannot_change_the_snapshot() -> None:
    loads = LineLoads(clock=Clock())
    loads.counts(counter({LINE: 5}))[LINE] = 99

    assert loads.counts(counter({LINE: 0})) == {LINE: 5}


@override_settings(POOL_LOAD_SNAPSHOT_SECONDS=1.0)
def test_a_count_that_started_before_a_clear_is_not_kept() -> None:
    loads = LineLoads(clock=Clock())

    def count_while_cleared() -> dict[uuid.UUID, int]:
        loads.clear()
        return {LINE: 5}

    assert loads.counts(count_while_cleared) == {LINE: 5}
    fresh = counter({LINE: 2})
    assert loads.counts(fresh) == {LINE: 2}
    assert len(fresh.calls) == 1


@override_settings(POOL_LOAD_SNAPSHOT_SECONDS=0)
def test_without_a_snapshot_limit_every_call_counts() -> None:
    loads = LineLoads(clock=Clock())
    count = counter({LINE: 1}, {LINE: 2})

    assert loads.counts(count) == {LINE: 1}
    assert loads.counts(count) == {LINE: 2}


@pytest.fixture
def snapshot() -> Iterator[None]:
    LINE_LOADS.clear()
    with override_settings(POOL_LOAD_SNAPSHOT_SECONDS=60.0):
        yield
    LINE_LOADS.clear()


@pytest.mark.django_db
def test_the_choice_orders_lines_by_the_snapshot_and_its_own_placements(snapshot) -> None:
    older, newer = PoolLineFactory(), PoolLineFactory()
    AssignmentFactory(pool_line=older, remote_number="+12025551000")
    assert pool_line_choose(remote_number="+12025559999").line == newer

    # Connections made elsewhere since the snapshot are not seen yet...
    for n in range(3):
        AssignmentFactory(pool_line=newer, remote_number=f"+1202555200{n}")
    assert pool_line_choose(remote_number="+12025559999").line == newer
    # ...this process's own are.
    LINE_LOADS.placed(newer.id)
    LINE_LOADS.placed(newer.id)

    assert pool_line_choose(remote_number="+12025559999").line == older


@pytest.mark.django_db
def test_a_line_the_person_is_on_is_never_chosen_whatever_the_snapshot_says(snapshot) -> None:
    emptier, fuller = PoolLineFactory(), PoolLineFactory()
    AssignmentFactory(pool_line=fuller, remote_number="+12025551000")
    pool_line_choose(remote_number="+12025559999")  # the snapshot: `emptier` is empty

    AssignmentFactory(pool_line=emptier, remote_number="+12025559999")

    assert pool_line_choose(remote_number="+12025559999").line == fuller
