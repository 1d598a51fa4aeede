"""Console part of `manage.py seed_demo`: logins and something to look at.

Called by provisioning's seed_demo as `seed_demo(tenancy)`; returns the labelled login
lines `run_demo` prints. Passwords are random per install and kept in var/ (git-ignored,
mode 0600) so `make run` shows the same logins every time; nothing is fixed in the code.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from console.memberships import membership_grant
from console.models import AgentIdentity, MembershipRole, Organization
from console.services import Actor
from messaging.models import Conversation, Direction, Message, Reaction
from provisioning.models import LineRole, LineState, PhoneLine, Setup, SetupStatus
from routing import hooks
from routing.models import Assignment, ContactRule
from routing.services.contact_rules import contact_rule_create

LOGINS = {"operator": MembershipRole.OPERATOR, "auditor": MembershipRole.AUDITOR}
DEMO_SETUP_LABEL = "Demo clinic lines"
BLOCKED_SENDER = "+12025550142"
ALLOWED_SENDER = "+12025550177"
CONNECTED_PERSON = "+12025550123"
POOL_LINE_WAIT_SECONDS = 15.0


def _logins_file() -> Path:
    return Path(settings.VAR_DIR) / "demo-console-logins.json"


def seed_logins(organization: Organization) -> dict[str, str]:
    """Operator and auditor users with per-install random passwords."""
    path = _logins_file()
    saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    user_model = get_user_model()
    passwords: dict[str, str] = {}
    for username, role in LOGINS.items():
        user, _ = user_model.objects.get_or_create(username=username)
        password = saved.get(username, "")
        if not password or not user.check_password(password):
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save()
        membership_grant(user=user, organization=organization, role=role)
        passwords[username] = password
    path.write_text(json.dumps(passwords))
    os.chmod(path, 0o600)
    return passwords


def _assigned_pool_line() -> PhoneLine | None:
    # The simulator assigns the platform's pool lines a moment after seed_demo asks for them.
    deadline = time.monotonic() + POOL_LINE_WAIT_SECONDS
    while True:
        line = PhoneLine.objects.filter(role=LineRole.POOL, state=LineState.ASSIGNED).first()
        if line is not None or time.monotonic() > deadline:
            return line
        time.sleep(0.5)


def _message(
    conversation: Conversation, direction: str, text: str, at: dt.datetime, **kw: Any
) -> Message:
    return Message.objects.create(
        organization_id=conversation.organization_id,
        identity_id=conversation.identity_id,
        conversation=conversation,
        assignment=conversation.assignment,
        line=conversation.line,
        direction=direction,
        remote_number=conversation.remote_number,
        content=text,
        status="received" if direction == Direction.INBOUND else kw.pop("status", "delivered"),
        created_at=at,
        **kw,
    )


def activity_seeded(identity: AgentIdentity) -> bool:
    return Setup.objects.filter(
        organization_id=identity.organization_id, label=DEMO_SETUP_LABEL
    ).exists()


@transaction.atomic
def seed_activity(identity: AgentIdentity, pool_line: PhoneLine | None) -> None:
    """A setup with a pending line, rules, a connected conversation and a blocked message.

    `pool_line` carries the connection; without one the conversation is shown unconnected.
    """
    organization = identity.organization
    if activity_seeded(identity):
        return
    now = timezone.now()
    # A setup recorded without provider credentials: the reconcile sweep leaves it alone, so
    # its line stays visibly pending for the demo.
    setup = Setup.objects.create(
        organization=organization,
        business_name=organization.name,
        label=DEMO_SETUP_LABEL,
        provider=settings.PROVIDER_NAME,
        status=SetupStatus.PENDING,
    )
    line = PhoneLine.objects.create(
        setup=setup, role=LineRole.DEDICATED, provider_request_id="demo-ticket-1042"
    )
    PhoneLine.objects.filter(pk=line.pk).update(requested_at=now - dt.timedelta(hours=5))

    actor = Actor.system()
    if not ContactRule.objects.filter(identity=identity).exists():
        contact_rule_create(
            identity=identity, actor=actor, action="block", match_target=BLOCKED_SENDER
        )
        contact_rule_create(
            identity=identity, actor=actor, action="allow", match_target=ALLOWED_SENDER
        )

    blocked = Conversation.objects.create(
        organization=organization, identity=identity, remote_number=BLOCKED_SENDER
    )
    rule = ContactRule.objects.filter(identity=identity, match_target=BLOCKED_SENDER).first()
    _message(
        blocked,
        Direction.INBOUND,
        "Hi, I got this number from a flyer. Can I book a visit?",
        now - dt.timedelta(hours=2),
        is_blocked=True,
        blocked_rule_id=rule.id if rule else None,
    )

    assignment = None
    if pool_line is not None:
        assignment = Assignment.objects.create(
            organization=organization,
            identity=identity,
            remote_number=CONNECTED_PERSON,
            pool_line=pool_line,
        )
    conversation, _ = Conversation.objects.get_or_create(
        identity=identity,
        remote_number=CONNECTED_PERSON,
        defaults={"organization": organization, "assignment": assignment, "line": pool_line},
    )
    if assignment is not None:
        hooks.assignment_changed(assignment)
    for days_ago in range(13, 0, -1):
        at = now - dt.timedelta(days=days_ago, hours=days_ago % 5)
        for n in range(days_ago % 4 + 1):
            _message(conversation, Direction.INBOUND, "Checking in.", at + dt.timedelta(minutes=n))
            _message(
                conversation,
                Direction.OUTBOUND,
                "Thanks!",
                at + dt.timedelta(minutes=n, seconds=30),
            )
    question = _message(
        conversation,
        Direction.INBOUND,
        "Can I move my appointment to Thursday?",
        now - dt.timedelta(minutes=40),
    )
    _message(
        conversation,
        Direction.OUTBOUND,
        "Yes: Thursday at 10:00 is free. I have booked it for you.",
        now - dt.timedelta(minutes=38),
        service="sms",
        was_downgraded=True,
    )
    Reaction.objects.create(
        organization=organization,
        identity=identity,
        conversation=conversation,
        message=question,
        direction=Direction.OUTBOUND,
        reaction="like",
        remote_number=CONNECTED_PERSON,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now)


def seed_demo(tenancy: Any) -> list[str]:
    passwords = seed_logins(tenancy.organization)
    if not activity_seeded(tenancy.identity):
        # Wait outside the transaction: the intake must be able to write the assignment.
        seed_activity(tenancy.identity, _assigned_pool_line())
    return [
        f"Operator login: operator {passwords['operator']}",
        f"Auditor login: auditor {passwords['auditor']}",
    ]
