"""Records in a real browser: an auditor exports the audit log and opens the file; an
operator holds a number, and a person's record is requested, built and downloaded."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from console.models import AgentIdentity, Organization
from messaging.models import LegalHold
from tests.console.browser.conftest import Console
from tests.console.factories import AuditEntryFactory
from tests.messaging.factories import MessageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PERSON = "+14155550199"


def test_an_auditor_exports_the_filtered_audit_log_and_opens_the_file(
    console: Console, auditor: Any, org: Organization
) -> None:
    AuditEntryFactory(
        organization=org, action="contact_rule.update", actor_type="user", actor_label="olivia"
    )
    AuditEntryFactory(
        organization=org, action="line.role", actor_type="api_key", actor_label="deploy key"
    )
    console.login("arthur")
    console.goto("/console/audit/?actor=olivia")
    page = console.page

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))

    assert "actor" in header
    assert [row[header.index("actor")] for row in rows] == ["olivia"]
    assert console.csp_errors == []


def test_an_operator_holds_a_number_and_downloads_the_persons_record(
    console: Console, operator: Any, identity: AgentIdentity
) -> None:
    MessageFactory(
        conversation__identity=identity, conversation__remote_number=PERSON, content="Hi there"
    )
    console.login("olivia")
    console.goto("/console/records/")
    page = console.page

    hold = page.locator("#hold-place")
    hold.get_by_label("Hold").select_option("number")
    hold.get_by_label("Number, @handle or conversation id").fill("(415) 555-0199")
    hold.get_by_label("Reason").fill("Counsel asked to keep everything")
    hold.get_by_role("button", name="Place hold").click()
    expect(page.get_by_test_id("notice")).to_contain_text("Retention is suspended for +14155550199")
    assert LegalHold.objects.get().remote_number == PERSON

    request = page.locator(f"#export-request-{identity.organization_id}")
    request.get_by_label("Person's number").fill(PERSON)
    request.get_by_label("Reason (kept in the audit log)").fill("Patient asked for a copy")
    request.get_by_role("button", name="Export record").click()
    link = page.get_by_role("link", name=f"Download ZIP for {PERSON}")
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    archive = zipfile.ZipFile(info.value.path())
    record = json.loads(archive.read("record.json"))

    assert record["conversations"][0]["messages"][0]["content"] == "Hi there"
    assert "transcript.html" in archive.namelist()
    assert console.csp_errors == []
    console.screenshot("records")
