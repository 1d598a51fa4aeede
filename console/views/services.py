"""Console writes that belong to no other app: memberships and blocked-message review.

Rule, filter-mode, connection, line-role and delivery changes go through the owning app's
services; these functions only orchestrate them and record what the reviewer decided.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q

from console.models import Membership, MembershipRole, Organization
from console.services import Actor, audit_record
from messaging.models import Message
from routing.services.contact_rules import blocked_sender_allow

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


# --- Blocked-message review ---------------------------------------------------------------

REVIEW_ALLOWED = "allowed"
REVIEW_KEPT = "kept"


def _mark_reviewed(message: Message, state: str) -> int:
    """Settle every unreviewed blocked message from the same sender to the same identity."""
    return (
        Message.objects.filter(
            identity_id=message.identity_id,
            remote_number=message.remote_number,
            is_blocked=True,
        )
        .filter(Q(pk=message.pk) | Q(review_state=""))
        .update(review_state=state)
    )


@transaction.atomic
def blocked_message_allow(*, message: Message, actor: Actor) -> str:
    """Let the sender of a blocked message reach the identity from now on (routing's
    `blocked_sender_allow` changes the rules) and record the review; returns what changed."""
    identity = message.identity
    number = message.remote_number
    summary = blocked_sender_allow(identity=identity, number=number, actor=actor)
    _mark_reviewed(message, REVIEW_ALLOWED)
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="blocked_message.allow",
        obj=message,
        before={"review_state": message.review_state or "pending"},
        after={"review_state": REVIEW_ALLOWED, "sender": number, "changes": summary},
    )
    message.review_state = REVIEW_ALLOWED
    return summary


@transaction.atomic
def blocked_message_keep(*, message: Message, actor: Actor) -> None:
    """Record that a reviewer looked at the message and left the rules as they are."""
    _mark_reviewed(message, REVIEW_KEPT)
    audit_record(
        organization=message.identity.organization,
        actor=actor,
        action="blocked_message.keep",
        obj=message,
        before={"review_state": message.review_state or "pending"},
        after={"review_state": REVIEW_KEPT, "sender": message.remote_number},
    )
    message.review_state = REVIEW_KEPT
