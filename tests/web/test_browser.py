"""The web UI in a real browser: sign-in with TOTP, search, records, languages, who sees what.

Every test drives Chromium against one live `cyberfusion serve` (tests/web/conftest.py) and
asserts what a user sees on the page. A TOTP code is accepted once per account, so each account
signs in through the form in one test only, or once for the module through `signed_in`.
"""

from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Browser, FilePayload, Page, StorageState, expect

from cyberfusion.demo.service import DEMO_PASSWORD, demo_totp_secret
from tests.web.conftest import (
    STEP_TIMEOUT_MS,
    VIEWPORT_HEIGHT,
    VIEWPORT_WIDTH,
    LiveServer,
    Tab,
)

expect.set_options(timeout=STEP_TIMEOUT_MS)

OpenTab = Callable[..., Tab]

OFFICER_FR = "officer@ncb-fr.cyberfusion.example"
OFFICER_NG = "officer@ncb-ng.cyberfusion.example"
DESK_OFFICER = "officer@desk-africa.cyberfusion.example"
HUB_ANALYST = "analyst@hub.cyberfusion.example"
VIEWER_BR = "viewer@ncb-br.cyberfusion.example"
PARTNER_ANALYST = "analyst@partner-northwind.cyberfusion.example"

# Two indicators from the documented CSV header and one row whose IPv4 address is impossible.
SAMPLE_CSV = (
    b"type,value,first_seen,threat_type,comment\n"
    b"domain-name,invoice-portal.example.com,2026-11-02,phishing,lure in a fake invoice\n"
    b"ipv4-addr,198.51.100.23,2026-11-02,c2,beacon seen by a CERT\n"
    b"ipv4-addr,198.51.100.300,2026-11-02,c2,mistyped by hand\n"
)
SAMPLE_REJECTION = "value: '198.51.100.300' is not an IPv4 address: octet 300 > 255"
# Demo records each account may read, newest first (src/cyberfusion/demo/service.py).
SEEN_BY_OFFICER_FR = [
    "Scam call centre number",
    "Money mule wallet",
    "Ransomware negotiation site",
    "Botnet C2 server",
    "Phishing kit landing page",
]
SEEN_BY_VIEWER_BR = ["Scam call centre number", "Botnet C2 server", "Phishing kit landing page"]
TABLET_WIDTH = 768
HEADER_BLUE = "rgb(11, 79, 138)"  # --accent in static/app.css
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _code(email: str) -> str:
    return pyotp.TOTP(demo_totp_secret(email)).now()


def _wrong_code(email: str) -> str:
    """Six digits that no authenticator for `email` shows now or in the accepted drift window."""
    totp = pyotp.TOTP(demo_totp_secret(email))
    now = time.time()
    valid = {totp.at(now + seconds) for seconds in (-60, -30, 0, 30, 60)}
    return next(code for code in (f"{n:06d}" for n in range(10)) if code not in valid)


def _sign_in(page: Page, *, email: str, code: str = "") -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_label("Authenticator code").fill(code)
    page.get_by_role("button", name="Sign in").click()


def _fact(page: Page, term: str) -> str:
    """The text of a `<dd>` after the `<dt>` named `term` in a facts list."""
    return (
        page.locator("dl.facts dt", has_text=re.compile(f"^{re.escape(term)}$"))
        .locator("xpath=following-sibling::dd[1]")
        .inner_text()
    )


def _record_names(page: Page) -> list[str]:
    """Names in the dashboard's "What is new" table or the search results."""
    return page.locator(
        "section#recent table tbody tr td:nth-child(2), #results table tbody tr td:nth-child(2)"
    ).all_inner_texts()


def _search(page: Page, text: str) -> None:
    page.goto("/search")
    page.get_by_label("Value or text").fill(text)
    page.get_by_role("button", name="Search", exact=True).click()


def _upload(page: Page, *, name: str, content: bytes) -> None:
    page.goto("/submissions/new")
    upload: FilePayload = {"name": name, "mimeType": "text/csv", "buffer": content}
    page.get_by_label("File").set_input_files(upload)
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("Keep the valid objects even if some are rejected").check()


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.fixture(scope="module")
def signed_in(
    chromium: Browser, live_server: LiveServer
) -> Iterator[Callable[[str], StorageState]]:
    """Sign an account in through the form once for the module and hand out its cookies."""
    states: dict[str, StorageState] = {}

    def state_for(email: str) -> StorageState:
        if email not in states:
            context = chromium.new_context(base_url=live_server.base_url)
            context.set_default_timeout(STEP_TIMEOUT_MS)
            page = context.new_page()
            _sign_in(page, email=email, code=_code(email))
            expect(page).to_have_url(f"{live_server.base_url}/")
            states[email] = context.storage_state()
            context.close()
        return states[email]

    yield state_for


