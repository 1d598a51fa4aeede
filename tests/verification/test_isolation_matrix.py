"""Tenant isolation, over every API route that takes an object id or a handle.

Routes are discovered from the URL resolver, so a new endpoint is covered (or, when its
path parameter is new, fails loudly asking for an object maker) without editing this file.

For each route and method:
- a key of another organisation gets 404, with the very body a missing object gets;
- an identity-scoped key reaching another identity's object gets what it gets for a
  missing object (404, or 403 on admin-only operations, the same either way);
- nothing of the victim changes;
- the owner gets a success for the same request (so the refusal is about ownership, not a
  malformed request).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from console.models import AgentIdentity, Organization
from console.services import api_key_create
from messaging.models import Conversation, LegalHold, Message, PersonExport, Reaction
from messaging.webhooks.models import WebhookDelivery, WebhookSubscription
from provisioning.models import PhoneLine, Setup
from routing.models import Assignment, ContactRule
from tests.conftest import KeyedClient, keyed_client
from tests.console.factories import AgentIdentityFactory
from tests.messaging.factories import (
    ConversationFactory,
    LegalHoldFactory,
    MessageFactory,
    PersonExportFactory,
    ReactionFactory,
)
from tests.messaging.webhooks.factories import (
    SigningKeyFactory,
    WebhookDeliveryFactory,
    WebhookSubscriptionFactory,
)
from tests.provisioning.factories import PhoneLineFactory, SetupFactory
from tests.routing.factories import AssignmentFactory, ContactRuleFactory, PoolLineFactory

pytestmark = pytest.mark.django_db

# Authenticated by the provider's shared secret, not by API keys (tested on their own).
NOT_KEY_AUTHENTICATED = ("api/v1/provider-webhooks/",)
METHODS = ("get", "post", "patch", "put", "delete")


@dataclass(frozen=True)
class Route:
    template: str  # e.g. "/api/v1/identities/{handle}"
    params: tuple[str, ...]
    methods: tuple[str, ...]
    name: str

    def url(self, values: dict[str, str]) -> str:
        return self.template.format(**values)


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def api_routes() -> list[Route]:
    import re

    routes = []
    for raw, pattern in _walk(get_resolver().url_patterns):
        if not raw.startswith("api/") or raw.endswith("/") or raw.startswith(NOT_KEY_AUTHENTICATED):
            continue
        view_class = getattr(pattern.callback, "view_class", None)
        if view_class is None:
            continue
        params = tuple(re.findall(r"<(?:\w+:)?(\w+)>", raw))
        template = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", raw)
        methods = tuple(m for m in METHODS if hasattr(view_class, m))
        routes.append(Route(template, params, methods, pattern.name or raw))
    return routes


ROUTES = api_routes()
ID_ROUTES = [r for r in ROUTES if r.params]
LIST_ROUTES = [r for r in ROUTES if not r.params and "get" in r.methods]


@dataclass
class World:
    """One identity's objects, reachable by path parameter name."""

    identity: AgentIdentity
    setup: Setup
    pool_line: PhoneLine
    assignment: Assignment
    rule: ContactRule
    conversation: Conversation
    message: Message
    blocked: Message
    scheduled: Message
    reaction: Reaction
    subscription: WebhookSubscription
    delivery: WebhookDelivery
    hold: LegalHold
    export: PersonExport

    def params(self) -> dict[str, str]:
        return {
            "handle": self.identity.handle,
            "setup_id": str(self.setup.id),
            "assignment_id": str(self.assignment.id),
            "rule_id": str(self.rule.id),
            "conversation_id": str(self.conversation.id),
            "thread_id": str(self.message.id),
            "message_id": str(self.message.id),
            "scheduled_id": str(self.scheduled.id),
            "reaction_id": str(self.reaction.id),
            "subscription_id": str(self.subscription.id),
            "delivery_id": str(self.delivery.id),
        }

    def objects(self) -> list[Any]:
        return [
            self.identity,
            self.setup,
            self.assignment,
            self.rule,
            self.conversation,
            self.message,
            self.blocked,
            self.scheduled,
            self.reaction,
            self.subscription,
            self.delivery,
            self.hold,
            self.export,
        ]

    def markers(self) -> set[str]:
        """Strings that must never appear in a response to someone who may not see this."""
        values = {str(obj.pk) for obj in self.objects() if obj is not self.identity}
        values |= {self.message.content or "", self.blocked.content or ""}
        values |= {self.conversation.remote_number, self.rule.match_target}
        return {v for v in values if v}


