"""Console memberships: who may see and operate which organisation in the staff console."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from console.models import Membership, MembershipRole, Organization

ROLE_GROUPS = {MembershipRole.OPERATOR: "Operators", MembershipRole.AUDITOR: "Auditors"}
ROLE_PERMISSIONS = {
    MembershipRole.OPERATOR: ["console_view", "console_operate"],
    MembershipRole.AUDITOR: ["console_view"],
}


@transaction.atomic
def membership_grant(*, user: Any, organization: Organization, role: str) -> Membership:
    """Give `user` a role in `organization` and the matching permission group.

    A user's groups are the union of their roles, while each organisation's role is checked
    on its own, so an auditor here stays read-only even if they operate elsewhere.
    """
    membership, _ = Membership.objects.update_or_create(
        user=user, organization=organization, defaults={"role": role}
    )
    user.groups.add(role_group(role))
    return membership


def role_group(role: str) -> Group:
    """The permission group of a role, repaired if missing (console migration 0003 creates
    them; a flushed test database or a hand-edited admin may not have them)."""
    group, _ = Group.objects.get_or_create(name=ROLE_GROUPS[MembershipRole(role)])
    codenames = ROLE_PERMISSIONS[MembershipRole(role)]
    if group.permissions.filter(codename__in=codenames).count() != len(codenames):
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="console", codename__in=codenames)
        )
    return group
