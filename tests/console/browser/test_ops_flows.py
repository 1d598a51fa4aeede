"""Guard rails and setups in a real browser: the whitelist switch asks first, a setup is
created and a line added without leaving the page, a line's role changes after a confirm."""

from __future__ import annotations

from typing import Any

import pytest

from console.models import AgentIdentity, Organization
from provisioning.models import Setup
from provisioning.providers.fake import FakeProvider
from tests.console.browser.conftest import Console
from tests.provisioning.factories import PhoneLineFactory
from tests.routing.factories import AssignmentFactory, PlatformSetupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_switching_to_whitelist_shows_whom_it_cuts_off_and_applies_on_confirm(
    console: Console, operator: Any, identity: AgentIdentity
) -> None:
    AssignmentFactory(identity=identity, remote_number="+12025550147")
    console.login("olivia")
    console.goto(f"/console/identities/{identity.handle}/rules/")
    page = console.page

    page.locator("#id_mode").select_option("whitelist")
    page.get_by_role("button", name="Switch mode").click()
    page.get_by_test_id("whitelist-confirm").wait_for()
    assert (
        "1 of 1 current connection would be cut off"
        in page.get_by_test_id("cutoff-count").inner_text()
    )
    identity.refresh_from_db()
    assert identity.inbound_filter_mode == "blacklist"
    assert console.csp_errors == []

    page.get_by_role("button", name="Switch to whitelist").click()
    page.get_by_test_id("notice").wait_for()

    assert "Filter mode is now whitelist." in page.get_by_test_id("notice").inner_text()
    identity.refresh_from_db()
    assert identity.inbound_filter_mode == identity.outbound_filter_mode == "whitelist"
    assert console.csp_errors == []
    console.screenshot("whitelist-switched")


def test_a_setup_is_created_and_a_line_added_in_the_browser(
    console: Console, operator: Any, org: Organization, fake_provider: FakeProvider
) -> None:
    console.login("olivia")
    console.goto("/console/setups/")
    page = console.page

    page.get_by_label("Business name").fill("Riverside Clinic LLC")
    page.get_by_label("Label").fill("Front desk")
    page.get_by_role("button", name="Create setup").click()
    page.get_by_test_id("create-notice").wait_for()
    setup = Setup.objects.get(organization=org)

    page.get_by_role("link", name="Open Front desk").click()
    page.get_by_role("heading", name="Front desk").wait_for()
    page.get_by_role("button", name="Add line").click()
    page.locator("#lines-section .notice").wait_for()

    assert setup.lines.count() == 2
    assert "added" in page.locator("#lines-section .notice").inner_text()
    assert console.csp_errors == []
    console.screenshot("setup-line-added")


def test_a_line_role_changes_after_a_confirmation_in_the_row(
    console: Console, operator: Any, org: Organization
) -> None:
    setup = PlatformSetupFactory(organization=org)
    line = PhoneLineFactory(setup=setup, role="pool")
    console.login("olivia")
    console.goto(f"/console/setups/{setup.id}/")
    page = console.page

    page.get_by_label(f"Role for line {line.number}").select_option("router")
    page.get_by_role("button", name="Set role").click()
    page.get_by_test_id("role-confirm").wait_for()
    page.get_by_role("button", name="Yes, make it router").click()
    page.get_by_test_id("role-notice").wait_for()

    assert page.get_by_test_id("role-notice").inner_text() == "Role set to router."
    line.refresh_from_db()
    assert line.role == "router"
    console.goto("/console/lines/")
    assert page.get_by_test_id("router-number").inner_text() == line.number
    assert console.csp_errors == []
    console.screenshot("lines")
