"""The console in a real browser: login, htmx swaps, the review flow, read-only roles."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from console.models import AgentIdentity
from messaging.models import Message
from routing.models import ContactRule
from tests.console.browser.conftest import Console
from tests.messaging.factories import ConversationFactory, MessageFactory, ReactionFactory
from tests.messaging.webhooks.conftest import Receiver, receiver  # noqa: F401
from tests.messaging.webhooks.factories import (
    SigningKeyFactory,
    WebhookDeliveryFactory,
    WebhookSubscriptionFactory,
)
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret
from tests.routing.factories import AssignmentFactory, ContactRuleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SENDER = "+12025550147"


def _navigations(page: Any) -> list[str]:
    seen: list[str] = []
    page.on(
        "framenavigated", lambda frame: seen.append(frame.url) if frame == page.main_frame else None
    )
    return seen


def test_login_opens_the_dashboard_in_the_viewers_time_zone(
    console: Console, operator: Any
) -> None:
    console.goto("/console/")
    assert console.page.url.startswith(f"{console.base_url}/console/login/")
    console.login("olivia")
    assert console.page.get_by_role("heading", name="Dashboard").is_visible()
    assert console.page.get_by_test_id("viewer-tz").inner_text() == "America/New_York"
    assert console.csp_errors == []


def test_a_wrong_password_is_refused_on_the_login_page(console: Console, operator: Any) -> None:
    console.goto("/console/login/")
    console.page.get_by_label("Username").fill("olivia")
    console.page.get_by_label("Password").fill("wrong password")
    console.page.get_by_role("button", name="Log in").click()
    assert console.page.get_by_role("alert").first.is_visible()
    assert "/console/login/" in console.page.url


def test_the_dashboard_draws_the_volume_chart(
    console: Console, operator: Any, identity: AgentIdentity
) -> None:
    MessageFactory(conversation__identity=identity)
    MessageFactory(conversation__identity=identity, is_blocked=True, remote_number="+12025550100")
    console.login("olivia")
    chart = console.page.locator("svg#volume-chart")
    assert chart.is_visible()
    assert chart.locator("rect.bar").count() == 42
    assert chart.locator("rect.bar.blocked").count() == 14
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300
    console.screenshot("dashboard")


def test_editing_a_rule_swaps_the_editor_without_a_page_load(
    console: Console, operator: Any, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=SENDER, action="block")
    console.login("olivia")
    console.goto(f"/console/identities/{identity.handle}/rules/")
    page = console.page
    page.evaluate("window.__sameDocument = true")
    navigations = _navigations(page)

    page.get_by_label(f"Action for {SENDER}").select_option("allow")
    page.locator(f"#rule-{rule.id}").get_by_role("button", name="Save").click()
    page.get_by_test_id("notice").wait_for()

    assert "updated" in page.get_by_test_id("notice").inner_text()
    assert page.evaluate("window.__sameDocument") is True
    assert navigations == []
    rule.refresh_from_db()
    assert rule.action == "allow"
    assert page.get_by_label(f"Action for {SENDER}").input_value() == "allow"
    assert console.csp_errors == []
    console.screenshot("contact-rules")


def test_an_htmx_action_after_the_session_expired_logs_in_and_returns_to_the_page(
    console: Console, operator: Any, identity: AgentIdentity
) -> None:
    from django.contrib.sessions.models import Session

    from tests.console.browser.conftest import PASSWORD

    rule = ContactRuleFactory(identity=identity, match_target=SENDER, action="block")
    console.login("olivia")
    rules_page = f"/console/identities/{identity.handle}/rules/"
    console.goto(rules_page)
    Session.objects.all().delete()  # what CONSOLE_IDLE_TIMEOUT_MINUTES of idling does
    page = console.page

    page.locator(f"#rule-{rule.id}").get_by_role("button", name="Save").click()
    page.wait_for_url(lambda url: url.endswith(f"/console/login/?next={rules_page}"))
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.wait_for_url(f"{console.base_url}{rules_page}")
    assert page.get_by_label(f"Action for {SENDER}").is_visible()
    assert console.csp_errors == []


def test_a_bad_number_shows_its_error_next_to_the_field_in_place(
    console: Console, operator: Any, identity: AgentIdentity
) -> None:
    console.login("olivia")
    console.goto(f"/console/identities/{identity.handle}/rules/")
    page = console.page
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Phone number").fill("12345")
    page.get_by_role("button", name="Add rule").click()
    error = page.locator("#id_match_target-error")
    error.wait_for()
    assert "E.164" in error.inner_text()
    assert page.evaluate("window.__sameDocument") is True
    assert not ContactRule.objects.exists()


def _receive(setup: Any, *, to: str, handle: str) -> None:
    body = {
        "accountEmail": "ops@example.test",
        "content": "Is my appointment still on?",
        "is_outbound": False,
        "status": "RECEIVED",
        "message_handle": handle,
        "date_sent": "2026-01-05T10:01:00.000Z",
        "from_number": SENDER,
        "number": SENDER,
        "to_number": to,
        "sendblue_number": to,
        "media_url": "",
        "message_type": "message",
        "group_id": "",
        "service": "iMessage",
    }
    response = Client().post(
        f"/api/v1/provider-webhooks/{setup.id}/receive",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_SB_SIGNING_SECRET=setup_secret(setup),
    )
    assert response.status_code < 300


def test_allowing_a_blocked_sender_lets_their_next_message_through(
    console: Console,
    operator: Any,
    identity: AgentIdentity,
    receiver: Receiver,  # noqa: F811
) -> None:
    setup = SetupFactory(organization=identity.organization)
    line = PhoneLineFactory(setup=setup, identity=identity, role="dedicated")
    SigningKeyFactory(identity=identity)
    WebhookSubscriptionFactory(identity=identity, url=receiver.url)
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="inbound")
    _receive(setup, to=line.number, handle="h-blocked")
    assert Message.objects.get(provider_handle="h-blocked").is_blocked
    assert receiver.requests == []

    console.login("olivia")
    console.goto("/console/blocked/")
    page = console.page
    console.screenshot("blocked")
    page.get_by_role("link", name=f"Review message from {SENDER}").click()
    page.get_by_role("heading", name=f"Blocked message from {SENDER}").wait_for()
    console.screenshot("blocked-detail")
    page.get_by_role("button", name="Allow this sender").click()
    page.get_by_text("can now reach").wait_for()
    assert not ContactRule.objects.filter(identity=identity, action="block").exists()

    _receive(setup, to=line.number, handle="h-after")
    delivered = Message.objects.get(provider_handle="h-after")
    assert not delivered.is_blocked
    assert len(receiver.requests) == 1
    assert json.loads(receiver.requests[0].body)["data"]["message"]["id"] == str(delivered.id)


def test_an_auditor_sees_no_edit_controls_and_a_forged_post_is_refused(
    console: Console, auditor: Any, identity: AgentIdentity
) -> None:
    rule = ContactRuleFactory(identity=identity, match_target=SENDER)
    console.login("arthur")
    console.goto(f"/console/identities/{identity.handle}/rules/")
    page = console.page
    assert page.get_by_test_id("role").inner_text() == "Read only"
    main = page.locator("main")
    assert main.locator("select, input:not([type=hidden]), button").count() == 0
    assert main.get_by_text(SENDER).is_visible()

    status = page.evaluate(
        """async (url) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch(url, {
                method: "POST",
                headers: {"X-CSRFToken": token, "HX-Request": "true"},
                body: new URLSearchParams({action: "allow", direction: "both"}),
            });
            return response.status;
        }""",
        f"/console/identities/{identity.handle}/rules/{rule.id}/edit",
    )
    assert status == 403
    rule.refresh_from_db()
    assert rule.action == "block"


def test_screenshots_of_every_main_page(
    console: Console, operator: Any, identity: AgentIdentity
) -> None:
    setup = SetupFactory(organization=identity.organization, label="Riverside main")
    PhoneLineFactory(setup=setup, pending=True)
    PhoneLineFactory(setup=setup, identity=identity)
    assignment = AssignmentFactory(identity=identity, remote_number="+12025550170")
    conversation = ConversationFactory(
        identity=identity, remote_number="+12025550170", assignment=assignment
    )
    hello = MessageFactory(conversation=conversation, content="Hi, is Tuesday fine?")
    ReactionFactory(message=hello)
    MessageFactory(
        conversation=conversation, direction="outbound", content="Yes, 10am.", status="delivered"
    )
    WebhookDeliveryFactory(
        subscription__identity=identity, status="failed", error_detail="HTTP 502", attempt_count=5
    )
    console.login("olivia")
    pages = {
        "setups": "/console/setups/",
        "setup-detail": f"/console/setups/{setup.id}/",
        "pending-lines": "/console/lines/pending/",
        "identities": "/console/identities/",
        "identity-detail": f"/console/identities/{identity.handle}/",
        "conversations": "/console/conversations/",
        "conversation": f"/console/conversations/{conversation.id}/",
        "webhook-deliveries": "/console/deliveries/",
        "audit-log": "/console/audit/",
    }
    for name, path in pages.items():
        response = console.goto(path)
        assert response.status == 200, path
        console.screenshot(name)
    assert console.csp_errors == []