def test_officer_signs_in_with_password_and_totp_and_sees_home(
    open_tab: OpenTab, live_server: LiveServer
) -> None:
    page = open_tab().page
    _sign_in(page, email=OFFICER_NG, code=_code(OFFICER_NG))
    expect(page).to_have_url(f"{live_server.base_url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, officer")
    assert _fact(page, "E-mail") == OFFICER_NG
    assert _fact(page, "Organisation") == "NCB Nigeria ncb-ng (ncb)"
    assert _fact(page, "Country") == "Nigeria"
    assert _fact(page, "Roles") == "officer"
    assert page.locator('[data-stat="countries"]').inner_text() == "196"
    assert page.get_by_role("navigation", name="Account").locator("span").inner_text() == (
        f"{OFFICER_NG} · NCB Nigeria"
    )


def test_a_wrong_code_shows_the_error_and_stays_on_the_login_page(
    open_tab: OpenTab, live_server: LiveServer
) -> None:
    page = open_tab().page
    _sign_in(page, email=DESK_OFFICER, code=_wrong_code(DESK_OFFICER))
    expect(page.get_by_role("alert")).to_have_text("wrong e-mail, password or code")
    expect(page).to_have_url(f"{live_server.base_url}/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    # The e-mail stays filled in; the password does not.
    expect(page.get_by_label("E-mail")).to_have_value(DESK_OFFICER)
    expect(page.get_by_label("Password")).to_have_value("")
    page.goto("/")
    expect(page).to_have_url(f"{live_server.base_url}/login")


def test_the_viewer_signs_in_without_a_code(open_tab: OpenTab, live_server: LiveServer) -> None:
    page = open_tab().page
    _sign_in(page, email=VIEWER_BR)
    expect(page).to_have_url(f"{live_server.base_url}/")
    assert _fact(page, "E-mail") == VIEWER_BR
    assert _fact(page, "Organisation") == "NCB Brazil ncb-br (ncb)"
    assert _fact(page, "Roles") == "viewer"


def test_an_uploaded_csv_shows_each_object_and_the_rejected_row_with_its_reason(
    open_tab: OpenTab, signed_in: Callable[[str], StorageState], live_server: LiveServer
) -> None:
    page = open_tab(signed_in(HUB_ANALYST)).page
    _upload(page, name="indicators.csv", content=SAMPLE_CSV)
    page.get_by_role("button", name="Submit").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.base_url)}/submissions/\d+$"))
    assert page.locator('[data-stat="status"]').inner_text() == "partial"
    assert page.locator('[data-stat="accepted"]').inner_text() == "2"
    assert page.locator('[data-stat="rejected"]').inner_text() == "1"
    rows = page.locator("main table tbody tr")
    cells = [row.locator("td").all_inner_texts() for row in rows.all()]
    # Rows the parser rejects come first, then the objects it made, in file order.
    assert [(c[0], c[1], c[3]) for c in cells] == [
        ("row 4", "", "rejected"),
        ("row 2", "indicator", "accepted"),
        ("row 3", "indicator", "accepted"),
    ]
    assert cells[0][4] == SAMPLE_REJECTION
    expect(page.locator("tr.result-rejected")).to_have_count(1)


def test_an_upload_the_server_refuses_shows_its_reason_in_place(
    open_tab: OpenTab, signed_in: Callable[[str], StorageState], live_server: LiveServer
) -> None:
    tab = open_tab(signed_in(HUB_ANALYST))
    page = tab.page
    page.goto("/submissions/new")
    bad: FilePayload = {"name": "bundle.json", "mimeType": "application/json", "buffer": b"{oops"}
    page.get_by_label("File").set_input_files(bad)
    page.get_by_label("Format").select_option("stix")
    page.get_by_role("button", name="Submit").click()
    # The script sent the form and put the refusal in place: the address is still the form's
    # (the browser's own POST would have left it at /submissions), the reason is shown.
    expect(page.get_by_role("alert")).to_contain_text("JSON")
    assert page.url == f"{live_server.base_url}/submissions/new"
    assert f"{live_server.base_url}/submissions" in tab.requested_urls
    # Chromium logs the 422 itself; nothing else went wrong in the page.
    assert [e for e in tab.console_errors if "status of 422" not in e] == []


