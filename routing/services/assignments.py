"""Assignments: releasing a connection (by the person, the agent, a staff member or the
identity's deletion)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from console.models import AgentIdentity, Organization
from console.services import Actor, audit_record
from routing import hooks
from routing.models import Assignment, AssignmentStatus, ReleaseReason


def assignment_changed(
    assignment: Assignment,
    *,
    organization: Organization,
    actor: Actor,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any],
    announce: bool,
) -> None:
    """Record a change to `assignment`: tell `routing.hooks` listeners (unless `announce`
    is False) and audit `action` from `before` to `after`."""
    if announce:
        hooks.assignment_changed(assignment)
    audit_record(
        organization=organization,
        actor=actor,
        action=action,
        obj=assignment,
        before=before,
        after=after,
    )


@transaction.atomic
def assignment_release(
    *, assignment: Assignment, actor: Actor, reason: str, announce: bool = True
) -> bool:
    """Release an active connection for `reason` (a `ReleaseReason`); returns False when
    it was no longer active. `routing.hooks` listeners are told unless `announce` is False
    (the inbound path returns the change to messaging instead).

    The conditional update makes concurrent releases harmless: exactly one wins.
    """
    now = timezone.now()
    changed = Assignment.objects.filter(pk=assignment.pk, status=AssignmentStatus.ACTIVE).update(
        status=AssignmentStatus.RELEASED, released_at=now, updated_at=now, release_reason=reason
    )
    if not changed:
        return False
    assignment.status = AssignmentStatus.RELEASED
    assignment.released_at = now
    assignment.updated_at = now
    assignment.release_reason = reason
    assignment_changed(
        assignment,
        organization=assignment.organization,
        actor=actor,
        action="assignment.release",
        before={"status": "active"},
        after={"status": "released", "reason": reason},
        announce=announce,
    )
    return True


def identity_assignments_release(identity: AgentIdentity, actor: Actor) -> None:
    """An identity is being archived (`console.hooks`): release its active connections."""
    for assignment in Assignment.objects.filter(
        identity=identity, status=AssignmentStatus.ACTIVE
    ).select_related("organization"):
        assignment_release(assignment=assignment, actor=actor, reason=ReleaseReason.AGENT)
