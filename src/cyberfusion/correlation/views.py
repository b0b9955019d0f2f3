"""Web page of the correlation graph: a bounded neighbourhood drawn in the browser, and the
same nodes and edges as tables for readers without JavaScript."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from cyberfusion.api.deps import CurrentActor, DbSession, OptionalActor
from cyberfusion.core.errors import DomainError, NotFound
from cyberfusion.correlation import graph as graph_service
from cyberfusion.web import views as web_views

router = APIRouter(include_in_schema=False)

# The tables list this many nodes and edges (with the totals): a page of 5,000 rows would
# be what the drawing avoids.
TABLE_ROWS = 200
DEFAULT_DEPTH = 2
DEFAULT_LIMIT = 500
KINDS = ("observable", "object", "knowledge", "autonomous-system")


def _clamped(depth: int, limit: int) -> tuple[int, int]:
    return (
        min(max(depth, 0), graph_service.MAX_DEPTH),
        min(max(limit, 1), graph_service.MAX_LIMIT),
    )


def page_of(node: dict[str, Any]) -> str | None:
    """Where the UI shows a node: its record page, or the value's lookup page."""
    kind, _, number = str(node["id"]).partition(":")
    if kind == "object":
        return f"/objects/{number}"
    if kind == "observable":
        return f"/observables?{urlencode({'value': node['label'], 'type': node['type']})}"
    return None


@router.get("/graph", response_class=HTMLResponse, response_model=None)
def graph_page(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    around: str = "",
    depth: int = DEFAULT_DEPTH,
    limit: int = DEFAULT_LIMIT,
) -> Response:
    viewer = web_views.viewer_of(request, session, actor)
    if viewer is None:
        return web_views.to_login()
    depth, limit = _clamped(depth, limit)
    around = around.strip()
    graph = None
    error = None
    if around:
        try:
            graph = graph_service.neighbourhood(
                session=session, actor=actor, around=around, depth=depth, limit=limit
            )
        except NotFound as exc:
            return web_views.error_page(request, viewer, exc)
        except DomainError as exc:
            error = exc.detail
    # The drawing's data rides in the page (a JSON data block, which the CSP allows since it is
    # never executed): one walk of the graph per page, not one for the page and one for a fetch.
    drawing = None
    if graph is not None:
        body = graph.as_dict()
        for node in body["nodes"]:
            node["page"] = page_of(node)
        # "<" escaped as JSON allows, so no value can close the element early.
        drawing = Markup(orjson.dumps(body).decode().replace("<", "\\u003c"))  # noqa: S704
    nodes = list(graph.nodes.values()) if graph else []
    edges = sorted(graph.edges) if graph else []
    labels = {node["id"]: node["label"] for node in nodes}
    return web_views.show(
        request,
        viewer,
        "graph.html",
        status_code=422 if error else 200,
        around=around,
        depth=depth,
        limit=limit,
        max_depth=graph_service.MAX_DEPTH,
        max_limit=graph_service.MAX_LIMIT,
        error=error,
        graph=graph,
        node_count=len(nodes),
        edge_count=len(edges),
        nodes=[{**node, "page": page_of(node)} for node in nodes[:TABLE_ROWS]],
        edges=[
            {"source": labels[s], "target": labels[t], "kind": k} for s, t, k in edges[:TABLE_ROWS]
        ],
        table_rows=TABLE_ROWS,
        kinds=KINDS,
        drawing=drawing,
    )


@router.get("/graph/data", response_model=None)
def graph_data(
    session: DbSession,
    actor: CurrentActor,
    around: Annotated[str, Query(min_length=1)],
    depth: Annotated[int, Query(ge=0, le=graph_service.MAX_DEPTH)] = DEFAULT_DEPTH,
    limit: Annotated[int, Query(ge=1, le=graph_service.MAX_LIMIT)] = DEFAULT_LIMIT,
) -> Response:
    """The page's drawing data: the REST graph for the signed-in viewer (the same service and
    sharing rules), each node with the address of its page."""
    graph = graph_service.neighbourhood(
        session=session, actor=actor, around=around, depth=depth, limit=limit
    )
    body = graph.as_dict()
    for node in body["nodes"]:
        node["page"] = page_of(node)
    # orjson: at 5,000 nodes the standard encoder is a visible share of the answer's time.
    return Response(orjson.dumps(body), media_type="application/json")
