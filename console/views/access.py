"""Who may see and change what in the console.

Every console view goes through `console_view`: it requires a login, loads the user's
memberships once, activates the viewer's time zone, refuses every mutating request from
a user who cannot operate (403), and marks responses `Vary: HX-Request` because one URL
answers with a full page or a fragment.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from console.models import Membership, MembershipRole, Organization
from console.services import Actor

OPERATE_PERMISSION = "console.console_operate"
VIEW_PERMISSION = "console.console_view"
TZ_COOKIE = "bw_tz"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class ConsoleAccess:
    """The viewer's organisations and roles, loaded once per request."""

    user: Any
    roles: dict[Any, str] = field(default_factory=dict)
    organizations: list[Organization] = field(default_factory=list)
    _can_operate: bool | None = None

    @property
    def org_ids(self) -> list[Any]:
        return list(self.roles)

    @property
    def can_operate(self) -> bool:
        """True when the user is an operator somewhere and holds the Operators permission."""
        if self._can_operate is None:
            self._can_operate = MembershipRole.OPERATOR in self.roles.values() and bool(
                self.user.has_perm(OPERATE_PERMISSION)
            )
        return self._can_operate

    def can_operate_in(self, organization_id: Any) -> bool:
        return self.roles.get(organization_id) == MembershipRole.OPERATOR and self.can_operate

    def require_operator(self, organization_id: Any) -> None:
        """Call after the object was found in the viewer's scope (a foreign one is a 404)."""
        if not self.can_operate_in(organization_id):
            raise PermissionDenied("Your role cannot change this.")


class ConsoleRequest(HttpRequest):
    htmx: HtmxDetails
    console: ConsoleAccess


def load_access(request: HttpRequest) -> ConsoleAccess:
    memberships = list(
        Membership.objects.filter(user_id=request.user.pk or 0)
        .select_related("organization")
        .order_by("organization__name")
    )
    return ConsoleAccess(
        user=request.user,
        roles={m.organization_id: m.role for m in memberships},
        organizations=[m.organization for m in memberships],
    )


def viewer_timezone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    """The browser's IANA zone, sent as a cookie by static/console/console.js."""
    name = unquote(request.COOKIES.get(TZ_COOKIE, ""))
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


F = TypeVar("F", bound=Callable[..., HttpResponse])


def console_view(view: F) -> F:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        access = load_access(request)
        request.console = access  # type: ignore[attr-defined]
        if request.method not in SAFE_METHODS and not access.can_operate:
            raise PermissionDenied("Auditors cannot change anything.")
        tz = viewer_timezone(request)
        if tz is not None:
            timezone.activate(tz)
        try:
            response = view(request, *args, **kwargs)
        finally:
            timezone.deactivate()
        patch_vary_headers(response, ["HX-Request"])
        return response

    return login_required(wrapper)  # type: ignore[return-value]


def user_actor(request: HttpRequest) -> Actor:
    user = request.user
    return Actor(type="user", id=str(user.pk), label=user.get_username())