def test_a_country_restricted_record_shows_for_its_country_only(
    open_tab: OpenTab, signed_in: Callable[[str], StorageState]
) -> None:
    viewer = open_tab().page
    _sign_in(viewer, email=VIEWER_BR)
    expect(viewer.get_by_role("heading", level=1)).to_contain_text("Welcome")
    assert _record_names(viewer) == SEEN_BY_VIEWER_BR
    assert viewer.get_by_text("Ransomware negotiation site").count() == 0
    assert viewer.locator('[data-stat="readable_records"]').inner_text() == "3"

    officer = open_tab(signed_in(OFFICER_FR)).page
    officer.goto("/")
    assert _record_names(officer) == SEEN_BY_OFFICER_FR
    row = officer.locator("section#recent tbody tr", has_text="Ransomware negotiation site")
    assert row.locator("td").all_inner_texts()[:6] == [
        "indicator",
        "Ransomware negotiation site",
        "ncb-fr",
        "TLP:AMBER",
        "country",
        "unvalidated",
    ]
    # The record has a page for France; for Brazil's viewer its address is "not found".
    row.get_by_role("link", name="Ransomware negotiation site").click()
    expect(officer.get_by_role("heading", level=1)).to_have_text("Ransomware negotiation site")
    record_path = urlsplit(officer.url).path
    assert re.fullmatch(r"/objects/\d+", record_path)

    _search(viewer, "Ransomware")
    expect(viewer.locator('[data-stat="total"]')).to_have_text("0 matches")
    assert _record_names(viewer) == []
    response = viewer.goto(record_path)
    assert response is not None and response.status == 404
    expect(viewer.get_by_role("heading", level=1)).to_have_text("Not found")
    assert viewer.get_by_text("Ransomware negotiation site").count() == 0


def test_sign_out_returns_to_the_login_page_and_ends_the_session(
    open_tab: OpenTab, live_server: LiveServer
) -> None:
    page = open_tab().page
    _sign_in(page, email=VIEWER_BR)
    expect(page).to_have_url(f"{live_server.base_url}/")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.base_url}/login")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.goto("/")
    expect(page).to_have_url(f"{live_server.base_url}/login")


def test_pages_log_no_console_error_and_load_nothing_from_elsewhere(
    open_tab: OpenTab, signed_in: Callable[[str], StorageState], live_server: LiveServer
) -> None:
    viewer = open_tab()
    _sign_in(viewer.page, email=VIEWER_BR)
    expect(viewer.page).to_have_url(f"{live_server.base_url}/")
    viewer.page.get_by_role("button", name="Sign out").click()
    expect(viewer.page).to_have_url(f"{live_server.base_url}/login")

    analyst = open_tab(signed_in(HUB_ANALYST))
    analyst.page.goto("/")
    _upload(analyst.page, name="clean.csv", content=SAMPLE_CSV.replace(b"23,", b"24,"))
    analyst.page.get_by_role("button", name="Submit").click()
    expect(analyst.page).to_have_url(re.compile(r"/submissions/\d+$"))

    for tab in (viewer, analyst):
        assert tab.console_errors == []
        origins = {urlsplit(url)[:2] for url in tab.requested_urls}
        assert origins == {("http", urlsplit(live_server.base_url).netloc)}
        assert urlsplit(live_server.base_url).hostname == "127.0.0.1"
    paths = {urlsplit(url).path for tab in (viewer, analyst) for url in tab.requested_urls}
    assert {
        "/login",
        "/",
        "/static/app.css",
        "/static/htmx.min.js",
        "/submissions/new",
        "/submissions",
    } <= paths


