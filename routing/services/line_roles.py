"""Line roles: which of the platform's lines is the router, which carry the pool."""

from __future__ import annotations

from django.db import transaction

from console.errors import Conflict, ValidationFailed
from console.services import Actor, save_audited
from provisioning.models import LineRole, PhoneLine
from provisioning.services.lines import PLATFORM_ROLES_ONLY_ON_PLATFORM
from routing.models import Assignment, AssignmentStatus

LINE_ROLES = {r.value for r in LineRole}
SHARED_ROLES = (LineRole.ROUTER, LineRole.POOL)
LINE_RELEASED = "This line was released; it can no longer take a role."
LINE_BLOCKED = "The provider blocked this line; it cannot be the router or carry the pool."


class LineRoleRefused(Conflict):
    code = "line_role_refused"


def line_role_check(*, line: PhoneLine, role: str) -> None:
    """Raise why `line` cannot take `role`, or return when it can.

    Router and pool lines are the platform's, shared by every organisation: only a line of
    a platform setup, with no identity attached and not blocked, can take them. A released
    line takes no role at all, and a pool line with active connections keeps its role until
    they are released.
    """
    if role not in LINE_ROLES:
        raise ValidationFailed(f"role must be one of {sorted(LINE_ROLES)}.")
    if line.role == role:
        return
    if line.released_at is not None:
        raise LineRoleRefused(LINE_RELEASED)
    if (
        line.role == LineRole.POOL
        and Assignment.objects.filter(pool_line=line, status=AssignmentStatus.ACTIVE).exists()
    ):
        raise Conflict(
            "This pool line still carries active connections; release them first.",
            code="line_in_use",
        )
    if role in SHARED_ROLES:
        if not line.setup.is_platform:
            raise LineRoleRefused(PLATFORM_ROLES_ONLY_ON_PLATFORM)
        if line.identity_id is not None:
            raise Conflict("Detach the line from its identity first.", code="line_attached")
        if line.blocked_at is not None:
            raise LineRoleRefused(LINE_BLOCKED)


@transaction.atomic
def line_role_set(*, line: PhoneLine, role: str, actor: Actor) -> PhoneLine:
    """Give a line the router, pool or dedicated role; `line_role_check` says which
    changes are refused and why."""
    line = PhoneLine.objects.select_for_update().select_related("setup").get(pk=line.pk)
    line_role_check(line=line, role=role)
    if line.role == role:
        return line
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
