"""I/O shapes of correlation and the graph."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ReportRead(BaseModel):
    record_id: int
    organisation: str
    reported_at: datetime
    tlp: str
    audience: str
    status: str
    confidence: int


class RelatedRead(BaseModel):
    relation: str = Field(
        description="contained-in, contains, parent-domain, subdomain, host, url-on-host, "
        "email-at-domain, resolves-to, resolved-from or host-resolves-to"
    )
    type: str
    value: str
    observable_id: int
    reports: list[ReportRead]
    hidden_match: bool


class CorrelationRead(BaseModel):
    type: str
    value: str
    observable_id: int | None
    known: bool
    reports: list[ReportRead]
    hidden_match: bool = Field(
        description="records you may not read hold this value; their owners were told who asked"
    )
    assessment: dict[str, Any] | None
    enrichment: dict[str, Any] | None = Field(
        description="flags, current enrichment by kind and jurisdictions (when you may read a "
        "report of the value)"
    )
    related: list[RelatedRead]


class GraphNode(BaseModel):
    id: str
    kind: str
    type: str
    label: str
    noise: bool | None = None
    stix_id: str | None = None
    status: str | None = None
    cluster: int | None = None


class GraphEdge(BaseModel):
    source: str
    target: str
    kind: str


class GraphCluster(BaseModel):
    id: int
    size: int
    nodes: list[str]
    shared_by: dict[str, int]


class GraphRead(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    clusters: list[GraphCluster]
    truncated: bool


class FlagRead(BaseModel):
    id: int
    observable_id: int
    source: str
    name: str
    overridden_by: str | None
    overridden_at: datetime | None
