"""The blocked review in a real browser: the queue, allowing with release, changing the
decision with a reason, and an auditor's CSV export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from console.models import AgentIdentity, AuditEntry
from messaging.models import Message
from routing.rule_decisions import contact_decision
from tests.console.browser.conftest import Console
from tests.messaging.webhooks.conftest import Receiver, receiver  # noqa: F401
from tests.messaging.webhooks.factories import SigningKeyFactory, WebhookSubscriptionFactory
from tests.provisioning.factories import PhoneLineFactory, SetupFactory, setup_secret
from tests.routing.factories import ContactRuleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SENDER = "+14155550199"


def _receive(setup: Any, *, to: str, handle: str) -> None:
    body = {
        "accountEmail": "ops@example.test",
        "content": "Can I move my appointment?",
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


def test_an_operator_allows_with_release_then_changes_the_decision_with_a_reason(
    console: Console,
    operator: Any,
    identity: AgentIdentity,
    receiver: Receiver,  # noqa: F811
) -> None:
    setup = SetupFactory(organization=identity.organization)
    line = PhoneLineFactory(setup=setup, identity=identity, role="dedicated")
    SigningKeyFactory(identity=identity)
    WebhookSubscriptionFactory(identity=identity, url=receiver.url)
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="both")
    _receive(setup, to=line.number, handle="h-held")
    held = Message.objects.get(provider_handle="h-held")

    console.login("olivia")
    console.goto("/console/blocked/")
    page = console.page
    assert page.get_by_text("Can I move my appointment?").is_visible()
    console.screenshot("blocked-queue")
    page.get_by_role("link", name=f"Review message from {SENDER}").click()
    page.get_by_role("heading", name=f"Blocked message from {SENDER}").wait_for()
    page.get_by_label("Also deliver this held message to the agent now").check()
    page.get_by_role("button", name="Allow this sender").click()
    page.get_by_text("The held message was delivered to the agent").wait_for()
    assert [json.loads(r.body)["data"]["message"]["id"] for r in receiver.requests] == [
        str(held.id)
    ]

    page.get_by_text("Change decision").click()
    page.get_by_label("Reason (required)").fill("Not one of our patients")
    page.get_by_role("button", name="Change to keep blocked").click()
    page.get_by_test_id("notice").filter(has_text="Kept blocked").wait_for()
    console.screenshot("blocked-detail-changed")
    assert not contact_decision(identity=identity, number=SENDER, direction="inbound").allowed
    assert AuditEntry.objects.get(action="blocked_message.change").after["reason"] == (
        "Not one of our patients"
    )

    _receive(setup, to=line.number, handle="h-next")
    assert Message.objects.get(provider_handle="h-next").is_blocked
    assert len(receiver.requests) == 1
    assert console.csp_errors == []


def test_an_auditor_searches_a_partial_number_and_exports_the_rows(
    console: Console, auditor: Any, identity: AgentIdentity
) -> None:
    setup = SetupFactory(organization=identity.organization)
    line = PhoneLineFactory(setup=setup, identity=identity, role="dedicated")
    ContactRuleFactory(identity=identity, match_target=SENDER, direction="inbound")
    _receive(setup, to=line.number, handle="h-held")

    console.login("arthur")
    console.goto("/console/blocked/")
    page = console.page
    page.get_by_label("Sender").fill("(415) 555-0199")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**sender=*")
    assert page.get_by_role("link", name=f"Review message from {SENDER}").is_visible()
    assert page.locator("main button:has-text('Allow')").count() == 0
    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[1] == "sender"
    assert [row[1] for row in rows] == [SENDER]
