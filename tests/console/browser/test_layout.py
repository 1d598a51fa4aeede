"""Every console page at desktop, narrow and phone widths: nothing scrolls the page sideways,
the CSP holds, and each page is photographed at 1400 px and 800 px."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from console.models import Organization
from tests.console.browser.conftest import PHONE_WIDTH, Console
from tests.console.browser.workbench import Workbench, workbench_seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NARROW_WIDTHS = (800, PHONE_WIDTH)

PAGES: dict[str, Callable[[Workbench], str]] = {
    "dashboard": lambda wb: reverse("console:dashboard"),
    "setups": lambda wb: reverse("console:setups"),
    "setup-detail": lambda wb: reverse("console:setup", args=[wb.setup.id]),
    "pending-lines": lambda wb: reverse("console:pending-lines"),
    "blocked": lambda wb: reverse("console:blocked"),
    "blocked-detail": lambda wb: reverse("console:blocked-detail", args=[wb.blocked.id]),
    "identities": lambda wb: reverse("console:identities"),
    "identity-detail": lambda wb: reverse("console:identity", args=[wb.identity.handle]),
    "rules": lambda wb: reverse("console:rules", args=[wb.identity.handle]),
    "conversations": lambda wb: reverse("console:conversations"),
    "conversation-detail": lambda wb: reverse("console:conversation", args=[wb.conversation.id]),
    "deliveries": lambda wb: reverse("console:deliveries"),
    "delivery-detail": lambda wb: reverse("console:delivery", args=[wb.delivery.id]),
    "audit": lambda wb: reverse("console:audit"),
    "lines": lambda wb: reverse("console:lines"),
    "search": lambda wb: reverse("console:search") + "?q=0101",
    "records": lambda wb: reverse("console:records"),
}


@pytest.fixture
def workbench(org: Organization) -> Workbench:
    return workbench_seed(org)


@pytest.mark.parametrize("page_name", list(PAGES))
def test_a_page_never_scrolls_sideways_at_800_px_or_on_a_phone(
    console: Console, operator: Any, workbench: Workbench, page_name: str
) -> None:
    console.login("olivia")
    response = console.goto(PAGES[page_name](workbench))
    assert response.status == 200
    expect(console.page.locator("main h1")).to_be_visible()
    console.screenshots(page_name)
    for width in NARROW_WIDTHS:
        console.resize(width)
        overflow = console.horizontal_overflow()
        assert overflow == 0, (
            f"{page_name} scrolls sideways by {overflow} px at {width} px: {console.sticking_out()}"
        )
    assert console.csp_errors == []
    assert console.failed_requests == []


def test_a_wide_table_scrolls_inside_its_own_container_on_a_phone(
    console: Console, operator: Any, workbench: Workbench
) -> None:
    console.login("olivia")
    console.goto(reverse("console:deliveries"))
    console.resize(PHONE_WIDTH)
    scroller = console.page.locator(".table-scroll").first
    expect(scroller).to_be_visible()
    widths = scroller.evaluate("(el) => [el.scrollWidth, el.clientWidth]")
    assert widths[0] > widths[1]
    assert console.horizontal_overflow() == 0


def test_the_navigation_collapses_behind_a_menu_button_on_a_phone(
    console: Console, operator: Any
) -> None:
    console.login("olivia")
    console.resize(PHONE_WIDTH)
    page = console.page
    blocked_link = page.get_by_role("link", name="Blocked", exact=True)
    expect(blocked_link).to_be_hidden()
    page.get_by_text("Menu", exact=True).click()
    expect(blocked_link).to_be_visible()
    blocked_link.click()
    page.wait_for_url(f"{console.base_url}{reverse('console:blocked')}")
    expect(page.get_by_role("link", name="Blocked", exact=True)).to_be_hidden()


def test_escape_folds_the_open_menu_and_leaves_focus_on_its_button(
    console: Console, operator: Any
) -> None:
    console.login("olivia")
    console.resize(PHONE_WIDTH)
    page = console.page
    page.get_by_text("Menu", exact=True).click()
    audit_link = page.get_by_role("link", name="Audit log")
    expect(audit_link).to_be_visible()
    page.keyboard.press("Escape")
    expect(audit_link).to_be_hidden()
    expect(page.locator("#nav-toggle")).to_be_focused()


def test_the_login_page_fits_a_phone(console: Console) -> None:
    console.goto(reverse("console:login"))
    console.screenshots("login")
    console.resize(PHONE_WIDTH)
    expect(console.page.get_by_role("button", name="Log in")).to_be_visible()
    assert console.horizontal_overflow() == 0
    assert console.csp_errors == []


def test_the_full_navigation_shows_without_a_menu_button_on_a_wide_screen(
    console: Console, operator: Any
) -> None:
    console.login("olivia")
    console.resize(1400)
    expect(console.page.get_by_role("link", name="Audit log")).to_be_visible()
    expect(console.page.get_by_text("Menu", exact=True)).to_be_hidden()


def test_the_menu_opens_without_javascript(
    chromium: Any, live_server: Any, console: Console, operator: Any
) -> None:
    console.login("olivia")
    cookies = console.page.context.cookies()
    context = chromium.new_context(
        java_script_enabled=False, viewport={"width": PHONE_WIDTH, "height": 700}
    )
    try:
        context.add_cookies(cookies)
        page = context.new_page()
        page.goto(f"{live_server.url}{reverse('console:dashboard')}")
        audit_link = page.get_by_role("link", name="Audit log")
        expect(audit_link).to_be_hidden()
        page.get_by_text("Menu", exact=True).click()
        expect(audit_link).to_be_visible()
    finally:
        context.close()


def test_every_page_shows_the_favicon_and_the_old_address_finds_it(
    console: Console, operator: Any
) -> None:
    console.login("olivia")
    icon = console.page.locator('link[rel="icon"]')
    href = icon.get_attribute("href")
    assert href is not None and href.endswith(".svg")
    assert console.page.request.get(f"{console.base_url}{href}").ok
    legacy = console.page.request.get(f"{console.base_url}/favicon.ico")
    assert legacy.ok
    assert legacy.headers["content-type"].startswith("image/svg+xml")