def build_world(identity: AgentIdentity, n: int) -> World:
    org = identity.organization
    setup = SetupFactory(organization=org)
    PhoneLineFactory(setup=setup, identity=identity, number=f"+1415555{8100 + n:04d}")
    pool_line = PoolLineFactory(number=f"+1415555{8200 + n:04d}")
    person = f"+1202555{8300 + n:04d}"
    assignment = AssignmentFactory(identity=identity, pool_line=pool_line, remote_number=person)
    conversation = ConversationFactory(
        identity=identity, remote_number=person, assignment=assignment, line=pool_line
    )
    message = MessageFactory(conversation=conversation, content=f"visible-marker-{uuid.uuid4()}")
    blocked = MessageFactory(
        conversation=conversation, is_blocked=True, content=f"blocked-marker-{uuid.uuid4()}"
    )
    scheduled = MessageFactory(
        conversation=conversation,
        direction="outbound",
        status="pending",
        send_state="queued",
        scheduled_for=timezone.now() + timedelta(days=1),
    )
    reaction = ReactionFactory(message=message, direction="outbound", reaction="like")
    rule = ContactRuleFactory(identity=identity, match_target=f"+1202555{8400 + n:04d}")
    subscription = WebhookSubscriptionFactory(
        identity=identity,
        url=f"https://hooks.example.com/victim-{n}",
        event_types=["imessage.received"],
    )
    delivery = WebhookDeliveryFactory(subscription=subscription)
    SigningKeyFactory(identity=identity)
    hold = LegalHoldFactory(organization=org, remote_number=person)
    export = PersonExportFactory(organization=org, remote_number=person)
    return World(
        identity=identity,
        setup=setup,
        pool_line=pool_line,
        assignment=assignment,
        rule=rule,
        conversation=conversation,
        message=message,
        blocked=blocked,
        scheduled=scheduled,
        reaction=reaction,
        subscription=subscription,
        delivery=delivery,
        hold=hold,
        export=export,
    )


MISSING = {
    "handle": "no-such-handle-anywhere",
    **{
        name: "6f1c1e0e-0000-4000-8000-000000000000"
        for name in (
            "setup_id",
            "assignment_id",
            "rule_id",
            "conversation_id",
            "thread_id",
            "message_id",
            "scheduled_id",
            "reaction_id",
            "subscription_id",
            "delivery_id",
        )
    },
}

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("patch", "/api/v1/identities/{handle}"): {"display_name": "Renamed"},
    ("patch", "/api/v1/imessage/setups/{setup_id}"): {"is_default": True},
    ("post", "/api/v1/imessage/identities/{handle}/contact-rules"): {
        "action": "block",
        "match_type": "exact_number",
        "match_target": "+12025559876",
    },
    ("patch", "/api/v1/imessage/identities/{handle}/contact-rules/{rule_id}"): {"action": "allow"},
    ("patch", "/api/v1/webhooks/subscriptions/{subscription_id}"): {
        "url": "http://127.0.0.1:9/renamed"
    },
    ("post", "/api/v1/imessage/conversations/{conversation_id}/handoff"): {"to": "staff"},
}


def _request(client: KeyedClient, method: str, route: Route, values: dict[str, str]) -> Any:
    if (method, route.template) == ("delete", "/api/v1/imessage/messages/{message_id}"):
        values = {**values, "message_id": values["scheduled_id"]}  # only these cancel
    body = BODIES.get((method, route.template))
    call: Callable[..., Any] = getattr(client, method)
    if method in {"post", "patch", "put"}:
        if body is None and route.template.endswith("/replay"):
            return call(route.url(values))  # the SDK sends no body and no content type
        return call(route.url(values), data=body or {}, format="json")
    return call(route.url(values))


def _snapshot(world: World) -> list[dict[str, Any]]:
    rows = []
    for obj in world.objects():
        fresh = type(obj).objects.filter(pk=obj.pk).first()
        rows.append(model_to_dict(fresh) if fresh is not None else {"deleted": obj.pk})
    return rows


def _body(response: Any) -> bytes:
    return response.content


