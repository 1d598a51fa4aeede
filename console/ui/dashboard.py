"""The dashboard's figures, each read from the app that owns it through the viewer's scope."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from console.scope import Scope
from messaging.console_selectors import DayVolume, daily_volume, message_activity_since
from messaging.webhooks.selectors import failed_delivery_count
from provisioning.selectors import pending_line_summary
from routing.selectors import active_connection_count, pool_new_contacts_since, triage_info


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
    # The number patients text to connect (None: no router line, nobody can connect).
    router_number: str | None = None
    days: list[DayVolume] = field(default_factory=list)


def dashboard_get(*, scope: Scope, days: int = 14) -> Dashboard:
    since = timezone.now() - dt.timedelta(hours=24)
    pending = pending_line_summary(scope=scope)
    activity = message_activity_since(scope=scope, since=since)
    # Pool lines are platform-wide; only their remaining daily new-contact room is shown.
    per_day = settings.POOL_LINE_NEW_CONTACTS_PER_DAY
    pool_rows = pool_new_contacts_since(since)
    return Dashboard(
        pending_lines=pending.count,
        oldest_pending_at=pending.oldest_requested_at,
        blocked_24h=activity.blocked,
        groups_ignored_24h=activity.groups_ignored,
        active_connections=active_connection_count(scope=scope),
        pool_capacity_left=sum(max(0, per_day - n) for n in pool_rows),
        pool_lines=len(pool_rows),
        sends_24h=sum(activity.sends_per_identity),
        busiest_identity_sends=max(activity.sends_per_identity, default=0),
        send_cap=settings.SEND_CAP_PER_24H,
        failed_deliveries=failed_delivery_count(scope=scope),
        router_number=triage.number if (triage := triage_info()) else None,
        days=daily_volume(scope=scope, days=days),
    )
