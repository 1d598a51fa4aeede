"""How many drain jobs of one kind drain at once in a worker process (`DrainSlots`).

A drain job asks for a helper after every full claim (`Outbox.wake`), so during a backlog
every worker thread of a process ends up draining. For webhook deliveries to receivers
that answer at once that is the slowest arrangement: eight threads POSTing in one
process spent 1.6 ms of CPU per delivery contending for the GIL, two spent 0.9 ms and
delivered more per second. A job that finds every slot of its process taken returns at
once and leaves the backlog to the jobs holding them.

Why nothing is stranded: a refused job has already cleared the wake-up token, so the
rows it would have claimed are left to the slot holders. Each holder notes the refusals
seen while it held its slot, and on leaving, if any, calls `on_refused` (the kind's
`wake`), which publishes a new job once the slot is free. The periodic sweep stays the
backstop, as for every outbox.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class DrainSlots:
    """At most `size()` drain jobs at once in this process; thread-safe."""

    def __init__(self, size: Callable[[], int], on_refused: Callable[[], Any]) -> None:
        self.size = size
        self.on_refused = on_refused
        self._lock = threading.Lock()
        self._held = 0
        self._refusals = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """True inside when this job holds a slot and may drain; False when it must not."""
        with self._lock:
            if self._held >= self.size():
                self._refusals += 1
                granted = False
            else:
                self._held += 1
                granted = True
                refusals_before = self._refusals
        if not granted:
            yield False
            return
        try:
            yield True
        finally:
            with self._lock:
                self._held -= 1
                refused_meanwhile = self._refusals != refusals_before
            if refused_meanwhile:
                self.on_refused()

    @property
    def held(self) -> int:
        with self._lock:
            return self._held
