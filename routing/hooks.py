"""Listeners for assignment changes, so routing never imports messaging.

Messaging registers `conversation_attach` here in its AppConfig.ready(); routing calls
`assignment_changed` inside the transaction that activates or releases an assignment.
"""

from __future__ import annotations

from collections.abc import Callable

from routing.models import Assignment

AssignmentListener = Callable[[Assignment], None]
_listeners: list[AssignmentListener] = []


def on_assignment_changed(listener: AssignmentListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def assignment_changed(assignment: Assignment) -> None:
    for listener in _listeners:
        listener(assignment)
