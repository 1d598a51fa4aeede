"""`console.drain_slots.DrainSlots`: how many drain jobs drain at once in a process."""

from __future__ import annotations

import pytest

from console.drain_slots import DrainSlots


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_slots_are_granted_up_to_the_size_and_refused_beyond() -> None:
    slots = DrainSlots(lambda: 2, Wakes())

    with slots.slot() as first, slots.slot() as second, slots.slot() as third:
        assert (first, second, third) == (True, True, False)
        assert slots.held == 2
    assert slots.held == 0


def test_a_holder_that_saw_a_refusal_asks_for_a_new_job_when_it_leaves() -> None:
    wakes = Wakes()
    slots = DrainSlots(lambda: 1, wakes)

    with slots.slot() as held:
        assert held
        with slots.slot() as refused:
            assert not refused
        assert wakes.count == 0  # not while the slot is still held

    assert wakes.count == 1


def test_a_holder_that_saw_no_refusal_asks_for_nothing() -> None:
    wakes = Wakes()
    slots = DrainSlots(lambda: 1, wakes)

    with slots.slot():
        pass

    assert wakes.count == 0


def test_a_refusal_before_a_holder_came_is_not_its_to_answer() -> None:
    wakes = Wakes()
    slots = DrainSlots(lambda: 1, wakes)
    with slots.slot(), slots.slot():
        pass
    assert wakes.count == 1

    with slots.slot():
        pass

    assert wakes.count == 1


def test_a_slot_is_given_back_when_the_drain_raises() -> None:
    wakes = Wakes()
    slots = DrainSlots(lambda: 1, wakes)

    with pytest.raises(RuntimeError), slots.slot():
        with slots.slot():
            pass
        raise RuntimeError

    assert slots.held == 0
    assert wakes.count == 1


def test_the_size_is_read_at_each_request() -> None:
    size = [1]
    slots = DrainSlots(lambda: size[0], Wakes())

    with slots.slot():
        size[0] = 2
        with slots.slot() as second:
            assert second
