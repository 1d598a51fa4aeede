"""Console and admin login throttling (django-axes) and what we add to it.

django-axes counts failed logins per username and per client address; after
`LOGIN_FAILURE_LIMIT` failures within `LOGIN_LOCKOUT_MINUTES`, the username (or address) is
locked for `LOGIN_LOCKOUT_MINUTES`, the right password included. The console login and the
Django admin share the same form and backends, so they share the lock. This module writes
each lock to the audit log and tells axes which address a request comes from.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from console.models import AuditEntry, Membership
from console.services import Actor, audit_record

logger = logging.getLogger(__name__)

THROTTLE_ACTOR = Actor(type="system", id="", label="login throttle")


def client_ip(request: HttpRequest) -> str | None:
    """The client address: the last X-Forwarded-For entry (the one our own proxy appended)
    when `LOGIN_TRUST_X_FORWARDED_FOR` is on, else the socket's peer."""
    if settings.LOGIN_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    address = request.META.get("REMOTE_ADDR")
    return str(address) if address else None


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """The page a locked login gets (429), naming the wait."""
    return render(
        request,
        "console/login_locked.html",
        {"lockout_minutes": settings.LOGIN_LOCKOUT_MINUTES},
        status=429,
    )


LOCKED_ACTION = "login.locked"


def _lock_recorded_recently(user: Any, organization_ids: list[Any]) -> bool:
    since = timezone.now() - timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    return AuditEntry.objects.filter(
        organization_id__in=organization_ids,
        action=LOCKED_ACTION,
        created_at__gte=since,
        object_type=type(user).__name__,
        object_id=str(user.pk),
    ).exists()


def login_locked_audit(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **_: Any
) -> None:
    """Record a lock in the audit log of every organisation the locked user belongs to.

    A username no account has, or a lock by address alone, has no organisation to record
    it in: it is logged (the warning carries no password, only the user id if any)."""
    user = (
        get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if username
        else None
    )
    memberships = (
        list(Membership.objects.filter(user=user).select_related("organization")) if user else []
    )
    if memberships and _lock_recorded_recently(user, [m.organization_id for m in memberships]):
        return  # axes signals again on every attempt while locked: one entry per lock
    for membership in memberships:
        audit_record(
            organization=membership.organization,
            actor=THROTTLE_ACTOR,
            action=LOCKED_ACTION,
            obj=user,
            after={
                "failures": settings.LOGIN_FAILURE_LIMIT,
                "locked_minutes": settings.LOGIN_LOCKOUT_MINUTES,
                "ip_address": ip_address,
            },
        )
    logger.warning(
        "login locked for %s minutes (user %s, %d organisations)",
        settings.LOGIN_LOCKOUT_MINUTES,
        user.pk if user else "unknown",
        len(memberships),
    )


def login_seen(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    """A fresh login counts as activity: the idle clock starts now (see
    `console.middleware.SessionIdleRefreshMiddleware`)."""
    from console.middleware import session_mark_seen

    if request is not None and hasattr(request, "session"):
        session_mark_seen(request.session)
