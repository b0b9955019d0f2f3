"""A Cyber Activity Report read in a real browser, and the agreements an administrator sees.

Chromium against a live `cyberfusion serve` of its own (tests/web/conftest.py): the hub's
analyst uploads values that concern France and issues France's CAR; the French NCB officer
finds it in the products list, reads its groups and indicators, acknowledges it and gives an
outcome on one indicator; the platform administrator sees the demo partners' agreements and
suspends one. Each account signs in once (a TOTP code is accepted once per account).
"""

from __future__ import annotations

import re

from playwright.sync_api import FilePayload, Page, expect

from cyberfusion.demo.service import DEMO_PASSWORD
from tests.web.conftest import STEP_TIMEOUT_MS, LiveServer, Tab
from tests.web.test_browser import OpenTab, _code

expect.set_options(timeout=STEP_TIMEOUT_MS)

HUB_ANALYST = "analyst@hub.cyberfusion.example"
OFFICER_FR = "officer@ncb-fr.cyberfusion.example"
ADMIN = "admin@hub.cyberfusion.example"
# A French registered domain and an address located in France: both concern France.
FRENCH_VALUES = (
    b"type,value,first_seen,threat_type,comment\n"
    b"domain-name,phish-bank-browser.fr,2026-11-02,phishing,fake bank login\n"
    b"ipv4-addr,90.12.34.56,2026-11-02,c2,beacon seen by a CERT\n"
)


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_label("Authenticator code").fill(_code(email))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _issue_french_car(tab: Tab) -> int:
    """As the hub's analyst: upload the values, then issue the CAR through the REST API with
    the page's session and CSRF token (no page issues products yet)."""
    page = tab.page
    _sign_in(page, HUB_ANALYST)
    page.goto("/submissions/new")
    upload: FilePayload = {"name": "france.csv", "mimeType": "text/csv", "buffer": FRENCH_VALUES}
    page.get_by_label("File").set_input_files(upload)
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("TLP").select_option("green")
    page.get_by_label("Audience").select_option("community")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator('[data-stat="accepted"]')).to_have_text("2")
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert token
    response = page.request.post(
        "/api/v1/products/car",
        data={"country": "FR", "since": "2026-01-01T00:00:00Z"},
        headers={"x-csrf-token": token},
    )
    assert response.status == 201, response.text()
    body = response.json()
    assert body["product"]["recipient"] == "ncb-fr"
    return int(body["product"]["id"])


def test_an_ncb_officer_reads_acknowledges_and_answers_a_car(
    open_tab: OpenTab, live_server: LiveServer
) -> None:
    product_id = _issue_french_car(open_tab())

    officer = open_tab()
    page = officer.page
    _sign_in(page, OFFICER_FR)
    page.get_by_role("link", name="Products").click()
    row = page.locator("tr", has=page.locator(f'a[href="/products/{product_id}"]'))
    expect(row).to_contain_text("TLP:GREEN")
    expect(row.locator('[data-state="unread"]')).to_have_count(1)
    row.get_by_role("link", name="Cyber Activity Report").click()
    expect(page).to_have_url(f"{live_server.base_url}/products/{product_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("France")

    # Groups with their indicators; both values are listed.
    groups = page.locator("section[data-group]")
    assert groups.count() >= 1
    values = page.locator("table.items tbody tr td:nth-child(2)").all_inner_texts()
    assert sorted(values) == ["90.12.34.56", "phish-bank-browser.fr"]
    expect(page.locator('[data-fact="read"]')).not_to_have_text("unread")

    page.get_by_role("button", name="Acknowledge receipt").click()
    expect(page.get_by_role("status")).to_have_text("Receipt acknowledged.")
    expect(page.locator('[data-fact="acknowledged"]')).to_contain_text(OFFICER_FR)
    expect(page.get_by_role("button", name="Acknowledge receipt")).to_have_count(0)

    item = page.locator("tr[data-item]", has_text="phish-bank-browser.fr")
    item_id = item.get_attribute("data-item")
    item.get_by_label("Outcome for phish-bank-browser.fr").select_option("taken-down")
    item.get_by_label("Comment on phish-bank-browser.fr").fill("registrar suspended it")
    item.get_by_role("button", name="Send").click()
    expect(page).to_have_url(
        f"{live_server.base_url}/products/{product_id}?answered={item_id}#item-{item_id}"
    )
    expect(page.get_by_role("status")).to_have_text(f"Outcome recorded for indicator {item_id}.")
    answered = page.locator(f"#item-{item_id} td[data-outcome]")
    expect(answered).to_have_attribute("data-outcome", "taken-down")
    expect(answered).to_have_text("taken down")
    other = page.locator("tr[data-item]", has_text="90.12.34.56").locator("td[data-outcome]")
    expect(other).to_have_attribute("data-outcome", "")
    assert officer.console_errors == []


def test_an_administrator_sees_and_suspends_a_partner_agreement(
    open_tab: OpenTab, live_server: LiveServer
) -> None:
    tab = open_tab()
    page = tab.page
    _sign_in(page, ADMIN)
    page.get_by_role("link", name="Administration").click()
    section = page.locator("section#agreements")
    expect(
        section.get_by_role("heading", name=re.compile("^Data-sharing agreements"))
    ).to_be_visible()
    rows = section.locator("tr[data-agreement]")
    expect(rows).to_have_count(8)
    northwind = rows.filter(has_text="DSA-2026-PARTNER-NORTHWIND")
    expect(northwind.locator("td[data-status]")).to_have_text("active")
    expect(northwind).to_contain_text("TLP:GREEN")

    northwind.get_by_label("Reason to suspend DSA-2026-PARTNER-NORTHWIND").fill("annual review")
    northwind.get_by_role("button", name="Suspend").click()
    expect(page.locator('[data-done="suspended"]')).to_be_visible()
    northwind = page.locator("tr[data-agreement]").filter(has_text="DSA-2026-PARTNER-NORTHWIND")
    expect(northwind.locator("td[data-status]")).to_have_attribute("data-status", "suspended")
    expect(northwind.locator("td[data-status]")).to_contain_text("annual review")
    expect(northwind.get_by_role("button", name="Resume")).to_be_visible()
    assert tab.console_errors == []
