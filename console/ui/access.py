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
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import unquote, urlsplit

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from console.access import Viewer
from console.errors import ApplicationError, NotFound, ProviderFailed, Unavailable
from console.models import Membership, MembershipRole, Organization
from console.scope import Scope
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
    def scope(self) -> Scope:
        """What the viewer may read: every organisation they are a member of."""
        return Scope.for_memberships(self.roles)

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

    def member_organization(self, organization_id: Any) -> Organization:
        """One of the viewer's organisations; any other id is a 404."""
        for org in self.organizations:
            if org.id == organization_id:
                return org
        raise NotFound("Organisation not found.")

    def operated_organization(self, organization_id: Any) -> Organization:
        """One of the viewer's organisations that they operate: 404 outside their
        organisations, 403 where their role cannot change it."""
        org = self.member_organization(organization_id)
        self.require_operator(org.id)
        return org


class ConsoleRequest(HttpRequest):
    """The request a console view receives: `htmx` from django-htmx's middleware,
    `console` from `console_view`."""

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


# Pages answer with an HttpResponse, CSV exports with a StreamingHttpResponse.
F = TypeVar("F", bound=Callable[..., HttpResponseBase])


def _return_path(request: HttpRequest) -> str:
    """Where to come back to after logging in: the page the user was on. An htmx request
    names it in HX-Current-URL, a form post in its Referer (a POST-only URL cannot be
    returned to); anything not on our own host falls back to the requested path."""
    candidate = None
    if request.headers.get("HX-Request"):
        candidate = request.headers.get("HX-Current-URL")
    elif request.method not in SAFE_METHODS:
        candidate = request.headers.get("Referer")
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(candidate)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.get_full_path()


def login_redirect(request: HttpRequest) -> HttpResponse:
    """Send a visitor without a (live) session to the login page, and back afterwards.

    For htmx the answer is an HX-Redirect, so the whole page goes to the login form rather
    than the form being swapped into a fragment."""
    response = redirect_to_login(_return_path(request))
    if request.headers.get("HX-Request"):
        redirected = HttpResponse(status=204)
        redirected["HX-Redirect"] = response["Location"]
        return redirected
    return response


def refusal_status(exc: ApplicationError) -> int:
    """The console's status for a refused action: the provider's fault shows as 502 (failed)
    or 503 (not yet possible); anything else is 422, a refusal the operator can act on."""
    if isinstance(exc, ProviderFailed):
        return 502
    if isinstance(exc, Unavailable):
        return 503
    return 422


def console_view(view: F, *, readers_may_post: bool = False) -> F:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return login_redirect(request)
        access = load_access(request)
        cast(ConsoleRequest, request).console = access
        if request.method not in SAFE_METHODS and not (access.can_operate or readers_may_post):
            raise PermissionDenied("Auditors cannot change anything.")
        tz = viewer_timezone(request)
        if tz is not None:
            timezone.activate(tz)
        try:
            response = view(request, *args, **kwargs)
        except NotFound as exc:
            # Outside the viewer's scope an object simply does not exist.
            raise Http404 from exc
        finally:
            timezone.deactivate()
        patch_vary_headers(response, ["HX-Request"])
        return response

    return wrapper  # type: ignore[return-value]


def console_page(view: F) -> F:
    """A console page: GET only, run as a `console_view`."""
    return require_GET(console_view(view))


def console_action(view: F) -> F:
    """A console action: POST only, run as a `console_view`."""
    return require_POST(console_view(view))


def console_read_action(view: F) -> F:
    """A POST that changes nothing anyone sees but asks for a copy of what the viewer may
    read (an export with a reason): auditors may send it too."""
    return require_POST(console_view(view, readers_may_post=True))


class _Owned(Protocol):
    @property
    def organization_id(self) -> Any: ...


OwnedT = TypeVar("OwnedT", bound=_Owned)


def operated(request: ConsoleRequest, get: Callable[..., OwnedT], **lookup: Any) -> OwnedT:
    """The object `get` finds in the viewer's scope by `lookup` (404 otherwise), once the
    viewer is checked to operate its organisation (403 otherwise)."""
    obj = get(scope=request.console.scope, **lookup)
    request.console.require_operator(obj.organization_id)
    return obj


def user_actor(request: HttpRequest) -> Actor:
    user = request.user
    return Actor(type="user", id=str(user.pk), label=user.get_username())


def user_viewer(request: HttpRequest) -> Viewer:
    """The console user viewing patient text, for the access log."""
    return Viewer.of(request, user_actor(request))
