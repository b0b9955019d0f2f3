"""The graph page through TestClient: tables without JavaScript, the drawing's data from the
web session, the sharing rules, the links from record and value pages."""

from __future__ import annotations

import json
import re
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import correlation as factory
from tests.web.test_pages import _as

NAME = "cf-test-graph-page.xyz"


def _observable(session: Session, obs_type: str, value: str) -> int:
    return session.scalars(
        select(Observable.id).where(Observable.digest == observable_service.digest(obs_type, value))
    ).one()


def _record_of(session: Session, observable_id: int) -> int:
    return session.scalars(
        select(Occurrence.intel_object_id).where(Occurrence.observable_id == observable_id)
    ).first()  # type: ignore[return-value]


def _host_with_urls(session: Session, count: int) -> tuple[str, int]:
    host = f"g{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(session, "cert-fr", [("url", f"http://{host}/{n}") for n in range(count)])
    return host, _observable(session, "url", f"http://{host}/0")


def test_the_graph_page_sends_a_signed_out_visitor_to_the_login_page(client: TestClient) -> None:
    for path in ("/graph", "/graph?around=observable:1"):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert client.get("/graph/data?around=observable:1").status_code == 401


def test_the_page_lists_nodes_and_edges_and_points_the_drawing_at_its_data(
    session: Session, client: TestClient
) -> None:
    host, start = _host_with_urls(session, 3)
    _as(client, session, org="ncb-fr")
    page = client.get(f"/graph?around=observable:{start}&depth=3&limit=50")
    assert page.status_code == 200
    api = client.get(f"/api/v1/graph?around=observable:{start}&depth=3&limit=50").json()
    listed = re.findall(r'<tr data-node="([^"]+)">', page.text)
    assert sorted(listed) == sorted(node["id"] for node in api["nodes"])
    assert f"Nodes: {len(api['nodes'])} · edges: {len(api['edges'])} · clusters: 1" in page.text
    assert (
        f'data-src="/graph/data?around=observable%3A{start}&amp;depth=3&amp;limit=50"' in page.text
    )
    # A value links to its lookup page, a record to its page.
    assert f'<a href="/observables?value={host}&amp;type=domain-name" dir="ltr">{host}</a>' in (
        page.text
    )
    record = _record_of(session, start)
    assert f'<a href="/objects/{record}" dir="ltr">' in page.text
    assert re.search(rf"<td dir=\"ltr\">http://{re.escape(host)}/0</td><td>host</td>", page.text)
    scripts = re.findall(r"<script[^>]*>.*?</script>", page.text, re.S)
    # No inline code: the only script element without a source is the graph as JSON data, the
    # same as the API's, each node with its page.
    data = re.fullmatch(
        r'<script type="application/json" id="graph-data">(.*)</script>', scripts[1], re.S
    )
    assert data is not None
    carried = json.loads(data.group(1))
    assert [n["id"] for n in carried["nodes"]] == [n["id"] for n in api["nodes"]]
    assert carried["edges"] == api["edges"]
    pages = {n["id"]: n["page"] for n in carried["nodes"]}
    assert pages[f"object:{record}"] == f"/objects/{record}"
    assert [scripts[0], *scripts[2:]] == [
        '<script src="/static/htmx.min.js" defer></script>',
        '<script src="/static/vendor/cytoscape.min.js" defer></script>',
        '<script src="/static/graph.js" defer></script>',
    ]
    assert " style=" not in page.text and "<style" not in page.text


def test_the_data_is_the_rest_graph_with_each_node_s_page(
    session: Session, client: TestClient
) -> None:
    _, start = _host_with_urls(session, 4)
    _as(client, session, org="ncb-fr")
    query = f"around=observable:{start}&depth=2&limit=6"
    data = client.get(f"/graph/data?{query}").json()
    api = client.get(f"/api/v1/graph?{query}").json()
    for mine, theirs in zip(data["nodes"], api["nodes"], strict=True):
        assert {k: v for k, v in mine.items() if k != "page"} == {
            k: v for k, v in theirs.items() if v is not None or k in mine
        }
    assert [n["id"] for n in data["nodes"]] == [n["id"] for n in api["nodes"]]
    assert (data["edges"], data["truncated"]) == (api["edges"], api["truncated"])
    pages = {n["id"]: n["page"] for n in data["nodes"]}
    record = _record_of(session, start)
    assert pages[f"object:{record}"] == f"/objects/{record}"


def test_more_than_200_nodes_are_counted_and_the_tables_show_the_first_200(
    session: Session, client: TestClient
) -> None:
    _, start = _host_with_urls(session, 150)
    _as(client, session, org="ncb-fr")
    page = client.get(f"/graph?around=observable:{start}&depth=4&limit=400").text
    nodes = int(re.search(r"Nodes: ([\d,]+) · ", page).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert nodes == 302  # 150 URLs, their 150 records, the host and its registered domain
    assert "first 200 of 302" in page
    assert len(re.findall(r'<tr data-node="', page)) == 200


def test_a_record_the_viewer_may_not_read_is_a_404(session: Session, client: TestClient) -> None:
    host = f"h{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(
        session,
        "cert-ng",
        [("url", f"http://{host}/secret")],
        LabelsIn(tlp="amber", audience="organisation"),
    )
    hidden = _observable(session, "url", f"http://{host}/secret")
    _as(client, session, org="ncb-br", role=Role.OFFICER)
    page = client.get(f"/graph?around=observable:{hidden}")
    assert page.status_code == 404
    assert host not in page.text
    assert client.get(f"/graph/data?around=observable:{hidden}").status_code == 404
    record = _record_of(session, hidden)
    assert client.get(f"/graph?around=object:{record}").status_code == 404


def test_a_malformed_start_is_explained(session: Session, client: TestClient) -> None:
    _as(client, session, org="ncb-fr")
    page = client.get("/graph?around=domain:7")
    assert page.status_code == 422
    assert "must be &#39;observable:&lt;id&gt;&#39; or &#39;object:&lt;id&gt;&#39;" in page.text
    assert client.get("/graph?around=object:1&limit=99999").status_code in (200, 404)
    assert client.get("/graph/data?around=object:1&limit=99999").status_code == 422
    empty = client.get("/graph")
    assert (empty.status_code, "data-src" in empty.text) == (200, False)


def test_record_and_value_pages_link_to_the_graph(session: Session, client: TestClient) -> None:
    host, start = _host_with_urls(session, 1)
    record = _record_of(session, start)
    _as(client, session, org="ncb-fr")
    object_page = client.get(f"/objects/{record}").text
    assert f'<a href="/graph?around=object:{record}" data-link="graph">Explore the graph</a>' in (
        object_page
    )
    value_page = client.get(f"/observables?value=http://{host}/0").text
    assert f'href="/graph?around=observable:{start}" data-link="graph"' in value_page
    assert session.get(IntelObject, record) is not None
