"""Who gets in, who may change things, and what every console response carries."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from console.models import AgentIdentity, AuditEntry
from routing.models import ContactRule
from tests.console.ui.conftest import htmx
from tests.messaging.factories import MessageFactory
from tests.messaging.webhooks.factories import WebhookDeliveryFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory
from tests.routing.factories import AssignmentFactory, ContactRuleFactory

pytestmark = pytest.mark.django_db


def _mutations(identity: AgentIdentity) -> list[str]:
    """One URL per mutating console action, each aimed at a real row of `identity`'s org."""
    rule = ContactRuleFactory(identity=identity, match_target="+12025550111")
    line = PhoneLineFactory(setup=SetupFactory(organization=identity.organization))
    assignment = AssignmentFactory(identity=identity)
    blocked = MessageFactory(conversation__identity=identity, is_blocked=True)
    delivery = WebhookDeliveryFactory(subscription__identity=identity, status="failed")
    h = identity.handle
    return [
        reverse("console:rule-create", args=[h]),
        reverse("console:rule-update", args=[h, rule.id]),
        reverse("console:rule-status", args=[h, rule.id]),
        reverse("console:rule-delete", args=[h, rule.id]),
        reverse("console:filter-mode", args=[h]),
        reverse("console:line-role", args=[line.id]),
        reverse("console:setup-line-add", args=[line.setup_id]),
        reverse("console:setup-default", args=[line.setup_id]),
        reverse("console:assignment-release", args=[assignment.id]),
        reverse("console:blocked-allow", args=[blocked.id]),
        reverse("console:blocked-keep", args=[blocked.id]),
        reverse("console:delivery-retry", args=[delivery.id]),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get(reverse("console:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


def test_login_page_logs_a_member_in(client: Client, operator_client: Client) -> None:
    response = client.post(
        reverse("console:login"), {"username": "olivia", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    assert client.get("/console/").status_code == 200


def test_logout_needs_a_post(operator_client: Client) -> None:
    assert operator_client.get(reverse("console:logout")).status_code == 405
    assert operator_client.post(reverse("console:logout")).status_code == 302
    assert operator_client.get("/console/").status_code == 302


def test_role_groups_exist_with_their_permissions() -> None:
    operators = set(
        Group.objects.get(name="Operators").permissions.values_list("codename", flat=True)
    )
    auditors = set(
        Group.objects.get(name="Auditors").permissions.values_list("codename", flat=True)
    )
    assert operators == {"console_view", "console_operate"}
    assert auditors == {"console_view"}


def test_every_mutating_request_from_an_auditor_is_refused(
    auditor_client: Client, identity: AgentIdentity
) -> None:
    urls = _mutations(identity)
    rules_before = ContactRule.objects.count()
    for url in urls:
        response = auditor_client.post(url, {"action": "allow", "direction": "both"}, **htmx())
        assert response.status_code == 403, url
    assert ContactRule.objects.count() == rules_before
    assert not AuditEntry.objects.exists()


def test_an_operator_of_another_organisation_gets_404_for_every_action(
    outsider_operator_client: Client, identity: AgentIdentity
) -> None:
    for url in _mutations(identity):
        response = outsider_operator_client.post(url, {"action": "allow"}, **htmx())
        assert response.status_code == 404, url
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["console:identity", "console:rules"],
)
def test_another_organisations_identity_pages_answer_404(
    outsider_operator_client: Client, identity: AgentIdentity, name: str
) -> None:
    assert outsider_operator_client.get(reverse(name, args=[identity.handle])).status_code == 404


def test_another_organisations_detail_pages_answer_404(
    outsider_operator_client: Client, identity: AgentIdentity
) -> None:
    setup = SetupFactory(organization=identity.organization)
    message = MessageFactory(conversation__identity=identity, is_blocked=True)
    urls = [
        reverse("console:setup", args=[setup.id]),
        reverse("console:blocked-detail", args=[message.id]),
        reverse("console:conversation", args=[message.conversation_id]),
    ]
    for url in urls:
        assert outsider_operator_client.get(url).status_code == 404, url


def test_unknown_ids_answer_the_same_404_as_foreign_ones(operator_client: Client) -> None:
    assert operator_client.get(reverse("console:setup", args=[uuid.uuid4()])).status_code == 404


def test_a_user_without_membership_sees_no_rows(client: Client, identity: AgentIdentity) -> None:
    from tests.console.factories import UserFactory

    client.force_login(UserFactory())
    ContactRuleFactory(identity=identity)
    response = client.get(reverse("console:identities"))
    assert response.status_code == 200
    assert identity.handle not in response.content.decode()
    assert client.post(reverse("console:filter-mode", args=[identity.handle])).status_code == 403


def test_auditors_see_no_edit_controls(auditor_client: Client, identity: AgentIdentity) -> None:
    ContactRuleFactory(identity=identity)
    AssignmentFactory(identity=identity)
    pages = [
        reverse("console:rules", args=[identity.handle]),
        reverse("console:identity", args=[identity.handle]),
    ]
    for url in pages:
        body = auditor_client.get(url).content.decode()
        assert 'method="post"' not in body.replace(
            f'method="post" action="{reverse("console:logout")}"', ""
        ), url
        assert "Read only" in body


def test_operators_see_edit_controls(operator_client: Client, identity: AgentIdentity) -> None:
    ContactRuleFactory(identity=identity)
    body = operator_client.get(reverse("console:rules", args=[identity.handle])).content.decode()
    assert "Add rule" in body
    assert "Delete" in body


def test_an_auditor_of_this_org_stays_read_only_while_operating_another(
    auditor_client: Client, identity: AgentIdentity, other_org: object
) -> None:
    from console.memberships import membership_grant

    membership_grant(user=auditor_client.user, organization=other_org, role="operator")  # type: ignore[attr-defined]
    response = auditor_client.post(
        reverse("console:filter-mode", args=[identity.handle]), {"mode": "whitelist"}
    )
    assert response.status_code == 403


def test_htmx_requests_get_the_fragment_and_plain_requests_the_page(
    operator_client: Client,
) -> None:
    full = operator_client.get(reverse("console:audit"))
    fragment = operator_client.get(reverse("console:audit"), **htmx())
    assert b"<html" in full.content
    assert b"<html" not in fragment.content
    assert b'id="audit-rows"' in fragment.content
    assert "HX-Request" in full["Vary"]
    assert "HX-Request" in fragment["Vary"]


def test_pages_carry_a_csp_without_inline_scripts(operator_client: Client) -> None:
    response = operator_client.get(reverse("console:dashboard"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    body = response.content.decode()
    assert "<script>" not in body
    assert "style=" not in body
    assert "/static/vendor/htmx-2.0.11.min.js" in body


def test_times_are_rendered_in_the_viewer_time_zone(operator_client: Client) -> None:
    # console.js writes the zone URL-encoded, as browsers expect cookie values.
    operator_client.cookies["bw_tz"] = "Asia%2FTokyo"
    body = operator_client.get(reverse("console:dashboard")).content.decode()
    assert 'data-testid="viewer-tz">Asia/Tokyo<' in body


def test_an_invalid_time_zone_cookie_falls_back_to_utc(operator_client: Client) -> None:
    operator_client.cookies["bw_tz"] = "Mars/Olympus"
    body = operator_client.get(reverse("console:dashboard")).content.decode()
    assert 'data-testid="viewer-tz">UTC<' in body
