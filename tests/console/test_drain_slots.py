"""`console.drain_slots.DrainSlots`: how many drain jobs compute at once in a process."""

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
        assert (first.granted, second.granted, third.granted) == (True, True, False)
        assert slots.computing == 2
    assert slots.computing == 0


def test_a_holder_that_saw_a_refusal_asks_for_a_new_job_when_it_leaves() -> None:
    wakes = Wakes()
    slots = DrainSlots(lambda: 1, wakes)

    with slots.slot() as held:
        assert held.granted
        with slots.slot() as refused:
            assert not refused.granted
        assert wakes.count == 0  # not while the slot is still taken

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

    assert slots.computing == 0
    assert wakes.count == 1


def test_a_holder_waiting_on_slow_receivers_frees_its_slot_and_answers_refusals() -> None:
    wakes = Wakes()
    slots = DrainSlots(lambda: 1, wakes)

    with slots.slot() as held:
        with slots.slot() as refused:
            assert not refused.granted
        held.waiting(True)
        assert wakes.count == 1  # the refused job's rows get a new job now
        with slots.slot() as other:
            assert other.granted
        held.waiting(False)
        assert slots.computing == 1
    assert slots.computing == 0
    assert wakes.count == 1


def test_a_holder_that_leaves_while_waiting_gives_back_nothing_twice() -> None:
    slots = DrainSlots(lambda: 1, Wakes())

    with slots.slot() as held:
        held.waiting(True)
        held.waiting(True)

    assert slots.computing == 0
    with slots.slot() as again:
        assert again.granted
