"""How many drain jobs of one kind compute at once in a worker process (`DrainSlots`).

A drain job asks for a helper after every full claim (`Outbox.wake`), so during a backlog
every worker thread of a process ends up draining. For webhook deliveries to receivers
that answer at once that is the slowest arrangement: eight threads POSTing in one
process spent 1.6 ms of CPU per delivery contending for the GIL, two spent 0.9 ms and
delivered more per second. A job that finds every slot of its process taken returns at
once and leaves the backlog to the jobs holding them.

A holder that waits on slow receivers instead (`Slot.waiting`) does not count against
the limit while it waits: waiting threads do not contend, and their receivers need the
concurrency.

Why nothing is stranded: a refused job has already cleared the wake-up token, so the
rows it would have claimed are left to the holders. A holder that saw refusals since it
last looked calls `on_refused` (the kind's wake-up) when it starts waiting or leaves: a
slot is free then, and the new job gets it. The periodic sweep stays the backstop, as for
every outbox.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Slot:
    """A drain job's place in its process's `DrainSlots`."""

    def __init__(self, slots: DrainSlots, *, granted: bool, refusals_seen: int) -> None:
        self.slots = slots
        self.granted = granted
        self.is_waiting = False
        self.refusals_seen = refusals_seen

    def waiting(self, flag: bool) -> None:
        """The job waits on slow receivers (True) or computes again (False)."""
        if flag != self.is_waiting and self.granted:
            self.slots._set_waiting(self, flag)


class DrainSlots:
    """At most `size()` computing drain jobs at once in this process; thread-safe."""

    def __init__(self, size: Callable[[], int], on_refused: Callable[[], Any]) -> None:
        self.size = size
        self.on_refused = on_refused
        self._lock = threading.Lock()
        self._computing = 0
        self._refusals = 0

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        """A `Slot` whose `granted` says whether this job may drain."""
        with self._lock:
            granted = self._computing < self.size()
            if granted:
                self._computing += 1
            else:
                self._refusals += 1
            held = Slot(self, granted=granted, refusals_seen=self._refusals)
        if not granted:
            yield held
            return
        try:
            yield held
        finally:
            with self._lock:
                if not held.is_waiting:
                    self._computing -= 1
            self._answer_refusals(held)

    def _set_waiting(self, held: Slot, flag: bool) -> None:
        with self._lock:
            self._computing += -1 if flag else 1
            held.is_waiting = flag
        if flag:
            self._answer_refusals(held)

    def _answer_refusals(self, held: Slot) -> None:
        """Ask for a new job when jobs were refused since `held` last looked."""
        with self._lock:
            refused = self._refusals != held.refusals_seen
            held.refusals_seen = self._refusals
        if refused:
            self.on_refused()

    @property
    def computing(self) -> int:
        with self._lock:
            return self._computing
