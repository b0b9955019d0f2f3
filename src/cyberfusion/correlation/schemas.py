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


class LookupRead(BaseModel):
    """The answer to "who else has X": the value as normalised, who reported it (as far as the
    caller may see), what is known about it, and its correlations."""

    type: str
    value: str
    known: bool
    occurrences: list[ReportRead]
    hidden_match: bool
    match_elsewhere: bool = Field(
        description="records the caller may not read hold this value or a related one; their "
        "owners were told who asked (content withheld)"
    )
    noise: bool = Field(description="a warninglist or the special-purpose registries flag it")
    warninglists: list[str] = Field(description="names of the warninglists that flag it")
    country: str | None = Field(description="where the address (or a URL's host) is located")
    as_organisation: str | None = Field(
        default=None, description="the organisation announcing the address (or host address)"
    )
    as_network: str | None = None
    countries: list[dict[str, str]] = Field(
        description="member countries the value concerns, each with the reason; "
        "'reported-by' only for reports the caller may read"
    )
    assessment: dict[str, Any] | None
    enrichment: dict[str, Any] | None
    correlations: list[RelatedRead]
