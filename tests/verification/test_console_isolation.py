"""Console isolation over every console URL found by the resolver: an auditor cannot change
anything (403), a staff user of another organisation sees nothing (404 like a missing
object), and list pages show nothing of another organisation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import get_resolver

from console.models import AgentIdentity, Organization
from tests.console.ui.conftest import htmx
from tests.verification.test_isolation_matrix import World, _snapshot, _walk, build_world

pytestmark = pytest.mark.django_db

OPEN_TO_ANYONE = {"login/", "logout/"}
MISSING_UUID = "6f1c1e0e-0000-4000-8000-000000000000"


def console_routes() -> list[tuple[str, tuple[str, ...]]]:
    routes = []
    for raw, _pattern in _walk(get_resolver().url_patterns):
        if not raw.startswith("console/") or raw[len("console/") :] in OPEN_TO_ANYONE:
            continue
        params = tuple(re.findall(r"<(?:\w+:)?(\w+)>", raw))
        routes.append(("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", raw), params))
    return routes


ROUTES = console_routes()


def _body(response: Any) -> bytes:
    """A page's bytes; CSV exports stream theirs."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def console_params(world: World) -> dict[str, str]:
    return {
        "handle": world.identity.handle,
        "setup_id": str(world.setup.id),
        "message_id": str(world.blocked.id),
        "line_id": str(world.setup.lines.first().id),  # type: ignore[union-attr]
        "rule_id": str(world.rule.id),
        "assignment_id": str(world.assignment.id),
        "conversation_id": str(world.conversation.id),
        "delivery_id": str(world.delivery.id),
        "hold_id": str(world.hold.id),
        "export_id": str(world.export.id),
    }


MISSING = {
    "handle": "no-such-handle-anywhere",
    **{
        p: MISSING_UUID
        for p in (
            "setup_id",
            "message_id",
            "line_id",
            "rule_id",
            "assignment_id",
            "conversation_id",
            "delivery_id",
            "hold_id",
            "export_id",
        )
    },
}
# Posts that change nothing anyone sees but ask for a copy of what the viewer may read
# (a person's record with a reason): auditors may send them.
AUDITORS_MAY_POST = {"/console/records/exports/new"}
# A plausible form body for every action, so a refusal is about the role, not the input.
FORM = {
    "action": "block",
    "direction": "both",
    "match_target": "+12025559876",
    "status": "paused",
    "mode": "whitelist",
    "inbound_filter_mode": "whitelist",
    "outbound_filter_mode": "whitelist",
    "role": "pool",
}


def _unmasked(page: bytes) -> bytes:
    """Pages differ only by the per-render masked CSRF token."""
    return re.sub(rb"[A-Za-z0-9]{64}", b"<csrf>", page)


@pytest.fixture
def world(org: Organization, identity: AgentIdentity) -> World:
    return build_world(identity, 5)


def test_every_console_path_parameter_has_an_object_maker() -> None:
    unknown = {p for _route, params in ROUTES for p in params} - set(MISSING)
    assert not unknown, f"add these to console_params and MISSING: {sorted(unknown)}"


@pytest.mark.parametrize(("route", "params"), ROUTES, ids=[r for r, _ in ROUTES])
def test_an_auditor_cannot_change_anything(
    route: str, params: tuple[str, ...], world: World, auditor_client: Client
) -> None:
    before = _snapshot(world)
    url = route.format(**console_params(world))
    for headers in ({}, htmx()):
        response = auditor_client.post(url, FORM, **headers)
        if route in AUDITORS_MAY_POST:
            assert response.status_code != 403, url
        else:
            assert response.status_code in {403, 405}, (url, response.status_code)
    assert _snapshot(world) == before


@pytest.mark.parametrize(
    ("route", "params"), [r for r in ROUTES if r[1]], ids=[r for r, p in ROUTES if p]
)
def test_staff_of_another_organisation_get_the_missing_object_404(
    route: str, params: tuple[str, ...], world: World, outsider_operator_client: Client
) -> None:
    before = _snapshot(world)
    for method in ("get", "post"):
        call: Any = getattr(outsider_operator_client, method)
        missing = call(route.format(**MISSING), *([FORM] if method == "post" else []))
        foreign = call(route.format(**console_params(world)), *([FORM] if method == "post" else []))
        assert foreign.status_code == missing.status_code, (method, route)
        assert foreign.status_code in {404, 405}, (method, route, foreign.status_code)
        assert _unmasked(foreign.content) == _unmasked(missing.content)
    assert _snapshot(world) == before


@pytest.mark.parametrize(
    "route", [r for r, p in ROUTES if not p], ids=[r for r, p in ROUTES if not p]
)
def test_console_pages_show_nothing_of_another_organisation(
    route: str, world: World, outsider_operator_client: Client
) -> None:
    for headers in ({}, htmx()):
        response = outsider_operator_client.get(route, **headers)
        if response.status_code == 405:  # an action without a page: it shows nothing
            continue
        assert response.status_code == 200, route
        body = _body(response)
        for marker in world.markers() | {world.identity.handle}:
            assert marker.encode() not in body, (route, marker)


def test_no_secret_appears_on_any_admin_or_console_page(
    world: World, org: Organization, operator_client: Client
) -> None:
    """Every admin changelist and change page, and every console page, for a world that
    holds every kind of secret."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model

    from console.services import api_key_create
    from messaging.webhooks.signing_keys import signing_key_secret
    from provisioning.services.credentials import setup_credentials, setup_webhook_secret
    from tests.messaging.webhooks.factories import WebhookSubscriptionFactory

    issued = api_key_create(organization=org, label="page scan", identity=world.identity)
    token = "bearer-token-for-page-scan-0123456789"
    from console.crypto import encrypt

    WebhookSubscriptionFactory(
        identity=world.identity,
        url="https://hooks.example.com/token",
        event_types=["imessage.delivered"],
        auth_token_encrypted=encrypt(token),
    )
    credentials = setup_credentials(world.setup)
    secrets = {
        issued.raw_key,
        token,
        setup_webhook_secret(world.setup),
        credentials.secret,
        credentials.key_id,
        signing_key_secret(world.identity) or "",
    }
    secrets.discard("")
    superuser = get_user_model().objects.create_superuser("root", "root@example.test", "pw-pw-pw")
    staff = Client()
    staff.force_login(superuser)
    urls = ["/admin/"]
    for model, _model_admin in admin.site._registry.items():
        meta = model._meta
        urls.append(f"/admin/{meta.app_label}/{meta.model_name}/")
        urls.append(f"/admin/{meta.app_label}/{meta.model_name}/add/")
        for pk in model.objects.values_list("pk", flat=True)[:5]:
            urls.append(f"/admin/{meta.app_label}/{meta.model_name}/{pk}/change/")
    pages = [(url, staff.get(url)) for url in urls]
    params = console_params(world)
    pages += [
        (route, operator_client.get(route.format(**params)))
        for route, _ in ROUTES
        if "{" not in route or set(re.findall(r"{(\w+)}", route)) <= set(params)
    ]
    assert len(pages) > 10
    for url, response in pages:
        assert response.status_code < 500, url
        for secret in secrets:
            assert secret.encode() not in _body(response), url
