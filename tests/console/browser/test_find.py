"""Finding things in a real browser: the header search, the thread's layout, CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from console.models import AgentIdentity
from tests.console.browser.conftest import Console
from tests.messaging.factories import ConversationFactory, MessageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PERSON = "+14155550199"


def test_an_auditor_finds_a_person_by_part_of_their_number_and_exports_the_conversation(
    console: Console, auditor: Any, identity: AgentIdentity
) -> None:
    conversation = ConversationFactory(identity=identity, remote_number=PERSON)
    start = timezone.now() - dt.timedelta(days=1)
    MessageFactory(conversation=conversation, content="Is Tuesday fine?", created_at=start)
    MessageFactory(
        conversation=conversation,
        content="Also: " + "more details about my knee " * 40,
        created_at=start + dt.timedelta(minutes=1),
    )
    MessageFactory(
        conversation=conversation,
        direction="outbound",
        content="Yes, 10am.",
        status="delivered",
        media=[{"url": "/media/directions.pdf", "content_type": "application/pdf", "size": 4096}],
    )
    console.login("arthur")
    page = console.page

    page.get_by_label("Search numbers, handles, setups, message ids").fill("(415) 555-0199")
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/search/**")
    console.screenshot("search")
    page.get_by_role("link", name=PERSON).click()
    page.wait_for_url(f"**/console/conversations/{conversation.id}/")

    assert page.locator(".day-separator").all_inner_texts() == ["Yesterday", "Today"]
    summary = page.get_by_text("Show more")
    assert summary.is_visible()
    summary.click()
    assert page.get_by_text("more details about my knee", exact=False).last.is_visible()
    assert page.locator(".file-chip").inner_text().startswith("directions.pdf")
    console.screenshot("conversation-thread")

    with page.expect_download() as download:
        page.get_by_test_id("export-conversation").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    assert [row[6] for row in rows[1:]][:1] == ["Is Tuesday fine?"]
    assert len(rows) == 4
    assert console.csp_errors == []