@pytest.fixture
def victim_world(org: Organization, identity: AgentIdentity) -> World:
    return build_world(identity, 1)


@pytest.fixture
def sibling_world(org: Organization, other_identity: AgentIdentity) -> World:
    return build_world(other_identity, 2)


def _cases() -> list[Any]:
    return [
        pytest.param(route, method, id=f"{method.upper()} {route.template}")
        for route in ID_ROUTES
        for method in route.methods
    ]


def test_every_path_parameter_has_an_object_maker() -> None:
    known = set(MISSING)
    unknown = {p for route in ID_ROUTES for p in route.params} - known
    assert not unknown, f"add these to World.params and MISSING: {sorted(unknown)}"


def test_the_matrix_covers_the_agent_api() -> None:
    templates = {route.template for route in ID_ROUTES}
    assert "/api/v1/identities/{handle}" in templates
    assert "/api/v1/imessage/messages/{message_id}" in templates
    assert len(ID_ROUTES) >= 10


@pytest.mark.parametrize(("route", "method"), _cases())
def test_another_organisations_key_gets_the_missing_object_404(
    route: Route, method: str, victim_world: World, outsider_client: KeyedClient, org: Organization
) -> None:
    before = _snapshot(victim_world)
    missing = _request(outsider_client, method, route, MISSING)
    foreign = _request(outsider_client, method, route, victim_world.params())
    assert foreign.status_code == 404, foreign.content
    assert (foreign.status_code, _body(foreign)) == (missing.status_code, _body(missing))
    assert _snapshot(victim_world) == before
    for marker in victim_world.markers() | {victim_world.identity.handle}:
        assert marker.encode() not in foreign.content

    owner = keyed_client(api_key_create(organization=org, label="owner"))
    control = _request(owner, method, route, victim_world.params())
    assert control.status_code < 300, (control.status_code, control.content)


@pytest.mark.parametrize(("route", "method"), _cases())
def test_an_identity_key_gets_the_missing_object_answer_for_a_sibling_identity(
    route: Route,
    method: str,
    victim_world: World,
    sibling_world: World,
    identity_client: KeyedClient,
) -> None:
    before = _snapshot(sibling_world)
    missing = _request(identity_client, method, route, MISSING)
    foreign = _request(identity_client, method, route, sibling_world.params())
    assert foreign.status_code in {403, 404}, foreign.content
    assert (foreign.status_code, _body(foreign)) == (missing.status_code, _body(missing))
    assert _snapshot(sibling_world) == before
    for marker in sibling_world.markers():
        assert marker.encode() not in foreign.content

    sibling_key = api_key_create(
        organization=sibling_world.identity.organization,
        label="sibling",
        identity=sibling_world.identity,
    )
    control = _request(keyed_client(sibling_key), method, route, sibling_world.params())
    # Admin-only operations refuse the sibling's own key too (403): still a valid request.
    assert control.status_code < 300 or control.status_code == 403, (
        control.status_code,
        control.content,
    )


@pytest.mark.parametrize(
    ("route", "method"),
    [case for case in _cases() if len(case.values[0].params) >= 2],  # type: ignore[attr-defined]
)
def test_a_foreign_child_under_an_own_parent_is_404(
    route: Route,
    method: str,
    victim_world: World,
    sibling_world: World,
    admin_client: KeyedClient,
    outsider_identity: AgentIdentity,
) -> None:
    """E.g. own handle with another identity's rule id, own conversation with a foreign
    thread: the child must belong to the parent, not merely to the organisation."""
    foreign_world = build_world(outsider_identity, 3)
    for child_owner in (sibling_world, foreign_world):
        values = {**child_owner.params()}
        first = route.params[0]
        values[first] = victim_world.params()[first]
        before = _snapshot(child_owner)
        missing = _request(admin_client, method, route, {**MISSING, first: values[first]})
        mixed = _request(admin_client, method, route, values)
        assert mixed.status_code == 404, (child_owner.identity.handle, mixed.content)
        assert _body(mixed) == _body(missing)
        assert _snapshot(child_owner) == before


LIST_QUERIES = [
    "",
    "?agent_identity_id={identity_id}",
    "?conversation_id={conversation_id}",
    "?subscription_id={subscription_id}",
    "?is_blocked=true",
    "?include_groups=true&limit=200",
]


