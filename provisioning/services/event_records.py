"""The record of one provider delivery (`EventRecord`): stored once per (setup, key), and
the one thing that decides whether a delivery is the first of its event or a repeat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from console.db.inserts import insert_instance_if_absent
from console.db.instances import unsaved
from console.db.one_statement import Gate
from provisioning.models import ProviderEvent, Setup


class EventRecord:
    """A delivery's `ProviderEvent`, built in its final state and stored once.

    The intake stores it before the handlers run, unless the event's handler stores it
    itself (`provisioning.dispatch.register(..., records_event=True)`): then the handler
    either calls `store()` before its first write and stops when it answers False, or
    writes everything in one statement guarded by `gate()` and reports it with
    `settle()`. Whatever the handler left undecided the intake stores afterwards.
    """

    def __init__(self, row: ProviderEvent) -> None:
        self.row = row
        self.stored: bool | None = None  # None: not decided yet
        self._gate: Gate | None = None

    @classmethod
    def of(
        cls,
        *,
        setup: Setup,
        event_key: str,
        event_type: str,
        payload: Any,
        status: str,
        error: str = "",
        processed_at: datetime | None = None,
    ) -> EventRecord:
        """The record of a delivery, its key and type cut to what the columns hold."""
        return cls(
            unsaved(
                ProviderEvent,
                setup=setup,
                event_key=event_key[:255],
                event_type=event_type[:64],
                payload=payload,
                status=status,
                error=error,
                processed_at=processed_at,
            )
        )

    def store(self) -> bool:
        """Store the record unless that was decided already; True when this delivery
        stored it (go on), False when an earlier delivery of the event did (write
        nothing). A concurrent delivery of the same key waits here for the other's
        commit, then answers False."""
        if self.stored is None:
            return self._decided(insert_instance_if_absent(self.row) is not None)
        return self.stored

    def gate(self) -> Gate:
        """The record as the `console.db.one_statement.Gate` of the statement that writes what the
        handler stores; call `settle()` after that statement ran."""
        if self.stored is not None:
            raise RuntimeError("the record is stored already")
        self._gate = Gate(self.row)
        return self._gate

    def settle(self) -> bool:
        """Take the outcome of the statement the gate guarded (`store()`'s answer)."""
        if self._gate is None or self._gate.stored is None:
            raise RuntimeError("no statement ran with the gate")
        return self._decided(self._gate.stored)

    def _decided(self, stored: bool) -> bool:
        """This delivery stored the record, or an earlier one did: then `row` becomes
        that delivery's record (the response names its id)."""
        if not stored:
            self.row = ProviderEvent.objects.get(
                setup_id=self.row.setup_id, event_key=self.row.event_key
            )
        self.stored = stored
        return stored
