"""The graph page in a real browser: cytoscape.js draws the neighbourhood the API returns,
under the Content-Security-Policy, and a click on a node shows its details.

Chromium against a live `cyberfusion serve` of its own (tests/web/conftest.py). The Africa
desk's officer (signed in once: a TOTP code is accepted once per account) uploads URLs on four
hosts of one registered domain, opens the lookup page of one URL and follows its graph link.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import FilePayload, Page, expect

from cyberfusion.demo.service import DEMO_PASSWORD
from tests.web.conftest import STEP_TIMEOUT_MS, VIEWPORT_HEIGHT, VIEWPORT_WIDTH, LiveServer
from tests.web.test_browser import SCREENSHOTS, OpenTab, _code, _png_size

expect.set_options(timeout=STEP_TIMEOUT_MS)

DESK_OFFICER = "officer@desk-africa.cyberfusion.example"
DOMAIN = "graph-browser-test.xyz"
HOSTS = ("login", "pay", "cdn", "mail")
URLS_PER_HOST = 25
DEPTH = 4


def _values() -> bytes:
    # The hosts are reported too: a host only implied by a URL is not walked into from its
    # registered domain (correlation/graph.py), and the four would stay apart.
    rows = [f"domain-name,{host}.{DOMAIN},2026-11-02,phishing,kit host" for host in HOSTS] + [
        f"url,http://{host}.{DOMAIN}/kit/{n},2026-11-02,phishing,kit page {n}"
        for host in HOSTS
        for n in range(URLS_PER_HOST)
    ]
    return ("type,value,first_seen,threat_type,comment\n" + "\n".join(rows) + "\n").encode()


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_label("Authenticator code").fill(_code(email))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _click_node(page: Page, node_id: str) -> None:
    """Click where cytoscape drew the node (the canvas has no DOM element per node)."""
    x, y = page.evaluate(
        """id => {
            const p = document.getElementById("graph").cy.getElementById(id).renderedPosition();
            return [p.x, p.y];
        }""",
        node_id,
    )
    box = page.locator("#graph").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x, box["y"] + y)


def test_the_graph_is_drawn_with_the_api_s_nodes_and_a_click_shows_details(
    open_tab: OpenTab, live_server: LiveServer, tmp_path: Path
) -> None:
    tab = open_tab()
    page = tab.page
    _sign_in(page, DESK_OFFICER)
    page.goto("/submissions/new")
    upload: FilePayload = {"name": "kits.csv", "mimeType": "text/csv", "buffer": _values()}
    page.get_by_label("File").set_input_files(upload)
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("TLP").select_option("green")
    page.get_by_label("Audience").select_option("community")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator('[data-stat="accepted"]')).to_have_text(
        str(len(HOSTS) * (URLS_PER_HOST + 1))
    )

    start_url = f"http://login.{DOMAIN}/kit/0"
    page.goto(f"/observables?value={start_url}")
    page.get_by_role("link", name="Explore the graph").click()
    page.get_by_label("Steps").fill(str(DEPTH))
    page.get_by_role("button", name="Draw").click()
    graph = page.locator('#graph[data-ready="true"]')
    expect(graph).to_have_count(1)
    around = graph.get_attribute("data-around")
    assert around is not None and around.startswith("observable:")

    api = page.request.get(f"/api/v1/graph?around={around}&depth={DEPTH}&limit=500").json()
    kinds = [n["kind"] for n in api["nodes"]]
    # Four steps reach every host and URL; the records of the other hosts' URLs are a fifth.
    assert kinds.count("observable") == len(HOSTS) * (URLS_PER_HOST + 1) + 1
    assert kinds.count("object") > URLS_PER_HOST
    assert graph.get_attribute("data-nodes") == str(len(api["nodes"]))
    assert graph.get_attribute("data-edges") == str(len(api["edges"]))
    expect(page.locator("[data-drawn-nodes]")).to_have_text(f"{len(api['nodes']):,}")
    # The tables hold the same graph for readers without JavaScript (first 200 nodes).
    expect(page.locator("table.graph-nodes tbody tr")).to_have_count(min(200, len(kinds)))

    _click_node(page, around)
    details = page.locator("#graph-details")
    expect(details).to_have_attribute("data-selected", around)
    expect(details.get_by_role("heading", level=3)).to_have_text(start_url)
    expect(details.locator('[data-field="kind"]')).to_have_text("value")
    expect(details.locator('[data-field="type"]')).to_have_text("url")
    expect(details.get_by_role("link", name="Open its page")).to_have_attribute(
        "href", f"/observables?value={start_url.replace(':', '%3A').replace('/', '%2F')}&type=url"
    )

    # Hiding records leaves the values drawn.
    page.get_by_label("record").uncheck()
    hidden = page.evaluate(
        """() => {
            const cy = document.getElementById("graph").cy;
            return [cy.nodes('[kind = "object"]').filter(":visible").length,
                    cy.nodes('[kind = "observable"]').filter(":visible").length];
        }"""
    )
    assert hidden == [0, kinds.count("observable")]
    page.get_by_label("record").check()

    target = SCREENSHOTS if os.environ.get("CYBERFUSION_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    page.locator("#h-drawing").evaluate("heading => heading.scrollIntoView()")
    _click_node(page, around)
    page.screenshot(path=str(target / "graph.png"))
    assert _png_size(target / "graph.png") == (VIEWPORT_WIDTH, VIEWPORT_HEIGHT)

    # Re-centre on the host: a new page drawn around it.
    host = next(n for n in api["nodes"] if n["label"] == f"login.{DOMAIN}")
    _click_node(page, host["id"])
    expect(details).to_have_attribute("data-selected", host["id"])
    details.get_by_role("link", name="Explore around it").click()
    expect(page.locator('#graph[data-ready="true"]')).to_have_attribute("data-around", host["id"])
    assert tab.console_errors == []
    assert all(url.startswith(live_server.base_url) for url in tab.requested_urls)
