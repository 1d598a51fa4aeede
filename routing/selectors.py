"""Routing reads: connections, pool-line choice, rules, triage number (the filter decisions
are `routing.rule_decisions`; the inbound line query, with its one-statement verdict, is
`routing.inbound_selectors`).

Every read that serves the API is scoped to the caller's organisation (and identity for
identity-scoped keys); foreign rows behave as missing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from console.db.prepared import PreparedQuery
from console.errors import NotFound
from console.models import AgentIdentity, ApiKey
from console.scope import Scope, scoped_get
from provisioning.models import LineRole, LineState, PhoneLine
from routing.line_loads import LINE_LOADS
from routing.models import (
    Assignment,
    AssignmentStatus,
    ContactRule,
    ExhaustionReason,
    RuleDirection,
)

ASSIGNMENT_NOT_FOUND = "Assignment not found."
RULE_NOT_FOUND = "Contact rule not found."
CONNECT_COMMAND_TEMPLATE = "connect @{handle}"


@dataclass(frozen=True)
class TriageInfo:
    number: str
    connect_command: str


# --- Connections -----------------------------------------------------------


# Every connect and send by `to` asks: compiled once per process.
_ACTIVE_ASSIGNMENT = PreparedQuery(
    Assignment,
    lambda *, identity_id, remote_number: (
        Assignment.objects.select_related("pool_line")
        .filter(
            identity_id=identity_id, remote_number=remote_number, status=AssignmentStatus.ACTIVE
        )
        .order_by("pk")[:1]
    ),
    identity_id=uuid.UUID,
    remote_number=str,
)


def active_assignment(*, identity: AgentIdentity, remote_number: str) -> Assignment | None:
    found: Assignment | None = _ACTIVE_ASSIGNMENT.first(
        identity_id=identity.pk, remote_number=remote_number
    )
    return found


def active_assignment_on_line(*, line: PhoneLine, remote_number: str) -> Assignment | None:
    return (
        Assignment.objects.select_related("identity", "identity__organization")
        .filter(pool_line=line, remote_number=remote_number, status=AssignmentStatus.ACTIVE)
        .first()
    )


def group_connection_on_line(
    *, line: PhoneLine, sender: str, participants: Sequence[str]
) -> Assignment | None:
    """The connection a group thread on a pool line belongs to, for audit: the sender's
    active connection on that line, else another member's; None when nobody in the thread
    is connected over it."""
    members = [sender, *(p for p in participants if p != sender)]
    connections = {
        a.remote_number: a
        for a in Assignment.objects.select_related("identity", "identity__organization").filter(
            pool_line=line, remote_number__in=members, status=AssignmentStatus.ACTIVE
        )
    }
    return next((connections[m] for m in members if m in connections), None)


def assignment_list_for_key(
    *, key: ApiKey, agent_identity_id: uuid.UUID | None = None
) -> QuerySet[Assignment]:
    """Active connections, newest first. Scoped keys see their own identity only."""
    scope = Scope.for_api_key(key)
    if scope.identity_id is None and agent_identity_id is not None:
        scope = scope.narrowed_to(agent_identity_id)
    qs = scope.filter(
        Assignment.objects.filter(status=AssignmentStatus.ACTIVE), identity="identity_id"
    )
    return qs.select_related("organization").order_by("-created_at", "-id")


def assignment_get_active_for_org(*, key: ApiKey, assignment_id: uuid.UUID) -> Assignment:
    assignment = (
        Assignment.objects.select_related("identity", "organization", "pool_line")
        .filter(
            id=assignment_id,
            organization_id=key.organization_id,
            status=AssignmentStatus.ACTIVE,
        )
        .first()
    )
    if assignment is None:
        raise NotFound(ASSIGNMENT_NOT_FOUND)
    return assignment


def eligible_pool_lines() -> QuerySet[PhoneLine]:
    """Pool lines that may take new connections: placed, not paused, blocked or released."""
    return PhoneLine.objects.filter(
        role=LineRole.POOL,
        state=LineState.ASSIGNED,
        is_paused=False,
        blocked_at__isnull=True,
        released_at__isnull=True,
    )


# Every connect reads both: compiled once per process.
def _lines_of_person(*, remote_number: str) -> QuerySet[Assignment, Any]:
    """The pool lines a person is connected over (index `assignment_active_by_person`)."""
    return Assignment.objects.filter(
        remote_number=remote_number, status=AssignmentStatus.ACTIVE
    ).values("pool_line_id")


_LINES_OF_PERSON = PreparedQuery(Assignment, _lines_of_person, remote_number=str)
_POOL_LINES_WITH_CONTACTS = PreparedQuery(
    PhoneLine,
    lambda *, hour_since, day_since: (
        eligible_pool_lines()
        .annotate(
            hour_contacts=_new_contacts_on_line(hour_since),
            day_contacts=_new_contacts_on_line(day_since),
        )
        .order_by("requested_at", "id")
    ),
    hour_since=datetime,
    day_since=datetime,
)


def _active_by_line() -> dict[uuid.UUID, int]:
    """Active connections of every line that has any, in one pass over the partial unique
    index on active (line, person)."""
    rows = (
        Assignment.objects.filter(status=AssignmentStatus.ACTIVE)
        .order_by()
        .values("pool_line_id")
        .annotate(n=Count("*"))
        .values_list("pool_line_id", "n")
    )
    return dict(rows)


@dataclass(frozen=True)
class PoolChoice:
    line: PhoneLine | None
    # Set when `line` is None: why nothing could be chosen.
    exhausted: ExhaustionReason | None = None


def pool_line_choose(
    *, remote_number: str, exclude_ids: frozenset[uuid.UUID] = frozenset()
) -> PoolChoice:
    """The pool line for a new connection of `remote_number`, in two queries (a third
    when this process's load snapshot is refreshed).

    Among eligible lines that carry no active connection of this person, skip those at the
    provider's new-contact caps (distinct people connected in the rolling hour / day), then
    prefer the fewest active connections (oldest line on ties, for stable choices), as
    counted at most a second ago (`routing.line_loads`).
    """
    now = timezone.now()
    used = {row["pool_line_id"] for row in _LINES_OF_PERSON.rows(remote_number=remote_number)}
    used |= set(exclude_ids)
    lines: list[Any] = _POOL_LINES_WITH_CONTACTS.rows(
        hour_since=now - timedelta(hours=1), day_since=now - timedelta(days=1)
    )
    free = [line for line in lines if line.id not in used]
    if lines and not free:
        return PoolChoice(line=None, exhausted=ExhaustionReason.PERSON)
    loads = LINE_LOADS.counts(_active_by_line)
    # Stable: lines with as many connections stay oldest first.
    free.sort(key=lambda line: loads.get(line.id, 0))
    for line in free:
        if (
            line.hour_contacts < settings.POOL_LINE_NEW_CONTACTS_PER_HOUR
            and line.day_contacts < settings.POOL_LINE_NEW_CONTACTS_PER_DAY
        ):
            return PoolChoice(line=line)
    return PoolChoice(line=None, exhausted=ExhaustionReason.CAPACITY)


def _per_line(assignments: QuerySet[Assignment], count: Count) -> Coalesce:
    """`count` over `assignments` of the outer line, as a correlated subquery: each reads
    only its line's entries of an index (a join with the lines read every connection
    the lines ever carried, 90,000 rows and 94 ms per connect at a million messages)."""
    per_line = (
        assignments.filter(pool_line=OuterRef("pk"))
        .order_by()
        .values("pool_line")
        .annotate(n=count)
        .values("n")
    )
    return Coalesce(Subquery(per_line, output_field=IntegerField()), Value(0))


def _active_on_line(organization_q: Q | None = None) -> Coalesce:
    """Active connections of the outer line (an index-only scan of the partial unique index
    on active (line, person))."""
    active = Assignment.objects.filter(status=AssignmentStatus.ACTIVE)
    if organization_q is not None:
        active = active.filter(organization_q)
    return _per_line(active, Count("*"))


def _new_contacts_on_line(since: datetime) -> Coalesce:
    """Distinct people newly connected on the outer line since `since`, which the
    provider's new-contact caps limit per rolling hour and day (an index range scan on
    (line, created_at))."""
    return _per_line(
        Assignment.objects.filter(created_at__gte=since), Count("remote_number", distinct=True)
    )


def pool_line_load(*, scope: Scope) -> QuerySet[PhoneLine]:
    """Every pool line not released, oldest first, in one query, with its load: `active`
    connections (all organisations: the line's load), `active_yours` (the scope's),
    and the distinct people newly connected in the last `hour_contacts` / `day_contacts`,
    which the provider's new-contact caps limit."""
    now = timezone.now()
    return (
        PhoneLine.objects.filter(role=LineRole.POOL, released_at__isnull=True)
        .annotate(
            active=_active_on_line(),
            active_yours=_active_on_line(scope.organization_q("organization_id")),
            hour_contacts=_new_contacts_on_line(now - timedelta(hours=1)),
            day_contacts=_new_contacts_on_line(now - timedelta(days=1)),
        )
        .order_by("requested_at", "id")
    )


