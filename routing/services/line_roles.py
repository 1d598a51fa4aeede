"""Line roles: which of the platform's lines is the router, which carry the pool."""

from __future__ import annotations

from django.db import transaction

from console.errors import Conflict, ValidationFailed
from console.services import Actor, save_audited
from provisioning.models import LineRole, PhoneLine
from routing.models import Assignment, AssignmentStatus

LINE_ROLES = {r.value for r in LineRole}


@transaction.atomic
def line_role_set(*, line: PhoneLine, role: str, actor: Actor) -> PhoneLine:
    """Give a line the router, pool or dedicated role.

    A line that still carries active connections cannot stop being a pool line (release
    them first), and router/pool lines are platform lines with no identity attached.
    """
    if role not in LINE_ROLES:
        raise ValidationFailed(f"role must be one of {sorted(LINE_ROLES)}.")
    line = PhoneLine.objects.select_for_update().select_related("setup").get(pk=line.pk)
    if line.role == role:
        return line
    if (
        line.role == LineRole.POOL
        and Assignment.objects.filter(pool_line=line, status=AssignmentStatus.ACTIVE).exists()
    ):
        raise Conflict(
            "This pool line still carries active connections; release them first.",
            code="line_in_use",
        )
    if role in (LineRole.ROUTER, LineRole.POOL) and line.identity_id is not None:
        raise Conflict("Detach the line from its identity first.", code="line_attached")
    before = {"role": line.role}
    line.role = role
    save_audited(
        line,
        ["role"],
        organization=line.setup.organization,
        actor=actor,
        action="line.role_set",
        before=before,
        after={"role": role},
    )
    return line