def test_search_swaps_the_results_in_place_and_opens_a_record(
    open_tab: OpenTab, signed_in: Callable[[str], StorageState], live_server: LiveServer
) -> None:
    tab = open_tab(signed_in(OFFICER_FR))
    page = tab.page
    page.goto("/search")
    expect(page.locator('[data-stat="total"]')).to_have_text("5 matches")
    # A marker on the window survives only if htmx swapped the results without a page load.
    page.evaluate("window.__stillHere = true")
    page.get_by_label("Value or text").fill("wallet")
    page.get_by_label("TLP").select_option("red")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator('[data-stat="total"]')).to_have_text("1 match")
    expect(page).to_have_url(re.compile(r"/search\?q=wallet&type=&tlp=red"))
    assert page.evaluate("window.__stillHere") is True
    assert _record_names(page) == ["Money mule wallet"]

    page.get_by_role("link", name="Money mule wallet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Money mule wallet")
    expect(page.locator('[data-fact="audience"]')).to_have_text("listed organisations: ncb-ng")
    expect(page.get_by_text("contact the owner before action")).to_have_count(1)
    value = page.locator("article.observable h3 code")
    expect(value).to_have_text("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
    expect(page.locator("tr.current")).to_have_count(1)
    assert tab.console_errors == []


def test_switching_to_arabic_mirrors_the_page_and_back(
    open_tab: OpenTab, signed_in: Callable[[str], StorageState]
) -> None:
    page = open_tab(signed_in(DESK_OFFICER)).page
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    page.get_by_label("Language").select_option("ar")
    page.get_by_role("button", name="Change").click()
    html = page.locator("html")
    expect(html).to_have_attribute("dir", "rtl")
    expect(html).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", name="محتوى المنصة")).to_have_count(1)
    # The layout mirrors: the brand sits at the right-hand end of the header.
    brand = page.locator("a.brand").bounding_box()
    assert brand is not None and brand["x"] > VIEWPORT_WIDTH / 2
    # The choice is kept on the account: another page, still Arabic.
    page.goto("/search")
    expect(page.get_by_role("heading", level=1)).to_have_text("بحث")
    page.get_by_label("اللغة").select_option("en")
    page.get_by_role("button", name="تغيير").click()
    expect(html).to_have_attribute("dir", "ltr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Search")


def test_pages_fit_a_tablet_and_start_with_a_skip_link(
    open_tab: OpenTab, signed_in: Callable[[str], StorageState]
) -> None:
    page = open_tab(signed_in(OFFICER_FR)).page
    page.set_viewport_size({"width": TABLET_WIDTH, "height": 1024})
    page.goto("/search?q=site")
    record = page.locator("#results table a").first.get_attribute("href")
    assert record is not None
    for path in ("/", "/search?q=site", record, "/observables?value=pay-now.example.org"):
        page.goto(path)
        # Nothing wider than the screen: no sideways scrolling on a tablet.
        assert page.evaluate("document.documentElement.scrollWidth") <= TABLET_WIDTH
    # The keyboard's first stop skips the menus and lands on the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))


def test_screenshots_of_the_main_pages(
    open_tab: OpenTab, signed_in: Callable[[str], StorageState], tmp_path: Path
) -> None:
    """Always taken and checked; written to docs/screenshots with CYBERFUSION_UPDATE_SCREENSHOTS=1.

    Elsewhere they go to a temporary directory: the pages show times and counts that change on
    every run, and a test run should not rewrite files under version control.
    """
    target = SCREENSHOTS if os.environ.get("CYBERFUSION_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)

    def shoot(page: Page, name: str) -> None:
        # The stylesheet applied: the header has the accent colour, not the browser default.
        header = page.locator("header.top")
        assert header.evaluate("e => getComputedStyle(e).backgroundColor") == HEADER_BLUE
        path = target / f"{name}.png"
        page.screenshot(path=str(path))
        assert _png_size(path) == (VIEWPORT_WIDTH, VIEWPORT_HEIGHT)

    login = open_tab().page
    login.goto("/login")
    login.get_by_label("E-mail").fill(OFFICER_FR)
    shoot(login, "login")

    officer = open_tab(signed_in(OFFICER_FR)).page
    officer.goto("/")
    expect(officer.get_by_role("cell", name="Ransomware negotiation site")).to_have_count(1)
    shoot(officer, "dashboard")

    _search(officer, "example")
    expect(officer.locator('[data-stat="total"]')).to_have_text("2 matches")
    shoot(officer, "search")

    officer.get_by_role("link", name="Ransomware negotiation site").click()
    expect(officer.get_by_role("heading", level=1)).to_have_text("Ransomware negotiation site")
    shoot(officer, "object")

    # The partner's analyst reads in Arabic; no other test signs this account in.
    partner = open_tab(signed_in(PARTNER_ANALYST)).page
    partner.goto("/")
    partner.get_by_label("Language").select_option("ar")
    partner.get_by_role("button", name="Change").click()
    expect(partner.locator("html")).to_have_attribute("dir", "rtl")
    shoot(partner, "dashboard-ar")

    upload = open_tab(signed_in(HUB_ANALYST)).page
    _upload(upload, name="indicators.csv", content=SAMPLE_CSV)
    shoot(upload, "upload")

    upload.get_by_role("button", name="Submit").click()
    expect(upload.locator("tr.result-rejected")).to_have_count(1)
    shoot(upload, "submission")