@pytest.mark.parametrize(
    "route", [pytest.param(r, id=r.template) for r in LIST_ROUTES if r.template != "/api/whoami"]
)
def test_lists_never_show_another_organisations_objects(
    route: Route, victim_world: World, outsider_client: KeyedClient
) -> None:
    values = {
        "identity_id": victim_world.identity.id,
        "conversation_id": victim_world.conversation.id,
        "subscription_id": victim_world.subscription.id,
    }
    markers = victim_world.markers() | {str(victim_world.identity.id), victim_world.identity.handle}
    for query in LIST_QUERIES:
        response = outsider_client.get(route.template + query.format(**values))
        assert response.status_code < 500
        for marker in markers:
            assert marker.encode() not in response.content, (query, marker)


@pytest.mark.parametrize(
    "route", [pytest.param(r, id=r.template) for r in LIST_ROUTES if r.template != "/api/whoami"]
)
def test_lists_never_show_a_sibling_identitys_objects_to_an_identity_key(
    route: Route, victim_world: World, sibling_world: World, identity_client: KeyedClient
) -> None:
    values = {
        "identity_id": sibling_world.identity.id,
        "conversation_id": sibling_world.conversation.id,
        "subscription_id": sibling_world.subscription.id,
    }
    for query in LIST_QUERIES:
        response = identity_client.get(route.template + query.format(**values))
        assert response.status_code < 500
        for marker in sibling_world.markers():
            assert marker.encode() not in response.content, (query, marker)


@pytest.mark.parametrize("route", [pytest.param(r, id=r.template) for r in LIST_ROUTES])
def test_an_identity_key_never_sees_its_own_blocked_rows(
    route: Route, victim_world: World, identity_client: KeyedClient
) -> None:
    marker = (victim_world.blocked.content or "").encode()
    for query in ("", "?is_blocked=true", "?is_blocked=false&limit=200"):
        response = identity_client.get(route.template + query)
        assert marker not in response.content
        assert str(victim_world.blocked.id).encode() not in response.content


def test_an_identity_key_gets_404_for_its_own_blocked_message(
    victim_world: World, identity_client: KeyedClient, admin_client: KeyedClient
) -> None:
    blocked = identity_client.get(f"/api/v1/imessage/messages/{victim_world.blocked.id}")
    missing = identity_client.get(f"/api/v1/imessage/messages/{MISSING['message_id']}")
    assert blocked.status_code == 404
    assert blocked.content == missing.content
    assert admin_client.get(f"/api/v1/imessage/messages/{victim_world.blocked.id}").status_code == (
        200
    )


@pytest.mark.parametrize("route", [pytest.param(r, id=r.template) for r in LIST_ROUTES])
def test_no_api_response_ever_shows_a_pool_line_number(
    route: Route, victim_world: World, admin_client: KeyedClient, identity_client: KeyedClient
) -> None:
    for client in (admin_client, identity_client):
        response = client.get(route.template)
        assert victim_world.pool_line.number.encode() not in response.content  # type: ignore[union-attr]


def test_no_detail_response_shows_a_pool_line_number(
    victim_world: World, admin_client: KeyedClient, identity_client: KeyedClient
) -> None:
    number = (victim_world.pool_line.number or "").encode()
    for route in ID_ROUTES:
        if "get" not in route.methods:
            continue
        for client in (admin_client, identity_client):
            response = client.get(route.url(victim_world.params()))
            assert number not in response.content, route.template


def test_a_second_identity_key_of_another_org_cannot_use_its_handle_here(
    victim_world: World, outsider_identity: AgentIdentity, other_org: Organization
) -> None:
    """A scoped key of another organisation naming our handle gets the plain 404."""
    scoped = keyed_client(
        api_key_create(organization=other_org, label="s", identity=outsider_identity)
    )
    ours = scoped.get(f"/api/v1/identities/{victim_world.identity.handle}")
    missing = scoped.get(f"/api/v1/identities/{MISSING['handle']}")
    assert ours.status_code == 404
    assert ours.content == missing.content


def test_identities_created_elsewhere_are_invisible(
    victim_world: World, outsider_client: KeyedClient
) -> None:
    AgentIdentityFactory(organization=victim_world.identity.organization, handle="late-bot")
    listing = outsider_client.get("/api/v1/identities/")
    assert b"late-bot" not in listing.content
    assert b"nurse-bot" not in listing.content
