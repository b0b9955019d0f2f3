"""Accessibility of every page in a real browser: axe-core (WCAG 2.1 A and AA rules, colour
contrast included) finds no violation, in English and in Arabic (right to left).

axe-core 4.14.1 (MPL-2.0, from the npm registry, kept in tests/web/vendor/ beside its licence)
is loaded into each page by the test only: the platform never serves it. The page's CSP would
refuse a script injected by the test, so this module's browser context bypasses the CSP; the
other browser tests keep it and prove the pages need no exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from cyberfusion.demo.service import DEMO_PASSWORD, demo_totp_secret
from tests.web.conftest import STEP_TIMEOUT_MS, VIEWPORT_HEIGHT, VIEWPORT_WIDTH, LiveServer

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
ADMIN = "admin@hub.cyberfusion.example"
ANALYST = "analyst@hub.cyberfusion.example"
# Every page of the UI a hub analyst or the administrator reaches from the menu, and the
# pages behind them (a record, a value, the graph, a submission).
ANALYST_PAGES = (
    "/",
    "/search?q=bank",
    "/objects/1",
    "/observables?value=login-verify.example.net&type=domain-name",
    "/map",
    "/graph?around=object:1",
    "/submissions/new",
    "/validation",
    "/notifications",
    "/products",
    "/products/reaction",
)
ADMIN_PAGES = ("/admin",)
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _violations(page: Page) -> list[dict[str, object]]:
    page.add_script_tag(content=AXE)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "where": [node["target"] for node in v["nodes"][:5]],
        }
        for v in result["violations"]
    ]


@pytest.fixture(scope="module")
def context(chromium: Browser, live_server: LiveServer) -> Iterator[BrowserContext]:
    context = chromium.new_context(
        base_url=live_server.base_url,
        viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
        bypass_csp=True,
    )
    context.set_default_timeout(STEP_TIMEOUT_MS)
    yield context
    context.close()


def _sign_in(context: BrowserContext, email: str) -> Page:
    context.clear_cookies()
    page = context.new_page()
    page.goto("/login")
    assert _violations(page) == [], "/login"
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_label("Authenticator code").fill(pyotp.TOTP(demo_totp_secret(email)).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def test_every_analyst_page_passes_axe_in_english_and_arabic(context: BrowserContext) -> None:
    page = _sign_in(context, ANALYST)
    found: dict[str, object] = {}
    for path in ANALYST_PAGES:
        page.goto(path)
        if path.startswith("/graph"):
            expect(page.locator("#graph")).to_have_attribute("data-ready", "true")
        found[path] = _violations(page)
    page.get_by_label("Language").select_option("ar")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    for path in ("/", "/search?q=bank", "/map"):
        page.goto(path)
        found[f"{path} (ar)"] = _violations(page)
    assert {path: v for path, v in found.items() if v} == {}, json.dumps(found, indent=1)


def test_the_administration_page_passes_axe(context: BrowserContext) -> None:
    page = _sign_in(context, ADMIN)
    found = {}
    for path in ADMIN_PAGES:
        page.goto(path)
        found[path] = _violations(page)
    assert {path: v for path, v in found.items() if v} == {}, json.dumps(found, indent=1)