# --- Triage ----------------------------------------------------------------


def router_line() -> PhoneLine | None:
    return (
        PhoneLine.objects.filter(
            role=LineRole.ROUTER,
            state=LineState.ASSIGNED,
            is_paused=False,
            blocked_at__isnull=True,
            released_at__isnull=True,
        )
        .order_by("-assigned_at", "requested_at")
        .first()
    )


def triage_info(*, handle: str | None = None) -> TriageInfo | None:
    """The active router number and the exact text to send it; None without a router line."""
    line = router_line()
    if line is None or line.number is None:
        return None
    return TriageInfo(
        number=line.number,
        connect_command=CONNECT_COMMAND_TEMPLATE.format(handle=handle or "handle"),
    )


# --- Contact rules ---------------------------------------------------------


def contact_rule_list(
    *,
    organization_id: uuid.UUID,
    identity_id: uuid.UUID | None = None,
    action: str | None = None,
    match_type: str | None = None,
    direction: str | None = None,
) -> QuerySet[ContactRule]:
    """Rules of one organisation. `inbound`/`outbound` include `both`; `both` is exact."""
    qs = ContactRule.objects.filter(identity__organization_id=organization_id)
    if identity_id is not None:
        qs = qs.filter(identity_id=identity_id)
    if action is not None:
        qs = qs.filter(action=action)
    if match_type is not None:
        qs = qs.filter(match_type=match_type)
    if direction in (RuleDirection.INBOUND, RuleDirection.OUTBOUND):
        qs = qs.filter(direction__in=[direction, RuleDirection.BOTH])
    elif direction == RuleDirection.BOTH:
        qs = qs.filter(direction=RuleDirection.BOTH)
    return qs.order_by("created_at", "id")


