"""Playwright against Debian's Chromium (never a downloaded browser) and a live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.memberships import membership_grant
from console.models import MembershipRole, Organization
from tests.console.factories import UserFactory

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"

# The sync Playwright API runs an event loop in this thread; Django's ORM calls from the
# test body are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _browser_missing() -> bool:
    return not Path(CHROMIUM).exists()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if _browser_missing():
        if os.environ.get("REQUIRE_BROWSER") == "true":
            pytest.fail(f"{CHROMIUM} is missing and REQUIRE_BROWSER=true")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@dataclass
class Console:
    """A browser page on the live server, with the CSP violations it reported."""

    page: Any
    base_url: str
    csp_errors: list[str]

    def goto(self, path: str) -> Any:
        return self.page.goto(f"{self.base_url}{path}")

    def login(self, username: str) -> None:
        self.goto("/console/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(f"{self.base_url}/console/")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def console(chromium: Any, live_server: Any) -> Iterator[Console]:
    context = chromium.new_context(
        viewport={"width": 1280, "height": 860}, timezone_id="America/New_York"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    yield Console(page=page, base_url=live_server.url, csp_errors=errors)
    context.close()


@pytest.fixture
def operator(org: Organization) -> Any:
    user = UserFactory(username="olivia")
    membership_grant(user=user, organization=org, role=MembershipRole.OPERATOR)
    return user


@pytest.fixture
def auditor(org: Organization) -> Any:
    user = UserFactory(username="arthur")
    membership_grant(user=user, organization=org, role=MembershipRole.AUDITOR)
    return user
