"""Playwright against Debian's Chromium (never a downloaded browser) and a live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
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
# Every page is photographed at a desktop and a narrow (tablet, split-screen) width.
SCREENSHOT_WIDTHS = (1400, 800)
PHONE_WIDTH = 375
VIEWPORT_HEIGHT = 860

# Violations are reported through a binding rather than read from console text, so a
# refused inline style or script is recorded even when Chromium words its message differently.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__bwCspViolation(`${event.effectiveDirective} refused ${event.blockedURI || "inline"}`);
});
"""

# The sync Playwright API runs an event loop in this thread; Django's ORM calls from the
# test body are still synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

STICKING_OUT = """
() => {
  const scrolls = (el) => getComputedStyle(el).overflowX !== "visible";
  const escapes = (el) => ["absolute", "fixed"].includes(getComputedStyle(el).position);
  const inScroller = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (scrolls(up)) return true;
    }
    return false;
  };
  const name = (el) => [el.tagName.toLowerCase(), el.id && `#${el.id}`]
    .concat(Array.from(el.classList, (c) => `.${c}`)).join("");
  return Array.from(document.body.querySelectorAll("*"))
    .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
    .filter((el) => escapes(el) || !inScroller(el))
    .slice(0, 12)
    .map(name);
}
"""


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
    """A browser page on the live server, with the CSP violations and failed requests
    (4xx/5xx answers, e.g. a missing favicon) it saw."""

    page: Any
    base_url: str
    csp_errors: list[str]
    failed_requests: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Any:
        return self.page.goto(f"{self.base_url}{path}")

    def login(self, username: str) -> None:
        self.goto("/console/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(f"{self.base_url}/console/")

    def resize(self, width: int) -> None:
        """Set the viewport width and wait until the page has laid out at it."""
        self.page.set_viewport_size({"width": width, "height": VIEWPORT_HEIGHT})
        self.page.wait_for_function("(width) => window.innerWidth === width", arg=width)

    def horizontal_overflow(self) -> int:
        """How many pixels the page is wider than the window (0 when nothing scrolls
        sideways but what sits inside its own scrolling container)."""
        overflow: int = self.page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth"
        )
        return max(overflow, 0)

    def sticking_out(self) -> list[str]:
        """The elements whose right edge lies past the window: what to fix when the page
        scrolls sideways (tag, id and classes, outermost first)."""
        found: list[str] = self.page.evaluate(STICKING_OUT)
        return found

    def screenshot(self, name: str, width: int | None = None) -> Path:
        """Save the whole page as `<name>.png`, or at `width` as `<name>-<width>.png`."""
        if width is not None:
            self.resize(width)
            name = f"{name}-{width}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    def screenshots(self, name: str) -> list[Path]:
        """The page at every width in SCREENSHOT_WIDTHS: `<name>-1400.png`, `<name>-800.png`."""
        return [self.screenshot(name, width) for width in SCREENSHOT_WIDTHS]


def _record_failure(failed: list[str], response: Any) -> None:
    if response.status >= 400:
        failed.append(f"{response.status} {response.url}")


@pytest.fixture
def console(chromium: Any, live_server: Any) -> Iterator[Console]:
    context = chromium.new_context(
        viewport={"width": 1280, "height": VIEWPORT_HEIGHT}, timezone_id="America/New_York"
    )
    errors: list[str] = []
    context.expose_binding("__bwCspViolation", lambda _source, text: errors.append(text))
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    console = Console(page=page, base_url=live_server.url, csp_errors=errors)
    page.on("response", lambda response: _record_failure(console.failed_requests, response))
    yield console
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