def contact_rule_get(*, identity: AgentIdentity, rule_id: uuid.UUID) -> ContactRule:
    rule = ContactRule.objects.filter(identity=identity, id=rule_id).first()
    if rule is None:
        raise NotFound(RULE_NOT_FOUND)
    return rule


# --- Console reads (identities, connections) ------------------------------------------------


def identity_list_for_scope(*, scope: Scope) -> QuerySet[AgentIdentity]:
    """Identities with their rule and live-connection counts."""
    return (
        scope.filter(AgentIdentity.objects.select_related("organization"), identity="id")
        .annotate(
            rule_count=Count("contact_rules", distinct=True),
            connection_count=Count(
                "assignments",
                filter=Q(assignments__status=AssignmentStatus.ACTIVE),
                distinct=True,
            ),
        )
        .order_by("handle")
    )


def identity_connection_list(*, identity: AgentIdentity) -> QuerySet[Assignment]:
    return (
        Assignment.objects.filter(identity=identity, status=AssignmentStatus.ACTIVE)
        .select_related("pool_line")
        .order_by("-created_at", "id")
    )


def identity_rule_list(*, identity: AgentIdentity) -> QuerySet[ContactRule]:
    return identity.contact_rules.order_by("match_target", "created_at", "id")


def assignment_get_for_scope(*, scope: Scope, assignment_id: uuid.UUID | str) -> Assignment:
    return scoped_get(
        scope.filter(
            Assignment.objects.select_related("identity", "organization", "pool_line"),
            identity="identity_id",
        ),
        not_found=ASSIGNMENT_NOT_FOUND,
        id=assignment_id,
    )


def active_connection_count(*, scope: Scope) -> int:
    return scope.filter(Assignment.objects.filter(status=AssignmentStatus.ACTIVE)).count()


def pool_new_contacts_since(since: datetime) -> list[int]:
    """New connections each eligible pool line took since `since` (pool lines are
    platform-wide, so this is not scoped)."""
    return list(
        eligible_pool_lines()
        .annotate(new_today=Count("assignments", filter=Q(assignments__created_at__gte=since)))
        .values_list("new_today", flat=True)
    )
