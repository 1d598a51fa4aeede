"""Reads for console pages, always scoped to the viewer's organisations.

Lists are cut with LIMIT page_size + 1 instead of COUNT(*), so a page costs the same with a
million messages as with ten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Count, F, Min, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from console.models import AgentIdentity, AuditEntry
from messaging.models import Conversation, Direction, Message, Reaction
from messaging.webhooks.models import DeliveryStatus as WebhookDeliveryStatus
from messaging.webhooks.models import WebhookDelivery
from provisioning.models import LineRole, LineState, PhoneLine, Setup
from routing.models import Assignment, AssignmentStatus, ContactRule

PAGE_SIZE = 50
T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def previous_number(self) -> int:
        return self.number - 1


def paginate(qs: QuerySet[Any], *, page: int, page_size: int = PAGE_SIZE) -> Page[Any]:
    page = max(page, 1)
    start = (page - 1) * page_size
    rows = list(qs[start : start + page_size + 1])
    return Page(items=rows[:page_size], number=page, has_next=len(rows) > page_size)


def _get(qs: QuerySet[Any], **lookup: Any) -> Any:
    """One object from a scoped queryset; outside the scope it simply does not exist."""
    try:
        return qs.get(**lookup)
    except (ObjectDoesNotExist, ValidationError, ValueError) as exc:
        # A malformed id is as unknown as a foreign one.
        raise Http404 from exc


# --- Dashboard --------------------------------------------------------------------------


@dataclass
class DayVolume:
    day: dt.date
    inbound: int = 0
    outbound: int = 0
    blocked: int = 0


@dataclass
class Dashboard:
    pending_lines: int
    oldest_pending_at: dt.datetime | None
    blocked_24h: int
    # Inbound group messages: stored for audit, never delivered or answered.
    groups_ignored_24h: int
    active_connections: int
    pool_capacity_left: int
    pool_lines: int
    sends_24h: int
    busiest_identity_sends: int
    send_cap: int
    failed_deliveries: int
    days: list[DayVolume] = field(default_factory=list)


def dashboard_get(*, org_ids: Sequence[Any], days: int = 14) -> Dashboard:
    now = timezone.now()
    since = now - dt.timedelta(hours=24)
    pending = PhoneLine.objects.filter(
        setup__organization_id__in=org_ids, state=LineState.PENDING
    ).aggregate(n=Count("id"), oldest=Min("requested_at"))
    messages_24h = Message.objects.filter(organization_id__in=org_ids, created_at__gte=since)
    held_24h = messages_24h.aggregate(
        blocked=Count("id", filter=Q(is_blocked=True)),
        groups=Count("id", filter=Q(is_group=True)),
    )
    sends = (
        messages_24h.filter(direction=Direction.OUTBOUND)
        .values("identity_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    send_counts = [row["n"] for row in sends]
    active_connections = Assignment.objects.filter(
        organization_id__in=org_ids, status=AssignmentStatus.ACTIVE
    ).count()
    # Pool lines are platform-wide; only their remaining daily new-contact room is shown.
    per_day = settings.POOL_LINE_NEW_CONTACTS_PER_DAY
    pool = PhoneLine.objects.filter(
        role=LineRole.POOL,
        state=LineState.ASSIGNED,
        is_paused=False,
        blocked_at__isnull=True,
        released_at__isnull=True,
    ).annotate(new_today=Count("assignments", filter=Q(assignments__created_at__gte=since)))
    pool_rows = list(pool.values_list("new_today", flat=True))
    failed = WebhookDelivery.objects.filter(
        organization_id__in=org_ids, status=WebhookDeliveryStatus.FAILED
    ).count()
    return Dashboard(
        pending_lines=pending["n"],
        oldest_pending_at=pending["oldest"],
        blocked_24h=held_24h["blocked"],
        groups_ignored_24h=held_24h["groups"],
        active_connections=active_connections,
        pool_capacity_left=sum(max(0, per_day - n) for n in pool_rows),
        pool_lines=len(pool_rows),
        sends_24h=sum(send_counts),
        busiest_identity_sends=max(send_counts, default=0),
        send_cap=settings.SEND_CAP_PER_24H,
        failed_deliveries=failed,
        days=daily_volume(org_ids=org_ids, days=days),
    )


def daily_volume(*, org_ids: Sequence[Any], days: int) -> list[DayVolume]:
    """Messages per day in the active (viewer's) time zone, oldest day first."""
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=tz)
    rows = (
        Message.objects.filter(organization_id__in=org_ids, created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "direction", "is_blocked")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_day = {
        first + dt.timedelta(days=i): DayVolume(day=first + dt.timedelta(days=i))
        for i in range(days)
    }
    for row in rows:
        bucket = by_day.get(row["day"])
        if bucket is None:
            continue
        if row["is_blocked"]:
            bucket.blocked += row["n"]
        elif row["direction"] == Direction.INBOUND:
            bucket.inbound += row["n"]
        else:
            bucket.outbound += row["n"]
    return list(by_day.values())


# --- Setups and lines -----------------------------------------------------------------


def setup_list(*, org_ids: Sequence[Any], status: str | None = None) -> QuerySet[Setup]:
    qs = (
        Setup.objects.filter(organization_id__in=org_ids)
        .select_related("organization")
        .annotate(
            line_count=Count("lines", filter=Q(lines__released_at__isnull=True), distinct=True),
            pending_count=Count("lines", filter=Q(lines__state=LineState.PENDING), distinct=True),
        )
        .order_by("-created_at", "id")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def setup_get(*, org_ids: Sequence[Any], setup_id: Any) -> Setup:
    return _get(
        Setup.objects.filter(organization_id__in=org_ids).select_related("organization"),
        id=setup_id,
    )


def setup_lines(*, setup: Setup) -> QuerySet[PhoneLine]:
    return setup.lines.select_related("identity").order_by("requested_at", "id")


def line_get(*, org_ids: Sequence[Any], line_id: Any) -> PhoneLine:
    return _get(
        PhoneLine.objects.filter(setup__organization_id__in=org_ids).select_related(
            "setup", "setup__organization"
        ),
        id=line_id,
    )


def pending_lines(*, org_ids: Sequence[Any]) -> QuerySet[PhoneLine]:
    return (
        PhoneLine.objects.filter(setup__organization_id__in=org_ids, state=LineState.PENDING)
        .select_related("setup", "setup__organization")
        .order_by("requested_at", "id")
    )


# --- Identities, rules, connections ---------------------------------------------------


def identity_list(*, org_ids: Sequence[Any]) -> QuerySet[AgentIdentity]:
    return (
        AgentIdentity.objects.filter(organization_id__in=org_ids)
        .select_related("organization")
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


def identity_get(*, org_ids: Sequence[Any], handle: str) -> AgentIdentity:
    return _get(
        AgentIdentity.objects.filter(organization_id__in=org_ids).select_related("organization"),
        handle=handle,
    )


def identity_rules(*, identity: AgentIdentity) -> QuerySet[ContactRule]:
    return identity.contact_rules.order_by("match_target", "created_at", "id")


def rule_get(*, identity: AgentIdentity, rule_id: Any) -> ContactRule:
    return _get(identity.contact_rules.all(), id=rule_id)


def identity_connections(*, identity: AgentIdentity) -> QuerySet[Assignment]:
    return (
        Assignment.objects.filter(identity=identity, status=AssignmentStatus.ACTIVE)
        .select_related("pool_line")
        .order_by("-created_at", "id")
    )


def assignment_get(*, org_ids: Sequence[Any], assignment_id: Any) -> Assignment:
    return _get(
        Assignment.objects.filter(organization_id__in=org_ids).select_related(
            "identity", "organization", "pool_line"
        ),
        id=assignment_id,
    )


# --- Messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockedFilters:
    identity: str = ""
    sender: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def blocked_list(*, org_ids: Sequence[Any], filters: BlockedFilters) -> QuerySet[Message]:
    qs = (
        Message.objects.filter(organization_id__in=org_ids, is_blocked=True)
        .select_related("identity")
        .order_by("-created_at", "-id")
    )
    if filters.identity:
        qs = qs.filter(identity__handle=filters.identity)
    if filters.sender:
        qs = qs.filter(remote_number=filters.sender)
    if filters.date_from:
        qs = qs.filter(created_at__gte=_local_midnight(filters.date_from))
    if filters.date_to:
        qs = qs.filter(created_at__lt=_local_midnight(filters.date_to + dt.timedelta(days=1)))
    return qs


def blocked_get(*, org_ids: Sequence[Any], message_id: Any) -> Message:
    return _get(
        Message.objects.filter(organization_id__in=org_ids, is_blocked=True).select_related(
            "identity", "identity__organization", "conversation"
        ),
        id=message_id,
    )


def conversation_list(
    *, org_ids: Sequence[Any], identity: str = "", kind: str = ""
) -> QuerySet[Conversation]:
    """`kind`: "person" for 1:1 conversations, "group" for the ignored group threads."""
    qs = (
        Conversation.objects.filter(organization_id__in=org_ids)
        .select_related("identity", "assignment")
        .order_by(F("last_message_at").desc(nulls_last=True), "-created_at", "id")
    )
    if identity:
        qs = qs.filter(identity__handle=identity)
    if kind:
        qs = qs.filter(is_group=kind == "group")
    return qs


def conversation_get(*, org_ids: Sequence[Any], conversation_id: Any) -> Conversation:
    return _get(
        Conversation.objects.filter(organization_id__in=org_ids).select_related(
            "identity", "assignment"
        ),
        id=conversation_id,
    )


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    """Newest first for paging; the template shows each page oldest first."""
    return conversation.messages.order_by("-created_at", "-id").prefetch_related(
        Prefetch(
            "reactions",
            queryset=Reaction.objects.filter(is_live=True).order_by("created_at"),
            to_attr="live_reactions",
        )
    )


# --- Webhook deliveries and audit -------------------------------------------------------


def delivery_list(*, org_ids: Sequence[Any], status: str = "") -> QuerySet[WebhookDelivery]:
    qs = (
        WebhookDelivery.objects.filter(organization_id__in=org_ids)
        .select_related("event", "event__identity", "subscription")
        .defer("request_payload", "response_body", "event__payload")
        .order_by("-created_at", "-id")
    )
    if status:
        qs = qs.filter(status=status)
    return qs


def delivery_get(*, org_ids: Sequence[Any], delivery_id: Any) -> WebhookDelivery:
    return _get(
        WebhookDelivery.objects.filter(organization_id__in=org_ids).select_related(
            "event", "organization"
        ),
        id=delivery_id,
    )


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    object_type: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def audit_list(*, org_ids: Sequence[Any], filters: AuditFilters) -> QuerySet[AuditEntry]:
    qs = AuditEntry.objects.filter(organization_id__in=org_ids).select_related("organization")
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.actor:
        qs = qs.filter(actor_label__icontains=filters.actor)
    if filters.object_type:
        qs = qs.filter(object_type=filters.object_type)
    if filters.date_from:
        qs = qs.filter(created_at__gte=_local_midnight(filters.date_from))
    if filters.date_to:
        qs = qs.filter(created_at__lt=_local_midnight(filters.date_to + dt.timedelta(days=1)))
    return qs.order_by("-created_at", "-id")


def audit_actions(*, org_ids: Sequence[Any]) -> list[str]:
    return list(
        AuditEntry.objects.filter(organization_id__in=org_ids)
        .values_list("action", flat=True)
        .distinct()
        .order_by("action")
    )


def identity_handles(*, org_ids: Sequence[Any]) -> list[str]:
    return list(
        AgentIdentity.objects.filter(organization_id__in=org_ids)
        .values_list("handle", flat=True)
        .order_by("handle")
    )
