"""Quiet hours: when a send to a person would arrive in their night, and until when to hold it.

The person's local time comes from their number when `phonenumbers` maps it to exactly one
time zone, else from the identity's quiet-hours zone. A window `start`-`end` may cross
midnight (22:00-07:00); a send inside it is held until the window's end. Setting and
clearing quiet hours is audited; so is an `urgent` send that skipped them.

Message text never goes to logs: log ids only.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from django.db import transaction
from phonenumbers import timezone as number_zones

from console.db.prepared import PreparedQuery
from console.errors import ValidationFailed
from console.models import AgentIdentity
from console.services import Actor, audit_record
from messaging.models import QuietHours

logger = logging.getLogger(__name__)

# A reply this soon after the person's last inbound message is never held: they are awake.
AWAKE_WINDOW = timedelta(minutes=30)
_UNKNOWN_ZONE = "Etc/Unknown"


@dataclass(frozen=True)
class QuietWindow:
    """One quiet period as absolute times."""

    start: datetime
    end: datetime


def person_zone(number: str, fallback: str) -> ZoneInfo:
    """The person's zone: their number's, when it maps to exactly one, else `fallback`."""
    try:
        parsed = phonenumbers.parse(number, None)
        zones = [z for z in number_zones.time_zones_for_number(parsed) if z != _UNKNOWN_ZONE]
    except phonenumbers.NumberParseException:
        zones = []
    if len(zones) == 1:
        try:
            return ZoneInfo(zones[0])
        except ZoneInfoNotFoundError:  # pragma: no cover - phonenumbers names IANA zones
            pass
    return ZoneInfo(fallback)


def quiet_window_at(quiet: QuietHours, *, number: str, at: datetime) -> QuietWindow | None:
    """The quiet period containing `at` for the person at `number`, or None outside one."""
    zone = person_zone(number, quiet.timezone)
    local = at.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    day = local.date()
    if quiet.start < quiet.end:
        if not quiet.start <= clock < quiet.end:
            return None
        start_day, end_day = day, day
    elif clock >= quiet.start:  # crosses midnight, evening part
        start_day, end_day = day, day + timedelta(days=1)
    elif clock < quiet.end:  # crosses midnight, morning part
        start_day, end_day = day - timedelta(days=1), day
    else:
        return None
    start = datetime.combine(start_day, quiet.start, tzinfo=zone)
    end = datetime.combine(end_day, quiet.end, tzinfo=zone)
    return QuietWindow(start=start.astimezone(at.tzinfo), end=end.astimezone(at.tzinfo))


# The console's settings page reads it (a send reads quiet hours with its lock, in
# `scheduling.send_lock`): compiled once per process.
_QUIET_HOURS = PreparedQuery(
    QuietHours,
    lambda *, identity_id: QuietHours.objects.filter(identity_id=identity_id).order_by("pk")[:1],
    identity_id=uuid.UUID,
)


def quiet_hours_of(identity: AgentIdentity) -> QuietHours | None:
    found: QuietHours | None = _QUIET_HOURS.first(identity_id=identity.pk)
    return found


def hold_until(
    *, quiet: QuietHours | None, number: str, at: datetime, last_inbound_at: datetime | None
) -> datetime | None:
    """When a send arriving at `at` must go out instead (the end of the quiet period
    `quiet`, the identity's quiet hours), or None to send at `at`. A reply within 30
    minutes of the person's last inbound is not held.
    """
    if quiet is None:
        return None
    if last_inbound_at is not None and at - last_inbound_at <= AWAKE_WINDOW:
        return None
    window = quiet_window_at(quiet, number=number, at=at)
    return window.end if window is not None else None


def urgent_send_audit(*, identity: AgentIdentity, actor: Actor, message_id: Any) -> None:
    """An `urgent` send skipped quiet hours: recorded, without the text."""
    audit_record(
        organization=identity.organization,
        actor=actor,
        action="message.urgent_send",
        obj=identity,
        after={"message_id": str(message_id)},
    )


# --- Settings -----------------------------------------------------------------------

FIELDS_HELP = "quiet_hours needs start and end (HH:MM) and an IANA timezone, or null."


def _clock(value: Any, name: str) -> time:
    if not isinstance(value, str):
        raise _error(f"{name} must be HH:MM.")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise _error(f"{name} must be HH:MM.") from None


def _error(message: str) -> ValidationFailed:
    return ValidationFailed(f"quiet_hours: {message}", extra={"fields": {"quiet_hours": [message]}})


@dataclass(frozen=True)
class QuietHoursValue:
    start: time
    end: time
    timezone: str
    auto_reply: str


def quiet_hours_parse(raw: Any) -> QuietHoursValue | None:
    """Validate the `quiet_hours` field of an identity PATCH (None switches them off)."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not {"start", "end", "timezone"} <= set(raw):
        raise _error(FIELDS_HELP)
    unknown = set(raw) - {"start", "end", "timezone", "auto_reply"}
    if unknown:
        raise _error(f"unknown keys: {', '.join(sorted(unknown))}.")
    start, end = _clock(raw["start"], "start"), _clock(raw["end"], "end")
    if start == end:
        raise _error("start and end must differ.")
    zone = raw["timezone"]
    if not isinstance(zone, str) or zone not in available_timezones():
        raise _error("timezone must be an IANA zone such as America/New_York.")
    auto_reply = raw.get("auto_reply") or ""
    if not isinstance(auto_reply, str) or len(auto_reply) > 1000:
        raise _error("auto_reply must be text of at most 1000 characters.")
    return QuietHoursValue(start=start, end=end, timezone=zone, auto_reply=auto_reply.strip())


def quiet_hours_wire(quiet: QuietHours | None) -> dict[str, Any] | None:
    if quiet is None:
        return None
    return {
        "start": quiet.start.strftime("%H:%M"),
        "end": quiet.end.strftime("%H:%M"),
        "timezone": quiet.timezone,
        "auto_reply": quiet.auto_reply or None,
    }


@transaction.atomic
def quiet_hours_set(
    *, identity: AgentIdentity, actor: Actor, value: QuietHoursValue | None
) -> QuietHours | None:
    """Set (or with None clear) the identity's quiet hours; audited when anything changed."""
    current = QuietHours.objects.select_for_update().filter(identity=identity).first()
    before = quiet_hours_wire(current)
    if value is None:
        if current is not None:
            current.delete()
        quiet = None
    else:
        quiet, _ = QuietHours.objects.update_or_create(
            identity=identity,
            defaults={
                "start": value.start,
                "end": value.end,
                "timezone": value.timezone,
                "auto_reply": value.auto_reply,
            },
        )
    after = quiet_hours_wire(quiet)
    if before != after:
        audit_record(
            organization=identity.organization,
            actor=actor,
            action="identity.quiet_hours_set",
            obj=identity,
            before=before,
            after=after,
        )
    return quiet
